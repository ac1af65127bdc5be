"""Random fault schedules over the in-memory fleet: the guarantees hold after every step.

A schedule is a sequence of operator actions (cutover, resume, rollback,
abort), each run against fakes carrying freshly drawn faults: permanent and
transient provider failures, a slot that never becomes healthy (a health
timeout), stale or missing Flux objects, analysis that fails or cannot decide,
a traffic provider refusing a weight, a destroy that fails, a declined
teardown, and an interruption at a random checkpoint (the process "dies"
there). After every commit the four guarantees are checked with
:func:`violations`; after every change to the simulated world they are checked
against the world itself; and at the end, with the faults cleared, the
cutover must be terminal or finish when resumed.

``FLEET_SCHEDULES=20000 pytest tests/properties`` runs more schedules.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from fleet.domain.invariants import violations
from fleet.domain.machine import (
    AbortRequested,
    AnalysisCompleted,
    AwaitHealthy,
    BootstrapFlux,
    CheckHealth,
    CheckParity,
    ConfirmTeardown,
    CutoverRequested,
    DestroySlot,
    DrainSlot,
    EnvironmentState,
    Event,
    FluxBootstrapped,
    HealthChanged,
    HealthReported,
    InvalidTransition,
    ParityObserved,
    Phase,
    ProvisionSlot,
    Refreshed,
    RefreshSlots,
    Resumed,
    RollbackRequested,
    SetWeights,
    SlotDestroyed,
    SlotDrained,
    SlotProvisioned,
    StepFailed,
    TeardownConfirmed,
    TeardownDeclined,
    TimerFired,
    WaitUntil,
    WeightsApplied,
    pending,
    transition,
)
from fleet.domain.model import Role, RolloutPolicy, SlotName, TeardownPolicy, Version
from fleet.domain.reports import Evidence, HealthReport, ObjectFailure, ObjectRef, Outcome, Verdict
from fleet.engine import InvariantBroken
from fleet.errors import UsageError
from fleet.ports import Record
from fleet.rehearsal.sim.world import World
from tests.fleetkit import Fleet, environment
from tests.worlds.memory_store import MemoryStateStore

SCHEDULES = int(os.environ.get("FLEET_SCHEDULES", "1000"))
ENV = "local"
STEPS = (10, 25, 50, 100)


class Interrupted(Exception):
    """The run 'dies' at a checkpoint (test only): nothing after it happens."""


class CheckedWorld(World):
    """The fakes' world, checking the guarantees on every change it records."""

    store: MemoryStateStore | None = None
    now: Any = None
    problems: list[str]

    def save(self) -> None:
        problems = self.__dict__.setdefault("problems", [])
        previous: dict[str, Any] = self.__dict__.setdefault("previous", {"clusters": {}, "weights": {}})
        weights = self.weights
        if sum(weights.values()) <= 0:
            problems.append(f"world: total weight is 0 ({weights})")
        state = None if self.store is None else self.store.load(ENV)
        for slot, weight in weights.items():
            if weight > previous["weights"].get(slot, weight):
                if slot not in self.clusters or slot not in self.bootstrapped:
                    problems.append(f"world: weight rose to {slot}, which does not exist or has no Flux")
                rollback = state is not None and state.cutover is not None and state.cutover.old.value == slot
                if state is not None and not rollback and not state.slot(SlotName(slot)).healthy:
                    problems.append(f"world: weight rose to {slot}, which the engine does not know healthy")
        for slot in previous["clusters"]:
            if slot not in self.clusters:
                if weights.get(slot, 0) > 0:
                    problems.append(f"world: {slot} destroyed while it has weight {weights[slot]}")
                due = None if state is None or state.cutover is None else state.cutover.teardown_due
                if due is None or self.now() < due:
                    problems.append(f"world: {slot} destroyed before its teardown bake passed")
        previous["clusters"] = dict(self.clusters)
        previous["weights"] = dict(weights)


@dataclass
class CheckingStore(MemoryStateStore):
    """Checks :func:`violations` between every two committed states."""

    problems: list[str] = field(default_factory=list)

    def commit(self, env: str, state: EnvironmentState, records: Sequence[Record]) -> None:
        before = self.load(env) or EnvironmentState.seed(env, Version(1, 29))
        command = pending(state)
        found = violations(before, state, [] if command is None else [command], self.now())
        self.problems.extend(f"{r.event}: {p}" for r in records for p in found)
        super().commit(env, state, records)


