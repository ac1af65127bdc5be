"""In-memory implementations of every port, shared by the tests and ``fleet rehearse``.

They behave like the real thing where the engine can tell the difference:
provisioning takes (simulated) minutes and converges, health arrives after a
reconcile delay, weights stick, analysis watches a window. Faults are
injected through plain fields (``fail_provision``, ``never_healthy``,
``fail_analysis_at_weight`` ...), never by patching.

Time is simulated by :class:`FakeClock`, so a one-hour cutover runs in
milliseconds. The world (which clusters exist, how often each was created or
destroyed, the current weights) can be saved to a JSON file after every
change, so that a rehearsal killed half-way can be resumed by another process
and the tests can check that nothing was done twice.
"""

from __future__ import annotations

import bisect
import json
import math
import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleet.adapters.analysis.window import Reading, judge_window
from fleet.domain.health import ProgressWatch, judge_live
from fleet.domain.model import AnalysisPolicy, SlotName, Version, Weights
from fleet.domain.reports import (
    HealthReport,
    ObjectFailure,
    ObjectRef,
    Secret,
    SlotOutputs,
    TenantHealth,
    Verdict,
)
from fleet.domain.traffic import ServerState, SlotTraffic, TrafficView, cannot_take
from fleet.errors import ProviderError, ProvisioningFailed, TransientError
from fleet.ports import Applied, Interrupted, Layout, Notice

REVISION = "main@sha1:7f3c2a9e41b0d5c8a6e2f1b3d4c5a6b7c8d9e0f1"
OLD_REVISION = "main@sha1:1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d"


