"""The engine's remaining decisions, as pure functions from what it observed to an event.

The engine reads the world in a few places that are not a command of their
own: the traffic provider before a weight change and before the old slot is
drained or destroyed, the store for an operator's request, the provider again
when a weight change could not be recorded. What those readings *mean* is
decided here, not in the engine, so that the property tests can drive the
same rules the engine runs: each function turns a reading into the event the
transition function then applies (``DriftObserved``, ``TeardownRefused``,
``RollbackRequested``/``AbortRequested``), or into nothing.

One decision stays outside the machine on purpose: a run that lost its lease
stops before any further side effect (``LockedError``). That is not an event,
because a run without the lease may no longer write the state; the run that
holds the lease now decides.
"""

from __future__ import annotations

from enum import StrEnum

from fleet.domain.cutover import EnvironmentState
from fleet.domain.events import AbortRequested, DriftObserved, Event, RollbackRequested, TeardownRefused, WeightsApplied
from fleet.domain.model import SlotName, Weights
from fleet.domain.traffic import TrafficView, address_drift, still_serving, weight_drift


def drift(
    state: EnvironmentState, view: TrafficView, expected_address: str | None, *, at: float,
    about_to_set: Weights | None = None,
) -> DriftObserved | None:
    """The provider's own account against the record: its weights, or where it sends the new slot's share.

    ``about_to_set`` is the split the pending command sets: finding it already there is that command's own
    write by a run that died before recording it, not drift.
    """
    c = state.cutover
    assert c is not None
    already = about_to_set is not None and view.weights == about_to_set
    detail = None if already else weight_drift(state.weights, view)
    if detail is None and expected_address is not None:
        detail = address_drift(view, {c.new: expected_address})
    return None if detail is None else DriftObserved(at=at, detail=detail)


class Teardown(StrEnum):
    """What the provider's account of the old slot says about draining or destroying it now."""

    PROCEED = "proceed"
    WAIT = "wait"
    """Weight 0 but sessions still open: they close within the grace, look again."""


def teardown(view: TrafficView, slot: SlotName, *, at: float, grace_over: bool) -> Teardown | TeardownRefused:
    """``slot`` is torn down only once the provider gives it no weight and holds no session to it."""
    busy = still_serving(view, slot)
    if busy is None:
        return Teardown.PROCEED
    if view.slots[slot].weight > 0 or grace_over:
        return TeardownRefused(at=at, slot=slot, reason=busy)
    return Teardown.WAIT


def operator_request(
    state: EnvironmentState, kind: str, reason: str, *, by: str | None, posted_at: float, at: float
) -> Event | None:
    """An operator's ``rollback`` or ``abort`` as the event it is; None when it was posted before this cutover."""
    c = state.cutover
    if c is None or posted_at < c.started_at:
        return None
    return request_event(kind, reason if by is None else f"{reason} (asked by {by})", at=at)


def request_event(kind: str, reason: str, *, at: float) -> Event:
    """``abort`` is an ``AbortRequested``; anything else an operator asks for is a rollback."""
    return AbortRequested(at=at, reason=reason) if kind == "abort" else RollbackRequested(at=at, reason=reason)


def weights_at_stake(before: EnvironmentState, event: Event) -> bool:
    """The event moved traffic: if its record cannot be written, traffic and record part ways."""
    return isinstance(event, WeightsApplied) and event.weights != before.weights


class Unrecorded(StrEnum):
    """What to do when a weight change was applied but its record could not be written."""

    AT_RECORD = "at-record"
    """The provider says traffic is at the recorded weights after all: report the commit's error."""
    RECOMMIT_ELSE_SET_BACK = "recommit-else-set-back"
    """Try the commit once more; if it still fails, set the traffic back to the recorded weights."""


def unrecorded(recorded: Weights, live: Weights | None) -> Unrecorded:
    """``live`` is the provider's read-back (None when it could not be read)."""
    return Unrecorded.AT_RECORD if live is not None and live == recorded else Unrecorded.RECOMMIT_ELSE_SET_BACK
