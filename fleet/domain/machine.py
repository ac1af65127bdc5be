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

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

from fleet.domain.health import applied_revisions, judge_live
from fleet.domain.model import (
    ABSENT_SLOT,
    ParityMode,
    Role,
    RolloutPolicy,
    SlotName,
    SlotState,
    TeardownPolicy,
    Version,
    Weights,
)
from fleet.domain.reports import HealthReport, Outcome, Verdict, compare_parity


class Phase(StrEnum):
    PROVISION = "PROVISION"
    BOOTSTRAP = "BOOTSTRAP"
    WAIT_HEALTHY = "WAIT_HEALTHY"
    VERIFY_PARITY = "VERIFY_PARITY"
    SHIFT = "SHIFT"
    BAKE = "BAKE"
    TEARDOWN_OLD = "TEARDOWN_OLD"
    DONE = "DONE"
    ROLLING_BACK = "ROLLING_BACK"
    ROLLED_BACK = "ROLLED_BACK"
    FAILED = "FAILED"
    ABORTED = "ABORTED"

    @property
    def terminal(self) -> bool:
        return self in (Phase.DONE, Phase.ROLLED_BACK, Phase.ABORTED)

    @property
    def halted(self) -> bool:
        """Stopped short of DONE: the run ends with exit 1."""
        return self in (Phase.ROLLED_BACK, Phase.ABORTED, Phase.FAILED)


class InvalidTransition(Exception):
    """The event does not apply to the state (a stale or out-of-order report)."""


@dataclass(frozen=True)
class Cutover:
    """A cutover in flight (or the last one, once terminal)."""

    id: str
    old: SlotName
    new: SlotName
    target: Version
    rollout: RolloutPolicy
    teardown: TeardownPolicy
    phase: Phase
    started_at: float
    phase_since: float
    step: int = 0
    failed_checks: int = 0
    extensions: int = 0
    drained_at: float | None = None
    """When the old slot's weight reached 0; the teardown bake counts from here."""
    confirmed: bool = False
    old_drained: bool = False
    refresh_first: bool = False
    resume_phase: Phase | None = None
    """Where a FAILED cutover continues when resumed."""
    aborting: bool = False
    reason: str | None = None
    awaiting_confirmation: bool = False
    updated_at: float = 0.0
    """When the last event of this cutover happened."""
    held: str | None = None
    """Why the cutover stopped for a person to look (the provider's traffic drifted from the record, the
    old slot still serves); ``fleet resume`` continues, re-applying the recorded weights first."""
    reapply: bool = False
    """Set the recorded weights (and the new slot's address) again before anything else: resumed after drift."""
    revisions: dict[str, str] = field(default_factory=dict)
    """What was verified: the revisions the new slot had applied when parity passed (per source and per
    Kustomization); moving away from them is a regression."""
    health_checked: bool = False
    """The new slot's health was checked for this step's weight increase."""
    parity_retry_at: float | None = None
    """When to compare the slots again while they settle on one revision."""
    window_end: float | None = None
    """When the maintenance window this run started (or resumed) in ends; None: no window."""
    paused: str | None = None
    """Why the cutover waits for the next maintenance window (not a rollback); ``fleet resume`` continues."""

    @property
    def steps(self) -> tuple[int, ...]:
        return self.rollout.steps

    @property
    def in_flight(self) -> bool:
        return not self.phase.terminal

    @property
    def teardown_due(self) -> float | None:
        return None if self.drained_at is None else self.drained_at + self.teardown.bake_s

    def step_label(self) -> str:
        if self.phase is Phase.SHIFT:
            return f"{self.step + 1}/{len(self.steps)} ({self.steps[self.step]}%)"
        return ""


@dataclass(frozen=True)
class LastResult:
    outcome: Phase
    at: float
    target: Version
    reason: str | None = None


