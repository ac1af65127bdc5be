"""How phases end: entering a phase, failing, rolling back, and judging analysis, parity and live health.

The building blocks of :func:`fleet.domain.machine.transition`; pure, like it.
"""

from __future__ import annotations

from dataclasses import replace

from fleet.domain.commands import CheckHealth, Command, SetWeights
from fleet.domain.cutover import Cutover, EnvironmentState, InvalidTransition, LastResult, Phase
from fleet.domain.events import CutoverRequested
from fleet.domain.live_health import applied_revisions, judge_live
from fleet.domain.model import ParityMode, Role
from fleet.domain.reports import HealthReport, Outcome, Verdict, compare_parity
from fleet.domain.tenants import blocking_reason, with_tenants


def enter(c: Cutover, phase: Phase, at: float, **changes: object) -> Cutover:
    return replace(c, phase=phase, phase_since=at, **changes)  # type: ignore[arg-type]


def finish(state: EnvironmentState, c: Cutover, phase: Phase, at: float, reason: str | None) -> EnvironmentState:
    done = enter(c, phase, at, reason=reason, awaiting_confirmation=False)
    return replace(state, cutover=done, last=LastResult(phase, at, c.target, reason))


def fail(state: EnvironmentState, c: Cutover, at: float, reason: str) -> EnvironmentState:
    """Halt before any traffic moved; ``fleet resume`` retries the phase."""
    failed = enter(c, Phase.FAILED, at, reason=reason, resume_phase=c.phase)
    return replace(state, cutover=failed, last=LastResult(Phase.FAILED, at, c.target, reason))


AFTER_TRAFFIC = frozenset({Phase.SHIFT, Phase.BAKE, Phase.TEARDOWN_OLD})
"""Phases in which the provider's weights are compared with the record (drift halts them)."""

BEFORE_TRAFFIC = frozenset({Phase.PROVISION, Phase.BOOTSTRAP, Phase.WAIT_HEALTHY, Phase.VERIFY_PARITY, Phase.FAILED})


def refuse_once_teardown_began(c: Cutover) -> None:
    """Once destroying the old slot is confirmed, its drain may already be under way: no way back."""
    if c.phase is Phase.TEARDOWN_OLD and c.confirmed:
        raise InvalidTransition(
            f"the old slot {c.old} is being torn down and cannot take traffic back; "
            f"to return to {c.old}'s version, run a new cutover"
        )


def roll_back(state: EnvironmentState, c: Cutover, at: float, reason: str) -> EnvironmentState:
    """Give all traffic back to the old slot; the new slot is no longer trusted.

    Once traffic may have moved (SHIFT and later), the weights are set again even when the
    state says the old slot holds them all: a weight change may have been applied by a run
    that died before recording it, and setting the old slot to 100% is harmless to repeat.
    A cutover held for drift is rolled back all the same: the rollback overwrites the drift.
    """
    c = replace(c, held=None, reapply=False, paused=None, awaiting_approval=None)
    state = state.with_slot(c.new, healthy=False)
    if c.phase in BEFORE_TRAFFIC and state.weights.of(c.old) == 100:
        outcome = Phase.ABORTED if c.aborting else Phase.ROLLED_BACK
        state = restore_roles(state, c)
        return finish(state, c, outcome, at, reason)
    state = restore_roles(state, c)
    return replace(state, cutover=enter(c, Phase.ROLLING_BACK, at, reason=reason))


def restore_roles(state: EnvironmentState, c: Cutover) -> EnvironmentState:
    state = state.with_slot(c.old, role=Role.ACTIVE, healthy=True)
    if state.slot(c.new).role is Role.ABSENT:
        return state
    return state.with_slot(c.new, role=Role.STANDBY)



