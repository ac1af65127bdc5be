"""Every phase and every fault path of the pure transition function, as a table.

Each row starts from a state reached by the happy path (``reach``), applies
one event, and names the phase, the weights and the command that must
follow. ``violations`` is checked after every step, including the steps that
build the starting state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from fleet.domain.invariants import violations
from fleet.domain.machine import (
    AbortRequested,
    Analyse,
    AnalysisCompleted,
    AwaitHealthy,
    BootstrapFlux,
    CheckHealth,
    CheckParity,
    Command,
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
from fleet.domain.model import AnalysisPolicy, Role, RolloutPolicy, TeardownPolicy, Version, Weights
from fleet.domain.reports import Evidence, HealthReport, ObjectFailure, ObjectRef, Outcome, Verdict

B, G = "blue", "green"
T0 = 1_000.0
BAKE = 1800.0
ROLLOUT = RolloutPolicy(
    steps=(10, 50, 100), health_timeout_s=600.0, analysis=AnalysisPolicy(failed_checks=2, max_extensions=1)
)
KS = ObjectRef("Kustomization", "flux-system", "apps")


def report(slot: str, *, ok: bool = True, revision: str = "main@sha1:abc", ready: int = 1) -> HealthReport:
    from fleet.domain.model import SlotName

    failures = () if ok else (ObjectFailure(KS, "HealthCheckFailed", "0/3 replicas"),)
    objects = [KS, ObjectRef("Kustomization", "flux-system", "infra")][:ready]
    return HealthReport(
        slot=SlotName(slot),
        reconciled=ok,
        revisions={"flux-system/flux-system": revision},
        ready=frozenset(objects) if ok else frozenset(),
        failures=failures,
    )


def verdict(outcome: Outcome) -> Verdict:
    return Verdict(outcome, Evidence(500, 0, 60.0, success_rate=100.0, p50_ms=1.0, p99_ms=2.0, source="t"), "t")


def step(state: EnvironmentState, event: Event) -> EnvironmentState:
    result = transition(state, event)
    assert violations(state, result.state, result.commands, event.at) == []
    return result.state


def _ok(state: EnvironmentState, at: float) -> Event:
    """The successful answer to the pending command."""
    command = pending(state)
    match command:
        case RefreshSlots():
            return Refreshed(at=at)
        case ProvisionSlot(slot=slot, version=version):
            return SlotProvisioned(at=at, slot=slot, version=version)
        case BootstrapFlux(slot=slot):
            return FluxBootstrapped(at=at, slot=slot)
        case AwaitHealthy(slot=slot):
            return HealthReported(at=at, report=report(slot.value))
        case CheckParity(old=old, new=new):
            return ParityObserved(at=at, old=report(old.value), new=report(new.value))
        case CheckHealth(slot=slot):
            return HealthReported(at=at, report=report(slot.value))
        case SetWeights(weights=weights):
            return WeightsApplied(at=at, weights=weights)
        case Analyse():
            return AnalysisCompleted(at=at, verdict=verdict(Outcome.PASS))
        case WaitUntil(at=due):
            return TimerFired(at=due)
        case ConfirmTeardown():
            return TeardownConfirmed(at=at)
        case DrainSlot(slot=slot):
            return SlotDrained(at=at, slot=slot)
        case DestroySlot(slot=slot):
            return SlotDestroyed(at=at, slot=slot)
    raise AssertionError(f"nothing pending in {state.cutover}")


def reach(
    phase: Phase, *, weight: int | None = None, drained: bool = False, confirmed: bool = False
) -> EnvironmentState:
    """The state the happy path is in when it enters ``phase`` (at ``weight``% to green in SHIFT)."""
    state = EnvironmentState.seed("prod", Version(1, 29))
    at = T0
    state = step(
        state,
        CutoverRequested(at=at, id="c", target=Version(1, 30), rollout=ROLLOUT, teardown=TeardownPolicy(bake_s=BAKE)),
    )
    for _ in range(40):
        c = state.cutover
        assert c is not None
        at_weight = weight is None or state.weights.green == weight
        far_enough = (not drained or c.old_drained) and (not confirmed or c.confirmed)
        checking = isinstance(pending(state), CheckHealth)  # reached once the check before the increase passed
        if c.phase is phase and at_weight and far_enough and not checking:
            return state
        at = max(at, c.updated_at) + 10
        state = step(state, _ok(state, at))
    raise AssertionError(f"never reached {phase}")


def now(state: EnvironmentState) -> float:
    assert state.cutover is not None
    return state.cutover.updated_at + 5


Row = tuple[str, Callable[[], EnvironmentState], Callable[[EnvironmentState], Event], Phase, int, type[Command] | None]

ROWS: list[Row] = [
    # the happy path, phase by phase
    (
        "provisioned -> bootstrap",
        lambda: reach(Phase.PROVISION),
        lambda s: _ok(s, now(s)),
        Phase.BOOTSTRAP,
        0,
        BootstrapFlux,
    ),
    (
        "bootstrapped -> wait healthy",
        lambda: reach(Phase.BOOTSTRAP),
        lambda s: _ok(s, now(s)),
        Phase.WAIT_HEALTHY,
        0,
        AwaitHealthy,
    ),
    (
        "healthy -> parity",
        lambda: reach(Phase.WAIT_HEALTHY),
        lambda s: _ok(s, now(s)),
        Phase.VERIFY_PARITY,
        0,
        CheckParity,
    ),
    (
        "parity -> health checked before the first weight",
        lambda: reach(Phase.VERIFY_PARITY),
        lambda s: _ok(s, now(s)),
        Phase.SHIFT,
        0,
        CheckHealth,
    ),
    (
        "health checked -> first weight",
        lambda: step(reach(Phase.VERIFY_PARITY), _ok(reach(Phase.VERIFY_PARITY), T0 + 100)),
        lambda s: _ok(s, now(s)),
        Phase.SHIFT,
        0,
        SetWeights,
    ),
    ("weights applied -> analyse", lambda: reach(Phase.SHIFT), lambda s: _ok(s, now(s)), Phase.SHIFT, 10, Analyse),
    (
        "analysis passes -> health checked before the next weight",
        lambda: reach(Phase.SHIFT, weight=10),
        lambda s: _ok(s, now(s)),
        Phase.SHIFT,
        10,
        CheckHealth,
    ),
    (
        "last step passes -> bake",
        lambda: reach(Phase.SHIFT, weight=100),
        lambda s: _ok(s, now(s)),
        Phase.BAKE,
        100,
        WaitUntil,
    ),
    (
        "bake ends -> confirm teardown",
        lambda: reach(Phase.BAKE),
        lambda s: _ok(s, now(s)),
        Phase.TEARDOWN_OLD,
        100,
        ConfirmTeardown,
    ),
    (
        "confirmed -> drain",
        lambda: reach(Phase.TEARDOWN_OLD),
        lambda s: _ok(s, now(s)),
        Phase.TEARDOWN_OLD,
        100,
        DrainSlot,
    ),
    (
        "drained -> destroy",
        lambda: reach(Phase.TEARDOWN_OLD, confirmed=True),
        lambda s: _ok(s, now(s)),
        Phase.TEARDOWN_OLD,
        100,
        DestroySlot,
    ),
    (
        "destroyed -> done",
        lambda: reach(Phase.TEARDOWN_OLD, drained=True),
        lambda s: _ok(s, now(s)),
        Phase.DONE,
        100,
        None,
    ),
    # failures before traffic moves: halt, resumable
    (
        "provisioning fails -> failed",
        lambda: reach(Phase.PROVISION),
        lambda s: StepFailed(at=now(s), command="ProvisionSlot", reason="quota"),
        Phase.FAILED,
        0,
        None,
    ),
    (
        "bootstrap fails -> failed",
        lambda: reach(Phase.BOOTSTRAP),
        lambda s: StepFailed(at=now(s), command="BootstrapFlux", reason="x"),
        Phase.FAILED,
        0,
        None,
    ),
    (
        "not healthy yet -> keep waiting",
        lambda: reach(Phase.WAIT_HEALTHY),
        lambda s: HealthReported(at=now(s), report=report(G, ok=False)),
        Phase.WAIT_HEALTHY,
        0,
        AwaitHealthy,
    ),
    (
        "health timeout -> failed",
        lambda: reach(Phase.WAIT_HEALTHY),
        lambda s: HealthReported(at=now(s) + 600, report=report(G, ok=False)),
        Phase.FAILED,
        0,
        None,
    ),
    (
        "slots at different revisions -> compare again (a commit may be landing)",
        lambda: reach(Phase.VERIFY_PARITY),
        lambda s: ParityObserved(at=now(s), old=report(B), new=report(G, revision="main@sha1:old")),
        Phase.VERIFY_PARITY,
        0,
        CheckParity,
    ),
    (
        "stale revision after the health timeout -> failed",
        lambda: reach(Phase.VERIFY_PARITY),
        lambda s: ParityObserved(at=now(s) + 600, old=report(B), new=report(G, revision="main@sha1:old")),
        Phase.FAILED,
        0,
        None,
    ),
    (
        "missing objects -> failed",
        lambda: reach(
            Phase.VERIFY_PARITY,
        ),
        lambda s: ParityObserved(at=now(s), old=report(B, ready=2), new=report(G)),
        Phase.FAILED,
        0,
        None,
    ),
    (
        "new slot flaps before traffic -> stays put, unhealthy",
        lambda: reach(Phase.WAIT_HEALTHY),
        lambda s: HealthChanged(at=now(s), slot=s.cutover.new, healthy=False),
        Phase.WAIT_HEALTHY,
        0,
        AwaitHealthy,
    ),  # type: ignore[union-attr]
    # failures with traffic on the new slot: roll back
    (
        "analysis fails once -> analyse again",
        lambda: reach(Phase.SHIFT, weight=10),
        lambda s: AnalysisCompleted(at=now(s), verdict=verdict(Outcome.FAIL)),
        Phase.SHIFT,
        10,
        Analyse,
    ),
    (
        "analysis fails twice -> roll back",
        lambda: step(reach(Phase.SHIFT, weight=10), AnalysisCompleted(at=T0 + 500, verdict=verdict(Outcome.FAIL))),
        lambda s: AnalysisCompleted(at=now(s), verdict=verdict(Outcome.FAIL)),
        Phase.ROLLING_BACK,
        10,
        SetWeights,
    ),
    (
        "inconclusive -> extend",
        lambda: reach(Phase.SHIFT, weight=10),
        lambda s: AnalysisCompleted(at=now(s), verdict=verdict(Outcome.INCONCLUSIVE)),
        Phase.SHIFT,
        10,
        Analyse,
    ),
    (
        "inconclusive too long -> roll back",
        lambda: step(
            reach(Phase.SHIFT, weight=10), AnalysisCompleted(at=T0 + 500, verdict=verdict(Outcome.INCONCLUSIVE))
        ),
        lambda s: AnalysisCompleted(at=now(s), verdict=verdict(Outcome.INCONCLUSIVE)),
        Phase.ROLLING_BACK,
        10,
        SetWeights,
    ),
    (
        "weight change fails mid-shift -> roll back from the last confirmed step",
        lambda: reach(Phase.SHIFT, weight=10),
        lambda s: StepFailed(at=now(s), command="SetWeights", reason="denied"),
        Phase.ROLLING_BACK,
        10,
        SetWeights,
    ),
    (
        "first weight change fails -> the old slot's 100% is set again (the failed change may have landed)",
        lambda: reach(Phase.SHIFT),
        lambda s: StepFailed(at=now(s), command="SetWeights", reason="denied"),
        Phase.ROLLING_BACK,
        0,
        SetWeights,
    ),
    (
        "new slot unhealthy during shift -> roll back",
        lambda: reach(Phase.SHIFT, weight=50),
        lambda s: HealthChanged(at=now(s), slot=s.cutover.new, healthy=False),
        Phase.ROLLING_BACK,
        50,
        SetWeights,
    ),  # type: ignore[union-attr]
    (
        "new slot unhealthy during bake -> roll back",
        lambda: reach(Phase.BAKE),
        lambda s: HealthChanged(at=now(s), slot=s.cutover.new, healthy=False),
        Phase.ROLLING_BACK,
        100,
        SetWeights,
    ),  # type: ignore[union-attr]
    (
        "old slot flaps -> ignored",
        lambda: reach(Phase.SHIFT, weight=50),
        lambda s: HealthChanged(at=now(s), slot=s.cutover.old, healthy=False),
        Phase.SHIFT,
        50,
        Analyse,
    ),  # type: ignore[union-attr]
    (
        "rollback confirmed -> rolled back",
        lambda: step(reach(Phase.SHIFT, weight=50), RollbackRequested(at=T0 + 900)),
        lambda s: _ok(s, now(s)),
        Phase.ROLLED_BACK,
        0,
        None,
    ),
    (
        "rollback's weight change fails -> keeps rolling back",
        lambda: step(reach(Phase.SHIFT, weight=50), RollbackRequested(at=T0 + 900)),
        lambda s: StepFailed(at=now(s), command="SetWeights", reason="x"),
        Phase.ROLLING_BACK,
        50,
        SetWeights,
    ),
    # operator requests
    (
        "rollback requested mid-shift",
        lambda: reach(Phase.SHIFT, weight=50),
        lambda s: RollbackRequested(at=now(s)),
        Phase.ROLLING_BACK,
        50,
        SetWeights,
    ),
    (
        "rollback requested before traffic",
        lambda: reach(Phase.BOOTSTRAP),
        lambda s: RollbackRequested(at=now(s)),
        Phase.ROLLED_BACK,
        0,
        None,
    ),
    (
        "abort requested mid-shift",
        lambda: reach(Phase.SHIFT, weight=10),
        lambda s: AbortRequested(at=now(s)),
        Phase.ROLLING_BACK,
        10,
        SetWeights,
    ),
    (
        "abort requested before traffic",
        lambda: reach(Phase.PROVISION),
        lambda s: AbortRequested(at=now(s)),
        Phase.ABORTED,
        0,
        None,
    ),
    (
        "abort of a failed cutover",
        lambda: step(reach(Phase.PROVISION), StepFailed(at=T0 + 1, command="ProvisionSlot", reason="x")),
        lambda s: AbortRequested(at=now(s)),
        Phase.ABORTED,
        0,
        None,
    ),
    (
        "rollback during teardown before draining",
        lambda: reach(Phase.TEARDOWN_OLD),
        lambda s: RollbackRequested(at=now(s)),
        Phase.ROLLING_BACK,
        100,
        SetWeights,
    ),
    # teardown faults
    (
        "teardown declined -> waits for confirmation",
        lambda: reach(Phase.TEARDOWN_OLD),
        lambda s: TeardownDeclined(at=now(s)),
        Phase.TEARDOWN_OLD,
        100,
        None,
    ),
    (
        "destroy fails -> stays in teardown with traffic on the new slot, resumable",
        lambda: reach(Phase.TEARDOWN_OLD, drained=True),
        lambda s: StepFailed(at=now(s), command="DestroySlot", reason="LB in use"),
        Phase.TEARDOWN_OLD,
        100,
        DestroySlot,
    ),
    (
        "timer fires early -> keeps baking",
        lambda: reach(Phase.BAKE),
        lambda s: TimerFired(at=now(s)),
        Phase.BAKE,
        100,
        WaitUntil,
    ),
    # resuming
    (
        "resume in provision refreshes first",
        lambda: reach(Phase.PROVISION),
        lambda s: Resumed(at=now(s)),
        Phase.PROVISION,
        0,
        RefreshSlots,
    ),
    (
        "resume of a failed provision retries it",
        lambda: step(reach(Phase.PROVISION), StepFailed(at=T0 + 1, command="ProvisionSlot", reason="x")),
        lambda s: Resumed(at=now(s)),
        Phase.PROVISION,
        0,
        RefreshSlots,
    ),
    (
        "resume mid-shift re-applies the step's weights",
        lambda: reach(Phase.SHIFT, weight=10),
        lambda s: Resumed(at=now(s)),
        Phase.SHIFT,
        10,
        Analyse,
    ),
    (
        "resume of a failed destroy refreshes then destroys",
        lambda: step(
            reach(Phase.TEARDOWN_OLD, drained=True), StepFailed(at=T0 + 9000, command="DestroySlot", reason="x")
        ),
        lambda s: Resumed(at=now(s)),
        Phase.TEARDOWN_OLD,
        100,
        RefreshSlots,
    ),
    (
        "refreshed -> the phase's command",
        lambda: step(reach(Phase.PROVISION), Resumed(at=T0 + 1)),
        lambda s: Refreshed(at=now(s)),
        Phase.PROVISION,
        0,
        ProvisionSlot,
    ),
]


@pytest.mark.parametrize(("name", "start", "event", "phase", "green", "command"), ROWS, ids=[r[0] for r in ROWS])
def test_each_event_in_each_phase_leads_where_the_table_says(
    name: str,
    start: Callable[[], EnvironmentState],
    event: Callable[[EnvironmentState], Event],
    phase: Phase,
    green: int,
    command: type[Command] | None,
) -> None:
    before = start()
    e = event(before)
    result = transition(before, e)

    assert violations(before, result.state, result.commands, e.at) == []
    assert result.state.cutover is not None
    assert result.state.cutover.phase is phase
    assert result.state.weights == Weights(blue=100 - green, green=green)
    assert [type(c) for c in result.commands] == ([] if command is None else [command])
    if phase in (Phase.ROLLED_BACK, Phase.ABORTED, Phase.ROLLING_BACK):
        assert result.state.slot(result.state.cutover.old).role is Role.ACTIVE
    if not result.state.in_flight:
        assert result.state.active is not None


def test_every_phase_appears_in_the_table() -> None:
    reached = {r[3] for r in ROWS}
    assert reached == set(Phase)


@pytest.mark.parametrize(
    ("name", "start", "event"),
    [
        (
            "a report about the wrong slot",
            lambda: reach(Phase.WAIT_HEALTHY),
            lambda s: HealthReported(at=now(s), report=report(B)),
        ),
        (
            "weights while provisioning",
            lambda: reach(Phase.PROVISION),
            lambda s: WeightsApplied(at=now(s), weights=Weights(0, 100)),
        ),
        (
            "destroy before draining",
            lambda: reach(Phase.TEARDOWN_OLD, confirmed=True),
            lambda s: SlotDestroyed(at=now(s), slot=s.cutover.old),
        ),  # type: ignore[union-attr]
        (
            "rollback after the old slot was drained",
            lambda: reach(Phase.TEARDOWN_OLD, drained=True),
            lambda s: RollbackRequested(at=now(s)),
        ),
        (
            "rollback once destroying the old slot was confirmed (its drain may be under way)",
            lambda: reach(Phase.TEARDOWN_OLD, confirmed=True),
            lambda s: RollbackRequested(at=now(s)),
        ),
        (
            "abort after destroying the old slot failed",
            lambda: step(
                reach(Phase.TEARDOWN_OLD, drained=True), StepFailed(at=T0 + 9000, command="DestroySlot", reason="x")
            ),
            lambda s: AbortRequested(at=now(s)),
        ),
        (
            "anything after done",
            lambda: step(
                reach(Phase.TEARDOWN_OLD, drained=True), SlotDestroyed(at=T0 + 9999, slot=reach(Phase.BAKE).cutover.old)
            ),
            lambda s: Resumed(at=now(s)),
        ),  # type: ignore[union-attr]
        (
            "a second cutover while one is in flight",
            lambda: reach(Phase.SHIFT),
            lambda s: CutoverRequested(
                at=now(s), id="x", target=Version(1, 31), rollout=ROLLOUT, teardown=TeardownPolicy()
            ),
        ),
        (
            "a command's answer while a refresh is due",
            lambda: step(reach(Phase.PROVISION), Resumed(at=T0 + 1)),
            lambda s: SlotProvisioned(at=now(s), slot=s.cutover.new, version=Version(1, 30)),
        ),  # type: ignore[union-attr]
    ],
)
def test_an_event_that_does_not_apply_is_refused(
    name: str, start: Callable[[], EnvironmentState], event: Callable[[EnvironmentState], Event]
) -> None:
    before = start()
    with pytest.raises(InvalidTransition):
        transition(before, event(before))


def test_a_rollback_gives_all_traffic_back_and_distrusts_the_new_slot() -> None:
    state = reach(Phase.SHIFT, weight=50)
    state = step(state, RollbackRequested(at=T0 + 900))
    state = step(state, _ok(state, T0 + 901))

    assert state.cutover is not None and state.cutover.phase is Phase.ROLLED_BACK
    assert state.weights == Weights(100, 0)
    assert not state.slot(state.cutover.new).healthy
    assert state.slot(state.cutover.new).role is Role.STANDBY
    assert state.last is not None and state.last.outcome is Phase.ROLLED_BACK


def test_a_weight_failure_mid_shift_says_where_the_weights_stay() -> None:
    state = reach(Phase.SHIFT, weight=10)
    state = step(state, _ok(state, T0 + 900))  # analysis passes: the 50% step is due
    state = step(state, StepFailed(at=T0 + 901, command="SetWeights", reason="denied"))

    assert state.cutover is not None
    assert state.weights == Weights(90, 10)
    assert "weights stay at blue 90% / green 10%" in (state.cutover.reason or "")


def test_the_teardown_bake_counts_from_the_moment_the_old_slot_lost_its_traffic() -> None:
    state = reach(Phase.BAKE)
    assert state.cutover is not None and state.cutover.drained_at is not None
    due = state.cutover.drained_at + BAKE
    assert pending(state) == WaitUntil(due, watch=state.cutover.new)
    early = step(state, TimerFired(at=due - 1))
    assert early.cutover is not None and early.cutover.phase is Phase.BAKE
    late = step(state, TimerFired(at=due))
    assert late.cutover is not None and late.cutover.phase is Phase.TEARDOWN_OLD
    bad = replace(late, cutover=replace(late.cutover, confirmed=True, old_drained=True, drained_at=due))  # type: ignore[arg-type]
    assert violations(late, bad, [DestroySlot(bad.cutover.old)], due) != []  # type: ignore[union-attr]
