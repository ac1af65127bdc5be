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
"""

from __future__ import annotations

import json
import math
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from fleet.config import EnvironmentConfig
from fleet.domain.machine import EnvironmentState, Phase
from fleet.domain.model import AnalysisPolicy, RolloutPolicy, SlotName, TeardownPolicy, Version, Weights
from fleet.domain.reports import Secret, SlotOutputs
from fleet.domain.traffic import TrafficView
from fleet.engine import Engine, Ports, RetryPolicy
from fleet.errors import ProvisioningFailed, StateError, UsageError
from fleet.ports import Applied, Confirm, Layout, Lease, Notice, Notifier, Record, StateStore, Traffic
from fleet.rehearsal.common import Fanout, crash_phase, die, fault_number
from fleet.rehearsal.faults import REAL_FAULTS
from fleet.rehearsal.files import (
    LEASE_S,
    MARKER,
    HeldStore,
    RehearsalFiles,
    check_files,
    load_marker,
    load_world,
    started,
)
from fleet.rehearsal.sim.world import OLD_REVISION, REVISION, World
from fleet.state import open_store

FLUX = "flux.json"
MODE = "real"
LOAD_THREADS = 64
"""Enough workers that a green answering ``green-slow`` late still gets its share of arrivals."""
GREEN_SLOW_MAX_MS = 1500
"""Below the load generator's 2 s request timeout: slower answers would be failures, not latency."""


class WallClock:
    """The system clock: history records carry wall-clock times."""

    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


# --- faults -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RealFaults:
    green_errors: float = 0.0
    green_slow_ms: float = 0.0
    flux_stuck: bool = False
    stale_revision: bool = False
    flux_flap: bool = False
    flux_fails_in_bake: bool = False
    crash_after: Phase | None = None
    lock_held: bool = False
    mid_shift: str | None = None
    """``haproxy-reload`` or ``hand-edit``: done to HAProxy once the first step's analysis is recorded."""
    specs: tuple[str, ...] = ()

    def persistent(self) -> RealFaults:
        """The faults that still hold when the rehearsal is resumed (a crash, a held lock, a reload happened once)."""
        kept = tuple(s for s in self.specs if not s.startswith(("crash-after", "lock-held", "haproxy-reload", "hand-")))
        return replace(self, crash_after=None, lock_held=False, mid_shift=None, specs=kept)


def parse_real_faults(specs: Sequence[str]) -> RealFaults:
    faults = RealFaults(specs=tuple(specs))
    names = {f.partition("=")[0]: "=" in f for f in REAL_FAULTS}
    for spec in specs:
        name, has_value, value = spec.partition("=")
        if name not in names:
            raise UsageError(
                f"--fault: {spec!r} is not a fault of the real rehearsal "
                f"(real: {', '.join(REAL_FAULTS)}; the others need --simulated)"
            )
        if names[name] and not has_value:
            raise UsageError(f"--fault {name} needs a value: {name}=...")
        if not names[name] and has_value:
            raise UsageError(f"--fault {name} takes no value")
        match name:
            case "green-errors":
                faults = replace(faults, green_errors=fault_number(name, value, float, 0.0001, 1.0))
            case "green-slow":
                faults = replace(faults, green_slow_ms=fault_number(name, value, float, 1, GREEN_SLOW_MAX_MS))
            case "flux-stuck":
                faults = replace(faults, flux_stuck=True)
            case "stale-revision":
                faults = replace(faults, stale_revision=True)
            case "flux-flap":
                faults = replace(faults, flux_flap=True)
            case "flux-fails-in-bake":
                faults = replace(faults, flux_fails_in_bake=True)
            case "crash-after":
                faults = replace(faults, crash_after=crash_phase(value))
            case "lock-held":
                faults = replace(faults, lock_held=True)
            case "haproxy-reload" | "hand-edit":
                faults = replace(faults, mid_shift=name)
    return faults


