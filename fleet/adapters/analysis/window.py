"""The polling loop every analysis source shares: read, feed the judge, stop early or at the window's end.

Sources differ only in how they read a slot's cumulative requests, errors
and latency (HAProxy's counters, Prometheus queries, our own probes); when
to stop is the same for all and lives here, so that every source fails fast
on clear evidence and passes only after the whole window. The clock is
injectable (``fleet.ports.Clock``); the default is the monotonic clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from fleet.domain.analysis import SequentialJudge, SprtSettings
from fleet.domain.model import AnalysisPolicy
from fleet.domain.reports import Verdict
from fleet.errors import TransientError
from fleet.ports import Clock, Interrupted

INTERRUPT_CHECK_S = 1.0
"""The longest a window sleeps between asking whether to give up, whatever the source's interval."""

POLICY_KEYS = ("successRate", "p99LatencyMs", "failedChecks", "window", "minRequests", "maxExtensions")
"""Keys of ``fleet:analysis`` that become ``AnalysisPolicy`` in the config layer; sources skip them."""


class MonotonicClock:
    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


@dataclass(frozen=True)
class Reading:
    """A slot's traffic since the window began: cumulative counts, latency in milliseconds."""

    requests: int
    errors: int
    p50_ms: float | None = None
    p99_ms: float | None = None


class CounterDelta:
    """Turns a raw cumulative counter into "since the window began", surviving counter resets.

    A counter that goes down was reset (HAProxy reloaded, a Prometheus target
    restarted); what it counted before the reset stays counted and counting
    resumes from zero.
    """

    def __init__(self, first: float) -> None:
        self._base = first
        self._last = first
        self._carried = 0.0

    def update(self, raw: float) -> int:
        if raw < self._last:
            self._carried += self._last - self._base
            self._base = 0.0
        self._last = raw
        return round(self._carried + raw - self._base)


Read = Callable[[float], Reading]
"""Reads the slot's traffic so far; called with the seconds since the window began."""


def judge_window(
    policy: AnalysisPolicy,
    read: Read,
    *,
    source: str,
    interval_s: float,
    clock: Clock,
    settings: SprtSettings | None = None,
    early: bool = True,
    interrupted: Interrupted | None = None,
) -> Verdict:
    """Poll ``read`` every ``interval_s`` for ``policy.window_s``; FAIL early when the judge says so.

    A poll that raises ``TransientError`` is skipped (the next one reads the
    same cumulative counters); if no poll at all succeeded by the end, the
    last error is raised. ``interrupted()`` is asked after every poll and at
    least every INTERRUPT_CHECK_S; when it answers True the window is given up
    (``SequentialJudge.cut_short``).
    """
    judge = SequentialJudge(policy, source=source, settings=settings or SprtSettings(), early=early)
    start = clock.now()
    last: Reading | None = None
    failure: TransientError | None = None
    while True:
        elapsed = clock.now() - start
        finished = elapsed >= policy.window_s
        try:
            last = read(elapsed)
        except TransientError as err:
            failure = err
        if last is not None:
            if finished:
                return judge.conclude(
                    last.requests, last.errors, elapsed_s=elapsed, p50_ms=last.p50_ms, p99_ms=last.p99_ms
                )
            verdict = judge.observe(
                last.requests, last.errors, elapsed_s=elapsed, p50_ms=last.p50_ms, p99_ms=last.p99_ms
            )
            if verdict is not None:
                return verdict
        elif finished:
            assert failure is not None
            raise failure
        pause = max(0.0, min(interval_s, policy.window_s - (clock.now() - start)))
        if interrupted is None:
            clock.sleep(pause)
            continue
        if interrupted():
            return judge.cut_short(elapsed_s=clock.now() - start)
        until = clock.now() + pause
        while (left := until - clock.now()) > 0:  # a slow source (a 15 s Prometheus poll) is still interruptible
            clock.sleep(min(left, INTERRUPT_CHECK_S))
            if interrupted():
                return judge.cut_short(elapsed_s=clock.now() - start)
