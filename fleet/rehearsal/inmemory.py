"""``fleet rehearse`` on the in-memory fleet: the whole cutover, simulated time, real state store.

A rehearsal runs the real engine and the real state store against the fakes
of :mod:`fleet.rehearsal.sim`, so a new user sees exactly what a cutover of their
configuration would do, in seconds and without a cloud account. Faults make
the fakes fail the way real parts fail; each ends in the state the runbook
documents.

A rehearsal's state is marked as a rehearsal's (every state and record
says so, and a store holding a real environment's state is refused), and
beside it are a marker (``rehearsal.json``) and the fakes' world
(``world.json``), in the directory or under the S3 prefix
(:class:`~fleet.rehearsal.common.RehearsalFiles`), so that a rehearsal
killed on purpose with ``crash-after=PHASE`` is finished by ``fleet resume``,
in another process, without provisioning anything twice. The lock is taken
before anything else: a contender leaves at once (exit 3) and touches
nothing of the run that holds it. The faults (``--fault``) and the hooks
that kill the process on cue are :mod:`fleet.rehearsal.inmemory_faults`.
"""

from __future__ import annotations

from dataclasses import dataclass

from fleet.adapters.analysis.tenants import TenantAnalysis
from fleet.config import EnvironmentConfig
from fleet.domain.gates import GatePolicy
from fleet.domain.machine import EnvironmentState
from fleet.domain.model import Version
from fleet.engine import Engine, Ports, RetryPolicy
from fleet.errors import UsageError
from fleet.ports import Analysis, Confirm, GitOpsHealth, Lease, Notifier, StateStore
from fleet.rehearsal.attached import attach
from fleet.rehearsal.common import Fanout
from fleet.rehearsal.files import (
    LEASE_S,
    MARKER,
    WORLD,
    HeldStore,
    RehearsalFiles,
    check_files,
    load_marker,
    load_world,
    started,
)
from fleet.rehearsal.inmemory_faults import CrashAfterPhase, Faults, crash_at_checkpoint, parse_faults
from fleet.rehearsal.sim import FakeAnalysis, FakeClock, FakeHealth, FakeProvisioner, FakeTraffic, World
from fleet.rehearsal.singletons import MemorySingletons
from fleet.rehearsal.tenant_faults import (
    TENANT_SHARE,
    MixedTraffic,
    TenantStuckHealth,
    check_tenant,
    rehearsed_tenants,
)
from fleet.settings.tenants import tenant_traffic_from_config
from fleet.state import open_store

__all__ = ["MARKER", "WORLD", "Faults", "Rehearsal", "build", "parse_faults", "rehearse", "resume_rehearsal"]

FLAP = (10.0, 4.0)
"""The simulated flux-flap: every Kustomization reconciles for 4 s every 10 s."""

@dataclass
class Rehearsal:
    engine: Engine
    world: World
    clock: FakeClock
    store: StateStore
    location: str


def build(
    location: str,
    env: str,
    faults: Faults,
    notifier: Notifier,
    *,
    steps: tuple[int, ...],
    start: float | None = None,
    store: StateStore | None = None,
    lease: Lease | None = None,
    confirm: Confirm | None = None,
    tenants: tuple[str, ...] = (),
) -> Rehearsal:
    """The engine of a rehearsal at ``location``; with ``lease``, the engine uses that held lock."""
    base = store or open_store(location, rehearsal=True)
    files = RehearsalFiles(base)
    world: World = load_world(files)
    clock = FakeClock() if start is None else FakeClock(start)
    fail_weight = None
    if faults.analysis_fails_at is not None:
        if faults.analysis_fails_at > len(steps):
            raise UsageError(
                f"--fault analysis-fails-at={faults.analysis_fails_at}: the rollout has only {len(steps)} steps"
            )
        fail_weight = steps[faults.analysis_fails_at - 1]
    provisioner = FakeProvisioner(
        clock, world, fail_provision=1 if faults.provision_fails else 0, transient_failures=faults.throttled
    )
    health = FakeHealth(
        clock,
        world,
        never_healthy=faults.flux_stuck,
        stale_revision=faults.stale_revision,
        missing_objects=faults.missing_objects,
        flap=FLAP if faults.flux_flap else None,
        fail_in_bake=faults.flux_fails_in_bake,
    )
    traffic = FakeTraffic(clock, world, fail_at_weight=faults.weights_fail_at)
    analysis: Analysis = FakeAnalysis(
        clock, world, error_rate=faults.green_errors, slow_ms=faults.green_slow_ms, fail_at_weight=fail_weight
    )
    health_port: GitOpsHealth = health
    if faults.tenant_errors is not None:
        analysis = _tenant_analysis(clock, world, faults, tenants)
    if faults.tenant_stuck is not None:
        health_port = TenantStuckHealth(health, faults.tenant_stuck, clock)
    hint = f"finish with: fleet resume {env} --state {location}"
    notifiers: list[Notifier] = [notifier]
    if faults.crash_after is not None:
        notifiers.append(CrashAfterPhase(faults.crash_after, hint))
    answer = confirm or (lambda q: True)
    attached = attach(files, provisioner, MemorySingletons(world), crash_at_checkpoint(faults.crash_at, hint))
    ports = Ports(
        attached.provisioner, health_port, traffic, analysis, clock, Fanout(*notifiers), confirm=answer,
        singletons=attached.singletons,
    )
    used: StateStore = base if lease is None else HeldStore(base, lease)
    engine = Engine(
        used,
        ports,
        retry=RetryPolicy(attempts=5, base_s=1.0, budget_s=120.0),
        lease_s=LEASE_S,
        checkpoint=attached.checkpoint,
    )
    return Rehearsal(engine, world, clock, used, location)