# --- time -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Waits:
    """The rehearsal's waits, standing in for the environment's configured ones."""

    window_s: float = 1.5
    """Each weight step's analysis window (configured: ``stepBake``)."""
    bake_s: float = 1.5
    """The old slot's teardown bake (configured: ``teardown.bake``)."""
    health_timeout_s: float = 4.0
    """How long the health gate waits for Flux (configured: ``healthTimeout``)."""
    grace_s: float = 2.0
    """How long a reconcile may stay in progress once traffic moves (configured: ``health.regressionGrace``)."""
    flap_period_s: float = 0.8
    flap_s: float = 0.3
    """The flux-flap fault: every Kustomization reconciles ``flap_s`` every ``flap_period_s``."""
    provision_s: float = 1.0
    bootstrap_s: float = 0.3
    reconcile_s: float = 0.8
    """How long the simulated Flux takes to reconcile a fresh cluster."""
    drain_s: float = 0.2
    destroy_s: float = 0.2
    rate: float = 200.0
    """Requests per second the load generator sends through HAProxy."""

    def min_requests(self, policy: AnalysisPolicy, first_step: int) -> int:
        """The configured minRequests, capped at half of what the first step's window can see."""
        expected = self.rate * first_step / 100 * self.window_s
        return max(1, min(policy.min_requests, math.floor(expected / 2)))

    def rollout(self, configured: RolloutPolicy) -> RolloutPolicy:
        wanted = self.min_requests(configured.analysis, configured.steps[0])
        analysis = replace(
            configured.analysis,
            window_s=self.window_s,
            min_requests=wanted,
            p99_min_requests=min(configured.analysis.p99_min_requests, wanted),
        )
        health = replace(configured.health, regression_grace_s=self.grace_s)
        return replace(configured, health_timeout_s=self.health_timeout_s, analysis=analysis, health=health)

    def teardown(self, configured: TeardownPolicy) -> TeardownPolicy:
        return replace(configured, bake_s=self.bake_s)

    def total_s(self, steps: int) -> float:
        """The sum of the waits of a healthy cutover with ``steps`` weight steps."""
        return (
            self.provision_s + self.bootstrap_s + self.reconcile_s + steps * self.window_s
            + self.bake_s + self.drain_s + self.destroy_s
        )

    def rows(self, config: EnvironmentConfig) -> list[dict[str, str]]:
        r, a = config.rollout, config.rollout.analysis
        return [
            {"wait": "analysis window per step", "configured": _s(a.window_s), "rehearsal": _s(self.window_s)},
            {"wait": "minRequests per window", "configured": str(a.min_requests),
             "rehearsal": str(self.min_requests(a, r.steps[0]))},
            {"wait": "requests a p99 needs", "configured": str(max(a.min_requests, a.p99_min_requests)),
             "rehearsal": str(self.min_requests(a, r.steps[0]))},
            {"wait": "health timeout", "configured": _s(r.health_timeout_s), "rehearsal": _s(self.health_timeout_s)},
            {"wait": "regression grace", "configured": _s(r.health.regression_grace_s),
             "rehearsal": _s(self.grace_s)},
            {"wait": "teardown bake", "configured": _s(config.teardown.bake_s), "rehearsal": _s(self.bake_s)},
            {"wait": "provision + bootstrap", "configured": "(cloud)",
             "rehearsal": _s(self.provision_s + self.bootstrap_s)},
            {"wait": "Flux reconcile", "configured": "(cluster)", "rehearsal": _s(self.reconcile_s)},
            {"wait": "load", "configured": "(users)", "rehearsal": f"{self.rate:g} req/s"},
        ]

    def to_json(self) -> dict[str, float]:
        return dict(self.__dict__)


REAL_WORLD_WAITS = Waits(health_timeout_s=240.0, reconcile_s=0.0)
"""Real Flux reconciles a fresh cluster in tens of seconds on a small machine; the gate waits for it."""


def _s(seconds: float) -> str:
    return f"{seconds:g}s"


# --- the parts ------------------------------------------------------------------------------------


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
        for slot in SlotName:
            faulty = slot is self.new
            self.backends[slot.value] = host.backend(
                slot.value,
                error_rate=self.faults.green_errors if faulty else 0.0,
                latency_s=self.faults.green_slow_ms / 1000 if faulty else 0.0,
            )
        servers = {name: b.address for name, b in self.backends.items()}
        self.haproxy = HAProxyProcess(servers, weights=dict(self.world.weights))
        self._stack.callback(self.haproxy.stop)
        self.haproxy.start()
        limit = 300.0
        host.start_load(
            self.haproxy.url, rate=self.waits.rate, total=int(self.waits.rate * limit), time_limit_s=limit,
            threads=LOAD_THREADS,
        )
        self._stack.callback(self.stop_load)

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


class _MidShift:
    """Reloads HAProxy (``-sf``, no server-state file) or edits its weights by hand after the first step's analysis."""

    def __init__(self, fault: str, parts: Parts) -> None:
        self.fault = fault
        self.parts = parts
        self.done = False

    def notify(self, notice: Notice) -> None:
        if self.done or notice.kind != "event" or notice.message != "AnalysisCompleted":
            return
        self.done = True
        if self.fault == "haproxy-reload":
            self.parts.haproxy.reload()
        else:
            self.parts.haproxy.ask(b"set server app/blue weight 50; set server app/green weight 50\n")


