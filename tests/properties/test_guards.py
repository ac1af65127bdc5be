"""The engine's readings of the world, decided by the pure machine: drift, a busy old slot, operators' requests.

:mod:`fleet.domain.guards` turns what the engine read (the traffic provider's
own account, a request in the store, a read-back after a failed commit) into
the event the transition function applies. These properties drive the same
functions the engine calls over random readings, then apply the event: a
reading that disagrees with the record always holds the cutover (nothing is
done until a person resumes, and resume re-applies the record first), a slot
that still has weight or sessions is never drained or destroyed, a request
posted before the cutover began never touches it, and a request for this
cutover never sends weight to the new slot.
"""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from fleet.domain import guards
from fleet.domain.invariants import violations
from fleet.domain.machine import (
    DestroySlot,
    DrainSlot,
    DriftObserved,
    EnvironmentState,
    Phase,
    Resumed,
    SetWeights,
    TeardownConfirmed,
    TeardownRefused,
    pending,
    transition,
)
from fleet.domain.model import SlotName, Weights
from fleet.domain.traffic import ServerState, SlotTraffic, TrafficView
from tests.domain.test_transitions import now, reach

ADDRESS = "10.0.0.2:443"
GREEN = SlotName.GREEN
BLUE = SlotName.BLUE

percent = st.sampled_from((0, 10, 25, 50, 75, 90, 100))
address = st.sampled_from((ADDRESS, "10.0.0.2", "10.9.9.9:443", None))


@st.composite
def views(draw: st.DrawFn) -> TrafficView:
    green = draw(percent)
    scale = draw(st.sampled_from((1, 2, 256 / 100)))
    slots = {
        BLUE: SlotTraffic(round((100 - green) * scale), draw(st.sampled_from(list(ServerState))),
                          draw(st.sampled_from((None, 0, 3)))),
        GREEN: SlotTraffic(round(green * scale), ServerState.UP, draw(st.sampled_from((None, 0, 2))), draw(address)),
    }
    return TrafficView("haproxy", slots)


BUILT: dict[str, EnvironmentState] = {
    "shift 10": reach(Phase.SHIFT, weight=10),
    "shift 50": reach(Phase.SHIFT, weight=50),
    "bake": reach(Phase.BAKE),
    "teardown": reach(Phase.TEARDOWN_OLD),
}


def _apply(state: EnvironmentState, event: DriftObserved | TeardownRefused) -> EnvironmentState:
    result = transition(state, event)
    assert violations(state, result.state, result.commands, event.at) == []
    return result.state


@settings(max_examples=400, deadline=None)
@given(name=st.sampled_from(sorted(BUILT)), view=views(), about=st.one_of(st.none(), percent),
       expected=st.sampled_from((ADDRESS, None)))
def test_drift_holds_the_cutover_exactly_when_the_provider_disagrees_with_the_record(
    name: str, view: TrafficView, about: int | None, expected: str | None, schedules_run: Counter[str]
) -> None:
    schedules_run["guards"] += 1
    state = BUILT[name]
    about_to_set = None if about is None else Weights.split(GREEN, about)
    event = guards.drift(state, view, expected, at=now(state), about_to_set=about_to_set)

    seen = view.slots[GREEN].address
    same = seen is None or expected is None or seen == expected or seen.rsplit(":", 1)[0] == expected
    wrong_address = not same
    own_write = about_to_set is not None and view.weights == about_to_set
    differs = view.weights != state.weights and not own_write
    assert (event is not None) == (differs or wrong_address)
    if event is None:
        return
    held = _apply(state, event)
    assert held.cutover is not None and held.cutover.held is not None
    assert pending(held) is None, "nothing is done until a person looks"
    assert held.weights == state.weights, "the record is not rewritten from the provider"
    resumed = transition(held, Resumed(at=now(held))).state
    assert pending(resumed) == SetWeights(state.weights, reapply=True), "resume re-applies the record first"


@settings(max_examples=400, deadline=None)
@given(view=views(), grace_over=st.booleans(), drained=st.booleans())
def test_a_slot_the_provider_still_sends_traffic_to_is_never_drained_or_destroyed(
    view: TrafficView, grace_over: bool, drained: bool, schedules_run: Counter[str]
) -> None:
    schedules_run["guards"] += 1
    state = reach(Phase.TEARDOWN_OLD, confirmed=True, drained=drained) if drained else _confirmed()
    verdict = guards.teardown(view, BLUE, at=now(state), grace_over=grace_over)
    entry = view.slots[BLUE]
    if entry.weight > 0:
        assert isinstance(verdict, TeardownRefused), "weight on the old slot refuses at once"
    elif entry.sessions:
        assert verdict == guards.Teardown.WAIT or grace_over, "open sessions get the grace to close"
        assert grace_over == isinstance(verdict, TeardownRefused)
    else:
        assert verdict is guards.Teardown.PROCEED
        return
    if isinstance(verdict, TeardownRefused):
        held = _apply(state, verdict)
        assert pending(held) is None
        assert not isinstance(pending(held), DrainSlot | DestroySlot)


def _confirmed() -> EnvironmentState:
    state = reach(Phase.TEARDOWN_OLD)
    return transition(state, TeardownConfirmed(at=now(state))).state


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(["shift 10", "shift 50", "bake"]), kind=st.sampled_from(("rollback", "abort")),
       age=st.floats(min_value=-3600, max_value=3600, allow_nan=False))
def test_a_request_touches_only_the_cutover_it_was_posted_for_and_never_raises_the_new_slot(
    name: str, kind: str, age: float, schedules_run: Counter[str]
) -> None:
    schedules_run["guards"] += 1
    state = BUILT[name]
    assert state.cutover is not None
    posted_at = state.cutover.started_at + age
    event = guards.operator_request(state, kind, "why", by="ops@host", posted_at=posted_at, at=now(state))
    if posted_at < state.cutover.started_at:
        assert event is None, "a request older than this cutover is dropped"
        return
    assert event is not None and "asked by ops@host" in getattr(event, "reason", "")
    result = transition(state, event)
    assert violations(state, result.state, result.commands, event.at) == []
    assert result.state.cutover is not None and result.state.cutover.phase is Phase.ROLLING_BACK
    assert pending(result.state) == SetWeights(Weights.all_to(BLUE))


@given(recorded=percent, live=st.one_of(st.none(), percent))
def test_an_unrecorded_weight_change_is_reported_as_is_only_when_the_provider_is_at_the_record(
    recorded: int, live: int | None
) -> None:
    record = Weights.split(GREEN, recorded)
    read = None if live is None else Weights.split(GREEN, live)
    answer = guards.unrecorded(record, read)
    assert (answer is guards.Unrecorded.AT_RECORD) == (read == record)
