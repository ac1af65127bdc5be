"""The engine: carries out the commands the pure core decides, through the ports.

The loop is deliberately dull: take the pending command, carry it out through
a port (retrying transient failures as the retry policy says), turn the
outcome into an event, apply it with the pure transition function, check the
guarantees, commit state and history, tell the notifier, repeat. Every commit
is a checkpoint: a run killed at any point resumes from the last one, and
since every command is idempotent, repeating the one in flight is safe.

Traffic and its record never part ways: before a weight change the journal
records the weights intended (``WeightsIntended``, the state otherwise
unchanged), so after a crash the history says exactly which weights may be
live; the ``WeightsApplied`` commit confirms them. When that confirming
commit fails, the engine reads the provider's weights back, tries the
commit once more, and if the record still cannot be written sets the
traffic back to the last recorded weights; the error reported is the
commit's own.

The engine never prints and never exits; it returns the final state or
raises a ``fleet.errors`` exception, and the CLI decides what that means.
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from fleet import audit
from fleet.domain.invariants import violations
from fleet.domain.machine import (
    AbortRequested,
    Analyse,
    AnalysisCompleted,
    AwaitHealthy,
    BootstrapFlux,
    CheckHealth,
    CheckParity,
    Command,
    ConfirmTeardown,
    CutoverRequested,
    DestroySlot,
    DrainSlot,
    DriftObserved,
    EnvironmentState,
    Event,
    FluxBootstrapped,
    HealthReported,
    InvalidTransition,
    ParityObserved,
    Phase,
    ProvisionSlot,
    Refreshed,
    RefreshSlots,
    Resumed,
    RollbackRequested,
    SetWeights,
    SlotDestroyed,
    SlotDrained,
    SlotProvisioned,
    StepFailed,
    TeardownConfirmed,
    TeardownDeclined,
    TeardownRefused,
    TimerFired,
    WaitUntil,
    WeightsApplied,
    layout_slots,
    pending,
    transition,
)
from fleet.domain.model import ABSENT_SLOT, RolloutPolicy, SlotName, TeardownPolicy, Version, Weights
from fleet.domain.reports import HealthReport, Outcome, SlotOutputs
from fleet.domain.traffic import address_drift, still_serving, weight_drift
from fleet.errors import FleetError, LockedError, ProviderError, TransientError, UsageError
from fleet.lease_watch import LeaseWatch
from fleet.ports import (
    Analysis,
    Clock,
    Confirm,
    GitOpsHealth,
    Layout,
    Lease,
    Notice,
    Notifier,
    Provisioner,
    Record,
    Request,
    StateStore,
    Traffic,
)
from fleet.retry import RetryPolicy, call_with_retries
from fleet.state.codec import event_detail, to_jsonable

if TYPE_CHECKING:
    from fleet.config import EnvironmentConfig

__all__ = ["Checkpoint", "Engine", "InvariantBroken", "Ports", "RequestPending", "RetryPolicy"]


REQUEST_POLL_S = 5.0
"""How often a wait (a bake, the teardown's) looks for an operator's rollback or abort."""
ANALYSIS_REQUEST_POLL_S = 1.0
"""How often an analysis window looks for one: a rollback should not wait for a 60 s window."""
SESSIONS_GRACE_S = 10.0
"""How long teardown waits for the old slot's last sessions to close (its weight already 0) before it refuses."""

_LONG_COMMANDS = (RefreshSlots, ProvisionSlot, BootstrapFlux, DrainSlot, DestroySlot)
"""Commands that may run for minutes: a keep-alive renews the lease meanwhile and cancels them if it is lost."""


class _RequestPoll:
    """Whether an operator's request waits, asked of the store at most every ANALYSIS_REQUEST_POLL_S.

    Remembers that it said yes: the window it stopped is then not recorded,
    whatever the store answers afterwards.
    """

    def __init__(self, ask: Callable[[], bool], clock: Clock) -> None:
        self._ask = ask
        self._clock = clock
        self._asked = -math.inf
        self.fired = False

    def __call__(self) -> bool:
        now = self._clock.now()
        if abs(now - self._asked) < ANALYSIS_REQUEST_POLL_S:
            return self.fired
        self._asked = now
        self.fired = self.fired or self._ask()
        return self.fired


class RequestPending(FleetError):
    """A rollback or abort was handed to the run that holds the lock and has not happened yet."""


def _request_event(kind: str, reason: str, at: float) -> Event:
    return AbortRequested(at=at, reason=reason) if kind == "abort" else RollbackRequested(at=at, reason=reason)


class CommitFailed(FleetError):
    """A commit after a weight change failed; says where the traffic was left. Exits as the original error."""

    def __init__(self, message: str, original: BaseException) -> None:
        self.original = original
        self.exit_code = getattr(original, "exit_code", 1)
        super().__init__(message)


INTENT = "WeightsIntended"
"""The journal record written before every weight change: which weights may be live from now on."""


class InvariantBroken(FleetError):
    """The engine refused a step that would break one of its guarantees (a bug: report it)."""


Checkpoint = Callable[[str], None]
"""Called at every checkpoint by name; fault injection (crash tests, rehearsal) hooks in here."""


@dataclass
class Ports:
    provisioner: Provisioner
    health: GitOpsHealth
    traffic: Traffic
    analysis: Analysis
    clock: Clock
    notifier: Notifier
    confirm: Confirm = field(default=lambda question: False)


def _no_checkpoint(name: str) -> None:
    return None


class Engine:
    def __init__(
        self,
        store: StateStore,
        ports: Ports,
        *,
        retry: RetryPolicy | None = None,
        lease_s: float = 300.0,
        checkpoint: Checkpoint = _no_checkpoint,
        actor: Mapping[str, str] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.ports = ports
        self.retry = retry or RetryPolicy()
        self.lease_s = lease_s
        self.checkpoint = checkpoint
        self.actor = dict(actor) if actor is not None else audit.actor()
        self.rng = rng or random.Random()

    # --- entry points -------------------------------------------------------

    def current(self, config: EnvironmentConfig) -> EnvironmentState:
        """The stored state, or the seed the configuration implies for a new environment."""
        state: EnvironmentState | None = self.store.load(config.name)
        return state if state is not None else EnvironmentState.seed(config.name, config.version)

    def cutover(
        self,
        config: EnvironmentConfig,
        target: Version,
        *,
        rollout: RolloutPolicy | None = None,
        teardown: TeardownPolicy | None = None,
        force_unlock: bool = False,
        window_end: float | None = None,
    ) -> EnvironmentState:
        with self.store.lock(config.name, lease_s=self.lease_s, force=force_unlock) as lease:
            self.ports.provisioner.preflight()
            state = self.current(config)
            if state.in_flight:
                assert state.cutover is not None
                raise UsageError(
                    f"{config.name} has a cutover in flight ({state.cutover.phase}); "
                    f"use fleet resume, rollback or abort"
                )
            request = CutoverRequested(
                at=self.ports.clock.now(),
                id=uuid.uuid4().hex[:12],
                target=target,
                rollout=rollout or config.rollout,
                teardown=teardown or config.teardown,
                window_end=window_end,
            )
            state = self._step(lease, state, request)
            return self._drive(lease, state)

    def resume(self, env: str, *, force_unlock: bool = False, window_end: float | None = None) -> EnvironmentState:
        """Continue ``env``'s cutover; ``window_end``: the maintenance window it may run in ends then."""
        with self.store.lock(env, lease_s=self.lease_s, force=force_unlock) as lease:
            state = self._in_flight(env)
            self._tell_unconfirmed_weights(state)
            state = self._step(lease, state, Resumed(at=self.ports.clock.now(), window_end=window_end))
            return self._drive(lease, state)

    def _tell_unconfirmed_weights(self, state: EnvironmentState) -> None:
        """After a crash between a journalled weight change and its confirmation, say which weights may be live."""
        records = self.store.history(state.env)
        if records and records[-1].event == INTENT:
            intended = records[-1].detail.get("weights", {})
            self.ports.notifier.notify(Notice(
                state.env, "event",
                f"the last weight change was not confirmed: traffic may be at "
                f"{state.weights.blue}/{state.weights.green} (recorded) or "
                f"{intended.get('blue')}/{intended.get('green')} (intended, blue/green); the change is made again",
            ))

    def rollback(self, env: str, *, reason: str, force_unlock: bool = False, wait_s: float = 120.0) -> EnvironmentState:
        """Give all traffic back to the old slot: directly, or through the run that holds the lock."""
        return self._operator_request(env, "rollback", reason, force_unlock, wait_s)

    def abort(self, env: str, *, reason: str, force_unlock: bool = False, wait_s: float = 120.0) -> EnvironmentState:
        return self._operator_request(env, "abort", reason, force_unlock, wait_s)

    def _operator_request(
        self, env: str, kind: str, reason: str, force_unlock: bool, wait_s: float
    ) -> EnvironmentState:
        clock = self.ports.clock
        with ExitStack() as held:
            try:
                lease = held.enter_context(self.store.lock(env, lease_s=self.lease_s, force=force_unlock))
            except LockedError as err:
                if err.expired:
                    raise
                holder = err.holder
            else:
                state = self._in_flight(env)
                state = self._step(lease, state, _request_event(kind, reason, clock.now()))
                return self._drive(lease, state)
        self._in_flight(env)
        who = f"{self.actor.get('user', '?')}@{self.actor.get('host', '?')}"
        self.store.post_request(env, Request(kind, reason, who, clock.now()))
        self.ports.notifier.notify(Notice(env, "request", f"asked the run of {holder} to {kind}"))
        deadline = clock.now() + wait_s
        while clock.now() < deadline:
            clock.sleep(0.5)
            latest: EnvironmentState | None = self.store.load(env)
            if latest is not None and not latest.in_flight:
                self.store.take_request(env)  # the run ended without it: it must not touch a later cutover
                return latest
        raise RequestPending(
            f"asked the run of {holder} to {kind}; it acts before its next step, within seconds during "
            f"an analysis window or a bake (provisioning, waiting for Flux or a drain finish first): "
            f"follow it with fleet status {env}"
        )

    def _take_request(self, lease: Lease, state: EnvironmentState) -> EnvironmentState:
        """Apply a rollback or abort that an operator asked for while this run held the lock."""
        request = self.store.take_request(state.env)
        if request is None or state.cutover is None or request.at < state.cutover.started_at:
            return state
        reason = f"{request.reason} (asked by {request.by})"
        try:
            return self._step(lease, state, _request_event(request.kind, reason, self.ports.clock.now()))
        except UsageError as err:
            self.ports.notifier.notify(Notice(state.env, "request", f"could not {request.kind}: {err}"))
            return state

    def _in_flight(self, env: str) -> EnvironmentState:
        state: EnvironmentState | None = self.store.load(env)
        if state is None or not state.in_flight:
            raise UsageError(f"{env} has no cutover in flight")
        return state

    # --- the loop -------------------------------------------------------------

    def _drive(self, lease: Lease, state: EnvironmentState) -> EnvironmentState:
        state = self._take_request(lease, state)
        command = pending(state)
        while command is not None:
            lease.renew()  # a run that lost its lock must not act: LockedError before any side effect
            state = self._take_request(lease, state)
            if pending(state) != command:
                command = pending(state)
                continue
            if isinstance(command, SetWeights):
                state = self._journal(lease, state, INTENT, {
                    "weights": to_jsonable(command.weights), "recorded": to_jsonable(state.weights),
                })
            event = self._execute(lease, state, command)
            if event is None:  # gave way to an operator's request, taken at the top of the loop
                continue
            state = self._step(lease, state, event)
            follow = pending(state)
            if isinstance(event, StepFailed) and follow == command:
                break
            command = follow
        return state

    def _step(self, lease: Lease, state: EnvironmentState, event: Event) -> EnvironmentState:
        try:
            result = transition(state, event)
        except InvalidTransition as err:
            raise UsageError(str(err)) from err
        broken = violations(state, result.state, result.commands, event.at)
        if broken:
            raise InvariantBroken(f"refused {type(event).__name__}: " + "; ".join(broken))
        new = replace(result.state, seq=state.seq + 1)
        record = Record(
            seq=new.seq,
            at=event.at,
            event=type(event).__name__,
            phase=None if new.cutover is None else new.cutover.phase.value,
            weights=new.weights,
            detail=event_detail(event),
            actor=self.actor,
        )
        lease.renew()
        self.checkpoint(f"before-commit:{record.event}")
        try:
            self.store.commit(new.env, new, [record])
        except (FleetError, OSError) as err:
            # A lost lock is not ours to act on: the traffic now belongs to the run that holds it.
            if not isinstance(event, WeightsApplied) or event.weights == state.weights or isinstance(err, LockedError):
                raise
            self._unrecorded_weights(state, new, record, err)
        self.checkpoint(f"after-commit:{record.event}")
        self._announce(state, new, record)
        return new

    def _journal(
        self, lease: Lease, state: EnvironmentState, event: str, detail: Mapping[str, object]
    ) -> EnvironmentState:
        """Record ``event`` in the history without changing the state (but its sequence number)."""
        new = replace(state, seq=state.seq + 1)
        record = Record(
            seq=new.seq,
            at=self.ports.clock.now(),
            event=event,
            phase=None if new.cutover is None else new.cutover.phase.value,
            weights=new.weights,
            detail=dict(detail),
            actor=self.actor,
        )
        lease.renew()
        self.checkpoint(f"before-commit:{event}")
        self.store.commit(new.env, new, [record])
        self.checkpoint(f"after-commit:{event}")
        self._announce(state, new, record)
        return new

    def _unrecorded_weights(
        self, state: EnvironmentState, new: EnvironmentState, record: Record, err: BaseException
    ) -> None:
        """The weights changed but their record could not be written: read back, retry once, else set back."""
        traffic = self.ports.traffic
        env = state.env
        try:
            live: Weights | None = traffic.get_weights(env)
        except (FleetError, OSError):
            live = None
        if live is not None and live == state.weights:
            raise CommitFailed(
                f"{err}; traffic is at the recorded weights {state.weights} (the provider says so)", err
            ) from err
        try:
            self.store.commit(new.env, new, [record])
        except (FleetError, OSError):
            pass
        else:
            return
        try:
            traffic.set_weights(env, state.weights)
        except (FleetError, OSError) as back:
            raise CommitFailed(
                f"{err}; the provider's weights are {live or record.weights} but the record says {state.weights}, "
                f"and setting them back failed ({back}): set the weights to {state.weights} by hand, then "
                f"fleet resume {env}", err,
            ) from err
        self.ports.notifier.notify(Notice(env, "retry", f"traffic set back to the recorded weights {state.weights}"))
        raise CommitFailed(
            f"{err}; the weights {record.weights} could not be recorded, so traffic was set back to the recorded "
            f"{state.weights}; once the store is writable, fleet resume {env}", err,
        ) from err

    def _announce(self, before: EnvironmentState, after: EnvironmentState, record: Record) -> None:
        phase = record.phase
        old_phase = None if before.cutover is None else before.cutover.phase.value
        kind = "phase" if phase != old_phase else "event"
        c = after.cutover
        message = f"{record.event}"
        if c is not None and kind == "phase":
            message = f"{c.phase}" + (f": {c.reason}" if c.reason and c.phase.halted else "")
        self.ports.notifier.notify(Notice(after.env, kind, message, phase, {"record": record, "state": after}))

    # --- carrying out commands -------------------------------------------------

    def _execute(self, lease: Lease, state: EnvironmentState, command: Command) -> Event | None:
        name = type(command).__name__
        self.checkpoint(f"before:{name}")

        def run() -> Event | None:
            return self._with_retries(
                lambda: self._run(state, command), name, state.env, bound_calls=isinstance(command, SetWeights)
            )

        try:
            if isinstance(command, _LONG_COMMANDS):
                # A lost lease cancels the call (Pulumi is interrupted) and LockedError ends the run.
                with LeaseWatch(lease, lease_s=self.lease_s, on_lost=self.ports.provisioner.cancel) as watch:
                    try:
                        event = run()
                    finally:
                        watch.stop()
                        watch.raise_if_lost()  # also instead of the error of a cancelled call
            else:
                event = run()
        except ProviderError as err:
            event = StepFailed(at=self.ports.clock.now(), command=name, reason=str(err))
        self.checkpoint(f"after:{name}")
        return event

    def _with_retries(
        self, call: Callable[[], Event | None], name: str, env: str, *, bound_calls: bool = False
    ) -> Event | None:
        """``call`` under the one retry policy; ``bound_calls`` also cuts each call's timeouts to the budget."""

        def tell(err: TransientError, delay: float) -> None:
            self.ports.notifier.notify(Notice(env, "retry", f"{name}: {err}; retrying in {delay:.1f}s"))

        return call_with_retries(
            call,
            policy=self.retry,
            what=name,
            now=self.ports.clock.now,
            sleep=self.ports.clock.sleep,
            rng=self.rng,
            on_retry=tell,
            bound_calls=bound_calls,
        )

    def _sleep_until(self, env: str, due: float) -> bool:
        """Sleep until ``due``, woken every few seconds to look for an operator's request; True when one waits."""
        clock = self.ports.clock
        while (remaining := due - clock.now()) > 0:
            clock.sleep(min(remaining, REQUEST_POLL_S))
            if self._has_request(env):
                return True
        return False

    def _watch(self, state: EnvironmentState, slot: SlotName, *, until: float) -> HealthReport:
        """The health gate's watch of the verified ``slot`` until ``until`` (0: a check now)."""
        c = state.cutover
        assert c is not None
        return self.ports.health.watch(
            state.env,
            slot,
            self._outputs(state.env, slot),
            verified=c.revisions,
            grace_s=c.rollout.health.regression_grace_s,
            until_s=max(0.0, until - self.ports.clock.now()),
            interrupted=self._request_waiting(state.env),
        )

    def _request_waiting(self, env: str) -> _RequestPoll:
        return _RequestPoll(lambda: self._has_request(env), self.ports.clock)

    def _has_request(self, env: str) -> bool:
        try:
            return self.store.has_request(env)
        except (FleetError, OSError):
            return False  # the store is unreachable for now: the request is seen before the next step

    def _layout(self, state: EnvironmentState, *, without: SlotName | None = None) -> Layout:
        slots = layout_slots(state)
        if without is not None:
            slots[without] = ABSENT_SLOT
        return Layout(env=state.env, slots=slots)

    def _outputs(self, env: str, slot: SlotName) -> SlotOutputs:
        outputs = self.ports.provisioner.outputs(env, slot)
        if outputs is None:
            raise ProviderError(f"{slot} has no outputs: it is not provisioned")
        return outputs

    def _point(self, env: str, slot: SlotName, outputs: SlotOutputs) -> None:
        """Send ``slot``'s share to its ingress where the provider routes by address (HAProxy)."""
        if outputs.ingress and self.ports.traffic.address_of(outputs.ingress) is not None:
            self.ports.traffic.point(env, slot, outputs.ingress)

    def _drift(self, state: EnvironmentState, new_outputs: SlotOutputs, *, also: Weights | None = None) -> str | None:
        """How the provider's own account differs from the record: weights, or the new slot's address.

        ``also`` is the split about to be set: finding it already there is this command's own write
        by a run that died before recording it, not drift.
        """
        c = state.cutover
        assert c is not None
        view = self.ports.traffic.observe(state.env)
        expected = self.ports.traffic.address_of(new_outputs.ingress) if new_outputs.ingress else None
        weights = None if also is not None and view.weights == also else weight_drift(state.weights, view)
        return weights or (address_drift(view, {c.new: expected}) if expected is not None else None)

    def _teardown_check(self, state: EnvironmentState, slot: SlotName) -> Event | None:
        """Drift, or the old slot still taking traffic by the provider's own account, stops the teardown."""
        c = state.cutover
        assert c is not None
        clock = self.ports.clock
        drift = self._drift(state, self._outputs(state.env, c.new))
        if drift is not None:
            return DriftObserved(at=clock.now(), detail=drift)
        grace_ends = clock.now() + SESSIONS_GRACE_S
        while True:
            view = self.ports.traffic.observe(state.env)
            busy = still_serving(view, slot)
            if busy is None:
                return None
            if view.slots[slot].weight > 0 or clock.now() >= grace_ends:
                return TeardownRefused(at=clock.now(), slot=slot, reason=busy)
            clock.sleep(1.0)

    def _run(self, state: EnvironmentState, command: Command) -> Event | None:
        p = self.ports
        env = state.env
        c = state.cutover
        assert c is not None
        match command:
            case RefreshSlots():
                p.provisioner.refresh(self._layout(state))
                return Refreshed(at=p.clock.now())
            case ProvisionSlot(slot=slot, version=version):
                outputs = p.provisioner.provision(self._layout(state), slot, version)
                self._point(env, slot, outputs)
                return SlotProvisioned(at=p.clock.now(), slot=slot, version=version)
            case BootstrapFlux(slot=slot):
                p.provisioner.bootstrap(self._layout(state), slot)
                return FluxBootstrapped(at=p.clock.now(), slot=slot)
            case AwaitHealthy(slot=slot, timeout_s=timeout):
                report = p.health.wait_reconciled(env, slot, self._outputs(env, slot), timeout)
                return HealthReported(at=p.clock.now(), report=report)
            case CheckParity(old=old, new=new, not_before=not_before):
                if self._sleep_until(env, not_before):
                    return None  # gave way to an operator's request
                old_report = p.health.report(env, old, self._outputs(env, old))
                new_report = p.health.report(env, new, self._outputs(env, new))
                return ParityObserved(at=p.clock.now(), old=old_report, new=new_report)
            case SetWeights(weights=weights, reapply=reapply):
                rolling_back = c.phase is Phase.ROLLING_BACK
                new_outputs = None if rolling_back else self._outputs(env, c.new)
                if reapply and new_outputs is not None:
                    self._point(env, c.new, new_outputs)
                elif new_outputs is not None:
                    drift = self._drift(state, new_outputs, also=weights)
                    if drift is not None:
                        return DriftObserved(at=p.clock.now(), detail=drift)
                applied = p.traffic.set_weights(env, weights)
                if applied.weights != weights:
                    raise ProviderError(f"asked the traffic provider for {weights}, it applied {applied.weights}")
                if applied.settle_s > 0 and c.phase is Phase.SHIFT:
                    p.clock.sleep(applied.settle_s)
                return WeightsApplied(at=p.clock.now(), weights=applied.weights)
            case Analyse(slot=slot):
                poll = self._request_waiting(env)
                verdict = p.analysis.analyse(env, slot, c.rollout.analysis, interrupted=poll)
                if verdict.outcome is not Outcome.FAIL and (poll.fired or self._has_request(env)):
                    return None  # the window was given up for the request: nothing to record
                return AnalysisCompleted(at=p.clock.now(), verdict=verdict)
            case CheckHealth(slot=slot):
                return HealthReported(at=p.clock.now(), report=self._watch(state, slot, until=0.0))
            case WaitUntil(at=due, watch=None):
                self._sleep_until(env, due)
                return TimerFired(at=p.clock.now())
            case WaitUntil(at=due, watch=SlotName() as slot):
                report = self._watch(state, slot, until=due)
                if p.clock.now() < due:  # a regression, or an operator's request, ended the watch early
                    return HealthReported(at=p.clock.now(), report=report)
                return TimerFired(at=p.clock.now(), report=report)
            case ConfirmTeardown(slot=slot):
                question = f"Destroy the old slot {slot} of {env} ({state.slot(slot).version})?"
                if not c.teardown.confirm or p.confirm(question):
                    return TeardownConfirmed(at=p.clock.now())
                return TeardownDeclined(at=p.clock.now())
            case DrainSlot(slot=slot):
                refused = self._teardown_check(state, slot)
                if refused is not None:
                    return refused
                p.provisioner.drain(self._layout(state), slot)
                return SlotDrained(at=p.clock.now(), slot=slot)
            case DestroySlot(slot=slot):
                refused = self._teardown_check(state, slot)
                if refused is not None:
                    return refused
                p.provisioner.destroy(self._layout(state, without=slot), slot)
                return SlotDestroyed(at=p.clock.now(), slot=slot)
        raise AssertionError(f"no handler for {command}")
