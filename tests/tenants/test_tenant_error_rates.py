"""Tenants judged on their own, as error rates over many seeded cutovers (simulated time, the real machine).

The traffic is a mix (``MixedTraffic``): each tenant a seeded Poisson stream at
its share of the slot's 200 requests/s, the slot's counts their sum, so the
slot's judge and the tenants' judges see the same requests. Every cutover
goes through the pure machine's SHIFT (10, 25, 50, 100 %, 60 s windows,
``successRate: 99``, ``failedChecks: 2``).
"""

from __future__ import annotations

from bench.tenants import World as Weights
from bench.tenants import shift
from fleet.adapters.analysis.tenants import TenantAnalysis
from fleet.domain.machine import Phase
from fleet.domain.tenants import TenantTraffic
from fleet.rehearsal.sim import FakeClock
from fleet.rehearsal.tenant_faults import MixedTraffic

TENANTS = {"payments": 0.005, "search": 0.05, "shop": 0.2}


def _run(seed: int, *, error_rates: dict[str, float], base: float, judge_tenants: bool) -> tuple[Phase, str]:
    clock, world = FakeClock(), Weights()
    mixed = MixedTraffic(clock, world, shares=TENANTS, error_rates=error_rates, base_error_rate=base, seed=seed)
    tenants = tuple(TenantTraffic(name, path_prefixes=(f"/{name}/",)) for name in TENANTS)
    analysis = TenantAnalysis(mixed, tenants, mixed) if judge_tenants else mixed
    state = shift(analysis, world, clock)
    assert state.cutover is not None
    return state.cutover.phase, state.cutover.reason or ""


def test_a_small_tenant_failing_completely_is_rolled_back_by_name_where_the_slot_alone_passes() -> None:
    runs = 60
    with_tenants = [_run(s, error_rates={"payments": 1.0}, base=0.0, judge_tenants=True) for s in range(runs)]
    slot_only = [_run(s, error_rates={"payments": 1.0}, base=0.0, judge_tenants=False) for s in range(runs)]
    rolled_back = [reason for phase, reason in with_tenants if phase is Phase.ROLLING_BACK]
    assert len(rolled_back) == runs, f"{runs - len(rolled_back)} of {runs} cutovers missed the failing tenant"
    assert all("tenant payments:" in reason for reason in rolled_back)
    passed_slot_only = sum(phase is Phase.BAKE for phase, _ in slot_only)
    assert passed_slot_only >= 0.95 * runs, f"the slot alone passed only {passed_slot_only} of {runs}"
    early = sum("step 1/4" in reason or "step 2/4" in reason for reason in rolled_back)
    assert early == runs, f"only {early} of {runs} caught by the second step (25 %)"


def test_healthy_tenants_at_half_the_allowed_error_rate_cause_no_more_false_rollbacks_than_one_percent() -> None:
    runs = 300
    results = [_run(1000 + s, error_rates={}, base=0.005, judge_tenants=True) for s in range(runs)]
    false = [reason for phase, reason in results if phase is not Phase.BAKE]
    assert len(false) <= 0.01 * runs, f"{len(false)} false rollbacks in {runs}: {false[:3]}"
