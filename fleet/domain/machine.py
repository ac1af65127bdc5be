"""The cutover as a pure transition function: ``(state, event) -> (state, commands)``.

Everything the outside world tells the engine arrives as an event carrying
the time it happened; everything the engine wants done leaves as a command.
No clock is read and nothing is called here, so a one-hour cutover runs in
milliseconds under test and every decision can be replayed from the history.

The command to issue next is a function of the state alone (:func:`pending`).
That is what makes a cutover resumable: after a crash, ``fleet resume`` loads
the state and issues :func:`pending` again. Every command is safe to repeat:
provisioning converges, weights are absolute, destroying an absent slot is a
no-op.

The guarantees (total weight never 0, weight only to healthy slots, nothing
destroyed with weight or within its bake, one active slot when idle) are
enforced here, not by callers, and checked after every step by
:mod:`fleet.domain.invariants`.
"""

from __future__ import annotations

from dataclasses import replace

from fleet.domain.commands import (
    Analyse,
    AwaitApproval,
    AwaitHealthy,
    BootstrapFlux,
    CheckHealth,
    CheckParity,
    Command,
    ConfirmTeardown,
    DestroySlot,
    DrainSlot,
    ProvisionSlot,
    RefreshSlots,
    RunSmokeTest,
    SetWeights,
    Transition,
    WaitUntil,
)
from fleet.domain.cutover import Cutover, EnvironmentState, InvalidTransition, LastResult, Phase
from fleet.domain.events import (
    AbortRequested,
    AnalysisCompleted,
    ApprovalPending,
    CutoverRequested,
    DriftObserved,
    Event,
    FluxBootstrapped,
    HealthChanged,
    HealthReported,
    ParityObserved,
    Refreshed,
    Resumed,
    RollbackRequested,
    SingletonsHandedOff,
    SlotDestroyed,
    SlotDrained,
    SlotProvisioned,
    SmokeTested,
    StepApproved,
    StepFailed,
    TeardownConfirmed,
    TeardownDeclined,
    TeardownRefused,
    TimerFired,
    WeightsApplied,
)
from fleet.domain.gates import gate_due
from fleet.domain.model import Role, SlotName, SlotState, Weights
from fleet.domain.outcomes import (
    AFTER_TRAFFIC,
    PARITY_RETRY_S,
    approve_step,
    close_window,
    enter,
    fail,
    finish,
    health_reason,
    judge,
    live_health,
    parity,
    refuse_once_teardown_began,
    roll_back,
    smoke_tested,
    start,
)
from fleet.domain.singletons import handed_off, handoff_command, rolled_back

__all__ = [
    "PARITY_RETRY_S", "AbortRequested", "Analyse", "AnalysisCompleted", "ApprovalPending", "AwaitApproval",
    "AwaitHealthy", "BootstrapFlux", "CheckHealth", "CheckParity", "Command", "ConfirmTeardown", "Cutover",
    "CutoverRequested", "DestroySlot", "DrainSlot", "DriftObserved", "EnvironmentState", "Event",
    "FluxBootstrapped", "HealthChanged", "HealthReported", "InvalidTransition", "LastResult", "ParityObserved",
    "Phase", "ProvisionSlot", "RefreshSlots", "Refreshed", "Resumed", "RollbackRequested", "RunSmokeTest",
    "SetWeights", "SlotDestroyed", "SlotDrained", "SlotProvisioned", "SmokeTested", "StepApproved",
    "StepFailed", "TeardownConfirmed", "TeardownDeclined", "TeardownRefused", "TimerFired", "Transition",
    "WaitUntil", "WeightsApplied", "health_reason", "layout_slots", "pending", "transition",
]


def transition(state: EnvironmentState, event: Event) -> Transition:
    """Apply ``event`` to ``state``; return the new state and the commands to carry out."""
    new = _apply(state, event)
    if new.cutover is not None:
        new = replace(new, cutover=replace(new.cutover, updated_at=event.at))
        new = close_window(new, event.at, pending(new))
    command = pending(new)
    return Transition(new, () if command is None else (command,))