faults = st.fixed_dictionaries(
    {
        "fail_provision": st.integers(0, 2),
        "provision_transient": st.integers(0, 6),
        "fail_destroy": st.integers(0, 2),
        "never_healthy": st.booleans(),
        "stale_revision": st.booleans(),
        "missing_objects": st.sampled_from([0, 0, 0, 1, 3]),
        "flap": st.sampled_from([None, None, (60.0, 8.0), (10.0, 9.0)]),
        "fail_in_bake": st.sampled_from([False, False, True]),
        "weights_fail_at": st.sampled_from([None, None, None, *STEPS]),
        "traffic_transient": st.integers(0, 6),
        "analysis_fails_at": st.sampled_from([None, None, None, *STEPS]),
        "error_rate": st.sampled_from([0.0, 0.0, 0.0, 0.02, 0.5]),
        "requests_per_s": st.sampled_from([200.0, 200.0, 1.0, 0.0]),
        "confirm": st.booleans(),
    }
)
action = st.sampled_from(["cutover", "cutover", "resume", "resume", "resume", "rollback", "abort"])
interrupt = st.one_of(st.none(), st.integers(1, 90))
schedule = st.tuples(faults, interrupt, st.lists(st.tuples(action, faults, interrupt), max_size=5)).map(
    lambda first: [("cutover", first[0], first[1]), *first[2]]
)


def _apply(fleet: Fleet, f: dict[str, Any]) -> None:
    fleet.provisioner.fail_provision = f["fail_provision"]
    fleet.provisioner.transient_failures = f["provision_transient"]
    fleet.provisioner.fail_destroy = f["fail_destroy"]
    fleet.health.never_healthy = f["never_healthy"]
    fleet.health.stale_revision = f["stale_revision"]
    fleet.health.missing_objects = f["missing_objects"]
    fleet.health.flap = f["flap"]
    fleet.health.fail_in_bake = f["fail_in_bake"]
    fleet.traffic.fail_at_weight = f["weights_fail_at"]
    fleet.traffic.transient_failures = f["traffic_transient"]
    fleet.analysis.fail_at_weight = f["analysis_fails_at"]
    fleet.analysis.error_rate = f["error_rate"]
    fleet.analysis.requests_per_s = f["requests_per_s"]
    fleet.answer = f["confirm"]


CLEAR = {
    "fail_provision": 0,
    "provision_transient": 0,
    "fail_destroy": 0,
    "never_healthy": False,
    "stale_revision": False,
    "missing_objects": 0,
    "flap": None,
    "fail_in_bake": False,
    "weights_fail_at": None,
    "traffic_transient": 0,
    "analysis_fails_at": None,
    "error_rate": 0.0,
    "requests_per_s": 200.0,
    "confirm": True,
}


def _interrupt_at(n: int | None) -> Any:
    seen = {"count": 0}

    def hook(name: str) -> None:
        seen["count"] += 1
        if n is not None and seen["count"] == n:
            raise Interrupted(name)

    return hook


def _run(fleet: Fleet, store: CheckingStore, what: str, at: int | None) -> None:
    engine = fleet.engine(store, checkpoint=_interrupt_at(at))
    config = environment(ENV, steps=STEPS, confirm=True)
    try:
        match what:
            case "cutover":
                state = engine.current(config)
                active = state.active
                assert active is not None
                version = state.slot(active).version
                assert version is not None
                engine.cutover(config, Version(version.major, version.minor + 1))
            case "resume":
                engine.resume(ENV)
            case "rollback":
                engine.rollback(ENV, reason="operator")
            case "abort":
                engine.abort(ENV, reason="operator")
    except (Interrupted, UsageError):
        pass  # died at a checkpoint; or the action does not apply now (nothing in flight, in flight already)


def _check_idle(fleet: Fleet, store: CheckingStore) -> None:
    state = store.load(ENV)
    if state is None or state.in_flight:
        return
    active = [name for name, slot in state.slots.items() if slot.role is Role.ACTIVE]
    assert len(active) == 1, f"{len(active)} active slots while idle"
    assert state.weights.of(active[0]) == 100
    assert fleet.world.weights[active[0].value] == 100, "the world's traffic is not all on the active slot"
    assert active[0].value in fleet.world.clusters


@settings(max_examples=SCHEDULES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schedule_run=schedule)
def test_every_fault_schedule_keeps_the_guarantees_and_ends_terminal_or_resumable(
    schedule_run: Sequence[tuple[str, dict[str, Any], int | None]], schedules_run: Counter[str]
) -> None:
    world = CheckedWorld()
    fleet = Fleet(world=world)
    store = CheckingStore(now=fleet.clock.now)
    world.store, world.now = store, fleet.clock.now

    for what, f, at in schedule_run:
        _apply(fleet, f)
        try:
            _run(fleet, store, what, at)
        except InvariantBroken as err:
            raise AssertionError(f"the engine refused a step: {err}") from err
        assert not store.problems, store.problems
        assert not world.__dict__.get("problems"), world.__dict__.get("problems")
        _check_idle(fleet, store)

    _apply(fleet, CLEAR)
    state = store.load(ENV)
    if state is not None and state.in_flight:
        _run(fleet, store, "resume", None)
        state = store.load(ENV)
    assert not store.problems, store.problems
    assert not world.__dict__.get("problems"), world.__dict__.get("problems")
    if state is not None:
        assert state.cutover is not None
        assert state.cutover.phase.terminal, f"not finished after a clean resume: {state.cutover.phase}"
        event(f"ends {state.cutover.phase.value}")
    _check_idle(fleet, store)
    schedules_run["engine"] += 1


