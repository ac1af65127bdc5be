"""Every process, server and thread of a rehearsal on real parts, started on demand and stopped together.

The clusters, the backends and the load run in a process of their own
(:mod:`fleet.rehearsal.host`); HAProxy runs beside it. The state dir records
what a resumed process needs to restart the parts as they were
(``flux.json``: what each cluster's Flux converged to).
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from typing import Any

from fleet.domain.model import SlotName
from fleet.domain.tenants import TenantTraffic, haproxy_lines
from fleet.errors import StateError
from fleet.rehearsal.files import (
    RehearsalFiles,
)
from fleet.rehearsal.real_faults import RealFaults
from fleet.rehearsal.sim.world import World
from fleet.rehearsal.tenant_faults import TENANT_PREFIX, TENANT_SHARE, rehearsed_tenants
from fleet.rehearsal.waits import Waits

FLUX = "flux.json"
LOAD_THREADS = 64
"""Enough workers that a green answering ``green-slow`` late still gets its share of arrivals."""


class Parts:
    """Every process, server and thread the rehearsal runs, started on demand and stopped together."""

    def __init__(
        self, files: RehearsalFiles, world: World, waits: Waits, faults: RealFaults, new: SlotName,
        kube: str = "kmock",
    ) -> None:
        self.kube = kube
        """Which world serves the clusters: ``kmock`` (simulated Flux) or ``real`` (real API servers and Flux)."""
        self.files = files
        self.folder = files.work_dir()
        self.world = world
        self.waits = waits
        self.faults = faults
        self.new = new
        self._stack = ExitStack()
        self.host: Any = None
        """The process running the clusters, the backends and the load (:mod:`fleet.rehearsal.host`)."""
        self.clusters: dict[SlotName, Any] = {}
        self.fluxes: dict[SlotName, Any] = {}
        self.backends: dict[str, Any] = {}
        self.haproxy: Any = None
        self._load_stopped = False
        self.clock_offset = time.time() - time.monotonic()
        """Add to a load record's ``at`` (monotonic) to get wall time."""

    # lifecycle

    def start_traffic(self) -> None:
        from fleet.rehearsal.haproxy_process import HAProxyProcess

        host = self._host()
        tenants = self.tenants()
        path_errors = {}
        if self.faults.tenant_errors is not None:
            name, rate = self.faults.tenant_errors
            path_errors = {f"{TENANT_PREFIX}{name}/": rate}
        for slot in SlotName:
            faulty = slot is self.new
            self.backends[slot.value] = host.backend(
                slot.value,
                error_rate=self.faults.green_errors if faulty else 0.0,
                latency_s=self.faults.green_slow_ms / 1000 if faulty else 0.0,
                path_errors=path_errors if faulty else None,
            )
        servers = {name: b.address for name, b in self.backends.items()}
        self.haproxy = HAProxyProcess(
            servers, weights=dict(self.world.weights), tenant_lines=haproxy_lines(tenants) if tenants else None
        )
        self._stack.callback(self.haproxy.stop)
        self.haproxy.start()
        limit = 300.0
        host.start_load(
            self.haproxy.url, rate=self.waits.rate, total=int(self.waits.rate * limit), time_limit_s=limit,
            threads=LOAD_THREADS, paths=[(t.path_prefixes[0], TENANT_SHARE) for t in tenants],
        )
        self._stack.callback(self.stop_load)

    def tenants(self) -> tuple[TenantTraffic, ...]:
        """The tenants judged on their own: only when a tenant fault is rehearsed (each at its path prefix)."""
        if self.faults.tenant_errors is None:
            return ()
        return rehearsed_tenants(self.faults.tenants or (self.faults.tenant_errors[0],))

    def stop_load(self) -> list[Any]:
        """Stop the users' requests (once); every request sent, in order of starting."""
        if self.host is None or self._load_stopped:
            return []
        self._load_stopped = True
        records: list[Any] = self.host.stop_load()
        return records

    def cluster(self, slot: SlotName) -> Any:
        """The slot's Kubernetes API, started (and its recorded Flux restored) if it is not running."""
        sim = self.clusters.get(slot)
        if sim is None:
            sim = self._host().cluster(slot)
            self.clusters[slot] = sim
            if slot.value in self.world.bootstrapped:
                self.flux(slot, self.flux_specs()[slot.value]).restore()
        return sim

    def _host(self) -> Any:
        from fleet.rehearsal.host import Host

        if self.host is None:
            self.host = Host(log=self.folder / "host.log", world=self.kube).start()
            self._stack.callback(self.host.stop)
        return self.host

    def flux(self, slot: SlotName, spec: Any) -> Any:
        flux = self.fluxes.get(slot)
        if flux is None:
            flux = self._host().flux(slot, spec, reconcile_s=self.waits.reconcile_s)
            self.fluxes[slot] = flux
            self._stack.callback(flux.stop)
        return flux

    def destroy_cluster(self, slot: SlotName) -> None:
        """The slot's cluster is gone: its Flux stops, its API serves nothing, a new one starts empty."""
        self.fluxes.pop(slot, None)
        sim = self.clusters.pop(slot, None)
        if sim is not None:
            sim.destroy()

    def close(self) -> None:
        self._stack.close()

    def kill_with_process(self) -> None:
        """Before the rehearsal kills itself: HAProxy and the cluster host would outlive it."""
        proxy = self.haproxy
        proc = getattr(proxy, "_proc", None)
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
        if self.host is not None:
            self.host.kill()

    # what the state dir records

    def flux_specs(self) -> dict[str, Any]:
        from fleet.rehearsal.flux_sim import FluxSpec

        data = self.files.load_json(FLUX) or {}
        try:
            return {slot: FluxSpec.from_json(spec) for slot, spec in data.items()}
        except (KeyError, TypeError, ValueError) as err:
            raise StateError(f"not a record of the clusters' Flux ({err})", file=self.files.where(FLUX)) from err

    def record_flux(self, slot: SlotName, spec: Any) -> None:
        data = self.files.load_json(FLUX) or {}
        data[slot.value] = spec.to_json()
        self.files.save_json(FLUX, data)
