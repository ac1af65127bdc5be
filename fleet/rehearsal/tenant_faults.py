"""Rehearsal faults per tenant: one tenant's requests fail on the new slot, one tenant's Kustomization is stuck.

``--fault tenant-errors=payments:0.5`` makes half of the ``payments``
tenant's requests fail on the new slot, and nobody else's; with a small share
of the traffic the slot as a whole still passes, which is the point: the
rehearsal shows the tenant is judged, and the rollback names it.
``--fault tenant-stuck=search`` leaves the tenant's Kustomization on the new
slot Ready=False with Flux's own kind of message, so the cutover halts before
traffic moves, naming the tenant and the object.

In memory, :class:`MixedTraffic` draws each tenant's requests (a seeded
Poisson stream per tenant, at its share of the slot's traffic) and sums them
for the slot, so the slot's judge and the tenants' judges see one consistent
set of requests; :meth:`MixedTraffic.counts` hands the tenants' running totals
to ``fleet.adapters.analysis.tenants.TenantAnalysis``. The real rehearsal sends
each tenant's share to its path prefix instead (``fleet.rehearsal.real``).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from fleet.adapters.analysis.tenants import TenantRead
from fleet.adapters.analysis.window import ProgressHook, Reading, judge_window
from fleet.domain.model import AnalysisPolicy, SlotName
from fleet.domain.reports import HealthReport, ObjectFailure, ObjectRef, TenantHealth, Verdict
from fleet.domain.tenants import TenantTraffic
from fleet.errors import UsageError
from fleet.ports import Clock, Interrupted

TENANT_SHARE = 0.005
"""The share of the traffic each rehearsed tenant sends (the rest is the platform's): small enough that a tenant
failing completely leaves the slot at 99.5 %, which passes ``successRate: 99``."""

TENANT_WINDOW_S = 4.0
"""The real rehearsal's analysis window with a tenant fault: 0.5 % of 200 requests/s is one request a second,
and judging a tenant takes a few of its requests (three that all fail, at ``successRate: 99``)."""

TENANT_PREFIX = "/t/"
"""Where a rehearsed tenant's requests go: ``/t/<tenant>/``, its path prefix."""


def parse_tenant_errors(value: str) -> tuple[str, float]:
    name, sep, rate = value.partition(":")
    try:
        number = float(rate)
    except ValueError:
        number = -1.0
    if not name or not sep or not 0.0 < number <= 1.0:
        raise UsageError(f"--fault tenant-errors={value}: expected TENANT:RATE with RATE in (0, 1], e.g. payments:0.5")
    return name, number


def check_tenant(name: str, known: tuple[str, ...], fault: str) -> None:
    if name not in known:
        raise UsageError(f"--fault {fault}={name}: no tenant {name!r} in fleet:tenants ({', '.join(known) or 'none'})")


def rehearsed_tenants(known: tuple[str, ...]) -> tuple[TenantTraffic, ...]:
    """The environment's tenants as the rehearsal routes them: each by its own path prefix."""
    return tuple(TenantTraffic(name, path_prefixes=(f"{TENANT_PREFIX}{name}/",)) for name in known)


@dataclass
class MixedTraffic:
    """The new slot's simulated traffic as the sum of its tenants' (and the platform's) requests."""

    clock: Clock
    world: Any
    """Whose ``weights`` (percent per slot name) is read at every poll."""
    shares: Mapping[str, float]
    error_rates: Mapping[str, float] = field(default_factory=dict)
    base_error_rate: float = 0.0
    requests_per_s: float = 200.0
    poll_s: float = 1.0
    seed: int = 0
    source: str = "simulated traffic"
    progress: ProgressHook | None = None
    _totals: dict[str, Reading] = field(default_factory=dict, repr=False)
    _windows: int = 0

    def analyse(
        self, env: str, slot: SlotName, policy: AnalysisPolicy, *, interrupted: Interrupted | None = None
    ) -> Verdict:
        from fleet.rehearsal.sim import poisson

        self._windows += 1
        rng = random.Random(f"{self.seed}/{slot.value}/{self._windows}")
        groups = {**{name: share for name, share in self.shares.items()}, "": 1.0 - sum(self.shares.values())}
        self._totals = {name: Reading(0, 0) for name in groups}
        seen = {"elapsed": 0.0}

        def read(elapsed: float) -> Reading:
            weight = self.world.weights.get(slot.value, 0)
            arrivals = self.requests_per_s * weight / 100 * max(0.0, elapsed - seen["elapsed"])
            seen["elapsed"] = elapsed
            for name, share in groups.items():
                rate = min(1.0, self.base_error_rate + self.error_rates.get(name, 0.0))
                errors = poisson(rng, arrivals * share * rate)
                ok = poisson(rng, arrivals * share * (1.0 - rate))
                before = self._totals[name]
                self._totals[name] = Reading(before.requests + errors + ok, before.errors + errors)
            total = sum(r.requests for r in self._totals.values())
            return Reading(total, sum(r.errors for r in self._totals.values()))

        return judge_window(
            policy, read, source=self.source, interval_s=self.poll_s, clock=self.clock,
            interrupted=interrupted, progress=self.progress,
        )

    def open(self, env: str, slot: SlotName) -> TenantRead:
        """The tenants' counts of the window in flight (``TenantCounts``)."""
        return lambda elapsed: {name: r for name, r in self._totals.items() if name}


@dataclass
class TenantStuckHealth:
    """The health port with one tenant's Kustomization stuck on the slot that does not serve yet."""

    inner: Any
    tenant: str
    clock: Clock

    def _stuck(self, report: HealthReport, weight: int) -> HealthReport:
        if weight > 0 or not report.tenants:
            return report
        ref = ObjectRef("Kustomization", self.tenant, self.tenant)
        failure = ObjectFailure(
            ref, "HealthCheckFailed",
            f"health check failed after 5m0s: timeout waiting for: [Deployment/{self.tenant}/{self.tenant}-api "
            "status: 'InProgress']",
        )
        tenants = tuple(
            replace(t, reconciled=False, failures=(*t.failures, failure)) if t.tenant == self.tenant else t
            for t in report.tenants
        )
        if all(t.tenant != self.tenant for t in tenants):
            tenants += (TenantHealth(self.tenant, False, 1, (failure,)),)
        return replace(
            report, reconciled=False, ready=report.ready - {ref}, failures=(*report.failures, failure), tenants=tenants
        )

    def _weight(self, slot: SlotName) -> int:
        return int(self.inner.world.weights.get(slot.value, 0))

    def report(self, env: str, slot: SlotName, outputs: Any) -> HealthReport:
        return self._stuck(self.inner.report(env, slot, outputs), self._weight(slot))

    def wait_reconciled(self, env: str, slot: SlotName, outputs: Any, timeout_s: float) -> HealthReport:
        deadline = self.clock.now() + timeout_s
        report = self._stuck(self.inner.wait_reconciled(env, slot, outputs, timeout_s), self._weight(slot))
        if not report.reconciled and self.clock.now() < deadline:
            self.clock.sleep(deadline - self.clock.now())
        return report

    def watch(self, env: str, slot: SlotName, outputs: Any, **options: Any) -> HealthReport:
        return self._stuck(self.inner.watch(env, slot, outputs, **options), self._weight(slot))