@dataclass(frozen=True)
class EnvironmentState:
    env: str
    slots: Mapping[SlotName, SlotState]
    weights: Weights
    cutover: Cutover | None = None
    last: LastResult | None = None
    seq: int = 0
    """Number of history records committed for this environment."""

    @classmethod
    def seed(cls, env: str, version: Version, active: SlotName = SlotName.BLUE) -> EnvironmentState:
        """A new environment: one active slot at ``version`` taking all traffic."""
        slots = {
            active: SlotState(Role.ACTIVE, version, healthy=True),
            active.other: ABSENT_SLOT,
        }
        return cls(env=env, slots=slots, weights=Weights.all_to(active))

    def slot(self, name: SlotName) -> SlotState:
        return self.slots[name]

    @property
    def active(self) -> SlotName | None:
        found = [n for n, s in self.slots.items() if s.role is Role.ACTIVE]
        return found[0] if len(found) == 1 else None

    @property
    def in_flight(self) -> bool:
        return self.cutover is not None and self.cutover.in_flight

    def with_slot(self, name: SlotName, **changes: object) -> EnvironmentState:
        slots = dict(self.slots)
        slots[name] = replace(slots[name], **changes)  # type: ignore[arg-type]
        return replace(self, slots=slots)


# --- events ---------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    at: float


@dataclass(frozen=True)
class CutoverRequested(Event):
    id: str
    target: Version
    rollout: RolloutPolicy
    teardown: TeardownPolicy
    window_end: float | None = None


@dataclass(frozen=True)
class Resumed(Event):
    window_end: float | None = None
    """The end of the maintenance window this run resumes in (None: no window)."""


@dataclass(frozen=True)
class Refreshed(Event):
    pass


@dataclass(frozen=True)
class SlotProvisioned(Event):
    slot: SlotName
    version: Version


@dataclass(frozen=True)
class FluxBootstrapped(Event):
    slot: SlotName


@dataclass(frozen=True)
class HealthReported(Event):
    report: HealthReport


@dataclass(frozen=True)
class ParityObserved(Event):
    old: HealthReport
    new: HealthReport


@dataclass(frozen=True)
class WeightsApplied(Event):
    weights: Weights


@dataclass(frozen=True)
class AnalysisCompleted(Event):
    verdict: Verdict


@dataclass(frozen=True)
class HealthChanged(Event):
    slot: SlotName
    healthy: bool
    reason: str = ""


@dataclass(frozen=True)
class TimerFired(Event):
    report: HealthReport | None = None
    """The new slot's health at the end of a watched wait (a bake)."""


@dataclass(frozen=True)
class TeardownConfirmed(Event):
    pass


@dataclass(frozen=True)
class TeardownDeclined(Event):
    pass


@dataclass(frozen=True)
class SlotDrained(Event):
    slot: SlotName


@dataclass(frozen=True)
class SlotDestroyed(Event):
    slot: SlotName


@dataclass(frozen=True)
class DriftObserved(Event):
    """The traffic provider's own account disagrees with the record (a hand edit, a reload)."""

    detail: str


@dataclass(frozen=True)
class TeardownRefused(Event):
    """The old slot still takes traffic by the provider's own account: it is not drained or destroyed."""

    slot: SlotName
    reason: str


@dataclass(frozen=True)
class StepFailed(Event):
    """A command could not be carried out (after the engine's retries)."""

    command: str
    reason: str


@dataclass(frozen=True)
class RollbackRequested(Event):
    reason: str = "requested by operator"


@dataclass(frozen=True)
class AbortRequested(Event):
    reason: str = "aborted by operator"


# --- commands --------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    pass


@dataclass(frozen=True)
class RefreshSlots(Command):
    pass


@dataclass(frozen=True)
class ProvisionSlot(Command):
    slot: SlotName
    version: Version


@dataclass(frozen=True)
class BootstrapFlux(Command):
    slot: SlotName


@dataclass(frozen=True)
class AwaitHealthy(Command):
    slot: SlotName
    timeout_s: float


@dataclass(frozen=True)
class CheckParity(Command):
    old: SlotName
    new: SlotName
    not_before: float = 0.0
    """While the slots settle on one revision, the next comparison waits until then."""


@dataclass(frozen=True)
class CheckHealth(Command):
    """Report ``slot``'s health before its weight increases, once reconciles in progress settled."""

    slot: SlotName


