"""Workloads that must not run twice, as the pure machine hands them over, under any order of events.

A simulated pair of clusters records whether each slot runs its singletons.
Every ``HandoffSingletons`` command is carried out on it (a hold takes effect
at once, as the adapter confirms it before answering), or carried out and
then "lost" by a crash before its event was recorded, or not carried out at
all; rollbacks, aborts, failed steps, analysis failures and resumes arrive
in any order. After every change both slots never run them at once, and when
the cutover ends they run on exactly one slot: the new one after DONE, the
old one after a rollback or abort.
"""

from __future__ import annotations

from collections import Counter

from hypothesis import event as note
from hypothesis import given, settings
from hypothesis import strategies as st

from fleet.domain.commands import BootstrapFlux, DestroySlot, HandoffSingletons, ProvisionSlot
from fleet.domain.cutover import Handoff
from fleet.domain.events import SingletonsHandedOff
from fleet.domain.invariants import violations
from fleet.domain.machine import (
    AbortRequested,
    CutoverRequested,
    EnvironmentState,
    Event,
    InvalidTransition,
    Phase,
    Resumed,
    RollbackRequested,
    SetWeights,
    WeightsApplied,
    pending,
    transition,
)
from fleet.domain.model import RolloutPolicy, SlotName, TeardownPolicy, Version, Weights
from fleet.domain.singletons import born_held
from tests.properties.test_fault_schedules import SCHEDULES, _answer

ENV = "local"
STEPS = (10, 25, 50, 100)

moves = st.lists(st.tuples(st.integers(0, 30), st.integers(0, 5), st.floats(0, 600)), min_size=1, max_size=150)


def _start(handoff_at: int, now: float) -> EnvironmentState:
    state = EnvironmentState.seed(ENV, Version(1, 29))
    rollout = RolloutPolicy(steps=STEPS, handoff_at=handoff_at)
    start = CutoverRequested(at=now, id="c1", target=Version(1, 30), rollout=rollout,
                             teardown=TeardownPolicy(confirm=False, bake_s=60.0))
    return transition(state, start).state


