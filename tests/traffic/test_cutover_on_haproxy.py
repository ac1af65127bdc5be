"""The real engine on a real HAProxy: healthy steps fail nothing, a failing green is rolled back at once."""

from __future__ import annotations

import time

import pytest

from fleet.adapters.analysis.haproxy import HAProxyAnalysis
from fleet.adapters.traffic.haproxy import HAProxyTraffic
from fleet.domain.model import AnalysisPolicy, SlotName, Weights
from fleet.domain.reports import Outcome
from fleet.rehearsal.backends import SlotBackend
from fleet.rehearsal.haproxy_process import HAProxyProcess
from fleet.rehearsal.load import LoadGenerator, failures, in_range, observed_split, summarise
from tests.traffic.engine_run import engine_cutover
from tests.traffic.support import needs_haproxy

pytestmark = needs_haproxy

SHORT = AnalysisPolicy(success_rate=99.0, p99_latency_ms=500.0, failed_checks=2, window_s=1.0, min_requests=10)


def test_a_healthy_cutover_at_200_requests_per_second_fails_no_request(haproxy: HAProxyProcess) -> None:
    traffic = HAProxyTraffic(haproxy.socket_path)
    analysis = HAProxyAnalysis(haproxy.socket_path)
    # Paced above 200/s so that the achieved rate stays at or above 200/s on a busy machine.
    with LoadGenerator(haproxy.url, rate=260, total=2600, time_limit_s=9) as load:
        time.sleep(0.2)
        result = engine_cutover(haproxy, traffic, analysis, env="test", steps=(10, 25, 50, 100), policy=SHORT)
        time.sleep(0.2)
    records = load.records
    assert result.completed
    assert [s.weights.green for s in result.steps] == [10, 25, 50, 100]
    for step in result.steps:
        assert [v.outcome for v in step.verdicts] == [Outcome.PASS]
        assert step.verdicts[0].evidence.duration_s >= SHORT.window_s
        assert step.verdicts[0].evidence.requests >= SHORT.min_requests
    assert summarise(records)["rate"] >= 200
    assert failures(records) == []
    assert observed_split(records, result.steps[-1].set_at + 0.02) == {"green": 100.0}


def test_a_green_that_starts_failing_is_failed_early_and_rolled_back(
    haproxy: HAProxyProcess, backends: dict[str, SlotBackend]
) -> None:
    traffic = HAProxyTraffic(haproxy.socket_path)
    analysis = HAProxyAnalysis(haproxy.socket_path)
    policy = AnalysisPolicy(success_rate=99.0, failed_checks=2, window_s=10.0, min_requests=10)
    backends["green"].set_faults(error_rate=0.5)
    with LoadGenerator(haproxy.url, rate=200, total=3000, time_limit_s=8) as load:
        time.sleep(0.2)
        result = engine_cutover(haproxy, traffic, analysis, env="test", steps=(10, 25, 50, 100), policy=policy)
        time.sleep(1.0)
    records = load.records
    assert not result.completed and result.rolled_back_at is not None
    assert len(result.steps) == 1
    verdicts = result.steps[0].verdicts
    assert [v.outcome for v in verdicts] == [Outcome.FAIL, Outcome.FAIL]
    assert all(v.evidence.decided_early for v in verdicts)
    assert all(v.evidence.duration_s < 2.0 for v in verdicts)
    assert traffic.get_weights("test") == Weights(blue=100, green=0)
    after = in_range(records, result.rolled_back_at + 0.02)
    assert len(after) > 100
    assert observed_split(after) == {"blue": 100.0}
    assert failures(after) == []


def test_a_step_with_too_little_traffic_is_inconclusive(haproxy: HAProxyProcess) -> None:
    HAProxyTraffic(haproxy.socket_path).set_weights("test", Weights(blue=90, green=10))
    verdict = HAProxyAnalysis(haproxy.socket_path).analyse("test", SlotName.GREEN, SHORT)
    assert verdict.outcome is Outcome.INCONCLUSIVE
    assert verdict.evidence.requests == 0
    assert verdict.evidence.source == "haproxy app/green"


def test_a_slow_green_fails_on_latency(haproxy: HAProxyProcess, backends: dict[str, SlotBackend]) -> None:
    HAProxyTraffic(haproxy.socket_path).set_weights("test", Weights(blue=50, green=50))
    backends["green"].set_faults(latency_s=0.12)
    policy = AnalysisPolicy(p99_latency_ms=100.0, window_s=2.0, min_requests=5)
    # a p99 counts over p99_min_requests (200) requests; green gets half of 300/s for 2 s
    with LoadGenerator(haproxy.url, rate=300, total=1200, time_limit_s=4, threads=64):
        verdict = HAProxyAnalysis(haproxy.socket_path).analyse("test", SlotName.GREEN, policy)
    assert verdict.outcome is Outcome.FAIL
    assert verdict.evidence.p99_ms is not None and verdict.evidence.p99_ms >= 100
    assert "p99 latency" in verdict.reason


@pytest.mark.parametrize("latency", ["average", "none"])
def test_the_other_latency_modes_pass_a_healthy_slot(haproxy: HAProxyProcess, latency: str) -> None:
    HAProxyTraffic(haproxy.socket_path).set_weights("test", Weights(blue=50, green=50))
    with LoadGenerator(haproxy.url, rate=100, total=200, time_limit_s=3):
        verdict = HAProxyAnalysis(haproxy.socket_path, latency=latency).analyse("test", SlotName.GREEN, SHORT)
    assert verdict.outcome is Outcome.PASS
    assert (verdict.evidence.p99_ms is None) == (latency == "none")
