"""The polling loop every analysis source shares: it gives a window up at once when an operator's request waits."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import given
from hypothesis import strategies as st

from fleet.adapters.analysis.window import CounterDelta, Reading, SeriesCounters, judge_window
from fleet.domain.analysis import SequentialJudge
from fleet.domain.model import AnalysisPolicy
from fleet.domain.reports import Outcome
from fleet.rehearsal.sim import FakeClock

POLICY = AnalysisPolicy(success_rate=99.0, p99_latency_ms=500.0, window_s=60.0, min_requests=100)


def steady(errors_per_100: int) -> Callable[[float], Reading]:
    def read(elapsed: float) -> Reading:
        requests = int(200 * elapsed)
        return Reading(requests, requests * errors_per_100 // 100)

    return read


def test_a_window_nobody_interrupts_runs_to_its_end_and_passes() -> None:
    clock = FakeClock(start=0.0)

    verdict = judge_window(POLICY, steady(0), source="test", interval_s=0.5, clock=clock,
                           interrupted=lambda: False)

    assert verdict.outcome is Outcome.PASS
    assert clock.now() >= POLICY.window_s


def test_an_interrupted_window_ends_at_once_without_a_verdict_on_the_slot() -> None:
    clock = FakeClock(start=0.0)

    verdict = judge_window(POLICY, steady(0), source="test", interval_s=0.5, clock=clock,
                           interrupted=lambda: clock.now() >= 3.0)

    assert verdict.outcome is Outcome.INCONCLUSIVE
    assert "given up after 3.0s" in verdict.reason
    assert clock.now() < 4.0


def test_a_request_arriving_mid_window_is_noticed_within_a_second_even_between_slow_polls() -> None:
    clock = FakeClock(start=0.0)
    polls: list[float] = []

    def read(elapsed: float) -> Reading:
        polls.append(elapsed)
        return Reading(int(200 * elapsed), 0)

    verdict = judge_window(POLICY, read, source="test", interval_s=15.0, clock=clock,
                           interrupted=lambda: clock.now() >= 31.5)

    assert verdict.outcome is Outcome.INCONCLUSIVE
    assert 31.5 <= clock.now() <= 32.5
    assert polls == [0.0, 15.0, 30.0]


def test_a_judge_cut_short_after_a_clear_failure_keeps_the_failure() -> None:
    judge = SequentialJudge(POLICY, source="test")
    judge.observe(50, 25, elapsed_s=0.25)  # an early FAIL rests on two polls
    failed = judge.observe(100, 50, elapsed_s=0.5)

    assert failed is not None and failed.outcome is Outcome.FAIL
    assert judge.cut_short(elapsed_s=1.0) is failed


def test_a_window_that_must_wait_a_scrape_first_counts_its_length_from_the_first_reading() -> None:
    clock = FakeClock(start=0.0)
    polls: list[float] = []

    def read(elapsed: float) -> Reading:
        polls.append(clock.now())
        return Reading(int(200 * elapsed), 0)

    verdict = judge_window(POLICY, read, source="test", interval_s=5.0, clock=clock, settle_s=15.6,
                           interrupted=lambda: False)

    assert verdict.outcome is Outcome.PASS
    assert polls[0] == 15.6 and polls[-1] == 15.6 + POLICY.window_s


def test_the_wait_for_a_scrape_is_interruptible_too() -> None:
    clock = FakeClock(start=0.0)
    verdict = judge_window(POLICY, steady(0), source="test", interval_s=1.0, clock=clock, settle_s=60.0,
                           interrupted=lambda: clock.now() >= 2.0)
    assert verdict.outcome is Outcome.INCONCLUSIVE
    assert clock.now() <= 3.0


# --- counting like Prometheus' increase() ---------------------------------------------


def test_a_missing_reading_is_no_reading_not_a_reset() -> None:
    counters = SeriesCounters()
    key = (("server", "green"),)
    assert counters.update({key: 1_000}) == 0
    assert counters.update({key: 1_100}) == 100
    assert counters.update({}) == 100  # a failed scrape, or a Prometheus restarted without its storage
    assert counters.update({key: 1_150}) == 150


def test_resets_are_found_per_series_where_a_sum_would_hide_them() -> None:
    a, b = (("code", "2xx"),), (("code", "5xx"),)
    counters = SeriesCounters()
    counters.update({a: 100, b: 0})
    # a restarted (HAProxy reloaded) and counted 5; b counted 200: the sum went from 100 to 205, "105"
    assert counters.update({a: 5, b: 200}) == 205
    assert CounterDelta(100).update(205) == 105  # what one summed counter would have said


@st.composite
def histories(draw: st.DrawFn) -> list[int | None]:
    """Readings of one counter that grows and sometimes restarts from 0; None is a missing reading."""
    value = draw(st.integers(0, 10_000))
    readings: list[int | None] = [value]
    for _ in range(draw(st.integers(0, 40))):
        if draw(st.booleans()) and value > 0:  # the process restarted and counted a little since
            value = draw(st.integers(0, value - 1))
        else:
            value += draw(st.integers(0, 500))
        readings.append(None if draw(st.integers(0, 3)) == 0 else value)
    return readings


@given(histories())
def test_a_counter_with_resets_and_gaps_counts_what_its_readings_show_and_never_the_gaps(
    readings: list[int | None],
) -> None:
    counters = SeriesCounters()
    key = (("__name__", "x"),)
    total = expected = 0
    last: int | None = None
    for value in readings:
        total = counters.update({} if value is None else {key: value})
        if value is None:
            continue
        if last is not None:
            expected += value if value < last else value - last
        last = value
    assert total == expected >= 0