class FakeClock:
    """Simulated time: ``sleep`` advances it at once."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self._now += max(0.0, seconds)


@dataclass
class World:
    """What exists outside fleet, as the fakes see it; optionally saved to a file."""

    clusters: dict[str, str] = field(default_factory=dict)
    """slot -> version of each cluster that exists."""
    bootstrapped: list[str] = field(default_factory=list)
    weights: dict[str, int] = field(default_factory=lambda: {"blue": 100, "green": 0})
    created: dict[str, int] = field(default_factory=dict)
    destroyed: dict[str, int] = field(default_factory=dict)
    weight_changes: list[dict[str, int]] = field(default_factory=list)
    singletons: list[str] = field(default_factory=lambda: ["blue"])
    """The slots that run the workloads that must not run twice (fleet.rehearsal.singletons)."""
    singleton_overlaps: list[str] = field(default_factory=list)
    path: Path | None = None

    def save(self) -> None:
        if self.path is None:
            return
        data = {k: v for k, v in self.__dict__.items() if k != "path"}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
        tmp.replace(self.path)

    def record_created(self, slot: str, version: str) -> None:
        self.clusters[slot] = version
        self.created[slot] = self.created.get(slot, 0) + 1
        self.save()

    def record_bootstrapped(self, slot: str) -> None:
        if slot not in self.bootstrapped:
            self.bootstrapped.append(slot)
        self.save()

    def record_destroyed(self, slot: str) -> None:
        self.clusters.pop(slot, None)
        if slot in self.bootstrapped:
            self.bootstrapped.remove(slot)
        if slot in self.singletons:
            self.singletons.remove(slot)
        self.destroyed[slot] = self.destroyed.get(slot, 0) + 1
        self.save()

    @classmethod
    def load(cls, path: Path) -> World:
        if not path.exists():
            world = cls(path=path)
            world.save()
            return world
        data: dict[str, Any] = json.loads(path.read_text())
        return cls(path=path, **data)


@dataclass
class FakeProvisioner:
    clock: FakeClock
    world: World
    provision_s: float = 600.0
    bootstrap_s: float = 90.0
    drain_s: float = 60.0
    destroy_s: float = 300.0
    fail_provision: int = 0
    """How many provision calls fail permanently before one succeeds."""
    transient_failures: int = 0
    """How many calls fail with a transient error before they succeed."""
    fail_destroy: int = 0
    refreshes: int = 0
    calls: list[str] = field(default_factory=list)
    cancelled: Exception | None = None
    """Why the engine cancelled the call in flight (its lease was lost)."""

    def _transient(self, what: str) -> None:
        self.calls.append(what)
        if self.transient_failures > 0:
            self.transient_failures -= 1
            raise TransientError(f"{what}: the provider is throttling", retry_after=1.0)

    def preflight(self) -> None:
        return None

    def cancel(self, why: Exception) -> None:
        self.cancelled = why

    def provision(self, layout: Layout, slot: SlotName, version: Version) -> SlotOutputs:
        self._transient(f"provision {slot}")
        if self.fail_provision > 0:
            self.fail_provision -= 1
            raise ProvisioningFailed(f"creating cluster {layout.env}-{slot} failed: quota exceeded")
        if self.world.clusters.get(slot.value) != str(version):
            self.clock.sleep(self.provision_s)
            self.world.record_created(slot.value, str(version))
        outputs = self.outputs(layout.env, slot)
        assert outputs is not None
        return outputs

    def bootstrap(self, layout: Layout, slot: SlotName) -> None:
        self._transient(f"bootstrap {slot}")
        if slot.value not in self.world.clusters:
            raise ProvisioningFailed(f"{slot} does not exist")
        if slot.value not in self.world.bootstrapped:
            self.clock.sleep(self.bootstrap_s)
            self.world.record_bootstrapped(slot.value)

    def refresh(self, layout: Layout) -> None:
        self.refreshes += 1
        self.calls.append("refresh")

    def outputs(self, env: str, slot: SlotName) -> SlotOutputs | None:
        version = self.world.clusters.get(slot.value)
        if version is None:
            return None
        return SlotOutputs(
            slot=slot,
            version=Version.parse(version),
            endpoint=f"https://{env}-{slot}.k8s.invalid",
            ingress=f"{env}-{slot}-ingress.invalid",
            kubeconfig=Secret(f"fake-kubeconfig-{env}-{slot}"),
        )

    def drain(self, layout: Layout, slot: SlotName) -> None:
        self._transient(f"drain {slot}")
        self.clock.sleep(self.drain_s)

    def destroy(self, layout: Layout, slot: SlotName) -> None:
        self._transient(f"destroy {slot}")
        if self.fail_destroy > 0:
            self.fail_destroy -= 1
            raise ProvisioningFailed(f"deleting cluster {layout.env}-{slot} failed: a load balancer is in use")
        if slot.value in self.world.clusters:
            self.clock.sleep(self.destroy_s)
            self.world.record_destroyed(slot.value)


_OBJECTS = (
    ObjectRef("Kustomization", "flux-system", "flux-system"),
    ObjectRef("Kustomization", "flux-system", "infrastructure"),
    ObjectRef("Kustomization", "payments", "payments"),
    ObjectRef("HelmRelease", "payments", "payments-api"),
    ObjectRef("Kustomization", "search", "search"),
)


@dataclass
class FakeHealth:
    clock: FakeClock
    world: World
    reconcile_s: float = 120.0
    never_healthy: bool = False
    stale_revision: bool = False
    missing_objects: int = 0
    """How many of the live slot's objects the new slot fails to reconcile."""
    lose_health_at: int | None = None
    """Once the new slot holds at least this percentage, a HelmRelease on it starts failing."""
    fail_in_bake: bool = False
    """Once the new slot holds all traffic, a HelmRelease on it fails (Ready=False) for good."""
    flap: tuple[float, float] | None = None
    """(period, duration): the new slot's Kustomizations reconcile for ``duration`` every ``period`` seconds."""
    tick_s: float = 1.0
    """How often ``wait_reconciled`` looks at a slot that is not reconciled yet."""
    poll_s: float = 5.0
    """How long a watch sleeps at most while nothing changes (it asks ``interrupted`` in between)."""
    reports_in_progress: int = 0
    """How many reports found the new slot mid-reconcile (flap), for tests to know the flap was seen."""

    def _is_new(self, slot: SlotName) -> bool:
        bootstrapped = self.world.bootstrapped
        return len(bootstrapped) == 2 and bootstrapped[-1] == slot.value

    def _flapping(self, slot: SlotName) -> bool:
        if self.flap is None or not self._is_new(slot):
            return False
        period, duration = self.flap
        return self.clock.now() % period < duration

    def _next_change(self, now: float) -> float:
        """When the simulated slot may look different without anyone acting: the next flap edge."""
        if self.flap is None:
            return math.inf
        period, duration = self.flap
        phase = now % period
        return now + (duration - phase if phase < duration else period - phase)

    def _report(self, slot: SlotName, ready_now: bool) -> HealthReport:
        if slot.value not in self.world.bootstrapped:
            failure = ObjectFailure(
                ObjectRef("Deployment", "flux-system", "kustomize-controller"),
                "FluxNotInstalled",
                "Flux controllers are not installed",
            )
            return HealthReport(slot=slot, reconciled=False, failures=(failure,))
        objects: tuple[ObjectRef, ...] = _OBJECTS
        failures: tuple[ObjectFailure, ...] = ()
        revision = REVISION
        share = self.world.weights.get(slot.value, 0)
        live = share > 0
        if live and share < 100 and self.lose_health_at is not None and share >= self.lose_health_at:
            failures = (ObjectFailure(_OBJECTS[3], "UpgradeFailed", "Helm upgrade failed: context deadline exceeded"),)
        if not live and (self.never_healthy or not ready_now):
            failures = (
                ObjectFailure(
                    _OBJECTS[3], "HealthCheckFailed", "Deployment payments/payments-api: 0/3 replicas available"
                ),
            )
        if not live and self.stale_revision:
            revision = OLD_REVISION
        moved = any(change.get(slot.value, 0) < 100 for change in self.world.weight_changes)
        if share == 100 and moved and self.fail_in_bake:
            failures = (ObjectFailure(_OBJECTS[3], "UpgradeFailed", "Helm upgrade failed: context deadline exceeded"),)
        if not live and self.missing_objects:
            objects = objects[: len(objects) - self.missing_objects]
        if self._flapping(slot):
            self.reports_in_progress += 1
            failures += tuple(
                ObjectFailure(ref, "Progressing", "Reconciliation in progress", transient=True)
                for ref in objects
                if ref.kind == "Kustomization" and ref not in {f.ref for f in failures}
            )
        ready = frozenset(objects) - {f.ref for f in failures}
        tenants = (
            TenantHealth("platform", True, 2),
            TenantHealth("payments", not failures, 2, failures),
            TenantHealth("search", True, 1),
        )
        failures = tuple(sorted(failures, key=lambda f: f.ref))
        return HealthReport(
            slot=slot,
            reconciled=not failures,
            revisions={"flux-system/flux-system": revision},
            ready=ready,
            failures=failures,
            tenants=tenants,
        )

    def report(self, env: str, slot: SlotName, outputs: SlotOutputs) -> HealthReport:
        return self._report(slot, ready_now=True)

    def wait_reconciled(self, env: str, slot: SlotName, outputs: SlotOutputs, timeout_s: float) -> HealthReport:
        if self.never_healthy:
            self.clock.sleep(timeout_s)
            return self._report(slot, ready_now=False)
        deadline = self.clock.now() + timeout_s
        self.clock.sleep(min(self.reconcile_s, timeout_s))
        report = self._report(slot, ready_now=self.reconcile_s <= timeout_s)
        while not report.reconciled and self.clock.now() < deadline and self.reconcile_s <= timeout_s:
            self.clock.sleep(min(self.tick_s, deadline - self.clock.now()))
            report = self._report(slot, ready_now=True)
        return report

    def watch(
        self,
        env: str,
        slot: SlotName,
        outputs: SlotOutputs,
        *,
        verified: Mapping[str, str],
        grace_s: float,
        until_s: float,
        interrupted: Interrupted | None = None,
    ) -> HealthReport:
        progress = ProgressWatch()
        until = self.clock.now() + until_s
        while True:
            now = self.clock.now()
            report = progress.observe(self._report(slot, ready_now=True), now)
            if progress.done(judge_live(report, verified, grace_s), now, until):
                return report
            if interrupted is not None and interrupted():
                return report
            wake = min(self._next_change(now), now + self.poll_s, until if now < until else math.inf)
            expiry = progress.next_expiry(grace_s)
            if expiry is not None and expiry > now:
                wake = min(wake, expiry)
            self.clock.sleep(max(wake - now, 1e-3))


