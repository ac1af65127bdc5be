"""Judging a slot from HAProxy's own per-server counters.

When HAProxy moves the traffic it also sees every answer, so its counters
are the quickest evidence there is: no scrape interval, no exporter, no
pipeline. The slot's server line of ``show stat`` is polled (every 50 ms by
default) and fed to the sequential judge, which fails the slot as soon as
its error rate is clearly too high.

What is counted, per the slot's server in the configured backend (measured
on HAProxy 2.6: the three are disjoint, a request ends in exactly one):

* requests = ``req_tot`` (answers the server gave) + ``eresp`` (answers that
  never came or broke off: a server timeout, 504, or a reset, 502) +
  ``econ`` (requests whose connection failed, 503, counted once per request
  whatever the retries);
* errors = ``hrsp_5xx`` (5xx answers from the server) + ``eresp`` + ``econ``;
* plus, while every other server of the backend has weight 0 or is down,
  the backend's 5xx that no server's line explains: HAProxy's own 503 when
  no server can take the request, which users of the slot did get.

Each field is a counter of its own, read like Prometheus' ``increase()``:
a field that goes down restarted from zero, and so does every field when
HAProxy's process id changes (a reload with ``-sf`` starts a new process
with fresh counters, which may already be above the old ones by the next
poll). What was counted before the reload stays counted. A poll the runtime
API does not answer (mid-reload) is no reading, not zeros.

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

import csv
import io
from collections.abc import Mapping
from typing import Any

from fleet.adapters.analysis.window import (
    POLICY_KEYS,
    CounterDelta,
    MonotonicClock,
    ProgressHook,
    Reading,
    judge_window,
)
from fleet.adapters.traffic.haproxy_api import RuntimeApi
from fleet.domain.analysis import SprtSettings
from fleet.domain.model import AnalysisPolicy, SlotName
from fleet.domain.reports import Verdict
from fleet.errors import ProviderError, TransientError
from fleet.ports import Clock, Interrupted

LATENCY_MODES = ("max", "average", "none")
COUNTED = ("req_tot", "econ", "eresp", "hrsp_5xx")


def _number(row: Mapping[str, str], field: str) -> int:
    value = row.get(field) or "0"
    try:
        return int(value)
    except ValueError:
        return 0


def _takes_traffic(row: Mapping[str, str]) -> bool:
    status = row.get("status") or ""
    return _number(row, "weight") > 0 and not status.startswith(("DOWN", "MAINT", "DRAIN", "NOLB"))


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
        self.progress: ProgressHook | None = None
        """Told the window's counts after every reading (the live display); set by whoever wires the port."""

    @classmethod
    def from_settings(cls, env: str, settings: Mapping[str, Any], *, file: str) -> HAProxyAnalysis:
        from fleet.adapters.analysis.blocks import HAProxyAnalysisBlock
        from fleet.settings.blocks import read_block

        block = read_block(HAProxyAnalysisBlock, settings, file=file, block="analysis", ignored=POLICY_KEYS)
        return cls(
            block.socket,
            backend=block.backend,
            servers=block.servers,
            interval_s=block.interval,
            latency=block.latency,
            timeout_s=block.timeout,
        )

    def _poll(self, server: str) -> tuple[str, dict[str, Mapping[str, str]]]:
        """HAProxy's process id and the backend's ``show stat`` lines by name, in one runtime API session."""
        text = self.api.execute("show info", "show stat")
        at = text.find("# pxname")
        if at < 0:
            raise ProviderError(f"unexpected answer to 'show info; show stat': {text[:200]!r}")
        pid = next((line.split(":", 1)[1].strip() for line in text[:at].splitlines() if line.startswith("Pid:")), "")
        rows: dict[str, Mapping[str, str]] = {
            row.get("svname") or "": row
            for row in csv.DictReader(io.StringIO(text[at + 2:]))
            if row.get("pxname") == self.backend and row.get("svname") != "FRONTEND"
        }
        if server not in rows:
            raise ProviderError(f"HAProxy backend {self.backend!r} has no server {server!r} in 'show stat'")
        return pid, rows

    def analyse(
        self, env: str, slot: SlotName, policy: AnalysisPolicy, *, interrupted: Interrupted | None = None
    ) -> Verdict:
        server = self.servers[slot]
        if self.latency == "max":
            self.api.execute("clear counters")
        counters: dict[tuple[str, str], CounterDelta] = {}
        process = [""]
        highest: list[float] = []  # at most one value: the highest latency figure of the window
        blamed = [0]  # HAProxy's own 5xx while only this slot could take traffic

        def counted(line: str, field: str) -> int:
            return round(counters[(line, field)].total) if (line, field) in counters else 0

        last = [Reading(0, 0)]
        unanswered: list[TransientError] = []  # polls HAProxy did not answer (a reload, a restart)
        answered = [False]

        def read(elapsed: float) -> Reading:
            try:
                pid, rows = self._poll(server)
            except TransientError as err:  # no reading is no change: the next poll counts on
                unanswered.append(err)
                return last[0]
            answered[0] = True
            restarted = bool(process[0]) and pid != process[0]
            process[0] = pid
            for line, row in rows.items():
                for field in COUNTED:
                    value, key = _number(row, field), (line, field)
                    if key not in counters:
                        counters[key] = CounterDelta(value)
                    elif restarted:
                        counters[key].restarted(value)
                    else:
                        counters[key].update(value)
            seen = counted(server, "req_tot") + counted(server, "eresp") + counted(server, "econ")
            failed = counted(server, "hrsp_5xx") + counted(server, "eresp") + counted(server, "econ")
            servers = [line for line in rows if line != "BACKEND"]
            if all(not _takes_traffic(rows[line]) for line in servers if line != server):
                explained = sum(counted(line, f) for line in servers for f in ("hrsp_5xx", "eresp", "econ"))
                blamed[0] = max(blamed[0], counted("BACKEND", "hrsp_5xx") - explained)
            seen += blamed[0]
            failed += blamed[0]
            p99: float | None = None
            if self.latency != "none" and seen:
                figure = float(_number(rows[server], "rtime_max" if self.latency == "max" else "rtime"))
                highest[:] = [max([figure, *highest])]
                p99 = highest[0]
            last[0] = Reading(seen, min(failed, seen), None, p99)
            return last[0]

        verdict = judge_window(
            policy, read, source=f"haproxy {self.backend}/{server}", interval_s=self.interval_s,
            clock=self.clock, settings=self.settings, early=self.early, interrupted=interrupted,
            progress=self.progress,
        )
        if unanswered and not answered[0]:  # HAProxy never answered in the whole window: say so, judge nothing
            raise unanswered[-1]
        return verdict