class _CrashAfter:
    """Kills the process, and HAProxy with it, once ``phase`` has been left (after that commit)."""

    def __init__(self, phase: Phase, hint: str, parts: Parts) -> None:
        self.phase = phase
        self.hint = hint
        self.parts = parts
        self.previous: str | None = None

    def notify(self, notice: Notice) -> None:
        if notice.kind != "phase":
            return
        if self.previous == self.phase.value and notice.phase != self.phase.value:
            self.parts.kill_with_process()
            die(f"rehearsal: killing the process after {self.phase.value} (crash-after); {self.hint}")
        self.previous = notice.phase


class _FailInBake:
    """Breaks the new slot's HelmRelease once the bake begins (the flux-fails-in-bake fault)."""

    def __init__(self, parts: Parts) -> None:
        self.parts = parts
        self.done = False

    def notify(self, notice: Notice) -> None:
        if notice.kind == "phase" and notice.phase == Phase.BAKE.value and not self.done:
            self.done = True
            flux = self.parts.fluxes.get(self.parts.new)
            if flux is not None:
                flux.fail()


# --- running --------------------------------------------------------------------------------------


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
            notifiers.append(_CrashAfter(faults.crash_after, hint, parts))
        if faults.mid_shift is not None:
            notifiers.append(_MidShift(faults.mid_shift, parts))
        if faults.flux_fails_in_bake:
            notifiers.append(_FailInBake(parts))
        analysis = HAProxyAnalysis(parts.haproxy.socket_path)
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
    with started(location, config.name, config.version, contender=faults.lock_held) as (store, lease, live):
        active = live.active
        if active is None:
            raise UsageError(f"{config.name} has no single active slot in {location}")
        current = live.slot(active).version or config.version
        goal = target or Version(current.major, current.minor + 1)
        files = RehearsalFiles(store)
        _save_marker(files, config.name, faults, waits, kube)
        world = load_world(files)
        if active.value not in world.clusters:
            world.clusters[active.value] = str(current)
            world.bootstrapped.append(active.value)
            world.weights = {"blue": live.weights.blue, "green": live.weights.green}
            world.save()
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


# --- what the load generator saw ------------------------------------------------------------------


def observed(run: RealRun) -> Callable[[float, float | None], dict[str, Any]]:
    """For a span of wall time: the users' requests, their success rate and the split they saw (numbers)."""
    from fleet.rehearsal.load import in_range, observed_split

    records = run.requests

    def view(start: float, end: float | None) -> dict[str, Any]:
        lo = start - run.clock_offset
        hi = None if end is None else end - run.clock_offset
        span = in_range(records, lo, hi)
        if not span:
            return {"requests": 0, "failed": 0, "success_rate": None, "split": None}
        failed = sum(r.failed for r in span)
        return {
            "requests": len(span),
            "failed": failed,
            "success_rate": round(100 * (len(span) - failed) / len(span), 3),
            "split": {k: round(v, 1) for k, v in observed_split(span).items()},
        }

    return view


def samples(run: RealRun, bin_s: float = 0.25) -> list[Any]:
    """The load generator's requests in bins: green's share of answers and the success rate, over time."""
    from fleet.report import Sample

    if not run.requests:
        return []
    first = run.requests[0].at
    bins: dict[int, list[Any]] = {}
    for r in run.requests:
        bins.setdefault(int((r.at - first) // bin_s), []).append(r)
    out = []
    for index in sorted(bins):
        chunk = bins[index]
        answered = [r for r in chunk if r.slot is not None]
        green = sum(r.slot == "green" for r in answered) / len(answered) if answered else 0.0
        ok = 100.0 * sum(not r.failed for r in chunk) / len(chunk)
        out.append(Sample(at=first + (index + 0.5) * bin_s + run.clock_offset, green_share=green, success_rate=ok))
    return out


def traffic_summary(run: RealRun, records: Sequence[Record]) -> dict[str, Any]:
    """Totals of the load, and the split of the requests sent after the cutover's last event."""
    from fleet.rehearsal.load import failures, in_range, observed_split, summarise

    stats = summarise(run.requests)
    end = records[-1].at - run.clock_offset if records else None
    after = in_range(run.requests, end) if end is not None else []
    return {
        "requests": int(stats["requests"]),
        "failed": int(stats["failed"]),
        "rate_rps": round(stats["rate"], 1),
        "failed_by_slot": {
            slot.value: sum(1 for r in failures(run.requests) if r.slot == slot.value) for slot in SlotName
        },
        "after_end": {"requests": len(after), "split": {k: round(v, 1) for k, v in observed_split(after).items()}},
    }
