"""A tenant's stuck Kustomization, on a real kube-apiserver with real Flux, blocks the cutover by name.

team-a's manifest is broken in Git (a Widget the CRD's schema refuses); real
Flux turns team-a's Kustomization Ready=False with its own message. The gate,
configured with team-a as a tenant, reports it under team-a, and the pure
machine halts the cutover at WAIT_HEALTHY with a reason that names the tenant,
the object and Flux's message.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from fleet.adapters.kube import FluxHealthGate
from fleet.domain.health import HealthSettings, TenantSpec
from fleet.domain.machine import (
    CutoverRequested,
    EnvironmentState,
    FluxBootstrapped,
    HealthReported,
    Phase,
    SlotProvisioned,
    transition,
)
from fleet.domain.model import RolloutPolicy, SlotName, TeardownPolicy, Version
from fleet.rehearsal.peers import RealPeers

from .conftest import outputs_of
from .test_gate_on_real_flux import broken  # noqa: F401  (the fixture: team-a broken in Git on both slots)

pytestmark = [pytest.mark.realpeers, pytest.mark.timeout(400)]

TENANTS = HealthSettings(tenants=(
    TenantSpec("team-a", kustomizations=frozenset({"flux-system/team-a"})),
    TenantSpec("team-b", kustomizations=frozenset({"flux-system/team-b"})),
))


@pytest.mark.usefixtures("broken")
def test_a_tenants_stuck_kustomization_halts_the_cutover_naming_the_tenant_and_fluxs_message(
    converged: RealPeers, make_gate: Callable[..., FluxHealthGate]
) -> None:
    gate = make_gate(TENANTS)
    report = gate.wait_reconciled("prod", SlotName.GREEN, outputs_of(converged.slot("green")), 3.0)
    assert not report.reconciled
    assert "team-a" in report.blocking_tenants and "team-b" not in report.blocking_tenants, report.tenants
    rollout = RolloutPolicy(health_timeout_s=1.0)
    state = EnvironmentState.seed("prod", Version(1, 35))
    for event in (
        CutoverRequested(0.0, "c1", Version(1, 36), rollout, TeardownPolicy()),
        SlotProvisioned(0.0, SlotName.GREEN, Version(1, 36)),
        FluxBootstrapped(0.0, SlotName.GREEN),
        HealthReported(5.0, report),
    ):
        state = transition(state, event).state
    assert state.cutover is not None and state.cutover.phase is Phase.FAILED
    reason = state.cutover.reason or ""
    assert "tenant team-a: Kustomization/flux-system/team-a:" in reason, reason
    failure = next(f for f in report.failures if f.ref.name == "team-a")
    assert failure.message and failure.message in reason
    assert "team-b" not in reason
    assert "tenant platform" not in reason  # a reconcile in progress elsewhere does not crowd out the stuck tenant
