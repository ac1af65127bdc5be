"""``FluxHealthGate.watch`` over kmock: routine reconciles pass, regressions end the watch at once.

Flux marks every Kustomization Ready=Unknown/Reconciling for a few seconds
at the start of each reconcile, at the same revision. The watch must see
through that (a bake over a flapping slot ends at its time, healthy), and
still end at once on Ready=False, and within the grace on a reconcile that
never finishes.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from fleet.adapters.kube import FluxHealthGate
from fleet.domain.health import judge_live
from fleet.domain.model import SlotName
from fleet.domain.reports import HealthReport
from fleet.rehearsal import flux_objects as fo
from fleet.rehearsal.kube_sim import KubeApi

from .conftest import outputs_for, watching_threads

pytestmark = pytest.mark.timeout(30)

R1 = fo.revision("1")
R2 = fo.revision("2")
VERIFIED = {
    "flux-system/flux-system": R1,
    "Kustomization/flux-system/flux-system": R1,
    "Kustomization/flux-system/apps": R1,
}


def reconciling(rev: str = R1) -> dict[str, object]:
    return fo.kustomization("apps", applied=rev, attempted=rev, ready=None, depends_on=("flux-system",), path="./apps")


def settled(rev: str = R1) -> dict[str, object]:
    return fo.kustomization("apps", applied=rev, depends_on=("flux-system",), path="./apps")


async def watch(
    gate: FluxHealthGate, api: KubeApi, *, until_s: float, grace_s: float, interrupted: object = None
) -> tuple[asyncio.Future[HealthReport], float]:
    started = time.monotonic()

    def run() -> HealthReport:
        return gate.watch(
            "prod",
            SlotName.GREEN,
            outputs_for(api.kubeconfig()),
            verified=VERIFIED,
            grace_s=grace_s,
            until_s=until_s,
            interrupted=interrupted,  # type: ignore[arg-type]
        )

    return asyncio.ensure_future(asyncio.to_thread(run)), started


async def flap(api: KubeApi, *, times: int, on_s: float, off_s: float) -> None:
    for _ in range(times):
        await api.put(reconciling())
        await asyncio.sleep(on_s)
        await api.put(settled())
        await asyncio.sleep(off_s)


async def test_a_bake_over_a_slot_that_keeps_reconciling_ends_at_its_time_healthy(
    api: KubeApi, gate: FluxHealthGate
) -> None:
    await api.put_all(fo.reconciled_cluster(R1))
    task, started = await watch(gate, api, until_s=2.0, grace_s=0.6)
    await flap(api, times=5, on_s=0.25, off_s=0.15)
    report = await asyncio.wait_for(task, 5)
    assert time.monotonic() - started >= 2.0
    assert not judge_live(report, VERIFIED, 0.6).regressed
    assert watching_threads() == []


async def test_ready_false_ends_the_watch_at_once(api: KubeApi, gate: FluxHealthGate) -> None:
    await api.put_all(fo.reconciled_cluster(R1))
    task, _ = await watch(gate, api, until_s=20.0, grace_s=5.0)
    await asyncio.sleep(0.3)
    changed = time.monotonic()
    await api.put(fo.helm_release("podinfo", "podinfo", ready=False, released=False, reason="UpgradeFailed"))
    report = await asyncio.wait_for(task, 5)
    assert time.monotonic() - changed < 1.0
    judgement = judge_live(report, VERIFIED, 5.0)
    assert judgement.regressed and "UpgradeFailed" in judgement.reason


async def test_a_reconcile_that_never_ends_is_a_regression_once_the_grace_has_passed(
    api: KubeApi, gate: FluxHealthGate
) -> None:
    await api.put_all(fo.reconciled_cluster(R1))
    task, _ = await watch(gate, api, until_s=20.0, grace_s=0.8)
    await asyncio.sleep(0.2)
    stuck = time.monotonic()
    await api.put(reconciling())
    report = await asyncio.wait_for(task, 5)
    assert 0.8 <= time.monotonic() - stuck < 0.8 + 0.6
    judgement = judge_live(report, VERIFIED, 0.8)
    assert judgement.regressed and "grace" in judgement.reason


async def test_a_new_revision_applied_ends_the_watch_as_a_regression(api: KubeApi, gate: FluxHealthGate) -> None:
    await api.put_all(fo.reconciled_cluster(R1))
    task, _ = await watch(gate, api, until_s=20.0, grace_s=5.0)
    await asyncio.sleep(0.3)
    await api.put(fo.git_repository(rev=R2))
    await api.put(fo.kustomization("flux-system", applied=R2))
    report = await asyncio.wait_for(task, 5)
    assert "moved from" in judge_live(report, VERIFIED, 5.0).reason


async def test_a_check_before_an_increase_waits_for_reconciles_in_progress_to_finish(
    api: KubeApi, gate: FluxHealthGate
) -> None:
    await api.put_all([*fo.reconciled_cluster(R1), reconciling()])
    task, started = await watch(gate, api, until_s=0.0, grace_s=5.0)
    await asyncio.sleep(0.5)
    assert not task.done()
    await api.put(settled())
    report = await asyncio.wait_for(task, 5)
    assert 0.5 <= time.monotonic() - started < 2.0
    assert report.reconciled


async def test_a_check_of_a_settled_slot_returns_at_once(api: KubeApi, gate: FluxHealthGate) -> None:
    await api.put_all(fo.reconciled_cluster(R1))
    task, started = await watch(gate, api, until_s=0.0, grace_s=5.0)
    report = await asyncio.wait_for(task, 5)
    assert report.reconciled and time.monotonic() - started < 1.0


async def test_an_operators_request_ends_the_watch_within_a_second(api: KubeApi, gate: FluxHealthGate) -> None:
    await api.put_all(fo.reconciled_cluster(R1))
    asked = {"at": None}

    def interrupted() -> bool:
        if asked["at"] is None:
            asked["at"] = time.monotonic() + 0.3  # type: ignore[assignment]
        return time.monotonic() >= asked["at"]  # type: ignore[operator]

    task, started = await watch(gate, api, until_s=20.0, grace_s=5.0, interrupted=interrupted)
    await asyncio.wait_for(task, 5)
    assert time.monotonic() - started < 2.0