def pending(state: EnvironmentState) -> Command | None:
    """The command the cutover waits on in ``state``; None when nothing is to be done."""
    c = state.cutover
    if c is None or c.phase.terminal or c.phase is Phase.FAILED or c.awaiting_confirmation or c.held or c.paused:
        return None
    if c.awaiting_approval is not None and c.phase is Phase.SHIFT:
        return None
    if c.refresh_first:
        return RefreshSlots()
    if c.reapply and c.phase in AFTER_TRAFFIC:
        return SetWeights(state.weights, reapply=True)
    if (handoff := handoff_command(state)) is not None:
        return handoff
    match c.phase:
        case Phase.PROVISION:
            return ProvisionSlot(c.new, c.target)
        case Phase.BOOTSTRAP:
            return BootstrapFlux(c.new)
        case Phase.WAIT_HEALTHY:
            remaining = max(0.0, c.phase_since + c.rollout.health_timeout_s - c.updated_at)
            return AwaitHealthy(c.new, remaining)
        case Phase.VERIFY_PARITY:
            return CheckParity(c.old, c.new, c.parity_retry_at or 0.0)
        case Phase.SHIFT:
            target = Weights.split(c.new, c.steps[c.step])
            if state.weights != target:
                if target.of(c.new) > state.weights.of(c.new):
                    gate = gate_due(c.gates, c.step, c.approved, c.smoke_checked)
                    if gate == "approve":
                        return AwaitApproval(c.step + 1)
                    if not c.health_checked:
                        return CheckHealth(c.new)
                    if gate == "smoke":
                        return RunSmokeTest(c.new, c.step + 1, c.steps[c.step])
                return SetWeights(target)
            return Analyse(c.new)
        case Phase.BAKE:
            assert c.teardown_due is not None
            due = c.teardown_due if c.window_end is None else min(c.teardown_due, c.window_end)
            return WaitUntil(due, watch=c.new)
        case Phase.TEARDOWN_OLD:
            if not c.confirmed:
                return ConfirmTeardown(c.old)
            if not c.old_drained:
                return DrainSlot(c.old)
            return DestroySlot(c.old)
        case Phase.ROLLING_BACK:
            return SetWeights(Weights.all_to(c.old))
    return None


