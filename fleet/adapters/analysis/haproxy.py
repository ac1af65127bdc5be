"""Judging a slot from HAProxy's own per-server counters.

When HAProxy moves the traffic it also sees every answer, so its counters
are the quickest evidence there is: no scrape interval, no exporter, no
pipeline. The slot's server line of ``show stat`` is polled (every 50 ms by
default) and fed to the sequential judge, which fails the slot as soon as
its error rate is clearly too high.

What is counted, per the slot's server in the configured backend:

* requests = ``req_tot`` (HTTP requests sent to the server) + ``econ``
  (connections that failed, each a request the slot did not take);
* errors = ``hrsp_5xx`` (5xx answers from the server) + ``eresp`` (answers
  that broke off) + ``econ``.

What "p99" means here: HAProxy keeps no latency distribution, only a moving
average of the last 1,024 responses (``rtime``) and maxima (``rtime_max``).
With ``latency: max`` (the default) the window starts with ``clear
counters`` (which resets only the maxima, in every proxy) and p99 is the
highest server response time (``rtime_max``) of the window: an upper bound on
the real p99, so a slot is never passed as faster than it is, but a single
slow request can fail it. ``latency: average`` reports the highest moving
average seen instead (smoother, below the real p99), ``latency: none``
judges on errors only. For true quantiles use the prometheus source with a
histogram, or probes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fleet.adapters.analysis.window import POLICY_KEYS, CounterDelta, MonotonicClock, Reading, judge_window
from fleet.adapters.traffic.haproxy import RuntimeApi, check_name, socket_setting
from fleet.adapters.traffic.settings import SettingsReader
from fleet.domain.analysis import SprtSettings
from fleet.domain.model import AnalysisPolicy, SlotName
from fleet.domain.reports import Verdict
from fleet.errors import ProviderError
from fleet.ports import Clock, Interrupted

LATENCY_MODES = ("max", "average", "none")


def _number(row: Mapping[str, str], field: str) -> int:
    value = row.get(field) or "0"
    try:
        return int(value)
    except ValueError:
        return 0


class HAProxyAnalysis:
    """Analysis from ``show stat`` of the slot's server, through HAProxy's runtime API."""

    source = "haproxy"

    def __init__(
        self,
        socket: str,
        *,
        backend: str = "app",
        servers: Mapping[str, str] | None = None,
        interval_s: float = 0.05,
        latency: str = "max",
        timeout_s: float = 2.0,
        clock: Clock | None = None,
        settings: SprtSettings | None = None,
        early: bool = True,
    ) -> None:
        if latency not in LATENCY_MODES:
            raise ValueError(f"latency {latency!r} is not one of {', '.join(LATENCY_MODES)}")
        self.api = RuntimeApi(socket, timeout_s=timeout_s)
        self.backend = backend
        names = dict(servers or {})
        self.servers = {slot: names.get(slot.value, slot.value) for slot in SlotName}
        self.interval_s = interval_s
        self.latency = latency
        self.clock: Clock = clock or MonotonicClock()
        self.settings = settings or SprtSettings()
        self.early = early

    @classmethod
    def from_settings(cls, env: str, settings: Mapping[str, Any], *, file: str) -> HAProxyAnalysis:
        reader = SettingsReader(
            settings, file=file, block="fleet:analysis",
            known=("source", "socket", "backend", "servers", "interval", "latency", "timeout"),
            ignored=POLICY_KEYS,
        )
        address = socket_setting(reader)
        servers = reader.slot_names("servers")
        for slot, name in servers.items():
            check_name(reader, f"servers.{slot}", name)
        return cls(
            address,
            backend=check_name(reader, "backend", reader.string("backend", "app")),
            servers=servers,
            interval_s=reader.duration("interval", 0.05, low=0.01, high=10.0),
            latency=reader.choice("latency", "max", LATENCY_MODES),
            timeout_s=reader.duration("timeout", 2.0, low=0.05, high=60.0),
        )

    def _row(self, server: str) -> Mapping[str, str]:
        for row in self.api.show_stat():
            if row.get("pxname") == self.backend and row.get("svname") == server:
                return row
        raise ProviderError(f"HAProxy backend {self.backend!r} has no server {server!r} in 'show stat'")

    def analyse(
        self, env: str, slot: SlotName, policy: AnalysisPolicy, *, interrupted: Interrupted | None = None
    ) -> Verdict:
        server = self.servers[slot]
        if self.latency == "max":
            self.api.execute("clear counters")
        first = self._row(server)
        requests = CounterDelta(_number(first, "req_tot") + _number(first, "econ"))
        errors = CounterDelta(_number(first, "hrsp_5xx") + _number(first, "eresp") + _number(first, "econ"))
        highest_average: list[float] = []

        def read(elapsed: float) -> Reading:
            row = self._row(server)
            seen = requests.update(_number(row, "req_tot") + _number(row, "econ"))
            failed = errors.update(_number(row, "hrsp_5xx") + _number(row, "eresp") + _number(row, "econ"))
            p99: float | None = None
            if self.latency == "max":
                p99 = float(_number(row, "rtime_max")) if seen else None
            elif self.latency == "average" and seen:
                highest_average.append(float(_number(row, "rtime")))
                p99 = max(highest_average)
            return Reading(seen, min(failed, seen), None, p99)

        return judge_window(
            policy, read, source=f"haproxy {self.backend}/{server}", interval_s=self.interval_s,
            clock=self.clock, settings=self.settings, early=self.early, interrupted=interrupted,
        )
