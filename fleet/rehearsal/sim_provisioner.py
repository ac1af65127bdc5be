"""The ports of a rehearsal on real parts that are not the production adapters as they are.

Only provisioning is simulated (:class:`SimulatedProvisioner`: a delay, then
that slot's Kubernetes API, its kubeconfig returned as a ``Secret``); the real
traffic adapter is wrapped to record each split for a resume, and the real
health gate to note the revisions each slot applied.
"""

from __future__ import annotations

import json
import time
from typing import Any

from fleet.domain.model import SlotName, Version, Weights
from fleet.domain.reports import Secret, SlotOutputs
from fleet.domain.traffic import TrafficView
from fleet.errors import ProvisioningFailed
from fleet.ports import Applied, Layout, Traffic
from fleet.rehearsal.parts import Parts
from fleet.rehearsal.sim.world import OLD_REVISION, REVISION, World


class SimulatedProvisioner:
    """Provisioner whose clusters are KubeSims: a delay, then an API with the slot's own kubeconfig."""

    def __init__(self, parts: Parts) -> None:
        self.parts = parts
        self.world = parts.world
        self.waits = parts.waits

    def preflight(self) -> None:
        return None

    def cancel(self, why: Exception) -> None:
        return None  # the simulated calls are short waits: the engine stops before the next one

    def _pause_until(self, started: float, seconds: float) -> None:
        remaining = started + seconds - time.monotonic()
        if remaining > 0:
            time.sleep(remaining)

    def provision(self, layout: Layout, slot: SlotName, version: Version) -> SlotOutputs:
        if self.world.clusters.get(slot.value) != str(version):
            started = time.monotonic()
            self.parts.destroy_cluster(slot)
            if slot.value in self.world.bootstrapped:
                self.world.bootstrapped.remove(slot.value)
            self.world.clusters.pop(slot.value, None)
            self.parts.cluster(slot)
            self._pause_until(started, self.waits.provision_s)
            self.world.record_created(slot.value, str(version))
        outputs = self.outputs(layout.env, slot)
        assert outputs is not None
        return outputs

    def bootstrap(self, layout: Layout, slot: SlotName) -> None:
        from fleet.rehearsal.flux_sim import FluxSpec

        if slot.value not in self.world.clusters:
            raise ProvisioningFailed(f"{layout.env}-{slot} does not exist")
        if slot.value in self.world.bootstrapped:
            return
        started = time.monotonic()
        faults = self.parts.faults
        new = slot is self.parts.new
        flap = (self.waits.flap_period_s, self.waits.flap_s) if new and faults.flux_flap else None
        spec = FluxSpec(
            OLD_REVISION if new and faults.stale_revision else REVISION, stuck=new and faults.flux_stuck, flap=flap
        )
        self.parts.cluster(slot)
        self.parts.record_flux(slot, spec)
        flux = self.parts.flux(slot, spec)
        flux.install()
        self._pause_until(started, self.waits.bootstrap_s)
        self.world.record_bootstrapped(slot.value)
        flux.start()

    def refresh(self, layout: Layout) -> None:
        return None

    def outputs(self, env: str, slot: SlotName) -> SlotOutputs | None:
        version = self.world.clusters.get(slot.value)
        if version is None:
            return None
        sim = self.parts.cluster(slot)
        backend = self.parts.backends.get(slot.value)
        return SlotOutputs(
            slot=slot,
            version=Version.parse(version),
            endpoint=sim.url,
            ingress=backend.url if backend is not None else "",
            kubeconfig=Secret(json.dumps(sim.kubeconfig())),
        )

    def drain(self, layout: Layout, slot: SlotName) -> None:
        started = time.monotonic()
        flux = self.parts.fluxes.get(slot)
        if flux is not None and slot.value in self.world.clusters:
            flux.suspend()
        self._pause_until(started, self.waits.drain_s)

    def destroy(self, layout: Layout, slot: SlotName) -> None:
        if slot.value not in self.world.clusters:
            return
        started = time.monotonic()
        self.parts.destroy_cluster(slot)
        self._pause_until(started, self.waits.destroy_s)
        self.world.record_destroyed(slot.value)


class RecordingTraffic:
    """The real traffic adapter, with every applied split written to ``world.json`` for a resume."""

    def __init__(self, inner: Traffic, world: World) -> None:
        self.inner = inner
        self.world = world

    def get_weights(self, env: str) -> Weights:
        return self.inner.get_weights(env)

    def observe(self, env: str) -> TrafficView:
        return self.inner.observe(env)

    def address_of(self, ingress: str) -> str | None:
        return self.inner.address_of(ingress)

    def point(self, env: str, slot: SlotName, ingress: str) -> None:
        self.inner.point(env, slot, ingress)

    def set_weights(self, env: str, weights: Weights) -> Applied:
        applied = self.inner.set_weights(env, weights)
        self.world.weights = {"blue": applied.weights.blue, "green": applied.weights.green}
        self.world.weight_changes.append(dict(self.world.weights))
        self.world.save()
        return applied


class RevisionsSeen:
    """The health gate, noting the revisions each report carries: what the rehearsal prints per slot."""

    def __init__(self, inner: Any, seen: dict[str, dict[str, str]]) -> None:
        self.inner = inner
        self.seen = seen

    def _note(self, report: Any) -> Any:
        if report.revisions:
            self.seen[report.slot.value] = dict(report.revisions)
        return report

    def report(self, env: str, slot: SlotName, outputs: SlotOutputs) -> Any:
        return self._note(self.inner.report(env, slot, outputs))

    def wait_reconciled(self, env: str, slot: SlotName, outputs: SlotOutputs, timeout_s: float) -> Any:
        return self._note(self.inner.wait_reconciled(env, slot, outputs, timeout_s))

    def watch(self, env: str, slot: SlotName, outputs: SlotOutputs, **options: Any) -> Any:
        return self._note(self.inner.watch(env, slot, outputs, **options))