@dataclass(frozen=True)
class SetWeights(Command):
    weights: Weights
    reapply: bool = False
    """Re-apply the recorded weights after a person looked at drift: the provider is not compared first."""


@dataclass(frozen=True)
class Analyse(Command):
    slot: SlotName


@dataclass(frozen=True)
class WaitUntil(Command):
    at: float
    watch: SlotName | None = None
    """A slot whose health is watched while waiting; a regression ends the wait (HealthReported)."""


@dataclass(frozen=True)
class ConfirmTeardown(Command):
    slot: SlotName


@dataclass(frozen=True)
class DrainSlot(Command):
    slot: SlotName


@dataclass(frozen=True)
class DestroySlot(Command):
    slot: SlotName


@dataclass(frozen=True)
class Transition:
    state: EnvironmentState
    commands: tuple[Command, ...] = field(default_factory=tuple)


# --- the transition function -----------------------------------------------


def transition(state: EnvironmentState, event: Event) -> Transition:
    """Apply ``event`` to ``state``; return the new state and the commands to carry out."""
    new = _apply(state, event)
    if new.cutover is not None:
        new = replace(new, cutover=replace(new.cutover, updated_at=event.at))
        new = close_window(new, event.at)
    command = pending(new)
    return Transition(new, () if command is None else (command,))


def pending(state: EnvironmentState) -> Command | None:
    """The command the cutover waits on in ``state``; None when nothing is to be done."""
    c = state.cutover
    if c is None or c.phase.terminal or c.phase is Phase.FAILED or c.awaiting_confirmation or c.held or c.paused:
        return None
    if c.refresh_first:
        return RefreshSlots()
    if c.reapply and c.phase in _AFTER_TRAFFIC:
        return SetWeights(state.weights, reapply=True)
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
                if target.of(c.new) > state.weights.of(c.new) and not c.health_checked:
                    return CheckHealth(c.new)
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


def _enter(c: Cutover, phase: Phase, at: float, **changes: object) -> Cutover:
    return replace(c, phase=phase, phase_since=at, **changes)  # type: ignore[arg-type]


def _finish(state: EnvironmentState, c: Cutover, phase: Phase, at: float, reason: str | None) -> EnvironmentState:
    done = _enter(c, phase, at, reason=reason, awaiting_confirmation=False)
    return replace(state, cutover=done, last=LastResult(phase, at, c.target, reason))


def _fail(state: EnvironmentState, c: Cutover, at: float, reason: str) -> EnvironmentState:
    """Halt before any traffic moved; ``fleet resume`` retries the phase."""
    failed = _enter(c, Phase.FAILED, at, reason=reason, resume_phase=c.phase)
    return replace(state, cutover=failed, last=LastResult(Phase.FAILED, at, c.target, reason))


_AFTER_TRAFFIC = frozenset({Phase.SHIFT, Phase.BAKE, Phase.TEARDOWN_OLD})
"""Phases in which the provider's weights are compared with the record (drift halts them)."""

_BEFORE_TRAFFIC = frozenset({Phase.PROVISION, Phase.BOOTSTRAP, Phase.WAIT_HEALTHY, Phase.VERIFY_PARITY, Phase.FAILED})


def _refuse_once_teardown_began(c: Cutover) -> None:
    """Once destroying the old slot is confirmed, its drain may already be under way: no way back."""
    if c.phase is Phase.TEARDOWN_OLD and c.confirmed:
        raise InvalidTransition(
            f"the old slot {c.old} is being torn down and cannot take traffic back; "
            f"to return to {c.old}'s version, run a new cutover"
        )


def _roll_back(state: EnvironmentState, c: Cutover, at: float, reason: str) -> EnvironmentState:
    """Give all traffic back to the old slot; the new slot is no longer trusted.

    Once traffic may have moved (SHIFT and later), the weights are set again even when the
    state says the old slot holds them all: a weight change may have been applied by a run
    that died before recording it, and setting the old slot to 100% is harmless to repeat.
    A cutover held for drift is rolled back all the same: the rollback overwrites the drift.
    """
    c = replace(c, held=None, reapply=False, paused=None)
    state = state.with_slot(c.new, healthy=False)
    if c.phase in _BEFORE_TRAFFIC and state.weights.of(c.old) == 100:
        outcome = Phase.ABORTED if c.aborting else Phase.ROLLED_BACK
        state = _restore_roles(state, c)
        return _finish(state, c, outcome, at, reason)
    state = _restore_roles(state, c)
    return replace(state, cutover=_enter(c, Phase.ROLLING_BACK, at, reason=reason))


