"""The four guarantees, as a check that runs after every step.

The transition function is written to keep them; this module states them
independently so that tests (table-driven, property-based, crash-and-resume)
and the engine itself can verify every step of every cutover. The engine
refuses to carry out a command that breaks one: a bug must halt a cutover,
not take users' traffic with it.
"""

from __future__ import annotations

from collections.abc import Sequence

from fleet.domain.machine import Command, DestroySlot, DrainSlot, EnvironmentState, SetWeights
from fleet.domain.model import Role


def violations(before: EnvironmentState, after: EnvironmentState, commands: Sequence[Command], now: float) -> list[str]:
    """Every guarantee that the step ``before -> after`` issuing ``commands`` breaks."""
    found: list[str] = []
    for state in (before, after):
        if state.weights.blue + state.weights.green <= 0:
            found.append(f"total weight is 0 in {state.weights}")
    for command in commands:
        found.extend(_command_violations(after, command, now))
    for slot, slot_state in after.slots.items():
        if slot_state.role is Role.ABSENT and after.weights.of(slot) > 0:
            found.append(f"{slot} is absent but has weight {after.weights.of(slot)}")
    if not after.in_flight:
        active = [name for name, s in after.slots.items() if s.role is Role.ACTIVE]
        if len(active) != 1:
            found.append(f"{len(active)} active slots while no cutover is in flight")
    return found


def _command_violations(state: EnvironmentState, command: Command, now: float) -> list[str]:
    found: list[str] = []
    match command:
        case SetWeights(weights=weights):
            if weights.blue + weights.green <= 0:
                found.append("a command sets all weights to 0")
            for slot, slot_state in state.slots.items():
                if weights.of(slot) > state.weights.of(slot) and not slot_state.healthy:
                    found.append(f"weight would go to {slot}, which is not healthy")
        case DrainSlot(slot=slot) | DestroySlot(slot=slot):
            verb = "drained" if isinstance(command, DrainSlot) else "destroyed"
            if state.weights.of(slot) > 0:
                found.append(f"{slot} would be {verb} while it has weight {state.weights.of(slot)}")
            cutover = state.cutover
            due = cutover.teardown_due if cutover is not None else None
            if due is None or now < due:
                found.append(f"{slot} would be {verb} before its teardown bake time passed")
            if state.slot(slot).role is Role.ACTIVE:
                found.append(f"{slot} would be {verb} while it is active")
    return found
