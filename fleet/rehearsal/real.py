"""``fleet rehearse`` on real parts: real traffic, a real Kubernetes API, only provisioning simulated.

The in-memory rehearsal shows what the engine decides; this one shows that
the adapters a production cutover uses actually carry it out. It starts, on
127.0.0.1 only:

* two HTTP backends standing for the slots' ingresses, a real HAProxy in
  front of them, and a bounded load generator sending ~200 requests/s
  through it for the whole cutover (the backends and the load run in a
  process of their own, :mod:`fleet.rehearsal.host`, like the clusters); ``HAProxyTraffic`` moves the weights and
  ``HAProxyAnalysis`` judges the new slot from HAProxy's own counters;
* for each cluster, a Kubernetes API (``KubeSim``) and a small Flux
  (:mod:`fleet.rehearsal.flux_sim`) writing the statuses Flux writes, read
  by the real ``FluxHealthGate`` with the slot's own kubeconfig;
* the real engine and state store, and the system clock.

With ``kube="real"`` (``fleet rehearse ENV --world real``) each cluster is
instead a real kube-apiserver (over one etcd) with real Flux controllers
reconciling a real Git repository on 127.0.0.1
(:class:`fleet.rehearsal.peers.RealClusters`, built by
``tools/peers/build.py``): the revisions the gate compares are the ones Flux
applied. Faults that script the simulated Flux (``flux-stuck``,
``stale-revision``) and ``crash-after`` (a killed host takes its clusters'
data with it) are refused there, and such a rehearsal cannot be resumed.

Only provisioning is simulated (:class:`SimulatedProvisioner`: a delay, then
that slot's KubeSim, its kubeconfig returned as a ``Secret``). The
configured waits (60 s per step, a 30 min teardown bake) are replaced by
:class:`Waits`, printed at the start, so a healthy rehearsal takes about
12 s; ``minRequests`` (and the requests a p99 needs) are scaled to the
traffic a compressed window gets.

Faults drive real failures in real parts: the new slot's backend answers
500s or is slow, Flux stalls or applies an old revision, the process is
killed. The state dir records what a resumed process needs to restart the
parts as they were (``world.json``: clusters and weights; ``flux.json``: what
each cluster's Flux converged to), so ``fleet resume ENV --state DIR``
finishes a killed rehearsal without provisioning anything twice. Everything
started here is stopped on the way out, on failure and on Ctrl-C too.

This module runs and resumes the rehearsal; its concerns live apart: the
faults (:mod:`~fleet.rehearsal.real_faults`), the waits and the clock
(:mod:`~fleet.rehearsal.waits`), the processes (:mod:`~fleet.rehearsal.parts`),
the simulated provisioner and the wrapped ports
(:mod:`~fleet.rehearsal.sim_provisioner`), what the load saw
(:mod:`~fleet.rehearsal.summary`).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from fleet.config import EnvironmentConfig
from fleet.domain.machine import EnvironmentState
from fleet.domain.model import SlotName, Version
from fleet.engine import Engine, Ports, RetryPolicy
from fleet.errors import StateError, UsageError
from fleet.ports import Confirm, Lease, Notifier, StateStore
from fleet.rehearsal.common import Fanout
from fleet.rehearsal.files import (
    LEASE_S,
    MARKER,
    HeldStore,
    RehearsalFiles,
    active_and_goal,
    check_files,
    load_marker,
    load_world,
    started,
)
from fleet.rehearsal.parts import FLUX, Parts
from fleet.rehearsal.real_faults import CrashAfter, FailInBake, MidShift, RealFaults, parse_real_faults
from fleet.rehearsal.sim.world import REVISION, World
from fleet.rehearsal.sim_provisioner import RecordingTraffic, RevisionsSeen, SimulatedProvisioner
from fleet.rehearsal.waits import REAL_WORLD_WAITS, Waits, WallClock
from fleet.state import open_store

MODE = "real"


@dataclass
class RealRun:
    """What a real rehearsal leaves for rendering: its store, the world, the load it sent."""

    store: StateStore
    location: str
    world: World
    waits: Waits
    requests: list[Any] = field(default_factory=list)
    clock_offset: float = 0.0
    load_started_at: float | None = None
    load_stopped_at: float | None = None
    kube: str = "kmock"
    revisions: dict[str, dict[str, str]] = field(default_factory=dict)
    """The revisions the health gate last saw applied on each slot (slot -> source -> ``main@sha1:...``)."""


def missing_parts() -> list[str]:
    """What the real rehearsal needs and this machine lacks (empty: it can run)."""
    import importlib.util

    from fleet.rehearsal.haproxy_process import find_haproxy

    missing = []
    if find_haproxy() is None:
        missing.append("haproxy (Debian package haproxy)")
    for module, package in (("kmock", "kmock"), ("kubernetes", "kubernetes")):
        if importlib.util.find_spec(module) is None:
            missing.append(f"{package} (pip install {package})")
    return missing


def _save_marker(files: RehearsalFiles, env: str, faults: RealFaults, waits: Waits, kube: str = "kmock") -> None:
    marker = {"env": env, "mode": MODE, "faults": list(faults.persistent().specs), "waits": waits.to_json(),
              "world": kube}
    files.save_json(MARKER, marker)


def rehearsal_mode(location: str, env: str) -> str:
    """``real`` or ``simulated``: how the rehearsal at ``location`` ran (its marker says)."""
    marker = load_marker(RehearsalFiles(open_store(location, rehearsal=True)), env)
    return str(marker.get("mode", "simulated"))


@contextmanager
def _terminate_on_sigterm() -> Iterator[None]:
    """SIGTERM (a CI job cancelled) unwinds like Ctrl-C, so that every part is stopped."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def _parts(
    location: str, env: str, faults: RealFaults, waits: Waits, notifier: Notifier, new: SlotName,
    store: StateStore, lease: Lease, confirm: Confirm | None = None, kube: str = "kmock",
) -> Iterator[tuple[Parts, Engine, RealRun]]:
    from fleet.adapters.analysis.haproxy import HAProxyAnalysis
    from fleet.adapters.analysis.window import attach_progress
    from fleet.adapters.kube import Backoff, FluxHealthGate
    from fleet.adapters.traffic.haproxy import HAProxyTraffic

    files = RehearsalFiles(store)
    world = load_world(files)
    parts = Parts(files, world, waits, faults, new, kube)
    held = HeldStore(store, lease)
    run = RealRun(held, location, world, waits, clock_offset=parts.clock_offset, kube=kube)
    with _terminate_on_sigterm(), ExitStack() as stack:
        stack.callback(parts.close)
        parts.start_traffic()
        run.load_started_at = time.monotonic()
        gate = FluxHealthGate(
            backoff=Backoff(initial_s=0.05, factor=2.0, max_s=0.5, attempts=5),
            connect_timeout_s=2.0, read_timeout_s=5.0, missing_poll_s=0.2, join_timeout_s=2.0,
        )
        stack.callback(gate.close)
        hint = f"finish with: fleet resume {env} --state {location}"
        notifiers: list[Notifier] = [notifier]
        if faults.crash_after is not None:
            notifiers.append(CrashAfter(faults.crash_after, hint, parts))
        if faults.mid_shift is not None:
            notifiers.append(MidShift(faults.mid_shift, parts))
        if faults.flux_fails_in_bake:
            notifiers.append(FailInBake(parts))
        analysis: Any = HAProxyAnalysis(parts.haproxy.socket_path)
        tenants = parts.tenants()
        if tenants:
            from fleet.adapters.analysis.tenants import HAProxyTenantCounts, TenantAnalysis

            counts = HAProxyTenantCounts(analysis.api, analysis.servers, tuple(t.name for t in tenants))
            analysis = TenantAnalysis(analysis, tenants, counts)
        attach_progress(analysis, notifier, env)
        ports = Ports(
            provisioner=SimulatedProvisioner(parts),
            health=RevisionsSeen(gate, run.revisions),
            traffic=RecordingTraffic(HAProxyTraffic(parts.haproxy.socket_path), world),
            analysis=analysis,
            clock=WallClock(),
            notifier=Fanout(*notifiers),
            confirm=confirm or (lambda question: True),
        )
        engine = Engine(held, ports, retry=RetryPolicy(attempts=5, base_s=0.1, max_s=1.0, budget_s=5.0))
        try:
            yield parts, engine, run
        finally:
            time.sleep(0.5)
            run.requests = parts.stop_load()
            run.load_stopped_at = time.monotonic()


