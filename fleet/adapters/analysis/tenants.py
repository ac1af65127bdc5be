"""Each tenant's share of the new slot's traffic, judged in the same window as the slot.

The slot's own source (HAProxy, Prometheus, probes) runs its window as
always; :class:`TenantAnalysis` rides on its progress hook: after every
reading of the slot it reads each tenant's cumulative counts from the
environment's source and feeds one judge per tenant (the slot's judge, its
error chances shared out over the tenants: ``fleet.domain.tenants``). A
tenant that fails early ends the window at once (the slot's window is given
up: its ``interrupted`` answers True), so a small tenant failing completely
is rolled back as fast as a failing slot. Whatever the tenants' verdicts,
they travel in the slot's ``Verdict.tenants``; the machine decides.

Where a tenant's counts come from:

* HAProxy: a stick table (``fleet_tenants``) keyed ``<tenant>/<server>``
  counts every answer (``http_req_cnt``) and every 5xx (``http_fail_cnt``),
  filled by the lines ``fleet.domain.tenants.haproxy_lines`` prints and
  ``docs/traffic.md`` lists. It counts answers HAProxy relayed from a server;
  HAProxy's own 503s are counted for the slot, not the tenant.
* Prometheus: the slot's queries with ``{tenant_labels}`` in a selector, filled
  with the tenant's ``traffic.labels`` (``,namespace="payments"``; empty for the
  slot as a whole).
* Probes: a tenant's ``traffic.probes`` URL for the slot, probed at
  ``probe_rate`` per second while the window runs: the fallback evidence when
  the tenant's share is too small to judge.
"""

from __future__ import annotations

import contextlib
import http.client
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Protocol
from urllib.parse import urlsplit

from fleet.adapters.analysis.window import (
    TIME_EPSILON_S,
    CounterDelta,
    ProgressHook,
    Reading,
    ReportsProgress,
    SeriesCounters,
    WindowProgress,
)
from fleet.domain.analysis import SequentialJudge, SprtSettings, quantile
from fleet.domain.model import AnalysisPolicy, SlotName
from fleet.domain.reports import Verdict
from fleet.domain.tenants import HAPROXY_TABLE, TenantTraffic, judge_settings, tenant_verdict, with_tenants
from fleet.errors import TransientError
from fleet.ports import Analysis, Interrupted

TenantRead = Callable[[float], Mapping[str, Reading]]
"""Every tenant's cumulative counts since the window opened; called with the seconds since then."""


class TenantCounts(Protocol):
    """Where the tenants' counts come from, for one window of one slot."""

    def open(self, env: str, slot: SlotName) -> TenantRead: ...


_ENTRY = re.compile(r"key=(?P<key>\S+).*?http_req_cnt=(?P<req>\d+).*?http_fail_cnt=(?P<fail>\d+)")


class HAProxyTenantCounts:
    """Tenants' answers per server from HAProxy's ``fleet_tenants`` stick table."""

    def __init__(self, api: object, servers: Mapping[SlotName, str], tenants: tuple[str, ...],
                 table: str = HAPROXY_TABLE) -> None:
        self.api = api  # fleet.adapters.traffic.haproxy_api.RuntimeApi (execute)
        self.servers = dict(servers)
        self.tenants = tenants
        self.table = table

    def _entries(self) -> dict[str, tuple[int, int]]:
        text: str = self.api.execute(f"show table {self.table}")  # type: ignore[attr-defined]
        return {m["key"]: (int(m["req"]), int(m["fail"])) for m in _ENTRY.finditer(text)}

    def open(self, env: str, slot: SlotName) -> TenantRead:
        server = self.servers[slot]
        first = self._entries()
        counters: dict[str, tuple[CounterDelta, CounterDelta]] = {}
        for tenant in self.tenants:
            req, fail = first.get(f"{tenant}/{server}", (0, 0))
            counters[tenant] = (CounterDelta(req), CounterDelta(fail))

        def read(elapsed: float) -> Mapping[str, Reading]:
            entries = self._entries()
            readings = {}
            for tenant, (requests, errors) in counters.items():
                req, fail = entries.get(f"{tenant}/{server}", (0, 0))
                seen, failed = requests.update(req), errors.update(fail)
                readings[tenant] = Reading(seen, min(seen, failed))
            return readings

        return read