@dataclass
class FakeTraffic:
    clock: FakeClock
    world: World
    settle_s: float = 0.0
    fail_at_weight: int | None = None
    """Setting the new slot to this percentage fails permanently."""
    transient_failures: int = 0
    states: dict[SlotName, ServerState] = field(default_factory=dict)
    """A slot's server state as the provider's checks see it (UP when not set)."""
    sessions: dict[SlotName, int] = field(default_factory=dict)
    addresses: dict[SlotName, str] = field(default_factory=dict)
    """Where each slot's share goes, as set by ``point`` (a reload forgets it: clear it)."""

    def get_weights(self, env: str) -> Weights:
        return Weights(blue=self.world.weights["blue"], green=self.world.weights["green"])

    def observe(self, env: str) -> TrafficView:
        return TrafficView(
            "fake",
            {
                slot: SlotTraffic(
                    weight=self.world.weights[slot.value],
                    state=self.states.get(slot, ServerState.UP),
                    sessions=self.sessions.get(slot, 0),
                    address=self.addresses.get(slot),
                )
                for slot in SlotName
            },
        )

    def address_of(self, ingress: str) -> str | None:
        return ingress

    def point(self, env: str, slot: SlotName, ingress: str) -> None:
        self.addresses[slot] = ingress

    def set_weights(self, env: str, weights: Weights) -> Applied:
        if self.transient_failures > 0:
            self.transient_failures -= 1
            raise TransientError("Throttling: rate exceeded", retry_after=0.5)
        view = self.observe(env)
        for slot in SlotName:
            refused = cannot_take(view, slot) if weights.of(slot) > self.world.weights[slot.value] else None
            if refused is not None:
                raise ProviderError(f"refused to move weight onto {slot}: {refused}")
        if self.fail_at_weight is not None:
            for slot in SlotName:
                rising = weights.of(slot) > self.world.weights[slot.value]
                if rising and weights.of(slot) == self.fail_at_weight:
                    raise ProviderError(f"setting weights {weights} failed: access denied")
        self.world.weights = {"blue": weights.blue, "green": weights.green}
        self.world.weight_changes.append(dict(self.world.weights))
        self.world.save()
        return Applied(weights, self.settle_s)