def _tenant_analysis(clock: FakeClock, world: World, faults: Faults, tenants: tuple[str, ...]) -> Analysis:
    """The new slot's traffic as its tenants' mix, each tenant judged too (``tenant-errors``)."""
    assert faults.tenant_errors is not None
    name, rate = faults.tenant_errors
    names = tenants or (name,)
    mixed = MixedTraffic(
        clock, world, shares=dict.fromkeys(names, TENANT_SHARE), error_rates={name: rate},
        base_error_rate=faults.green_errors,
    )
    return TenantAnalysis(mixed, rehearsed_tenants(names), mixed)


def tenant_names(config: EnvironmentConfig) -> tuple[str, ...]:
    return tuple(t.name for t in tenant_traffic_from_config(config.raw, file=config.file))


def _check_tenant_faults(faults: Faults, tenants: tuple[str, ...]) -> None:
    if faults.tenant_errors is not None:
        check_tenant(faults.tenant_errors[0], tenants, "tenant-errors")
    if faults.tenant_stuck is not None:
        check_tenant(faults.tenant_stuck, tenants, "tenant-stuck")


def _save_marker(files: RehearsalFiles, env: str, faults: Faults, tenants: tuple[str, ...] = ()) -> None:
    files.save_json(MARKER, {"env": env, "faults": list(faults.persistent().specs), "tenants": list(tenants)})


def rehearse(
    config: EnvironmentConfig,
    location: str,
    faults: Faults,
    notifier: Notifier,
    *,
    target: Version | None = None,
    confirm: Confirm | None = None,
) -> tuple[EnvironmentState, Rehearsal]:
    """Run a cutover of ``config`` on the in-memory fleet with a real store at ``location``."""
    with started(location, config.name, config.version, contender=faults.lock_held) as (store, lease, live):
        active = live.active
        current = live.slot(active).version if active is not None else config.version
        assert current is not None
        goal = target or Version(current.major, current.minor + 1)
        tenants = tenant_names(config)
        _check_tenant_faults(faults, tenants)
        _save_marker(RehearsalFiles(store), config.name, faults, tenants)
        r = build(location, config.name, faults, notifier, steps=config.rollout.steps, store=store, lease=lease,
                  confirm=confirm, tenants=tenants)
        if not r.world.clusters and active is not None:
            r.world.seed_live(active.value, str(current), {"blue": live.weights.blue, "green": live.weights.green})
        return r.engine.cutover(config, goal, gates=rehearsed_gates(config)), r


def rehearsed_gates(config: EnvironmentConfig) -> GatePolicy:
    """The environment's approval gates (rehearsed as they are); its smoke tests are not called from a rehearsal."""
    from fleet.notify_settings import notify_settings

    return GatePolicy(approve=notify_settings(config.raw, file=config.file).gates.approve)


def resume_rehearsal(
    location: str, env: str, notifier: Notifier, *, force_unlock: bool, confirm: Confirm | None = None,
    approve: int | None = None,
) -> EnvironmentState:
    store = open_store(location, rehearsal=True)
    check_files(RehearsalFiles(store), env)
    with store.lock(env, lease_s=LEASE_S, force=force_unlock) as lease:
        marker = load_marker(RehearsalFiles(store), env)
        faults = parse_faults(marker.get("faults", []))
        tenants = tuple(str(t) for t in marker.get("tenants", []))
        state = store.load(env)
        if state is None or state.cutover is None:
            raise UsageError(f"{location} holds no cutover of {env}")
        r = build(location, env, faults, notifier, steps=state.cutover.steps, start=state.cutover.updated_at,
                  store=store, lease=lease, confirm=confirm, tenants=tenants)
        if approve is not None:
            return r.engine.approve(env, approve or None)
        return r.engine.resume(env)