@settings(max_examples=max(100, SCHEDULES // 2), deadline=None)
@given(handoff_at=st.sampled_from([1, 10, 10, 30, 50, 100]), schedule=moves)
def test_singletons_never_run_on_both_slots(
    handoff_at: int, schedule: list[tuple[int, int, float]], schedules_run: Counter[str]
) -> None:
    now = 1_000.0
    state = _start(handoff_at, now)
    c = state.cutover
    assert c is not None
    # The old slot runs them; the new slot's Flux runs them from its bootstrap unless it is born held.
    running = {c.old: True, c.new: False}
    declared: dict[SlotName, bool] = {}
    for choice, detail, dt in schedule:
        now += dt
        command = pending(state)
        event: Event | None
        if choice <= 22:
            _pulumi_up(state, command, running, declared)
        if isinstance(command, HandoffSingletons):
            if detail == 0:  # carried out, then the process died before recording it
                running[command.slot] = command.running
            if detail == 0 or (detail == 2 and choice % 2):  # 2: not carried out; a resume or a rollback
                event = Resumed(at=now)
            elif detail == 2:
                event = _other(23 + choice % 3, now)
            else:
                event = SingletonsHandedOff(at=now, slot=command.slot, running=command.running)
                running[command.slot] = command.running
        elif choice <= 22:
            event = _answer(state, now, 3 if choice < 21 else detail)
        else:
            event = _other(choice, now)
        if event is None:
            event = Resumed(at=now)
        now = max(now, event.at)
        try:
            result = transition(state, event)
        except InvalidTransition:
            continue
        assert violations(state, result.state, result.commands, now) == []
        state = result.state
        assert not (running[SlotName.BLUE] and running[SlotName.GREEN]), f"both slots run them: {state.cutover}"
    state = _finish(state, running, declared, now)
    c = state.cutover
    assert c is not None
    assert not (running[c.old] and running[c.new])
    if c.phase is Phase.DONE:
        assert running[c.new] and c.handoff is Handoff.HANDED
    elif c.phase in (Phase.ROLLED_BACK, Phase.ABORTED):
        assert running[c.old], f"{c.phase} with the old slot's singletons stopped ({c.handoff})"
    note(f"{c.phase} after {c.handoff}")
    schedules_run["singletons"] += 1


def _other(choice: int, now: float) -> Event:
    match choice:
        case 23 | 24:
            return RollbackRequested(at=now)
        case 25:
            return AbortRequested(at=now)
    return Resumed(at=now)


def _pulumi_up(
    state: EnvironmentState, command: object, running: dict[SlotName, bool], declared: dict[SlotName, bool]
) -> None:
    """What a Pulumi up with the layout of ``state`` does to the singletons (every slot's Flux is declared).

    A slot's Flux first created without ``born_held`` runs them at once; a slot declared born held whose
    declaration the state no longer makes is released by the up itself (Pulumi removes the entries).
    """
    if not isinstance(command, ProvisionSlot | BootstrapFlux | DestroySlot):
        return
    held = born_held(state)
    if isinstance(command, BootstrapFlux) and command.slot not in declared:
        declared[command.slot] = command.slot in held
        running[command.slot] = running[command.slot] or command.slot not in held
    for slot, was in list(declared.items()):
        if was and slot not in held:
            declared[slot] = False
            running[slot] = True


def _finish(
    state: EnvironmentState, running: dict[SlotName, bool], declared: dict[SlotName, bool], now: float
) -> EnvironmentState:
    """Faults cleared: resume and answer every command until the cutover ends."""
    for _ in range(200):
        c = state.cutover
        assert c is not None
        if c.phase.terminal:
            return state
        now += 30.0
        command = pending(state)
        _pulumi_up(state, command, running, declared)
        event: Event | None
        if isinstance(command, HandoffSingletons):
            running[command.slot] = command.running
            event = SingletonsHandedOff(at=now, slot=command.slot, running=command.running)
        else:
            event = _answer(state, now, 3) if command is not None else Resumed(at=now)
        if event is None:
            event = Resumed(at=now)
        now = max(now, event.at)
        try:
            state = transition(state, event).state
        except InvalidTransition:
            state = transition(state, Resumed(at=now)).state
        assert not (running[SlotName.BLUE] and running[SlotName.GREEN])
    raise AssertionError(f"the cutover did not end: {state.cutover}")


def test_a_release_lost_in_a_crash_is_undone_before_the_old_slot_starts() -> None:
    """Released on the new slot, crashed before it was recorded, rolled back: the new slot is stopped first."""
    now = 1_000.0
    state = _start(10, now)
    while not isinstance(pending(state), HandoffSingletons):
        now += 1.0
        event = _answer(state, now, 3)
        assert event is not None
        state = transition(state, event).state
    c = state.cutover
    assert c is not None
    assert pending(state) == HandoffSingletons(c.old, running=False)
    state = transition(state, SingletonsHandedOff(at=now, slot=c.old, running=False)).state
    assert pending(state) == HandoffSingletons(c.new, running=True)
    # carried out on the new slot, the process dies; the operator rolls back
    state = transition(state, Resumed(at=now + 1)).state
    state = transition(state, RollbackRequested(at=now + 2)).state
    assert pending(state) == SetWeights(Weights.all_to(c.old)), "traffic returns first"
    state = transition(state, WeightsApplied(at=now + 2, weights=Weights.all_to(c.old))).state
    assert state.cutover is not None and state.cutover.phase is Phase.ROLLING_BACK
    assert pending(state) == HandoffSingletons(c.new, running=False)
    state = transition(state, SingletonsHandedOff(at=now + 3, slot=c.new, running=False)).state
    assert pending(state) == HandoffSingletons(c.old, running=True)
    state = transition(state, SingletonsHandedOff(at=now + 4, slot=c.old, running=True)).state
    c = state.cutover
    assert c is not None and c.handoff is Handoff.RETURNED and c.phase is Phase.ROLLED_BACK