@dataclass
class FakeAnalysis:
    """Simulated traffic on the analysed slot, judged by the real ``SequentialJudge``.

    Each poll (``poll_s`` of simulated time) draws the slot's new requests
    from Poisson arrivals at ``requests_per_s`` times the slot's weight, each
    an error with probability ``error_rate`` (0.5 while the slot holds
    ``fail_at_weight``), and answer times for a sample of them (log-normal
    around ``latency_ms``, plus ``slow_ms``), with a seeded generator so a
    run is reproducible.
    The cumulative counts go through the same polling loop and judge as the
    real sources (``fleet.adapters.analysis.window.judge_window``), so a
    simulated rehearsal and a real one disagree only where traffic does.
    """

    clock: FakeClock
    world: World
    requests_per_s: float = 200.0
    fail_at_weight: int | None = None
    """Analysis fails while the analysed slot has this percentage (half its requests fail)."""
    error_rate: float = 0.0
    latency_ms: float = 12.0
    """The median answer time; answers are log-normal around it (p99 about 3.2 times it)."""
    slow_ms: float = 0.0
    """Added to every answer (the ``green-slow`` fault)."""
    poll_s: float = 1.0
    seed: int = 0
    calls: int = 0
    _windows: dict[tuple[str, int], int] = field(default_factory=dict, repr=False)

    def analyse(
        self, env: str, slot: SlotName, policy: AnalysisPolicy, *, interrupted: Interrupted | None = None
    ) -> Verdict:
        self.calls += 1
        totals = {"requests": 0, "errors": 0, "elapsed": 0.0}
        latencies: list[float] = []
        # one generator per window, seeded by the slot, its weight and how many windows this process judged at that
        # weight, so that a process resumed after a kill draws the same traffic for the step as an unkilled one
        weight = self.world.weights.get(slot.value, 0)
        nth = self._windows.get((slot.value, weight), 0)
        self._windows[(slot.value, weight)] = nth + 1
        rng = random.Random(f"{self.seed}/{slot.value}/{weight}/{nth}")

        def read(elapsed: float) -> Reading:
            weight = self.world.weights.get(slot.value, 0)
            rate = self.error_rate
            if self.fail_at_weight is not None and weight == self.fail_at_weight:
                rate = max(rate, 0.5)
            arrivals = self.requests_per_s * weight / 100 * max(0.0, elapsed - totals["elapsed"])
            totals["elapsed"] = elapsed
            errors = poisson(rng, arrivals * rate)
            new = errors + poisson(rng, arrivals * (1.0 - rate))
            totals["errors"] += errors
            totals["requests"] += new
            median = math.log(self.latency_ms)
            for _ in range(min(new, LATENCY_SAMPLE)):
                bisect.insort(latencies, self.slow_ms + rng.lognormvariate(median, LATENCY_SPREAD))
            return Reading(
                int(totals["requests"]), int(totals["errors"]),
                p50_ms=_nearest_rank(latencies, 0.5), p99_ms=_nearest_rank(latencies, 0.99),
            )

        return judge_window(
            policy, read, source="simulated traffic", interval_s=self.poll_s, clock=self.clock, interrupted=interrupted
        )


LATENCY_SPREAD = 0.5
"""The log-normal sigma of simulated answer times."""
LATENCY_SAMPLE = 50
"""Answer times drawn per poll at most: a sample of the window's requests, as a source's histogram is."""


def _nearest_rank(ordered: list[float], q: float) -> float | None:
    """``fleet.domain.analysis.quantile`` of an already sorted list."""
    return ordered[max(1, math.ceil(q * len(ordered))) - 1] if ordered else None


def poisson(rng: random.Random, mean: float) -> int:
    """An exact Poisson draw (inversion; large means split into halves, which sum to the same law)."""
    if mean <= 0.0:
        return 0
    if mean > 200.0:
        return poisson(rng, mean / 2) + poisson(rng, mean / 2)
    u = rng.random()
    k, term = 0, math.exp(-mean)
    total = term
    while u > total and term > 0.0:
        k += 1
        term *= mean / k
        total += term
    return k


@dataclass
class RecordingNotifier:
    notices: list[Notice] = field(default_factory=list)

    def notify(self, notice: Notice) -> None:
        self.notices.append(notice)
