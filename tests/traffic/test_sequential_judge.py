"""The sequential judge fails a clearly bad slot within a second and gives a borderline one the full window."""

from __future__ import annotations

import random

import pytest

from fleet.domain.analysis import SequentialJudge, Sprt, SprtSettings, quantile
from fleet.domain.model import AnalysisPolicy
from fleet.domain.reports import Outcome

POLICY = AnalysisPolicy(success_rate=99.0, p99_latency_ms=500.0, window_s=60.0, min_requests=100)


def feed(judge: SequentialJudge, outcomes: list[bool], *, rate: float, poll_s: float = 0.1) -> float | None:
    """Feed per-request outcomes (True = error) at ``rate`` per second, polled every ``poll_s``.

    Returns the elapsed time of an early FAIL, or None.
    """
    requests = errors = 0
    per_poll = rate * poll_s
    elapsed = 0.0
    index = 0.0
    while requests < len(outcomes):
        index += per_poll
        upto = min(len(outcomes), int(index))
        errors += sum(outcomes[requests:upto])
        requests = upto
        elapsed += poll_s
        if judge.observe(requests, errors, elapsed_s=elapsed) is not None:
            return elapsed
    return None


def every_nth_fails(n: int, count: int) -> list[bool]:
    return [(i + 1) % n == 0 for i in range(count)]


def test_half_failing_at_a_ten_percent_step_of_200_rps_fails_within_a_second() -> None:
    judge = SequentialJudge(POLICY)
    decided = feed(judge, every_nth_fails(2, 1200), rate=20.0)
    assert decided is not None and decided <= 1.0
    assert judge.failed is not None and judge.failed.evidence.decided_early
    assert judge.failed.evidence.statistic is not None
    assert judge.failed.evidence.statistic >= judge.sprt.upper


def test_two_consecutive_checks_on_a_half_failing_slot_fit_in_a_second() -> None:
    total = 0.0
    for _ in range(2):
        decided = feed(SequentialJudge(POLICY), every_nth_fails(2, 1200), rate=20.0, poll_s=0.05)
        assert decided is not None
        total += decided
    assert total <= 1.0


def test_a_slot_at_one_and_a_half_percent_gets_the_full_window_and_fails_once_the_sample_can_tell() -> None:
    judge = SequentialJudge(POLICY)
    outcomes = [i % 200 in (0, 67, 134) for i in range(1200)]
    assert feed(judge, outcomes, rate=20.0) is None
    verdict = judge.conclude(1200, sum(outcomes), elapsed_s=60.0)
    assert verdict.outcome is Outcome.INCONCLUSIVE  # 18 errors in 1,200 happen at 1 % too (6 %)
    assert not verdict.evidence.decided_early
    assert "cannot tell" in verdict.reason
    longer = SequentialJudge(POLICY)
    assert feed(longer, outcomes * 5, rate=20.0) is None
    verdict = longer.conclude(6000, 5 * sum(outcomes), elapsed_s=300.0)
    assert verdict.outcome is Outcome.FAIL
    assert "below 99% with 95% confidence" in verdict.reason


def test_a_randomly_borderline_slot_is_rarely_failed_early() -> None:
    rng = random.Random(7)
    early = 0
    for _ in range(200):
        outcomes = [rng.random() < 0.015 for _ in range(1200)]
        early += feed(SequentialJudge(POLICY), outcomes, rate=20.0) is not None
    assert early <= 10


def test_a_slot_at_the_threshold_is_never_failed_early_over_a_long_window() -> None:
    rng = random.Random(11)
    for _ in range(50):
        outcomes = [rng.random() < 0.01 for _ in range(12_000)]
        assert feed(SequentialJudge(POLICY), outcomes, rate=200.0) is None


def test_a_healthy_stretch_cannot_be_banked_against_a_late_failure() -> None:
    judge = SequentialJudge(POLICY)
    healthy = [False] * 1000
    decided = feed(judge, healthy + every_nth_fails(2, 200), rate=20.0)
    assert decided is not None
    assert decided - 1000 / 20.0 <= 1.0
    assert judge.statistic >= judge.sprt.upper


