"""Drift and a busy old slot are decisions of the pure machine: they hold the cutover until a person resumes."""

from __future__ import annotations

import pytest

from fleet.domain.machine import (
    DestroySlot,
    DrainSlot,
    DriftObserved,
    InvalidTransition,
    Phase,
    Refreshed,
    RefreshSlots,
    Resumed,
    RollbackRequested,
    SetWeights,
    SlotDrained,
    TeardownConfirmed,
    TeardownRefused,
    WeightsApplied,
    pending,
)
from fleet.domain.model import SlotName, Weights
from tests.domain.test_transitions import now, reach, step


def test_drift_mid_shift_holds_the_step_and_resume_reapplies_the_recorded_weights_first() -> None:
    state = reach(Phase.SHIFT, weight=50)
    held = step(state, DriftObserved(at=now(state), detail="fleet recorded A, haproxy has B"))

    assert held.cutover is not None and held.cutover.phase is Phase.SHIFT
    assert held.cutover.held is not None and "haproxy has B" in held.cutover.held
    assert pending(held) is None, "nothing is done until a person looks"
    assert held.weights == state.weights

    resumed = step(held, Resumed(at=now(held)))
    assert pending(resumed) == SetWeights(state.weights, reapply=True)
    reapplied = step(resumed, WeightsApplied(at=now(resumed), weights=state.weights))
    assert reapplied.cutover is not None and not reapplied.cutover.reapply
    assert pending(reapplied) == pending(state), "then the step carries on where it was"


def test_a_held_cutover_can_still_be_rolled_back() -> None:
    state = reach(Phase.SHIFT, weight=50)
    held = step(state, DriftObserved(at=now(state), detail="x"))
    rolling = step(held, RollbackRequested(at=now(held)))
    assert rolling.cutover is not None and rolling.cutover.phase is Phase.ROLLING_BACK
    assert pending(rolling) == SetWeights(Weights.all_to(SlotName.BLUE))


def test_a_busy_old_slot_holds_the_teardown_and_resume_checks_again() -> None:
    state = reach(Phase.TEARDOWN_OLD)
    state = step(state, TeardownConfirmed(at=now(state)))
    assert pending(state) == DrainSlot(SlotName.BLUE)
    held = step(state, TeardownRefused(at=now(state), slot=SlotName.BLUE, reason="3 sessions"))
    assert held.cutover is not None and "3 sessions" in (held.cutover.held or "")
    assert pending(held) is None

    resumed = step(held, Resumed(at=now(held)))
    assert pending(resumed) == RefreshSlots(), "a teardown that began is refreshed first"
    resumed = step(resumed, Refreshed(at=now(resumed)))
    assert pending(resumed) == SetWeights(resumed.weights, reapply=True)
    resumed = step(resumed, WeightsApplied(at=now(resumed), weights=resumed.weights))
    assert pending(resumed) == DrainSlot(SlotName.BLUE)
    drained = step(resumed, SlotDrained(at=now(resumed), slot=SlotName.BLUE))
    assert pending(drained) == DestroySlot(SlotName.BLUE)


@pytest.mark.parametrize("phase", [Phase.PROVISION, Phase.WAIT_HEALTHY, Phase.VERIFY_PARITY])
def test_drift_is_not_judged_before_traffic_moves(phase: Phase) -> None:
    state = reach(phase)
    with pytest.raises(InvalidTransition):
        step(state, DriftObserved(at=now(state), detail="x"))


def test_teardown_refused_only_applies_to_the_old_slot_in_teardown() -> None:
    state = reach(Phase.SHIFT, weight=50)
    with pytest.raises(InvalidTransition):
        step(state, TeardownRefused(at=now(state), slot=SlotName.BLUE, reason="x"))