def rehearse_real(
    config: EnvironmentConfig,
    location: str,
    faults: RealFaults,
    notifier: Notifier,
    *,
    target: Version | None = None,
    waits: Waits | None = None,
    confirm: Confirm | None = None,
    kube: str = "kmock",
) -> tuple[EnvironmentState, RealRun]:
    """Run a cutover of ``config`` on real traffic and real Kubernetes APIs, with a real store at ``location``.

    The lock comes first: a contender leaves (exit 3) before any process is
    started or any file of the run that holds the lock is written. ``kube``
    chooses the clusters: ``kmock`` (simulated Flux) or ``real`` (real API
    servers and Flux).
    """
    if kube == "real":
        refused = [name for name, on in (("flux-stuck", faults.flux_stuck), ("stale-revision", faults.stale_revision),
                                         ("crash-after", faults.crash_after is not None)) if on]
        if refused:
            raise UsageError(f"--world real does not offer the fault(s) {', '.join(refused)}; use --world kmock")
    waits = waits or (REAL_WORLD_WAITS if kube == "real" else Waits())
    if faults.tenant_errors is not None:
        from fleet.rehearsal.inmemory import tenant_names
        from fleet.rehearsal.tenant_faults import check_tenant

        known = tenant_names(config)
        check_tenant(faults.tenant_errors[0], known, "tenant-errors")
        faults = replace(faults, tenants=known)
    with started(location, config.name, config.version, contender=faults.lock_held) as (store, lease, live):
        active, current, goal = active_and_goal(live, config, location, target)
        files = RehearsalFiles(store)
        _save_marker(files, config.name, faults, waits, kube)
        world = load_world(files)
        if world.seed_live(active.value, str(current), {"blue": live.weights.blue, "green": live.weights.green}):
            from fleet.rehearsal.flux_sim import FluxSpec

            flux = files.load_json(FLUX) or {}
            flux[active.value] = FluxSpec(REVISION).to_json()
            files.save_json(FLUX, flux)
        rollout = waits.rollout(config.rollout)
        teardown = waits.teardown(config.teardown)
        with _parts(location, config.name, faults, waits, notifier, active.other, store, lease, confirm, kube) as (
            parts, engine, run
        ):
            parts.cluster(active)
            if kube == "real":
                parts.host.call("converge", slot=active.value, timeout_s=waits.health_timeout_s)
            return engine.cutover(config, goal, rollout=rollout, teardown=teardown), run