class PrometheusTenantCounts:
    """Tenants' counts from the slot's Prometheus queries, ``{tenant_labels}`` filled per tenant."""

    def __init__(self, source: object, tenants: tuple[TenantTraffic, ...]) -> None:
        self.source = source  # fleet.adapters.analysis.prometheus.PrometheusAnalysis
        self.tenants = tuple(t for t in tenants if t.labels)

    def open(self, env: str, slot: SlotName) -> TenantRead:
        from fleet.adapters.analysis.prometheus import render

        src = self.source
        label = src.slots[slot]  # type: ignore[attr-defined]
        counters = {t.name: (SeriesCounters(), SeriesCounters()) for t in self.tenants}

        def read(elapsed: float) -> Mapping[str, Reading]:
            readings = {}
            for tenant in self.tenants:
                requests, errors = counters[tenant.name]
                queries = []
                for template in (src.requests_query, src.errors_query):  # type: ignore[attr-defined]
                    filled = template.replace("{tenant_labels}", tenant.promql_labels())
                    queries.append(src.series(render(filled, slot=label, env=env, window_s=elapsed)))  # type: ignore[attr-defined]
                seen, failed = requests.update(queries[0]), errors.update(queries[1])
                readings[tenant.name] = Reading(seen, min(seen, failed))
            return readings

        return read


class _Prober:
    """One keep-alive GET at a time to a tenant's probe URL; 2xx/3xx succeed."""

    def __init__(self, url: str, timeout_s: float) -> None:
        self.parts = urlsplit(url)
        self.timeout_s = timeout_s
        self.conn: http.client.HTTPConnection | None = None
        self.requests = 0
        self.errors = 0
        self.latencies: list[float] = []

    def probe(self) -> None:
        parts = self.parts
        if self.conn is None:
            cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
            self.conn = cls(parts.hostname or "", parts.port, timeout=self.timeout_s)
        started = time.monotonic()
        try:
            self.conn.request("GET", (parts.path or "/") + (f"?{parts.query}" if parts.query else ""))
            response = self.conn.getresponse()
            response.read()
            ok = 200 <= response.status < 400
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = None
            ok = False
        self.latencies.append(1000.0 * (time.monotonic() - started))
        self.requests += 1
        self.errors += 0 if ok else 1

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


