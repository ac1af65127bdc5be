"""The mailbox: an operator's rollback or abort for the run that holds an environment's lock.

``fleet rollback`` and ``fleet abort`` take the lock when they can and act
themselves. When another run holds it, they post a request in the store and
wait for that run to act on it; the run looks for requests before every
step, every few seconds of a wait, and every second of an analysis window.
What a request *means* (its event, or nothing when it was posted before this
cutover began) is decided in :func:`fleet.domain.guards.operator_request`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from fleet.domain.events import Event
from fleet.domain.guards import operator_request
from fleet.domain.machine import EnvironmentState
from fleet.engine.common import RequestPending
from fleet.errors import FleetError
from fleet.ports import Clock, Notice, Notifier, Request, StateStore

REQUEST_POLL_S = 5.0
"""How often a wait (a bake, the teardown's) looks for an operator's rollback or abort."""
ANALYSIS_REQUEST_POLL_S = 1.0
"""How often an analysis window looks for one: a rollback should not wait for a 60 s window."""
POST_POLL_S = 0.5
"""How often the operator's side looks whether the run acted on its request."""


class RequestPoll:
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


class Mailbox:
    def __init__(self, store: StateStore, clock: Clock, notifier: Notifier, actor: Mapping[str, str]) -> None:
        self.store = store
        self.clock = clock
        self.notifier = notifier
        self.actor = actor

    # --- the run that holds the lock ------------------------------------------------

    def waiting(self, env: str) -> bool:
        try:
            return self.store.has_request(env)
        except (FleetError, OSError):
            return False  # the store is unreachable for now: the request is seen before the next step

    def poll(self, env: str) -> RequestPoll:
        """A cheap question for a long call (an analysis window, a health watch) to ask as it goes."""
        return RequestPoll(lambda: self.waiting(env), self.clock)

    def sleep_until(self, env: str, due: float) -> bool:
        """Sleep until ``due``, woken every few seconds to look for a request; True when one waits."""
        while (remaining := due - self.clock.now()) > 0:
            self.clock.sleep(min(remaining, REQUEST_POLL_S))
            if self.waiting(env):
                return True
        return False

    def take(self, state: EnvironmentState) -> Event | None:
        """The request posted for this cutover, as its event; taken out of the store either way."""
        request = self.store.take_request(state.env)
        if request is None:
            return None
        return operator_request(
            state, request.kind, request.reason, by=request.by, posted_at=request.at, at=self.clock.now()
        )

    # --- the operator's side --------------------------------------------------------

    def post_and_wait(
        self, env: str, kind: str, reason: str, holder: str, wait_s: float,
        in_flight: Callable[[str], EnvironmentState],
    ) -> EnvironmentState:
        """Hand ``kind`` to the run of ``holder`` and wait for its cutover to end; RequestPending if it does not."""
        in_flight(env)
        who = f"{self.actor.get('user', '?')}@{self.actor.get('host', '?')}"
        self.store.post_request(env, Request(kind, reason, who, self.clock.now()))
        self.notifier.notify(Notice(env, "request", f"asked the run of {holder} to {kind}"))
        deadline = self.clock.now() + wait_s
        while self.clock.now() < deadline:
            self.clock.sleep(POST_POLL_S)
            latest: EnvironmentState | None = self.store.load(env)
            if latest is not None and not latest.in_flight:
                self.store.take_request(env)  # the run ended without it: it must not touch a later cutover
                return latest
        raise RequestPending(
            f"asked the run of {holder} to {kind}; it acts before its next step, within seconds during "
            f"an analysis window or a bake (provisioning, waiting for Flux or a drain finish first): "
            f"follow it with fleet status {env}"
        )
