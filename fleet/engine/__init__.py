"""The engine: carries out the commands the pure core decides, through the ports.

Three parts, each small enough to read in one sitting:

* the driver (:mod:`fleet.engine.driver`) asks the machine for the next
  command, has it carried out, applies the outcome and commits;
* the executor (:mod:`fleet.engine.executor`) carries out one command
  through the ports, under the one retry and deadline policy;
* the mailbox (:mod:`fleet.engine.mailbox`) holds operators' rollback and
  abort requests for the run that holds the lock.

:class:`Engine` is what the CLI calls: cutover, resume, rollback, abort. The
engine never prints and never exits; it returns the final state or raises a
``fleet.errors`` exception, and the CLI decides what that means.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping
from contextlib import ExitStack
from typing import TYPE_CHECKING

from fleet import audit
from fleet.domain.events import StepApproved
from fleet.domain.gates import GatePolicy
from fleet.domain.guards import request_event
from fleet.domain.machine import CutoverRequested, EnvironmentState, Resumed
from fleet.domain.model import RolloutPolicy, TeardownPolicy, Version
from fleet.engine.common import (
    DELIVERIES,
    INTENT,
    Checkpoint,
    CommitFailed,
    InvariantBroken,
    Ports,
    RequestPending,
    RunSettings,
    no_checkpoint,
)
from fleet.engine.driver import Driver
from fleet.engine.executor import Executor
from fleet.engine.mailbox import Mailbox
from fleet.errors import LockedError, UsageError
from fleet.ports import Notice, StateStore
from fleet.retry import RetryPolicy

if TYPE_CHECKING:
    from fleet.config import EnvironmentConfig

__all__ = [
    "DELIVERIES", "Checkpoint", "CommitFailed", "Engine", "InvariantBroken", "Ports", "RequestPending", "RetryPolicy",
]


class Engine:
    def __init__(
        self,
        store: StateStore,
        ports: Ports,
        *,
        retry: RetryPolicy | None = None,
        lease_s: float = 300.0,
        checkpoint: Checkpoint = no_checkpoint,
        actor: Mapping[str, str] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.ports = ports
        self.retry = retry or RetryPolicy()
        self.settings = RunSettings(lease_s=lease_s, checkpoint=checkpoint)
        self.actor = dict(actor) if actor is not None else audit.actor()
        self.mailbox = Mailbox(store, ports.clock, ports.notifier, self.actor)
        executor = Executor(ports, self.mailbox, self.settings, self.retry, rng or random.Random())
        self.driver = Driver(store, ports, executor, self.mailbox, self.settings, self.actor)

    @property
    def lease_s(self) -> float:
        return self.settings.lease_s

    @lease_s.setter
    def lease_s(self, value: float) -> None:
        self.settings.lease_s = value

    @property
    def checkpoint(self) -> Checkpoint:
        return self.settings.checkpoint

    @checkpoint.setter
    def checkpoint(self, value: Checkpoint) -> None:
        self.settings.checkpoint = value

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
        gates: GatePolicy | None = None,
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
                gates=gates or GatePolicy(),
            )
            state = self.driver.step(lease, state, request)
            return self.driver.drive(lease, state)

    def resume(self, env: str, *, force_unlock: bool = False, window_end: float | None = None) -> EnvironmentState:
        """Continue ``env``'s cutover; ``window_end``: the maintenance window it may run in ends then."""
        with self.store.lock(env, lease_s=self.lease_s, force=force_unlock) as lease:
            state = self._in_flight(env)
            self._tell_unconfirmed_weights(state)
            state = self.driver.step(lease, state, Resumed(at=self.ports.clock.now(), window_end=window_end))
            return self.driver.drive(lease, state)

    def approve(self, env: str, step: int | None, *, force_unlock: bool = False) -> EnvironmentState:
        """Approve ``step`` (from 1; the step waiting when None) of the cutover in flight, and continue it."""
        with self.store.lock(env, lease_s=self.lease_s, force=force_unlock) as lease:
            state = self._in_flight(env)
            c = state.cutover
            assert c is not None
            step = step if step is not None else c.awaiting_approval
            if step is None:
                raise UsageError(f"{env} waits for no approval now; name the step to approve ahead: --step N")
            who = f"{self.actor.get('user', '?')}@{self.actor.get('host', '?')}"
            state = self.driver.step(lease, state, StepApproved(at=self.ports.clock.now(), step=step, by=who))
            return self.driver.drive(lease, state)

    def rollback(self, env: str, *, reason: str, force_unlock: bool = False, wait_s: float = 120.0) -> EnvironmentState:
        """Give all traffic back to the old slot: directly, or through the run that holds the lock."""
        return self._operator_request(env, "rollback", reason, force_unlock, wait_s)

    def abort(self, env: str, *, reason: str, force_unlock: bool = False, wait_s: float = 120.0) -> EnvironmentState:
        return self._operator_request(env, "abort", reason, force_unlock, wait_s)

    def _operator_request(
        self, env: str, kind: str, reason: str, force_unlock: bool, wait_s: float
    ) -> EnvironmentState:
        with ExitStack() as held:
            try:
                lease = held.enter_context(self.store.lock(env, lease_s=self.lease_s, force=force_unlock))
            except LockedError as err:
                if err.expired:
                    raise
                holder = err.holder
            else:
                state = self._in_flight(env)
                state = self.driver.step(lease, state, request_event(kind, reason, at=self.ports.clock.now()))
                return self.driver.drive(lease, state)
        return self.mailbox.post_and_wait(env, kind, reason, holder, wait_s, self._in_flight)

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

    def _in_flight(self, env: str) -> EnvironmentState:
        state: EnvironmentState | None = self.store.load(env)
        if state is None or not state.in_flight:
            raise UsageError(f"{env} has no cutover in flight")
        return state
