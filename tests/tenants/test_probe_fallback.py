"""A tenant with too little traffic to judge is judged by its own probes (real HTTP to a real backend)."""

from __future__ import annotations

import pytest

from bench.tenants import World as Weights
from fleet.adapters.analysis.tenants import TenantAnalysis
from fleet.domain.model import AnalysisPolicy, SlotName
from fleet.domain.reports import Outcome
from fleet.domain.tenants import TenantTraffic
from fleet.rehearsal.backends import SlotBackend
from fleet.rehearsal.sim import FakeClock
from fleet.rehearsal.tenant_faults import MixedTraffic


@pytest.mark.parametrize(("probe_errors", "outcome"), [(1.0, Outcome.FAIL), (0.0, Outcome.PASS)])
def test_a_tiny_tenants_probes_decide_for_it(probe_errors: float, outcome: Outcome) -> None:
    clock = FakeClock()
    world = Weights({"blue": 90, "green": 10})
    mixed = MixedTraffic(clock, world, shares={"docs": 0.0001}, seed=3)
    with SlotBackend("green", error_rate=probe_errors) as backend:
        tenant = TenantTraffic("docs", path_prefixes=("/docs/",), probes={"green": backend.url})
        analysis = TenantAnalysis(mixed, (tenant,), mixed)
        verdict = analysis.analyse("env", SlotName.GREEN, AnalysisPolicy(window_s=30.0, min_requests=20))
        served = backend.served
    (docs,) = verdict.tenants
    assert docs.outcome is outcome, docs
    assert docs.evidence.requests < 20 and docs.probe is not None and docs.probe.requests == served
    assert "too little traffic to judge" in docs.reason
    assert verdict.outcome is outcome
    if outcome is Outcome.FAIL:
        assert verdict.reason.startswith("tenant docs: too little traffic to judge")