# --- the pure core on its own: any order of events, including stale and hostile ones -------------------


def _report(slot: SlotName, ok: bool) -> HealthReport:
    ref = ObjectRef("Kustomization", "flux-system", "flux-system")
    failures = () if ok else (ObjectFailure(ref, "HealthCheckFailed", "0/3 replicas"),)
    return HealthReport(
        slot=slot,
        reconciled=ok,
        revisions={"flux-system/flux-system": "main@sha1:abc"},
        ready=frozenset({ref}) if ok else frozenset(),
        failures=failures,
    )


def _answer(state: EnvironmentState, at: float, outcome: int) -> Event | None:
    """An event answering the pending command; ``outcome`` picks success or one of its failures."""
    command = pending(state)
    c = state.cutover
    if command is None or c is None:
        return None
    if outcome == 0:
        return StepFailed(at=at, command=type(command).__name__, reason="provider error")
    good = outcome % 3 != 2
    match command:
        case RefreshSlots():
            return Refreshed(at=at)
        case ProvisionSlot(slot=slot, version=version):
            return SlotProvisioned(at=at, slot=slot, version=version)
        case BootstrapFlux(slot=slot):
            return FluxBootstrapped(at=at, slot=slot)
        case AwaitHealthy(slot=slot):
            return HealthReported(at=at, report=_report(slot, good))
        case CheckParity(old=old, new=new):
            return ParityObserved(at=at, old=_report(old, True), new=_report(new, good))
        case CheckHealth(slot=slot):
            return HealthReported(at=at, report=_report(slot, good))
        case SetWeights(weights=weights):
            return WeightsApplied(at=at, weights=weights)
        case WaitUntil(at=due):
            return TimerFired(at=max(at, due) if good else at)
        case ConfirmTeardown():
            return TeardownConfirmed(at=at) if good else TeardownDeclined(at=at)
        case DrainSlot(slot=slot):
            return SlotDrained(at=at, slot=slot)
        case DestroySlot(slot=slot):
            return SlotDestroyed(at=at, slot=slot)
    evidence = Evidence(500, 0, 60.0, success_rate=100.0, p50_ms=1.0, p99_ms=2.0, source="test")
    verdict = [Outcome.PASS, Outcome.FAIL, Outcome.INCONCLUSIVE][outcome % 3]
    return AnalysisCompleted(at=at, verdict=Verdict(verdict, evidence, "test"))


def _intrusion(kind: int, slot: SlotName, at: float) -> Event:
    match kind:
        case 0:
            return HealthChanged(at=at, slot=slot, healthy=False, reason="flap")
        case 1:
            return HealthChanged(at=at, slot=slot, healthy=True)
        case 2:
            return RollbackRequested(at=at)
        case 3:
            return AbortRequested(at=at)
        case 4:
            return Resumed(at=at)
        case _:
            return CutoverRequested(
                at=at, id="again", target=Version(1, 31), rollout=RolloutPolicy(steps=STEPS), teardown=TeardownPolicy()
            )


moves = st.lists(
    st.tuples(st.integers(0, 9), st.integers(0, 5), st.sampled_from(list(SlotName)), st.floats(0, 4000)),
    min_size=1,
    max_size=80,
)


@settings(max_examples=SCHEDULES, deadline=None)
@given(schedule_run=moves)
def test_the_transition_function_keeps_the_guarantees_under_any_sequence_of_events(
    schedule_run: list[tuple[int, int, SlotName, float]], schedules_run: Counter[str]
) -> None:
    now = 1_000.0
    state = EnvironmentState.seed(ENV, Version(1, 29))
    start = CutoverRequested(
        at=now, id="c1", target=Version(1, 30), rollout=RolloutPolicy(steps=STEPS), teardown=TeardownPolicy()
    )
    result = transition(state, start)
    assert violations(state, result.state, result.commands, now) == []
    state = result.state
    for choice, kind, slot, dt in schedule_run:
        now += dt
        event = _intrusion(kind, slot, now) if choice >= 7 else _answer(state, now, choice % 4)
        if event is None:
            event = Resumed(at=now)
        try:
            result = transition(state, event)
        except InvalidTransition:
            continue
        found = violations(state, result.state, result.commands, now)
        assert found == [], f"{type(event).__name__} in {state.cutover.phase if state.cutover else None}: {found}"
        state = result.state
        if not state.in_flight:
            assert state.active is not None
            assert state.weights.of(state.active) == 100
    assert state.cutover is not None
    assert (
        state.cutover.phase.terminal
        or state.cutover.phase is Phase.FAILED
        or pending(state) is not None
        or (state.cutover.awaiting_confirmation)
    )
    schedules_run["transition"] += 1