def test_a_healthy_slot_passes_only_at_the_end_of_the_window() -> None:
    judge = SequentialJudge(POLICY)
    assert feed(judge, every_nth_fails(500, 1200), rate=20.0) is None
    verdict = judge.conclude(1200, 2, elapsed_s=60.0, p50_ms=12.0, p99_ms=80.0)
    assert verdict.outcome is Outcome.PASS
    assert verdict.evidence.success_rate == pytest.approx(100 * 1198 / 1200)
    assert verdict.evidence.p99_ms == 80.0
    assert verdict.evidence.duration_s == 60.0


def test_too_few_requests_are_inconclusive() -> None:
    verdict = SequentialJudge(POLICY).conclude(40, 0, elapsed_s=60.0)
    assert verdict.outcome is Outcome.INCONCLUSIVE
    assert "only 40 requests" in verdict.reason


def test_a_clear_failure_wins_over_too_few_requests() -> None:
    verdict = SequentialJudge(POLICY).conclude(12, 8, elapsed_s=60.0)
    assert verdict.outcome is Outcome.FAIL
    assert "clearly above 1%" in verdict.reason
    judge = SequentialJudge(POLICY)
    assert judge.observe(6, 4, elapsed_s=0.3) is None  # one poll can be one spike
    early = judge.observe(12, 8, elapsed_s=0.6)
    assert early is not None and early.evidence.decided_early


def test_a_slow_p99_fails_at_the_end_of_the_window() -> None:
    verdict = SequentialJudge(POLICY).conclude(1000, 0, elapsed_s=60.0, p99_ms=750.0)
    assert verdict.outcome is Outcome.FAIL
    assert "p99 latency 750 ms" in verdict.reason


def test_a_slow_p99_fails_early_once_enough_requests_were_seen() -> None:
    judge = SequentialJudge(POLICY)
    assert judge.observe(50, 0, elapsed_s=1.0, p99_ms=900.0) is None
    assert judge.observe(150, 0, elapsed_s=2.0, p99_ms=900.0) is None  # a p99 of 150 is their second slowest
    early = judge.observe(POLICY.p99_min_requests, 0, elapsed_s=3.0, p99_ms=900.0)
    assert early is not None and early.outcome is Outcome.FAIL


def test_the_fixed_window_judge_never_decides_early() -> None:
    judge = SequentialJudge(POLICY, early=False)
    assert feed(judge, every_nth_fails(2, 200), rate=20.0) is None
    assert judge.conclude(200, 100, elapsed_s=60.0).outcome is Outcome.FAIL


def test_an_early_fail_stands_for_the_rest_of_the_window() -> None:
    judge = SequentialJudge(POLICY)
    assert judge.observe(5, 5, elapsed_s=0.25) is None
    first = judge.observe(10, 10, elapsed_s=0.5)
    assert first is not None
    assert judge.conclude(5000, 10, elapsed_s=60.0) is first


def test_counts_must_be_cumulative() -> None:
    judge = SequentialJudge(POLICY)
    judge.observe(10, 1, elapsed_s=1.0)
    with pytest.raises(ValueError, match="went down"):
        judge.observe(5, 1, elapsed_s=2.0)
    with pytest.raises(ValueError, match="errors out of"):
        judge.observe(20, 21, elapsed_s=3.0)


def test_the_test_is_between_half_the_threshold_and_a_clearly_worse_rate_and_stays_finite_at_100() -> None:
    sprt = Sprt.for_threshold(99.0)
    assert sprt.p0 == pytest.approx(0.005)
    assert sprt.p1 == pytest.approx(0.10)
    perfect = Sprt.for_threshold(100.0)
    assert perfect.p0 > 0 and perfect.on_error > 0
    lenient = Sprt.for_threshold(60.0)
    assert lenient.p1 == pytest.approx(0.7)
    with pytest.raises(ValueError):
        SprtSettings(worse_factor=1.0)


def test_the_statistic_is_held_at_the_lower_boundary() -> None:
    sprt = Sprt.for_threshold(99.0)
    assert sprt.step(0.0, 100_000, 0) == sprt.lower


def test_quantiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert quantile(values, 0.99) == 99.0
    assert quantile(values, 0.5) == 50.0
    assert quantile([], 0.99) is None
