"""Deadlines in wall time and the one retry policy of the engine and the adapters.

A retry budget that only adds up the waits between attempts is no budget:
an endpoint that accepts a connection and never answers holds each attempt
for the whole socket timeout, and a rollback with a 1 s budget took 45 s.
Here a :class:`Deadline` is a point in time; every wait and every call is
bounded by what is left of it. Adapters ask :func:`timeout` for the socket
timeout of their next call: the smaller of their own limit and what remains
of the deadline the engine (or their own retry loop) set with
:func:`bounded`, so that a call can never outlive the step it belongs to.

:func:`call_with_retries` is the only retry loop: exponential backoff with
jitter, stopping on attempts or on the deadline, whichever comes first, and
counting the time spent inside the calls as well as the waits. The engine
uses it with its clock (a fake clock in tests skips the waits); the Route53
adapter uses it for throttling. It retries :class:`~fleet.errors.TransientError`
only; anything else passes through at once.
"""

from __future__ import annotations

import contextvars
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from fleet.errors import ProviderError, TransientError

T = TypeVar("T")

Now = Callable[[], float]
Sleep = Callable[[float], None]

MIN_CALL_TIMEOUT_S = 0.05
"""No socket gets less than this: a call with nothing left of its deadline is not made at all."""


class DeadlineExceeded(TransientError):
    """The deadline of a step passed before (or while) a call was made."""


class Deadline:
    """A point in wall time (on ``now``'s clock) after which no call of a step may run."""

    def __init__(self, budget_s: float, *, now: Now = time.monotonic, what: str = "the step") -> None:
        self.budget_s = budget_s
        self.what = what
        self._now = now
        self.at = now() + budget_s

    def remaining(self) -> float:
        return max(0.0, self.at - self._now())

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0.0

    def timeout(self, limit_s: float) -> float:
        """The timeout of the next call: at most ``limit_s``, and never past the deadline."""
        left = self.remaining()
        if left <= 0.0:
            raise DeadlineExceeded(f"{self.what} used its budget of {self.budget_s:g}s", retry_after=0.0)
        return max(MIN_CALL_TIMEOUT_S, min(limit_s, left))


_current: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar("fleet_deadline", default=None)


@contextmanager
def bounded(deadline: Deadline) -> Iterator[Deadline]:
    """Calls made inside the block get timeouts that end by ``deadline`` (or an earlier one already set)."""
    outer = _current.get()
    if outer is not None and outer.remaining() < deadline.remaining():
        deadline = outer
    token = _current.set(deadline)
    try:
        yield deadline
    finally:
        _current.reset(token)


def current() -> Deadline | None:
    return _current.get()


def timeout(limit_s: float) -> float:
    """The socket timeout for the next call: ``limit_s``, cut to the deadline in force if any."""
    deadline = _current.get()
    return limit_s if deadline is None else deadline.timeout(limit_s)


def remaining(default_s: float) -> float:
    """What is left of the deadline in force, or ``default_s`` when none is (never more than ``default_s``)."""
    deadline = _current.get()
    return default_s if deadline is None else min(default_s, deadline.remaining())


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, bounded by attempts and by a deadline in wall time.

    The ``n``-th retry (from 1) waits a random time up to ``base_s * 2**n``, at most
    ``max_s``: anywhere from 0 with ``full`` jitter, from half of it with ``equal``
    jitter. It waits at least what the error asked for (``retry_after``), and never
    past the deadline: the budget counts the time spent inside the calls too.
    """

    attempts: int = 5
    base_s: float = 1.0
    max_s: float = 30.0
    budget_s: float = 120.0
    jitter: str = "full"

    def delay(self, attempt: int, rng: random.Random) -> float:
        ceiling = min(self.max_s, self.base_s * 2.0**attempt)
        if self.jitter == "equal":
            return ceiling / 2 + rng.uniform(0, ceiling / 2)
        return rng.uniform(0, ceiling)


def call_with_retries(
    call: Callable[[], T],
    *,
    policy: RetryPolicy,
    what: str,
    now: Now = time.monotonic,
    sleep: Sleep = time.sleep,
    rng: random.Random | None = None,
    on_retry: Callable[[TransientError, float], None] | None = None,
    bound_calls: bool = True,
    still_transient: bool = False,
) -> T:
    """``call()``, retried on TransientError within ``policy``; a ProviderError once it gives up.

    With ``bound_calls`` every attempt runs under the deadline (see :func:`bounded`),
    so the adapters' socket timeouts shrink as the budget runs out; a deadline already
    in force (the engine's, around an adapter's own loop) is kept when it is earlier.
    ``still_transient`` gives up with a TransientError instead, for a loop inside
    another one (an adapter's, inside the engine's).
    """
    rng = rng or random.Random()
    deadline = Deadline(policy.budget_s, now=now, what=what)
    attempt = 0
    while True:
        attempt += 1
        effective = deadline
        try:
            if not bound_calls:
                return call()
            with bounded(deadline) as effective:
                return call()
        except TransientError as err:
            left = effective.remaining()
            delay = max(err.retry_after, policy.delay(attempt, rng))
            if attempt >= policy.attempts or delay >= left:
                spent = effective.budget_s - left
                message = f"{err} (gave up after {attempt} attempt{'s' if attempt > 1 else ''} in {spent:.1f}s)"
                if still_transient:
                    raise TransientError(message, retry_after=delay) from err
                raise ProviderError(message) from err
            if on_retry is not None:
                on_retry(err, delay)
            sleep(delay)
