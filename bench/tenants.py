"""Tenants judged on their own: a small tenant failing on green is caught, healthy tenants cause no false rollbacks.

Seeded cutovers in simulated time through the pure machine's SHIFT (steps 10,
25, 50, 100 %, 60 s windows, ``successRate: 99``, ``failedChecks: 2``) with
the real judges and ``TenantAnalysis``: the new slot's 200 requests/s are a
mix of three tenants (0.5 %, 5 % and 20 % of them) and the rest
(``fleet.rehearsal.tenant_faults.MixedTraffic``: a seeded Poisson stream per
tenant, the slot's counts their sum).

* caught: ``payments`` (0.5 %) answers only errors on green, everyone else
  0.5 % (half the allowed rate): the share of cutovers rolled back naming it
  (target >= 99 %); the same draws judged slot-wide only are the baseline
  (most of them would complete);
* false rollbacks: every tenant and the rest at 0.5 % errors: the share of
  cutovers rolled back (target < 1 %).

``python -m bench.tenants`` prints the figures; ``run()`` returns them for ``bench.run``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fleet.adapters.analysis.tenants import TenantAnalysis
from fleet.domain.machine import (
    Analyse,
    AnalysisCompleted,
    CheckHealth,
    CutoverRequested,
    EnvironmentState,
    FluxBootstrapped,
    HealthReported,
    ParityObserved,
    Phase,
    SetWeights,
    SlotProvisioned,
    WeightsApplied,
    pending,
    transition,
)
from fleet.domain.model import AnalysisPolicy, RolloutPolicy, SlotName, TeardownPolicy, Version
from fleet.domain.reports import HealthReport
from fleet.domain.tenants import TenantTraffic
from fleet.ports import Analysis
from fleet.rehearsal.sim import FakeClock
from fleet.rehearsal.tenant_faults import MixedTraffic

ROLLOUT = RolloutPolicy(steps=(10, 25, 50, 100), analysis=AnalysisPolicy(success_rate=99.0, window_s=60.0))
SHARES = {"payments": 0.005, "search": 0.05, "shop": 0.2}


class World:
    """What ``MixedTraffic`` reads the slots' weights from."""

    def __init__(self, weights: dict[str, int] | None = None) -> None:
        self.weights = weights or {"blue": 100, "green": 0}


def _healthy(slot: SlotName) -> HealthReport:
    return HealthReport(slot=slot, reconciled=True, revisions={"flux-system/flux-system": "main@sha1:1"})


def shift(analysis: Analysis, world: World, clock: FakeClock, rollout: RolloutPolicy = ROLLOUT) -> EnvironmentState:
    """A cutover from blue to green through SHIFT, the machine deciding; the state once it left SHIFT."""
    now = clock.now
    green = SlotName.GREEN
    state = EnvironmentState.seed("env", Version(1, 29))
    for event in (
        CutoverRequested(now(), "c1", Version(1, 30), rollout, TeardownPolicy()),
        SlotProvisioned(now(), green, Version(1, 30)),
        FluxBootstrapped(now(), green),
        HealthReported(now(), _healthy(green)),
        ParityObserved(now(), _healthy(SlotName.BLUE), _healthy(green)),
    ):
        state = transition(state, event).state
    while state.cutover is not None and state.cutover.phase is Phase.SHIFT:
        command = pending(state)
        if isinstance(command, CheckHealth):
            state = transition(state, HealthReported(now(), _healthy(green))).state
        elif isinstance(command, SetWeights):
            world.weights = {"blue": command.weights.blue, "green": command.weights.green}
            state = transition(state, WeightsApplied(now(), command.weights)).state
        elif isinstance(command, Analyse):
            verdict = analysis.analyse("env", command.slot, rollout.analysis)
            state = transition(state, AnalysisCompleted(now(), verdict)).state
        else:
            raise AssertionError(f"unexpected command {command}")
    return state


def cutover(seed: int, *, error_rates: dict[str, float], base: float, judge_tenants: bool) -> tuple[Phase, str]:
    clock, world = FakeClock(), World()
    mixed = MixedTraffic(clock, world, shares=SHARES, error_rates=error_rates, base_error_rate=base, seed=seed)
    tenants = tuple(TenantTraffic(name, path_prefixes=(f"/{name}/",)) for name in SHARES)
    analysis: Analysis = TenantAnalysis(mixed, tenants, mixed) if judge_tenants else mixed
    state = shift(analysis, world, clock)
    assert state.cutover is not None
    return state.cutover.phase, state.cutover.reason or ""


def run(caught_runs: int = 200, healthy_runs: int = 500) -> dict[str, float]:
    failing = {"payments": 1.0}
    judged = [cutover(9000 + s, error_rates=failing, base=0.005, judge_tenants=True) for s in range(caught_runs)]
    alone = [cutover(9000 + s, error_rates=failing, base=0.005, judge_tenants=False) for s in range(caught_runs)]
    healthy = [cutover(5000 + s, error_rates={}, base=0.005, judge_tenants=True) for s in range(healthy_runs)]
    caught = sum(p is Phase.ROLLING_BACK and "tenant payments:" in r for p, r in judged)
    return {
        "cutovers_failing_tenant": float(caught_runs),
        "caught_pct": 100.0 * caught / caught_runs,
        "slot_only_completed_pct": 100.0 * sum(p is Phase.BAKE for p, _ in alone) / caught_runs,
        "cutovers_healthy": float(healthy_runs),
        "false_rollback_pct": 100.0 * sum(p is not Phase.BAKE for p, _ in healthy) / healthy_runs,
    }


if __name__ == "__main__":
    figures = run()
    print(json.dumps(figures, indent=2))
    sys.exit(0 if figures["caught_pct"] >= 99 and figures["false_rollback_pct"] < 1 else 1)
