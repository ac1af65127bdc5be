"""The haproxy source blames the slot for HAProxy's own 503s only when the slot was the one meant to answer."""

from __future__ import annotations

import pytest

from fleet.adapters.analysis.haproxy import HAProxyAnalysis
from fleet.adapters.traffic.haproxy import HAProxyTraffic, RuntimeApi
from fleet.domain.model import AnalysisPolicy, SlotName, Weights
from fleet.domain.reports import Outcome
from fleet.rehearsal.backends import SlotBackend
from fleet.rehearsal.haproxy_process import HAProxyProcess
from fleet.rehearsal.load import LoadGenerator
from tests.traffic.support import without_haproxy

pytestmark = [pytest.mark.haproxy, without_haproxy]

POLICY = AnalysisPolicy(success_rate=99.0, window_s=3.0, min_requests=10)


def test_a_slot_holding_all_the_weight_but_unavailable_fails_on_the_503s_users_got(
    haproxy: HAProxyProcess, backends: dict[str, SlotBackend]
) -> None:
    HAProxyTraffic(haproxy.socket_path).set_weights("t", Weights(blue=0, green=100))
    RuntimeApi(haproxy.socket_path).execute("disable server app/green")  # MAINT: "no server available"
    with LoadGenerator(haproxy.url, rate=50, total=300, time_limit_s=5) as load:
        verdict = HAProxyAnalysis(haproxy.socket_path, latency="none").analyse("t", SlotName.GREEN, POLICY)
        users_got_503 = sum(1 for r in load.records if r.status == 503)
    assert users_got_503 > 0 and backends["green"].served == 0
    assert verdict.outcome is Outcome.FAIL, verdict.reason
    assert verdict.evidence.errors == verdict.evidence.requests >= 3


def test_the_new_slot_is_not_blamed_for_503s_while_the_old_slot_still_takes_traffic(
    haproxy: HAProxyProcess, backends: dict[str, SlotBackend]
) -> None:
    HAProxyTraffic(haproxy.socket_path).set_weights("t", Weights(blue=90, green=10))
    with LoadGenerator(haproxy.url, rate=100, total=600, time_limit_s=5):
        verdict = HAProxyAnalysis(haproxy.socket_path, latency="none").analyse("t", SlotName.GREEN, POLICY)
    assert verdict.outcome is Outcome.PASS, verdict.reason
    assert verdict.evidence.errors == 0
