"""Simulated clusters: provisioning that takes (simulated) minutes and converges, Flux health after a delay.

Faults are plain fields (``fail_provision``, ``never_healthy``,
``stale_revision`` ...), never patches.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from fleet.domain.health import ProgressWatch, judge_live
from fleet.domain.model import SlotName, Version
from fleet.domain.reports import (
    HealthReport,
    ObjectFailure,
    ObjectRef,
    Secret,
    SlotOutputs,
    TenantHealth,
)
from fleet.errors import ProvisioningFailed, TransientError
from fleet.ports import Interrupted, Layout
from fleet.rehearsal.sim.world import OLD_REVISION, REVISION, FakeClock, World


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
            self.world.record_flux_started(slot.value, held=slot in layout.held)

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