def _restore_roles(state: EnvironmentState, c: Cutover) -> EnvironmentState:
    state = state.with_slot(c.old, role=Role.ACTIVE, healthy=True)
    if state.slot(c.new).role is Role.ABSENT:
        return state
    return state.with_slot(c.new, role=Role.STANDBY)


def _apply(state: EnvironmentState, event: Event) -> EnvironmentState:
    c = state.cutover

    if isinstance(event, CutoverRequested):
        return _start(state, event)
    if c is None:
        raise InvalidTransition(f"{type(event).__name__}: no cutover in {state.env}")
    if c.phase.terminal:
        raise InvalidTransition(f"{type(event).__name__}: the cutover already ended in {c.phase}")

    at = event.at
    match event:
        case Resumed():
            if c.phase is Phase.FAILED:
                assert c.resume_phase is not None
                c = _enter(c, c.resume_phase, at, reason=None, resume_phase=None)
            refresh = c.phase in (Phase.PROVISION, Phase.BOOTSTRAP) or (c.phase is Phase.TEARDOWN_OLD and c.confirmed)
            if c.phase in (Phase.WAIT_HEALTHY,):
                c = replace(c, phase_since=at)
            if c.held is not None:
                c = replace(c, held=None, reason=None, reapply=c.reapply or c.phase in _AFTER_TRAFFIC)
            if c.paused is not None:
                c = replace(c, paused=None, reason=None)
            c = replace(c, window_end=event.window_end)
            return replace(state, cutover=replace(c, refresh_first=refresh, awaiting_confirmation=False))
        case Refreshed():
            return replace(state, cutover=replace(c, refresh_first=False))
        case AbortRequested(reason=reason):
            _refuse_once_teardown_began(c)
            return _roll_back(state, replace(c, aborting=True), at, reason)
        case RollbackRequested(reason=reason):
            _refuse_once_teardown_began(c)
            return _roll_back(state, c, at, reason)
        case HealthChanged(slot=slot, healthy=healthy, reason=reason):
            if slot is not c.new:
                return state
            if healthy:
                return state
            if c.phase in (Phase.SHIFT, Phase.BAKE) or (c.phase is Phase.TEARDOWN_OLD and not c.confirmed):
                return _roll_back(state, c, at, f"{slot} became unhealthy: {reason}")
            if c.phase is Phase.TEARDOWN_OLD:
                return state
            return state.with_slot(slot, healthy=False)
        case DriftObserved(detail=detail):
            if c.phase not in _AFTER_TRAFFIC:
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
                return _roll_back(state, c, at, why)
            if c.phase is Phase.ROLLING_BACK:
                return replace(state, cutover=replace(c, reason=f"rollback not confirmed: {reason}"))
            if c.phase is Phase.TEARDOWN_OLD:
                # Traffic is already on the new slot; only the old slot's removal is left to retry.
                return replace(state, cutover=replace(c, reason=f"{command} failed: {reason}"))
            return _fail(state, c, at, f"{command} failed: {reason}")

    if c.phase is Phase.FAILED or c.refresh_first:
        raise InvalidTransition(f"{type(event).__name__} while {c.phase} awaits resume or refresh")

    match (c.phase, event):
        case (Phase.PROVISION, SlotProvisioned(slot=slot, version=version)) if slot is c.new:
            state = state.with_slot(slot, role=Role.STANDBY, version=version, healthy=False)
            return replace(state, cutover=_enter(c, Phase.BOOTSTRAP, at))
        case (Phase.BOOTSTRAP, FluxBootstrapped(slot=slot)) if slot is c.new:
            return replace(state, cutover=_enter(c, Phase.WAIT_HEALTHY, at))
        case (Phase.WAIT_HEALTHY, HealthReported(report=report)) if report.slot is c.new:
            if report.reconciled:
                return replace(state, cutover=_enter(c, Phase.VERIFY_PARITY, at))
            why = health_reason(report)
            if at >= c.phase_since + c.rollout.health_timeout_s:
                return _fail(state, c, at, f"{c.new} not healthy after {c.rollout.health_timeout_s:g}s: {why}")
            return replace(state, cutover=replace(c, reason=why))
        case (Phase.VERIFY_PARITY, ParityObserved(old=old, new=new_report)):
            return _parity(state, c, old, new_report, at)
        case (Phase.SHIFT | Phase.BAKE, HealthReported(report=report)) if report.slot is c.new:
            return _live_health(state, c, report, at)
        case (Phase.SHIFT, WeightsApplied(weights=weights)):
            return replace(state, weights=weights, cutover=replace(c, reapply=False))
        case (Phase.BAKE | Phase.TEARDOWN_OLD, WeightsApplied(weights=weights)) if c.reapply and weights == (
            state.weights
        ):
            return replace(state, cutover=replace(c, reapply=False))
        case (Phase.ROLLING_BACK, WeightsApplied(weights=weights)):
            state = replace(state, weights=weights)
            if weights.of(c.old) != 100:
                return state
            outcome = Phase.ABORTED if c.aborting else Phase.ROLLED_BACK
            return _finish(state, c, outcome, at, c.reason)
        case (Phase.SHIFT, AnalysisCompleted(verdict=verdict)):
            return _judge(state, c, verdict, at)
        case (Phase.BAKE, TimerFired(report=report)):
            if report is not None and report.slot is c.new:
                state = _live_health(state, c, report, at)
                if state.cutover is not c:
                    return state
            due = c.teardown_due
            if due is not None and at >= due:
                return replace(state, cutover=_enter(c, Phase.TEARDOWN_OLD, at))
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
            return _finish(state, c, Phase.DONE, at, None)
    raise InvalidTransition(f"{type(event).__name__} does not apply in {c.phase}")


