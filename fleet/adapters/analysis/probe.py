"""Judging a slot by sending it requests ourselves.

Before real users reach a slot, or where no metrics are collected at all,
the only evidence is what fleet can measure: this source sends GET requests
straight to the slot's own endpoint (its ingress, bypassing the weights) at a
bounded rate, one at a time over a keep-alive connection, and feeds the
sequential judge. A probe succeeds on a 2xx or 3xx answer; a 4xx is an error
too, because a probe path that is not found is a misrouted probe, not a
healthy slot. Latency quantiles here are real: p50 and p99 are nearest-rank
quantiles of the window's probe latencies (time to the complete answer).
A ``host`` header can be set for ingresses that route by virtual host.
"""

from __future__ import annotations

import http.client
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from fleet.adapters.analysis.window import POLICY_KEYS, MonotonicClock, ProgressHook, Reading, judge_window
from fleet.domain.analysis import SprtSettings, quantile
from fleet.domain.model import AnalysisPolicy, SlotName
from fleet.domain.reports import Verdict
from fleet.errors import ConfigError
from fleet.ports import Clock, Interrupted

MAX_RATE = 50.0


class ProbeAnalysis:
    """Analysis from active HTTP probes of each slot's own endpoint."""

    source = "probe"

    def __init__(
        self,
        urls: Mapping[str, str],
        *,
        rate: float = 10.0,
        timeout_s: float = 2.0,
        host: str | None = None,
        clock: Clock | None = None,
        settings: SprtSettings | None = None,
        early: bool = True,
    ) -> None:
        if not 0 < rate <= MAX_RATE:
            raise ValueError(f"probe rate {rate} is outside (0, {MAX_RATE:g}] per second")
        self.urls = {}
        for slot in SlotName:
            url = urls.get(slot.value)
            if url is not None:
                parts = urlsplit(url)
                if parts.scheme not in ("http", "https") or not parts.hostname:
                    raise ValueError(f"{url!r} is not an http(s) URL")
                self.urls[slot] = url
        self.rate = rate
        self.timeout_s = timeout_s
        self.host = host
        self.clock: Clock = clock or MonotonicClock()
        self.settings = settings or SprtSettings()
        self.early = early
        self.progress: ProgressHook | None = None
        """Told the window's counts after every reading (the live display); set by whoever wires the port."""

    @classmethod
    def from_settings(cls, env: str, settings: Mapping[str, Any], *, file: str) -> ProbeAnalysis:
        from fleet.adapters.analysis.blocks import ProbeBlock
        from fleet.settings.blocks import read_block

        block = read_block(ProbeBlock, settings, file=file, block="analysis", ignored=POLICY_KEYS)
        try:
            return cls(block.urls, rate=block.rate, timeout_s=block.timeout, host=block.host)
        except ValueError as err:
            raise ConfigError(str(err), file=file, key="fleet:analysis.urls") from None

    def analyse(
        self, env: str, slot: SlotName, policy: AnalysisPolicy, *, interrupted: Interrupted | None = None
    ) -> Verdict:
        url = self.urls.get(slot)
        if url is None:
            raise ConfigError(f"no probe URL for slot {slot}", key=f"fleet:analysis.urls.{slot}")
        parts = urlsplit(url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection_class = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        headers = {"Host": self.host} if self.host else {}
        latencies: list[float] = []
        counts = [0, 0]
        conn: list[http.client.HTTPConnection] = []

        def probe() -> bool:
            if not conn:
                conn.append(connection_class(parts.hostname or "", parts.port, timeout=self.timeout_s))
            started = time.monotonic()
            try:
                conn[0].request("GET", path, headers=headers)
                response = conn[0].getresponse()
                response.read()
                ok = 200 <= response.status < 400
                if response.will_close:
                    conn.pop().close()
            except (OSError, http.client.HTTPException):
                conn.pop().close()
                ok = False
            latencies.append(1000.0 * (time.monotonic() - started))
            return ok

        def read(elapsed: float) -> Reading:
            ok = probe()
            counts[0] += 1
            counts[1] += 0 if ok else 1
            return Reading(counts[0], counts[1], quantile(latencies, 0.5), quantile(latencies, 0.99))

        try:
            return judge_window(
                policy, read, source=f"probe {url}", interval_s=1.0 / self.rate,
                clock=self.clock, settings=self.settings, early=self.early, interrupted=interrupted,
                progress=self.progress,
            )
        finally:
            for c in conn:
                c.close()
