"""The driver: asks the machine for the next command, has it carried out, applies the outcome, commits.

The loop is deliberately dull: take the pending command, have the executor
carry it out, apply the event it returns with the pure transition function,
check the guarantees, commit state and history, tell the notifier, repeat.
Before every step it renews the lease (a run that lost its lock must not
act) and takes an operator's request from the mailbox. Every commit is a
checkpoint: a run killed at any point resumes from the last one, and since
every command is idempotent, repeating the one in flight is safe.

Traffic and its record never part ways: before a weight change the journal
records the weights intended (``WeightsIntended``, the state otherwise
unchanged), so after a crash the history says exactly which weights may be
live; the ``WeightsApplied`` commit confirms them. When that confirming
commit fails, the driver reads the provider's weights back and does what
:func:`fleet.domain.guards.unrecorded` says: report the commit's error when
traffic is at the record after all, else try the commit once more and, if
the record still cannot be written, set the traffic back to the recorded
weights. The error reported is the commit's own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from fleet.domain import guards
from fleet.domain.commands import SetWeights
from fleet.domain.events import AbortRequested, Event, StepFailed
from fleet.domain.invariants import violations
from fleet.domain.machine import EnvironmentState, InvalidTransition, pending, transition
from fleet.domain.model import Weights
from fleet.engine.common import DELIVERIES, DELIVERY_FLUSH_S, INTENT, CommitFailed, InvariantBroken, Ports, RunSettings
from fleet.engine.executor import Executor
from fleet.engine.mailbox import Mailbox
from fleet.errors import FleetError, LockedError, UsageError
from fleet.ports import Lease, Notice, Record, StateStore
from fleet.state.codec import event_detail, to_jsonable


class Driver:
    def __init__(
        self, store: StateStore, ports: Ports, executor: Executor, mailbox: Mailbox, settings: RunSettings,
        actor: Mapping[str, str],
    ) -> None:
        self.store = store
        self.ports = ports
        self.executor = executor
        self.mailbox = mailbox
        self.settings = settings
        self.actor = actor

    def drive(self, lease: Lease, state: EnvironmentState) -> EnvironmentState:
        """Carry the cutover on until nothing is pending (done, halted, held, or waiting for a person)."""
        state = self._drive(lease, state)
        self._tell_tenants(state)
        return self.log_deliveries(lease, state, flush=True)

    def _tell_tenants(self, state: EnvironmentState) -> None:
        """Queue each tenant's story of the run; a story that cannot be told is said, never raised."""
        if self.ports.tenants is None:
            return
        try:
            self.ports.tenants.tell(state, self.store.history(state.env))
        except Exception as err:  # a message must never fail the cutover it reports on
            self.ports.notifier.notify(Notice(state.env, "output", f"tenants' messages not sent: {err}"))

    def log_deliveries(self, lease: Lease, state: EnvironmentState, *, flush: bool = False) -> EnvironmentState:
        """Record the notifications delivered (or given up) since the last checkpoint; at the end, wait for them."""
        outbox = self.ports.outbox
        if outbox is None:
            return state
        if flush:
            outbox.flush(DELIVERY_FLUSH_S)
        sent = outbox.take()
        return self.journal(lease, state, DELIVERIES, {"deliveries": list(sent)}) if sent else state

    def _drive(self, lease: Lease, state: EnvironmentState) -> EnvironmentState:
        state = self.take_request(lease, state)
        command = pending(state)
        while command is not None:
            lease.renew()  # a run that lost its lock must not act: LockedError before any side effect
            state = self.log_deliveries(lease, state)
            state = self.take_request(lease, state)
            if pending(state) != command:
                command = pending(state)
                continue
            if isinstance(command, SetWeights):
                state = self.journal(lease, state, INTENT, {
                    "weights": to_jsonable(command.weights), "recorded": to_jsonable(state.weights),
                })
            event = self.executor.execute(lease, state, command)
            if event is None:  # gave way to an operator's request, taken at the top of the loop
                continue
            state = self.step(lease, state, event)
            follow = pending(state)
            if isinstance(event, StepFailed) and follow == command:
                break
            command = follow
        return state

    def take_request(self, lease: Lease, state: EnvironmentState) -> EnvironmentState:
        """Apply a rollback or abort that an operator asked for while this run held the lock."""
        event = self.mailbox.take(state)
        if event is None:
            return state
        try:
            return self.step(lease, state, event)
        except UsageError as err:
            kind = "abort" if isinstance(event, AbortRequested) else "rollback"
            self.ports.notifier.notify(Notice(state.env, "request", f"could not {kind}: {err}"))
            return state

    def step(self, lease: Lease, state: EnvironmentState, event: Event) -> EnvironmentState:
        try:
            result = transition(state, event)
        except InvalidTransition as err:
            raise UsageError(str(err)) from err
        broken = violations(state, result.state, result.commands, event.at)
        if broken:
            raise InvariantBroken(f"refused {type(event).__name__}: " + "; ".join(broken))
        new = replace(result.state, seq=state.seq + 1)
        record = self._record(new, event.at, type(event).__name__, event_detail(event))
        lease.renew()
        self.settings.checkpoint(f"before-commit:{record.event}")
        try:
            self.store.commit(new.env, new, [record])
        except (FleetError, OSError) as err:
            # A lost lock is not ours to act on: the traffic now belongs to the run that holds it.
            if not guards.weights_at_stake(state, event) or isinstance(err, LockedError):
                raise
            self._unrecorded_weights(state, new, record, err)
        self.settings.checkpoint(f"after-commit:{record.event}")
        self._announce(state, new, record)
        return new

    def journal(
        self, lease: Lease, state: EnvironmentState, event: str, detail: Mapping[str, object]
    ) -> EnvironmentState:
        """Record ``event`` in the history without changing the state (but its sequence number)."""
        new = replace(state, seq=state.seq + 1)
        record = self._record(new, self.ports.clock.now(), event, dict(detail))
        lease.renew()
        self.settings.checkpoint(f"before-commit:{event}")
        self.store.commit(new.env, new, [record])
        self.settings.checkpoint(f"after-commit:{event}")
        self._announce(state, new, record)
        return new

    def _record(self, new: EnvironmentState, at: float, event: str, detail: Mapping[str, object]) -> Record:
        return Record(
            seq=new.seq, at=at, event=event, phase=None if new.cutover is None else new.cutover.phase.value,
            weights=new.weights, detail=detail, actor=self.actor,
        )

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
        if guards.unrecorded(state.weights, live) is guards.Unrecorded.AT_RECORD:
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
