"""The polling loop every analysis source shares: it gives a window up at once when an operator's request waits."""

from __future__ import annotations

from collections.abc import Callable

from fleet.adapters.analysis.window import Reading, judge_window
from fleet.domain.analysis import SequentialJudge
from fleet.domain.model import AnalysisPolicy
from fleet.domain.reports import Outcome
from fleet.fakes import FakeClock

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