def _apply(state: EnvironmentState, event: Event) -> EnvironmentState:
    c = state.cutover

    if isinstance(event, CutoverRequested):
        return start(state, event)
    if c is None:
        raise InvalidTransition(f"{type(event).__name__}: no cutover in {state.env}")
    if c.phase.terminal:
        raise InvalidTransition(f"{type(event).__name__}: the cutover already ended in {c.phase}")

    at = event.at
    match event:
        case Resumed():
            if c.phase is Phase.FAILED:
                assert c.resume_phase is not None
                c = enter(c, c.resume_phase, at, reason=None, resume_phase=None)
            refresh = c.phase in (Phase.PROVISION, Phase.BOOTSTRAP) or (c.phase is Phase.TEARDOWN_OLD and c.confirmed)
            if c.phase in (Phase.WAIT_HEALTHY,):
                c = replace(c, phase_since=at)
            if c.held is not None:
                c = replace(c, held=None, reason=None, reapply=c.reapply or c.phase in AFTER_TRAFFIC)
            if c.paused is not None:
                c = replace(c, paused=None, reason=None)
            c = replace(c, window_end=event.window_end)
            return replace(state, cutover=replace(c, refresh_first=refresh, awaiting_confirmation=False))
        case Refreshed():
            return replace(state, cutover=replace(c, refresh_first=False))
        case SingletonsHandedOff():
            return handed_off(state, c, event)
        case StepApproved(step=step):
            return approve_step(state, c, step)
        case AbortRequested(reason=reason):
            refuse_once_teardown_began(c)
            return roll_back(state, replace(c, aborting=True), at, reason)
        case RollbackRequested(reason=reason):
            refuse_once_teardown_began(c)
            return roll_back(state, c, at, reason)
        case HealthChanged(slot=slot, healthy=healthy, reason=reason):
            if slot is not c.new:
                return state
            if healthy:
                return state
            if c.phase in (Phase.SHIFT, Phase.BAKE) or (c.phase is Phase.TEARDOWN_OLD and not c.confirmed):
                return roll_back(state, c, at, f"{slot} became unhealthy: {reason}")
            if c.phase is Phase.TEARDOWN_OLD:
                return state
            return state.with_slot(slot, healthy=False)
        case DriftObserved(detail=detail):
            if c.phase not in AFTER_TRAFFIC:
                raise InvalidTransition(f"traffic drift is not judged in {c.phase}")
            why = f"traffic drifted from the record: {detail}; fleet resume re-applies the recorded {state.weights}"
            return replace(state, cutover=replace(c, held=why, reason=why, reapply=False))
        case TeardownRefused(slot=slot, reason=reason):
            if c.phase is not Phase.TEARDOWN_OLD or slot is not c.old:
                raise InvalidTransition(f"TeardownRefused for {slot} in {c.phase}")
            why = f"{slot} is not torn down while it still takes traffic: {reason}"
            return replace(state, cutover=replace(c, held=why, reason=why))
        case StepFailed(command=command, reason=reason):
            if c.phase in (Phase.SHIFT, Phase.BAKE):
                why = f"{command} failed: {reason}; weights stay at {state.weights}"
                return roll_back(state, c, at, why)
            if c.phase is Phase.ROLLING_BACK:
                return replace(state, cutover=replace(c, reason=f"rollback not confirmed: {reason}"))
            if c.phase is Phase.TEARDOWN_OLD:
                # Traffic is already on the new slot; only the old slot's removal is left to retry.
                return replace(state, cutover=replace(c, reason=f"{command} failed: {reason}"))
            return fail(state, c, at, f"{command} failed: {reason}")

    if c.phase is Phase.FAILED or c.refresh_first:
        raise InvalidTransition(f"{type(event).__name__} while {c.phase} awaits resume or refresh")

    match (c.phase, event):
        case (Phase.PROVISION, SlotProvisioned(slot=slot, version=version)) if slot is c.new:
            state = state.with_slot(slot, role=Role.STANDBY, version=version, healthy=False)
            return replace(state, cutover=enter(c, Phase.BOOTSTRAP, at))
        case (Phase.BOOTSTRAP, FluxBootstrapped(slot=slot)) if slot is c.new:
            return replace(state, cutover=enter(c, Phase.WAIT_HEALTHY, at))
        case (Phase.WAIT_HEALTHY, HealthReported(report=report)) if report.slot is c.new:
            if report.reconciled:
                return replace(state, cutover=enter(c, Phase.VERIFY_PARITY, at))
            why = health_reason(report)
            if at >= c.phase_since + c.rollout.health_timeout_s:
                return fail(state, c, at, f"{c.new} not healthy after {c.rollout.health_timeout_s:g}s: {why}")
            return replace(state, cutover=replace(c, reason=why))
        case (Phase.VERIFY_PARITY, ParityObserved(old=old, new=new_report)):
            return parity(state, c, old, new_report, at)
        case (Phase.SHIFT | Phase.BAKE, HealthReported(report=report)) if report.slot is c.new:
            return live_health(state, c, report, at)
        case (Phase.SHIFT, ApprovalPending(step=step)) if step == c.step + 1:
            why = f"step {step} ({c.steps[c.step]}%) waits for approval: fleet approve {state.env} --step {step}"
            return replace(state, cutover=replace(c, awaiting_approval=step, reason=why))
        case (Phase.SHIFT, SmokeTested(step=step, ok=ok, reason=reason)) if step == c.step + 1:
            return smoke_tested(state, c, step, ok, reason, at)
        case (Phase.SHIFT, WeightsApplied(weights=weights)):
            return replace(state, weights=weights, cutover=replace(c, reapply=False))
        case (Phase.BAKE | Phase.TEARDOWN_OLD, WeightsApplied(weights=weights)) if c.reapply and weights == (
            state.weights
        ):
            return replace(state, cutover=replace(c, reapply=False))
        case (Phase.ROLLING_BACK, WeightsApplied(weights=weights)):
            return rolled_back(replace(state, weights=weights), c, at)
        case (Phase.SHIFT, AnalysisCompleted(verdict=verdict)):
            return judge(state, c, verdict, at)
        case (Phase.BAKE, TimerFired(report=report)):
            if report is not None and report.slot is c.new:
                state = live_health(state, c, report, at)
                if state.cutover is not c:
                    return state
            due = c.teardown_due
            if due is not None and at >= due:
                return replace(state, cutover=enter(c, Phase.TEARDOWN_OLD, at))
            return state
        case (Phase.TEARDOWN_OLD, TeardownConfirmed()):
            state = state.with_slot(c.old, healthy=False)
            return replace(state, cutover=replace(c, confirmed=True, awaiting_confirmation=False, reason=None))
        case (Phase.TEARDOWN_OLD, TeardownDeclined()):
            return replace(
                state,
                cutover=replace(c, awaiting_confirmation=True, reason=f"destroying {c.old} needs confirmation (--yes)"),
            )
        case (Phase.TEARDOWN_OLD, SlotDrained(slot=slot)) if slot is c.old and c.confirmed:
            return replace(state, cutover=replace(c, old_drained=True))
        case (Phase.TEARDOWN_OLD, SlotDestroyed(slot=slot)) if slot is c.old and c.old_drained:
            state = state.with_slot(slot, role=Role.ABSENT, version=None, healthy=False)
            return finish(state, c, Phase.DONE, at, None)
    raise InvalidTransition(f"{type(event).__name__} does not apply in {c.phase}")


def layout_slots(state: EnvironmentState) -> dict[SlotName, SlotState]:
    """The slots the infrastructure must have, as the engine sees them now."""
    slots = dict(state.slots)
    c = state.cutover
    if c is not None and c.in_flight and c.phase is Phase.PROVISION:
        current = slots[c.new]
        slots[c.new] = replace(current, role=Role.STANDBY, version=c.target)
    return slots