def judge(state: EnvironmentState, c: Cutover, verdict: Verdict, at: float) -> EnvironmentState:
    policy = c.rollout.analysis
    step = f"step {c.step + 1}/{len(c.steps)} ({c.steps[c.step]}%)"
    verdict = with_tenants(verdict)  # a tenant's own FAIL fails the window, naming the tenant
    if verdict.outcome is Outcome.PASS:
        if c.step + 1 < len(c.steps):
            advanced = replace(c, step=c.step + 1, failed_checks=0, extensions=0, health_checked=False,
                               smoke_checked=False)
            return replace(state, cutover=advanced)
        state = state.with_slot(c.new, role=Role.ACTIVE).with_slot(c.old, role=Role.STANDBY)
        return replace(state, cutover=enter(c, Phase.BAKE, at, drained_at=at, failed_checks=0, health_checked=False))
    if verdict.outcome is Outcome.FAIL:
        failed = c.failed_checks + 1
        if failed >= policy.failed_checks:
            why = f"analysis failed {failed} times at {step}: {verdict.reason}"
            return roll_back(state, replace(c, failed_checks=failed), at, why)
        return replace(state, cutover=replace(c, failed_checks=failed, reason=verdict.reason))
    extensions = c.extensions + 1
    if extensions > policy.max_extensions:
        why = f"too little traffic to judge {step} after {extensions} windows: {verdict.reason}"
        return roll_back(state, replace(c, extensions=extensions), at, why)
    return replace(state, cutover=replace(c, extensions=extensions, reason=verdict.reason))


PARITY_RETRY_S = 5.0
"""How often slots that are still settling on one revision are compared again (at most)."""


def parity(
    state: EnvironmentState, c: Cutover, old: HealthReport, new: HealthReport, at: float
) -> EnvironmentState:
    """Directional parity: ok moves to SHIFT; still settling waits (within the health timeout); else FAILED."""
    parity = compare_parity(old, new, strict=c.rollout.health.parity is ParityMode.STRICT)
    if parity.ok:
        accepted = "; ".join(parity.accepted)
        state = state.with_slot(c.new, healthy=True)
        shifted = enter(
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
    return fail(state, c, at, prefix + "; ".join(problems))


def live_health(state: EnvironmentState, c: Cutover, report: HealthReport, at: float) -> EnvironmentState:
    """The new slot's health once traffic moves: a regression rolls back, a routine reconcile does not."""
    judgement = judge_live(report, c.revisions, c.rollout.health.regression_grace_s)
    if judgement.regressed:
        return roll_back(state, c, at, f"{c.new} became unhealthy: {judgement.reason}")
    if c.phase is Phase.SHIFT:
        return replace(state, cutover=replace(c, health_checked=True))
    due = c.teardown_due
    if due is not None and at >= due:
        return replace(state, cutover=enter(c, Phase.TEARDOWN_OLD, at))
    return state


def health_reason(report: HealthReport) -> str:
    if not report.failures:
        return "not reconciled"
    by_tenant = blocking_reason(report)
    if by_tenant is not None:
        return by_tenant
    first = report.failures[0]
    more = f" (+{len(report.failures) - 1} more)" if len(report.failures) > 1 else ""
    return f"{first.ref}: {first.reason}: {first.message}{more}"


def close_window(state: EnvironmentState, at: float, command: Command | None) -> EnvironmentState:
    """Hold at the last confirmed step when ``command`` (the next one) would run past the maintenance window's end.

    A weight increase is started only when its analysis window fits before the end; any other
    command only before the end. A rollback always goes on: it is the way back, not a change.
    """
    c = state.cutover
    if c is None or c.window_end is None or c.paused or c.phase in (Phase.ROLLING_BACK, Phase.FAILED):
        return state
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


def approve_step(state: EnvironmentState, c: Cutover, step: int) -> EnvironmentState:
    """``fleet approve --step N``: ahead of time, or for the step that waits on it."""
    past = c.phase in (Phase.BAKE, Phase.TEARDOWN_OLD, Phase.ROLLING_BACK)
    if not 1 <= step <= len(c.steps) or (c.phase is Phase.SHIFT and step < c.step + 1) or past:
        raise InvalidTransition(f"step {step} is not ahead in this cutover (steps {list(c.steps)})")
    waiting = None if c.awaiting_approval == step else c.awaiting_approval
    approved = tuple(sorted({*c.approved, step}))
    reason = None if waiting is None else c.reason
    return replace(state, cutover=replace(c, approved=approved, awaiting_approval=waiting, reason=reason))


def smoke_tested(state: EnvironmentState, c: Cutover, step: int, ok: bool, reason: str, at: float) -> EnvironmentState:
    """A failed pre-shift smoke test rolls back before the weight rises; a passed one lets the step go on."""
    if not ok:
        return roll_back(state, c, at, f"pre-shift smoke test failed before step {step} ({c.steps[c.step]}%): {reason}")
    return replace(state, cutover=replace(c, smoke_checked=True))


def start(state: EnvironmentState, event: CutoverRequested) -> EnvironmentState:
    """A new cutover from the slot that holds all traffic to the other one."""
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
        gates=event.gates,
        window_end=event.window_end,
    )
    return replace(state, cutover=cutover)