def _start(state: EnvironmentState, event: CutoverRequested) -> EnvironmentState:
    if state.in_flight:
        assert state.cutover is not None
        raise InvalidTransition(f"a cutover is already in flight ({state.cutover.phase})")
    old = state.active
    if old is None:
        raise InvalidTransition(f"{state.env} has no single active slot")
    if state.weights.of(old) != 100:
        raise InvalidTransition(f"{old} does not hold all traffic ({state.weights})")
    cutover = Cutover(
        id=event.id,
        old=old,
        new=old.other,
        target=event.target,
        rollout=event.rollout,
        teardown=event.teardown,
        phase=Phase.PROVISION,
        started_at=event.at,
        phase_since=event.at,
        window_end=event.window_end,
    )
    return replace(state, cutover=cutover)


def _judge(state: EnvironmentState, c: Cutover, verdict: Verdict, at: float) -> EnvironmentState:
    policy = c.rollout.analysis
    step = f"step {c.step + 1}/{len(c.steps)} ({c.steps[c.step]}%)"
    if verdict.outcome is Outcome.PASS:
        if c.step + 1 < len(c.steps):
            advanced = replace(c, step=c.step + 1, failed_checks=0, extensions=0, health_checked=False)
            return replace(state, cutover=advanced)
        state = state.with_slot(c.new, role=Role.ACTIVE).with_slot(c.old, role=Role.STANDBY)
        return replace(state, cutover=_enter(c, Phase.BAKE, at, drained_at=at, failed_checks=0, health_checked=False))
    if verdict.outcome is Outcome.FAIL:
        failed = c.failed_checks + 1
        if failed >= policy.failed_checks:
            why = f"analysis failed {failed} times at {step}: {verdict.reason}"
            return _roll_back(state, replace(c, failed_checks=failed), at, why)
        return replace(state, cutover=replace(c, failed_checks=failed, reason=verdict.reason))
    extensions = c.extensions + 1
    if extensions > policy.max_extensions:
        why = f"too little traffic to judge {step} after {extensions} windows: {verdict.reason}"
        return _roll_back(state, replace(c, extensions=extensions), at, why)
    return replace(state, cutover=replace(c, extensions=extensions, reason=verdict.reason))