class TenantAnalysis:
    """The slot's analysis, with each configured tenant judged over the same window."""

    def __init__(
        self,
        inner: Analysis,
        tenants: tuple[TenantTraffic, ...],
        counts: TenantCounts | None,
        *,
        settings: SprtSettings | None = None,
        probe_rate: float = 2.0,
        probe_timeout_s: float = 2.0,
    ) -> None:
        self.inner = inner
        self.tenants = tenants
        self.counts = counts
        self.settings = settings or SprtSettings()
        self.probe_rate = probe_rate
        self.probe_timeout_s = probe_timeout_s
        self.progress: ProgressHook | None = None
        """Told the slot's window counts (the live display), as the inner source would be."""

    @property
    def source(self) -> str:
        return str(getattr(self.inner, "source", "analysis"))

    def analyse(
        self, env: str, slot: SlotName, policy: AnalysisPolicy, *, interrupted: Interrupted | None = None
    ) -> Verdict:
        inner = self.inner
        names = [t.name for t in self.tenants if t.judged]
        if not names or not isinstance(inner, ReportsProgress):
            if isinstance(inner, ReportsProgress):
                inner.progress = self.progress
            return inner.analyse(env, slot, policy, interrupted=interrupted)
        settings = judge_settings(self.settings, len(names))
        judges = {n: SequentialJudge(policy, source=f"{self.source} tenant {n}", settings=settings) for n in names}
        probers = {t.name: _Prober(t.probes[slot.value], self.probe_timeout_s)
                   for t in self.tenants if t.judged and slot.value in t.probes}
        probe_judges = {n: SequentialJudge(policy, source=f"probe tenant {n}", settings=settings) for n in probers}
        read = self.counts.open(env, slot) if self.counts is not None else None
        state: dict[str, float] = {"elapsed": 0.0, "probed": -1e9, "failed": 0.0}
        last: dict[str, Reading] = {}

        def hook(progress: WindowProgress) -> None:
            if self.progress is not None:
                self.progress(progress)
            state["elapsed"] = progress.elapsed_s
            if read is not None:
                with contextlib.suppress(TransientError):  # no reading is no change: the next poll counts on
                    last.update(read(progress.elapsed_s))
            for name, reading in last.items():
                if name in judges and judges[name].observe(reading.requests, reading.errors,
                                                           elapsed_s=progress.elapsed_s) is not None:
                    state["failed"] = 1.0
            if probers and progress.elapsed_s - state["probed"] >= 1.0 / self.probe_rate:
                state["probed"] = progress.elapsed_s
                for name, prober in probers.items():
                    if probe_judges[name].failed is not None:
                        continue  # decided: no more requests to a failing endpoint
                    prober.probe()
                    probe_judges[name].observe(prober.requests, prober.errors, elapsed_s=progress.elapsed_s,
                                               p99_ms=quantile(prober.latencies, 0.99))

        def stop() -> bool:
            return bool(state["failed"]) or (interrupted is not None and interrupted())

        inner.progress = hook
        try:
            verdict = inner.analyse(env, slot, policy, interrupted=stop)
        finally:
            inner.progress = self.progress
            for prober in probers.values():
                prober.close()
        elapsed = state["elapsed"]
        ended = elapsed >= policy.window_s - TIME_EPSILON_S
        verdicts = []
        for name in names:
            traffic = _finish(judges[name], last.get(name, Reading(0, 0)), elapsed, ended)
            probe_judge = probe_judges.get(name)
            probe = None
            if probe_judge is not None:
                prober = probers[name]
                probe = _finish(probe_judge, Reading(prober.requests, prober.errors), elapsed, ended)
            verdicts.append(tenant_verdict(name, traffic, probe))
        return with_tenants(replace(verdict, tenants=tuple(verdicts)))


def _finish(judge: SequentialJudge, reading: Reading, elapsed: float, ended: bool) -> Verdict:
    if judge.failed is not None:
        return judge.failed
    if ended:
        return judge.conclude(reading.requests, reading.errors, elapsed_s=elapsed)
    return judge.cut_short(elapsed_s=elapsed)


def with_tenants_from_settings(analysis: Analysis, tenants: tuple[TenantTraffic, ...]) -> Analysis:
    """Wrap ``analysis`` (built from ``fleet:analysis``) so that the tenants are judged too, when any is."""
    if not any(t.judged for t in tenants):
        return analysis
    from fleet.adapters.analysis.haproxy import HAProxyAnalysis
    from fleet.adapters.analysis.prometheus import PrometheusAnalysis

    counts: TenantCounts | None = None
    if isinstance(analysis, HAProxyAnalysis):
        names = tuple(t.name for t in tenants if t.hosts or t.path_prefixes)
        counts = HAProxyTenantCounts(analysis.api, analysis.servers, names) if names else None
    elif isinstance(analysis, PrometheusAnalysis):
        templates = (analysis.requests_query, analysis.errors_query)
        if all("{tenant_labels}" in t for t in templates):
            counts = PrometheusTenantCounts(analysis, tenants)
    return TenantAnalysis(analysis, tenants, counts, settings=getattr(analysis, "settings", None))
