"""Approval gates and pre-shift smoke tests, as the pure machine decides them, under any order of events.

Whatever the schedule (approvals early, late, for the wrong step, smoke tests
that fail, rollbacks and resumes in between), the new slot's weight never
rises to a gated step before that step was approved, never rises without a
smoke test passed for that very increase when smoke tests are configured,
and the guarantees of ``fleet.domain.invariants`` hold after every event.
"""

from __future__ import annotations

from collections import Counter

from hypothesis import event as note
from hypothesis import given, settings
from hypothesis import strategies as st

from fleet.domain.gates import GatePolicy
from fleet.domain.invariants import violations
from fleet.domain.machine import (
    ApprovalPending,
    AwaitApproval,
    CutoverRequested,
    EnvironmentState,
    Event,
    InvalidTransition,
    Phase,
    Resumed,
    RollbackRequested,
    RunSmokeTest,
    SetWeights,
    SmokeTested,
    StepApproved,
    pending,
    transition,
)
from fleet.domain.model import RolloutPolicy, SlotName, TeardownPolicy, Version
from tests.properties.test_fault_schedules import SCHEDULES, STEPS, _answer

ENV = "local"

gates = st.builds(
    GatePolicy,
    smoke=st.booleans(),
    approve=st.lists(st.integers(1, len(STEPS)), max_size=3, unique=True).map(lambda s: tuple(sorted(s))),
)
moves = st.lists(st.tuples(st.integers(0, 24), st.integers(0, 5), st.floats(0, 400)), min_size=1, max_size=120)


def _gate_answer(state: EnvironmentState, at: float, outcome: int) -> Event | None:
    command = pending(state)
    match command:
        case AwaitApproval(step=step):
            return ApprovalPending(at=at, step=step)
        case RunSmokeTest(step=step):
            return SmokeTested(at=at, step=step, ok=outcome != 2, reason="" if outcome != 2 else "HTTP 503")
    return _answer(state, at, outcome)


@settings(max_examples=max(50, SCHEDULES // 4), deadline=None)
@given(policy=gates, schedule=moves)
def test_weight_rises_only_through_open_gates(
    policy: GatePolicy, schedule: list[tuple[int, int, float]], schedules_run: Counter[str]
) -> None:
    now = 1_000.0
    state = EnvironmentState.seed(ENV, Version(1, 29))
    start = CutoverRequested(at=now, id="c1", target=Version(1, 30), rollout=RolloutPolicy(steps=STEPS),
                             teardown=TeardownPolicy(confirm=False), gates=policy)
    state = transition(state, start).state
    new = SlotName.GREEN
    for choice, detail, dt in schedule:
        now += dt
        event: Event | None
        if choice <= 18:
            event = _gate_answer(state, now, 3 if choice < 15 else choice % 4)  # 3: success, a passing window
        elif choice <= 21:
            event = StepApproved(at=now, step=detail % len(STEPS) + 1, by="pipeline")
        elif choice == 22:
            event = RollbackRequested(at=now)
        else:
            event = Resumed(at=now)
        if event is None:
            event = Resumed(at=now)
        now = max(now, event.at)  # a timer fires at its due time: the clock never runs back after it
        command = pending(state)
        c = state.cutover
        assert c is not None
        rises = isinstance(command, SetWeights) and command.weights.of(new) > state.weights.of(new)
        if rises and c.phase is Phase.SHIFT:
            gated = c.step + 1
            assert gated not in policy.approve or gated in c.approved, f"step {gated} was not approved"
            assert not policy.smoke or c.smoke_checked, f"step {gated} without a smoke test"
        try:
            result = transition(state, event)
        except InvalidTransition:
            continue
        assert violations(state, result.state, result.commands, now) == []
        state = result.state
        c = state.cutover
        assert c is not None
        if isinstance(event, (ApprovalPending, StepApproved, SmokeTested)):
            note(type(event).__name__ + ("" if not isinstance(event, SmokeTested) else f" ok={event.ok}"))
        if c.awaiting_approval is not None:
            assert pending(state) is None, "a held step issues nothing until it is approved"
            assert c.phase is Phase.SHIFT and c.awaiting_approval in policy.approve
        if isinstance(event, SmokeTested) and not event.ok and c.phase in (Phase.ROLLING_BACK, Phase.ROLLED_BACK):
            assert "smoke test failed before step" in (c.reason or "")
    c = state.cutover
    assert c is not None
    assert c.phase.terminal or c.phase is Phase.FAILED or pending(state) is not None or c.awaiting_approval
    schedules_run["gates"] += 1