PARITY_RETRY_S = 5.0
"""How often slots that are still settling on one revision are compared again (at most)."""


def _parity(
    state: EnvironmentState, c: Cutover, old: HealthReport, new: HealthReport, at: float
) -> EnvironmentState:
    """Directional parity: ok moves to SHIFT; still settling waits (within the health timeout); else FAILED."""
    parity = compare_parity(old, new, strict=c.rollout.health.parity is ParityMode.STRICT)
    if parity.ok:
        accepted = "; ".join(parity.accepted)
        state = state.with_slot(c.new, healthy=True)
        shifted = _enter(
            c,
            Phase.SHIFT,
            at,
            step=0,
            failed_checks=0,
            extensions=0,
            revisions=applied_revisions(new),
            health_checked=False,
            parity_retry_at=None,
            reason=f"parity accepted drift: {accepted}" if accepted else None,
        )
        return replace(state, cutover=shifted)
    timeout = c.rollout.health_timeout_s
    if parity.waiting and at < c.phase_since + timeout:
        retry = at + min(PARITY_RETRY_S, timeout / 10)
        why = "waiting for both slots to settle: " + "; ".join(parity.waiting)
        return replace(state, cutover=replace(c, reason=why, parity_retry_at=retry))
    problems = parity.blocking + parity.waiting
    prefix = "parity: " if not parity.waiting else f"parity: not settled after {timeout:g}s: "
    return _fail(state, c, at, prefix + "; ".join(problems))


def _live_health(state: EnvironmentState, c: Cutover, report: HealthReport, at: float) -> EnvironmentState:
    """The new slot's health once traffic moves: a regression rolls back, a routine reconcile does not."""
    judgement = judge_live(report, c.revisions, c.rollout.health.regression_grace_s)
    if judgement.regressed:
        return _roll_back(state, c, at, f"{c.new} became unhealthy: {judgement.reason}")
    if c.phase is Phase.SHIFT:
        return replace(state, cutover=replace(c, health_checked=True))
    due = c.teardown_due
    if due is not None and at >= due:
        return replace(state, cutover=_enter(c, Phase.TEARDOWN_OLD, at))
    return state


def close_window(state: EnvironmentState, at: float) -> EnvironmentState:
    """Hold at the last confirmed step when the next command would run past the maintenance window's end.

    A weight increase is started only when its analysis window fits before the end; any other
    command only before the end. A rollback always goes on: it is the way back, not a change.
    """
    c = state.cutover
    if c is None or c.window_end is None or c.paused or c.phase in (Phase.ROLLING_BACK, Phase.FAILED):
        return state
    command = pending(state)
    if command is None:
        return state
    ends = at
    if isinstance(command, (SetWeights, CheckHealth)) and not getattr(command, "reapply", False):
        ends = at + c.rollout.analysis.window_s
    if ends < c.window_end:
        return state
    where = f"{c.phase} {c.step_label()}".strip()
    why = (
        f"the maintenance window ended (or would end before the next step finished); held in {where} "
        f"at {state.weights}: fleet resume {state.env} in the next window continues"
    )
    return replace(state, cutover=replace(c, paused=why, reason=why))


def health_reason(report: HealthReport) -> str:
    if not report.failures:
        return "not reconciled"
    first = report.failures[0]
    more = f" (+{len(report.failures) - 1} more)" if len(report.failures) > 1 else ""
    return f"{first.ref}: {first.reason}: {first.message}{more}"


def layout_slots(state: EnvironmentState) -> dict[SlotName, SlotState]:
    """The slots the infrastructure must have, as the engine sees them now."""
    slots = dict(state.slots)
    c = state.cutover
    if c is not None and c.in_flight and c.phase is Phase.PROVISION:
        current = slots[c.new]
        slots[c.new] = replace(current, role=Role.STANDBY, version=c.target)
    return slots
