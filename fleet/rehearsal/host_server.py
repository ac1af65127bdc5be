"""The rehearsal host's side: the process that serves the clusters, the backends and the load.

:mod:`fleet.rehearsal.host` describes the protocol and drives this process
from the parent; this module answers its requests, one JSON line each, and
stops everything it started when its stdin closes.
"""

from __future__ import annotations

import json
import os
import sys
from typing import IO, Any

from fleet.rehearsal.backends import SlotBackend
from fleet.rehearsal.host import FLUX_ACTIONS
from fleet.rehearsal.load import LoadGenerator


class _Host:
    """The child's side: clusters, Fluxes and backends by slot, and the load, started on demand."""

    def __init__(self, world: str = "kmock") -> None:
        self.world = world
        self.real: Any = None
        """The real world's clusters (:class:`fleet.rehearsal.peers.RealClusters`), started on demand."""
        self.sims: dict[str, Any] = {}
        self.retired: list[Any] = []
        """Servers of destroyed clusters, stopped with the others."""
        self.started: list[Any] = []
        self.fluxes: dict[str, Any] = {}
        self.backends: dict[str, SlotBackend] = {}
        self.load: LoadGenerator | None = None

    def handle(self, request: dict[str, Any]) -> Any:
        op, slot = request.get("op"), str(request.get("slot", ""))
        if op == "backend":
            return self._backend(request)
        if op == "load_start":
            return self._start_load(request)
        if op == "load_stop":
            records = self.load.stop() if self.load is not None else []
            return [[r.at, r.status, r.slot, r.latency_s, r.error, r.resolved_at] for r in records]
        if self.world == "real":
            return self._handle_real(op, slot, request)
        if op == "revision":
            return None
        if op == "cluster":
            sim = self.sims.get(slot)
            if sim is None:
                from fleet.rehearsal.kube_sim import KubeSim

                sim = KubeSim(flux_installed=False, forget_requests=True).start()
                self.sims[slot] = sim
                self.started.append(sim)
            return {"url": sim.url, "kubeconfig": sim.kubeconfig()}
        if op == "install_flux":
            self._sim(slot).install_flux()
            return None
        if op == "uninstall_flux":
            self._sim(slot).uninstall_flux()
            return None
        if op == "destroy":
            return self._destroy(slot)
        if op == "flux":
            return self._flux(slot, request)
        raise ValueError(f"unknown request {op!r}")

    def _handle_real(self, op: Any, slot: str, request: dict[str, Any]) -> Any:
        if self.real is None:
            from fleet.rehearsal.peers import RealClusters

            self.real = RealClusters()
        if op == "cluster":
            api = self.real.cluster(slot).api
            return {"url": api.url, "kubeconfig": api.kubeconfig()}
        if op == "install_flux":
            self.real.flux(slot, "install")
            return None
        if op == "uninstall_flux":
            return None
        if op == "destroy":
            self.real.destroy(slot)
            return None
        if op == "flux":
            action = str(request.get("action"))
            if action not in FLUX_ACTIONS:
                raise ValueError(f"unknown Flux action {action!r}; one of {', '.join(FLUX_ACTIONS)}")
            self.real.flux(slot, action)
            return None
        if op == "revision":
            return self.real.revision(slot)
        if op == "converge":
            return self.real.wait_converged(slot, float(request.get("timeout_s", 180)))
        raise ValueError(f"unknown request {op!r}")

    def _backend(self, request: dict[str, Any]) -> dict[str, Any]:
        name = str(request["name"])
        backend = self.backends.get(name)
        if backend is None:
            backend = SlotBackend(name).start()
            self.backends[name] = backend
        backend.set_faults(error_rate=float(request["error_rate"]), latency_s=float(request["latency_s"]))
        backend.set_path_errors({str(p): float(r) for p, r in dict(request.get("path_errors", {})).items()})
        return {"address": list(backend.address)}

    def _start_load(self, request: dict[str, Any]) -> None:
        if self.load is not None:
            raise ValueError("the load generator is already running")
        if "dns" in request:  # users behind caching resolvers in front of Route53
            from fleet.rehearsal.resolvers import dns_load

            self.load = dns_load(request, {name: b.address for name, b in self.backends.items()}).start()
            return
        self.load = LoadGenerator(
            str(request["url"]), rate=float(request["rate"]), total=int(request["total"]),
            time_limit_s=float(request["time_limit_s"]), threads=int(request["threads"]),
            paths=[(str(p), float(s)) for p, s in request.get("paths", [])],
        ).start()

    def _destroy(self, slot: str) -> None:
        """The slot's cluster is gone: its Flux stops, its API serves nothing; a new one starts afresh.

        The server itself keeps running until the host stops, in reverse order
        of starting: kmock chains a process-wide DNS interceptor per server,
        and unwinding that chain out of order breaks it.
        """
        flux = self.fluxes.pop(slot, None)
        if flux is not None:
            flux.stop()
        sim = self.sims.pop(slot, None)
        if sim is not None:
            sim.uninstall_flux()
            self.retired.append(sim)

    def _sim(self, slot: str) -> Any:
        sim = self.sims.get(slot)
        if sim is None:
            raise ValueError(f"no cluster {slot!r} is running")
        return sim

    def _flux(self, slot: str, request: dict[str, Any]) -> None:
        from fleet.rehearsal.flux_sim import FluxSim, FluxSpec

        action = str(request.get("action"))
        if action not in FLUX_ACTIONS:
            raise ValueError(f"unknown Flux action {action!r}; one of {', '.join(FLUX_ACTIONS)}")
        flux = self.fluxes.get(slot)
        if action == "stop":
            if flux is not None:
                flux.stop()
                del self.fluxes[slot]
            return
        if flux is None:
            spec = FluxSpec.from_json(dict(request["spec"]))
            flux = FluxSim(self._sim(slot), spec, reconcile_s=float(request["reconcile_s"]))
            self.fluxes[slot] = flux
        getattr(flux, action)()

    def close(self) -> None:
        if self.load is not None:
            self.load.stop()
        for backend in self.backends.values():
            backend.stop()
        for flux in self.fluxes.values():
            flux.stop()
        # kmock chains a process-wide DNS interceptor per server: unwind in reverse order of starting.
        for sim in reversed(self.started):
            sim.stop()
        if self.real is not None:
            self.real.close()


def serve(lines: IO[str], out: IO[str], world: str = "kmock") -> None:
    """Answer requests until ``lines`` ends, then stop every cluster."""
    host = _Host(world)
    try:
        for line in lines:
            request: dict[str, Any] = {}
            try:
                request = json.loads(line)
                answer: dict[str, Any] = {"ok": host.handle(request)}
            except Exception as err:  # every failure goes back to the parent, which raises it
                answer = {"error": f"{type(err).__name__}: {err}"}
            out.write(json.dumps({"id": request.get("id"), **answer}) + "\n")
            out.flush()
    finally:
        host.close()


if __name__ == "__main__":
    # The answers get a private copy of stdout; fd 1 itself goes to stderr, so that nothing a
    # library (or a child process) prints can break the protocol.
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    chosen = sys.argv[sys.argv.index("--world") + 1] if "--world" in sys.argv else "kmock"
    serve(sys.stdin, answers, chosen)
