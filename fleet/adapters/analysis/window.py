"""The polling loop every analysis source shares: read, feed the judge, stop early or at the window's end.

Sources differ only in how they read a slot's cumulative requests, errors
and latency (HAProxy's counters, Prometheus queries, our own probes); when
to stop is the same for all and lives here, so that every source fails fast
on clear evidence and passes only after the whole window. The clock is
injectable (``fleet.ports.Clock``); the default is the monotonic clock.

A source may also be given a ``progress`` hook: after every reading it hears
the window's counts so far (never the judge's internals), which the CLI turns
into the live display's running figures (:func:`notifying`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from fleet.domain.analysis import SequentialJudge, SprtSettings
from fleet.domain.model import AnalysisPolicy
from fleet.domain.reports import Verdict
from fleet.errors import TransientError
from fleet.ports import Clock, Interrupted, Notice, Notifier

INTERRUPT_CHECK_S = 1.0
"""The longest a window sleeps between asking whether to give up, whatever the source's interval."""

TIME_EPSILON_S = 1e-6
"""Waits shorter than this are none: adding them to a clock's reading may not move it (float rounding)."""

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


@dataclass(frozen=True)
class WindowProgress:
    """How far an analysis window has got: seconds and the slot's traffic so far."""

    elapsed_s: float
    window_s: float
    requests: int
    errors: int
    p50_ms: float | None = None
    p99_ms: float | None = None


ProgressHook = Callable[[WindowProgress], None]


def notifying(notifier: Notifier, env: str) -> ProgressHook:
    """A progress hook that tells ``notifier`` (kind ``analysis``; numbers in ``detail``)."""

    def hook(progress: WindowProgress) -> None:
        notifier.notify(Notice(env, "analysis", "analysis window", None, {"window": progress.__dict__}))

    return hook


@runtime_checkable
class ReportsProgress(Protocol):
    """A source that accepts a progress hook (every source here does; a plug-in may not)."""

    progress: ProgressHook | None


def attach_progress(analysis: object, notifier: Notifier, env: str) -> None:
    """Have ``analysis`` tell ``notifier`` how its windows go, when it can."""
    if isinstance(analysis, ReportsProgress):
        analysis.progress = notifying(notifier, env)


class CounterDelta:
    """Turns one raw cumulative counter into "since the window began", the way Prometheus' ``increase()`` does.

    The first value seen is the baseline. A value below the previous one means
    the counter restarted from zero (HAProxy reloaded, an exporter restarted),
    so the new value itself is what was counted since the restart; what was
    counted before stays counted. A missing reading is not a reading: callers
    simply do not call ``update`` (never with 0, which would look like a reset
    and count everything again when the real value comes back).
    """

    def __init__(self, first: float) -> None:
        self._last = first
        self._total = 0.0

    @property
    def total(self) -> float:
        return self._total

    def update(self, raw: float) -> int:
        self._total += raw if raw < self._last else raw - self._last
        self._last = raw
        return round(self._total)

    def restarted(self, raw: float) -> int:
        """The counter is known to have restarted from zero (its process changed): all of ``raw`` is new."""
        self._total += raw
        self._last = raw
        return round(self._total)


SeriesKey = tuple[tuple[str, str], ...]
"""A series' identity: its sorted label pairs (the metric name included)."""


class SeriesCounters:
    """Per-series ``CounterDelta``: the sum over series of what each counted since it was first seen.

    Resets are detected per series, as Prometheus does, because a sum hides
    them (one series restarting while another grows). A series absent from a
    reading (a failed scrape marks it stale; a restarted Prometheus has no
    data yet) keeps its last value and counts nothing until it is back. A
    series first seen mid-window starts counting from that first value.
    """

    def __init__(self) -> None:
        self._series: dict[SeriesKey, CounterDelta] = {}

    def __len__(self) -> int:
        return len(self._series)

    def update(self, values: Mapping[SeriesKey, float]) -> int:
        for key, value in values.items():
            counter = self._series.get(key)
            if counter is None:
                self._series[key] = CounterDelta(value)
            else:
                counter.update(value)
        return round(sum(c.total for c in self._series.values()))


Read = Callable[[float], Reading]
"""Reads the slot's traffic so far; called with the seconds since the window began."""


def _pause(clock: Clock, seconds: float, interrupted: Interrupted | None) -> bool:
    """Sleep ``seconds``, asking ``interrupted()`` at least every INTERRUPT_CHECK_S; True when it answered True."""
    if interrupted is None:
        clock.sleep(seconds)
        return False
    if interrupted():
        return True
    until = clock.now() + seconds
    while (left := until - clock.now()) > TIME_EPSILON_S:  # a 15 s Prometheus poll is still interruptible
        clock.sleep(min(left, INTERRUPT_CHECK_S))
        if interrupted():
            return True
    return False


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
    settle_s: float = 0.0,
    progress: ProgressHook | None = None,
) -> Verdict:
    """Poll ``read`` every ``interval_s`` for ``policy.window_s``; FAIL early when the judge says so.

    ``settle_s`` is waited before the first reading, so that the window's
    first reading is taken inside it (Prometheus: one scrape after the window
    opened); the window's ``policy.window_s`` is counted from that reading. A
    poll that raises ``TransientError`` is skipped (the next one reads the
    same cumulative counters); if no poll at all succeeded by the end, the
    last error is raised. ``interrupted()`` is asked after every poll and at
    least every INTERRUPT_CHECK_S; when it answers True the window is given up
    (``SequentialJudge.cut_short``).
    """
    judge = SequentialJudge(policy, source=source, settings=settings or SprtSettings(), early=early)
    if settle_s > 0:
        opened = clock.now()
        if _pause(clock, settle_s, interrupted):
            return judge.cut_short(elapsed_s=clock.now() - opened)
    start = clock.now()
    last: Reading | None = None
    failure: TransientError | None = None
    while True:
        elapsed = clock.now() - start
        finished = elapsed >= policy.window_s - TIME_EPSILON_S
        try:
            last = read(elapsed)
        except TransientError as err:
            failure = err
        if last is not None:
            if progress is not None:
                progress(WindowProgress(elapsed, policy.window_s, last.requests, last.errors, last.p50_ms, last.p99_ms))
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
        if _pause(clock, pause, interrupted):
            return judge.cut_short(elapsed_s=clock.now() - start)