def resume_real(
    location: str, env: str, notifier: Notifier, *, force_unlock: bool, confirm: Confirm | None = None
) -> tuple[EnvironmentState, RealRun]:
    """Finish a real rehearsal in a new process: restart its parts as the state dir records them."""
    missing = missing_parts()
    if missing:
        raise UsageError(f"{location} is a rehearsal on real parts; this machine lacks {', '.join(missing)}")
    store = open_store(location, rehearsal=True)
    check_files(RehearsalFiles(store), env)
    with store.lock(env, lease_s=LEASE_S, force=force_unlock) as lease:
        marker = load_marker(RehearsalFiles(store), env)
        if marker.get("world", "kmock") == "real":
            raise UsageError(f"{location} is a rehearsal on the real world, whose clusters ended with it: start anew")
        faults = parse_real_faults(marker.get("faults", []))
        try:
            waits = Waits(**marker.get("waits", {}))
        except TypeError as err:
            raise StateError(f"not a rehearsal's waits ({err})", file=RehearsalFiles(store).where(MARKER),
                             key="waits") from err
        state = store.load(env)
        if state is None or state.cutover is None:
            raise UsageError(f"{location} holds no cutover of {env}")
        with _parts(location, env, faults, waits, notifier, state.cutover.new, store, lease, confirm) as (
            parts, engine, run
        ):
            for slot in SlotName:
                if slot.value in run.world.clusters:
                    parts.cluster(slot)
            return engine.resume(env), run
