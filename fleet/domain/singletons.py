"""Workloads that must not run twice: held on the new slot, handed over once traffic has moved.

CronJobs, queue consumers and leader-elected singletons run on both clusters
from the moment Flux reconciles the new slot, unless something stops them.
The new slot is bootstrapped with them held (CronJobs suspended, labelled
Deployments and StatefulSets at zero replicas). When the new slot's applied
weight reaches ``fleet:singletons.handoffAt``, they are handed over in two
idempotent steps, each confirmed before the next is issued:

1. stop them on the old slot and wait until its API server shows them stopped;
2. release them on the new slot.

A rollback reverses this: stop them on the new slot first, then start them on
the old one. ``start`` is only ever issued for a slot when the other slot was
confirmed stopped *after* the last ``start`` it could have received, so at no
point do both slots run them, whatever crash or rollback interrupts the
sequence: a command interrupted before its event was recorded is simply issued
again on resume (:func:`fleet.domain.machine.pending` is a function of the
state alone), and a rollback from ``OLD_STOPPED`` stops the new slot first in
case its release had been carried out but not recorded.

The stages are :class:`fleet.domain.cutover.Handoff`; this module says which
command each stage waits on and what each confirmation moves it to.
"""

from __future__ import annotations

from dataclasses import replace

from fleet.domain.commands import HandoffSingletons
from fleet.domain.cutover import Cutover, EnvironmentState, Handoff, InvalidTransition, Phase
from fleet.domain.events import SingletonsHandedOff
from fleet.domain.model import SlotName
from fleet.domain.outcomes import finish

_FORWARD_PHASES = (Phase.SHIFT, Phase.BAKE, Phase.TEARDOWN_OLD)


def handoff_command(state: EnvironmentState) -> HandoffSingletons | None:
    """The handoff step the cutover waits on before anything else, or None."""
    c = state.cutover
    if c is None or c.rollout.handoff_at is None:
        return None
    reached = state.weights.of(c.new) >= c.rollout.handoff_at
    if c.phase in _FORWARD_PHASES and (reached or c.phase is not Phase.SHIFT):
        match c.handoff:
            case Handoff.HELD:
                return HandoffSingletons(c.old, running=False)
            case Handoff.OLD_STOPPED:
                return HandoffSingletons(c.new, running=True)
    if c.phase is Phase.ROLLING_BACK and state.weights.of(c.old) == 100:
        match c.handoff:
            case Handoff.HANDED | Handoff.OLD_STOPPED:
                return HandoffSingletons(c.new, running=False)
            case Handoff.NEW_STOPPED | Handoff.HELD:
                # From HELD too: a stop on the old slot may have been carried out and not recorded.
                return HandoffSingletons(c.old, running=True)
    return None


def handed_off(state: EnvironmentState, c: Cutover, event: SingletonsHandedOff) -> EnvironmentState:
    """Record a confirmed step of the handoff; only the step the cutover waited on is accepted."""
    expected = handoff_command(state)
    if expected is None or (expected.slot, expected.running) != (event.slot, event.running):
        raise InvalidTransition(f"singletons {'released' if event.running else 'held'} on {event.slot} "
                                f"in {c.phase} ({c.handoff})")
    if c.phase is Phase.ROLLING_BACK:
        stage = Handoff.NEW_STOPPED if not event.running else Handoff.RETURNED
        return rolled_back(replace(state, cutover=replace(c, handoff=stage)), replace(c, handoff=stage), event.at)
    stage = Handoff.OLD_STOPPED if not event.running else Handoff.HANDED
    return replace(state, cutover=replace(c, handoff=stage))


def rolled_back(state: EnvironmentState, c: Cutover, at: float) -> EnvironmentState:
    """A rollback ends once the weights are all on the old slot and the singletons run there again."""
    if state.weights.of(c.old) != 100 or handoff_command(state) is not None:
        return state
    return finish(state, c, Phase.ABORTED if c.aborting else Phase.ROLLED_BACK, at, c.reason)


def born_held(state: EnvironmentState) -> frozenset[SlotName]:
    """The slots whose Flux must be created, and stay declared, holding the singletons.

    The cutover's new slot, from before its Flux first applies anything until
    the handoff releases it: so that Flux never runs them there while the old
    slot does. After a rollback (or an abort) the new slot stays held. The
    engine passes this to the infrastructure program, and a hand-run program
    derives it from the same recorded state, so both declare the same Flux.
    """
    c = state.cutover
    if c is None or c.rollout.handoff_at is None or c.handoff is Handoff.HANDED:
        return frozenset()
    return frozenset({c.new})


def running_on(c: Cutover) -> str:
    """Where they run by the record, for people: a slot's name, or 'neither slot'."""
    match c.handoff:
        case Handoff.HELD | Handoff.RETURNED:
            return str(c.old)
        case Handoff.HANDED:
            return str(c.new)
    return "neither slot"
