"""``FluxHealthGate.wait_reconciled`` over kmock: event-driven, resilient, and leaving no thread behind."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import kmock
import pytest
from kmock import KubernetesError

from fleet.adapters.kube import FluxHealthGate
from fleet.errors import AccessDenied
from fleet.rehearsal import flux_objects as fo
from fleet.rehearsal.kube_sim import KubeApi

from .conftest import Waiting, watching_threads

pytestmark = pytest.mark.timeout(30)

R1 = fo.revision("1")
R2 = fo.revision("2")
KUSTOMIZATIONS = kmock.resource("kustomize.toolkit.fluxcd.io", "v1", "kustomizations")
HELMRELEASES = kmock.resource("helm.toolkit.fluxcd.io", "v2", "helmreleases")

Start = Callable[..., Awaitable[Waiting]]


async def new_revision_pending(api: KubeApi) -> None:
    """Blue's state: R1 applied everywhere, and Git has just moved to R2."""
    await api.put_all(fo.reconciled_cluster(R1))
    await api.put(fo.git_repository(rev=R2))


async def apply_revision(api: KubeApi, rev: str) -> float:
    await api.put(fo.kustomization("flux-system", applied=rev))
    await api.put(fo.kustomization("apps", applied=rev, depends_on=("flux-system",), path="./apps"))
    return time.monotonic()


class TestReturningAsSoonAsReconciled:
    async def test_an_already_reconciled_slot_returns_at_once(self, any_api: KubeApi, waiting: Start) -> None:
        await any_api.put_all(fo.reconciled_cluster(R1))
        report = await (await waiting(any_api, settle_s=0)).result(2)
        assert report.reconciled

    async def test_the_gate_returns_within_a_fraction_of_a_second_of_the_last_change(
        self, any_api: KubeApi, waiting: Start
    ) -> None:
        await new_revision_pending(any_api)
        wait = await waiting(any_api)
        assert not wait.done()
        changed_at = await apply_revision(any_api, R2)
        report = await wait.result()
        assert report.reconciled
        assert report.revisions == {"flux-system/flux-system": R2}
        assert wait.returned_at[0] - changed_at < 0.5

    async def test_a_stale_ready_from_the_previous_revision_does_not_pass(
        self, any_api: KubeApi, waiting: Start
    ) -> None:
        await new_revision_pending(any_api)
        wait = await waiting(any_api)
        await any_api.put(fo.kustomization("apps", applied=R1, generation=2))  # touched, still stale
        await asyncio.sleep(0.3)
        assert not wait.done()
        await apply_revision(any_api, R2)
        assert (await wait.result()).reconciled

    async def test_a_suspended_kustomization_blocks_until_resumed(self, any_api: KubeApi, waiting: Start) -> None:
        await any_api.put_all(fo.reconciled_cluster(R1))
        await any_api.put(fo.kustomization("apps", applied=R1, suspend=True))
        wait = await waiting(any_api)
        assert not wait.done()
        await any_api.put(fo.kustomization("apps", applied=R1))
        assert (await wait.result()).reconciled

    async def test_a_stalled_helm_release_blocks_until_a_later_upgrade_succeeds(
        self, any_api: KubeApi, waiting: Start
    ) -> None:
        await any_api.put_all(fo.reconciled_cluster(R1))
        await any_api.put(fo.helm_release("podinfo", "podinfo", ready=False, released=False, stalled=True))
        wait = await waiting(any_api)
        assert not wait.done()
        await any_api.put(fo.helm_release("podinfo", "podinfo", generation=2))
        assert (await wait.result()).reconciled

    async def test_a_deleted_broken_object_no_longer_blocks(self, any_api: KubeApi, waiting: Start) -> None:
        await any_api.put_all(fo.reconciled_cluster(R1))
        await any_api.put(fo.helm_release("legacy", "podinfo", ready=False, released=False))
        wait = await waiting(any_api)
        await any_api.delete("HelmRelease", "podinfo", "legacy")
        assert (await wait.result()).reconciled

    async def test_a_controller_coming_back_unblocks_the_slot(self, any_api: KubeApi, waiting: Start) -> None:
        await any_api.put_all(fo.reconciled_cluster(R1))
        await any_api.put(fo.deployment("kustomize-controller", available=0))
        wait = await waiting(any_api)
        assert not wait.done()
        await any_api.put(fo.deployment("kustomize-controller"))
        assert (await wait.result()).reconciled

    async def test_flux_installed_during_the_wait_is_noticed(self, bare_api: KubeApi, waiting: Start) -> None:
        wait = await waiting(bare_api)
        assert not wait.done()
        bare_api.install()
        await bare_api.put_all(fo.reconciled_cluster(R1))
        report = await wait.result()
        assert report.reconciled


class TestTimingOut:
    async def test_the_last_failing_report_is_returned_when_time_runs_out(
        self, any_api: KubeApi, waiting: Start
    ) -> None:
        await new_revision_pending(any_api)
        started = time.monotonic()
        report = await (await waiting(any_api, timeout_s=1.0, settle_s=0)).result()
        assert 1.0 <= time.monotonic() - started < 2.0
        assert not report.reconciled
        assert {f.reason for f in report.failures} == {"StaleRevision"}

    async def test_no_watch_thread_outlives_the_call(self, any_api: KubeApi, waiting: Start) -> None:
        await new_revision_pending(any_api)
        await (await waiting(any_api, timeout_s=0.5, settle_s=0)).result()
        assert watching_threads() == []
        wait = await waiting(any_api)
        await apply_revision(any_api, R2)
        await wait.result()
        assert watching_threads() == []


class TestRecoveringWatches:
    async def test_a_410_gone_makes_the_gate_list_again(
        self, api: KubeApi, waiting: Start, gate: FluxHealthGate, kmock: kmock.KubernetesEmulator
    ) -> None:
        await new_revision_pending(api)
        gone = {
            "kind": "Status",
            "apiVersion": "v1",
            "status": "Failure",
            "code": 410,
            "reason": "Expired",
            "message": "too old resource version: 1000 (2000)",
        }
        kmock["watch", KUSTOMIZATIONS][:1] << ({"type": "ERROR", "object": gone},)
        wait = await waiting(api)
        await apply_revision(api, R2)
        assert (await wait.result()).reconciled
        assert gate.last_wait.relists >= 1
        assert len(kmock["list", KUSTOMIZATIONS]) >= 2

    async def test_a_dropped_connection_is_reopened(
        self, api: KubeApi, waiting: Start, gate: FluxHealthGate, kmock: kmock.KubernetesEmulator
    ) -> None:
        await new_revision_pending(api)
        # A raw TCP abort mid-stream: kmock has no public knob for it, so reach its aiohttp request.
        kmock["watch", KUSTOMIZATIONS][:1] << (b"", lambda req: req._raw_request.transport.abort())
        wait = await waiting(api)
        await apply_revision(api, R2)
        assert (await wait.result()).reconciled
        assert gate.last_wait.reconnects >= 1
        assert len(kmock["watch", KUSTOMIZATIONS]) >= 2

    async def test_a_watch_broken_off_by_a_server_error_is_reopened(
        self, api: KubeApi, waiting: Start, gate: FluxHealthGate, kmock: kmock.KubernetesEmulator
    ) -> None:
        await new_revision_pending(api)
        kmock["watch", KUSTOMIZATIONS][:2] << (b"", RuntimeError("apiserver restarting"))
        wait = await waiting(api)
        await apply_revision(api, R2)
        assert (await wait.result()).reconciled
        assert len(kmock["watch", KUSTOMIZATIONS]) >= 3

    async def test_a_forbidden_watch_ends_the_wait_at_once_with_access_denied(
        self, api: KubeApi, waiting: Start, kmock: kmock.KubernetesEmulator
    ) -> None:
        await new_revision_pending(api)
        kmock["watch", HELMRELEASES] << KubernetesError(status=403, reason="Forbidden", message="cannot watch")
        wait = await waiting(api, timeout_s=20.0, settle_s=0)
        with pytest.raises(AccessDenied) as caught:
            await wait.result(2.0)
        assert "'watch'" in str(caught.value) and "helmreleases.helm.toolkit.fluxcd.io" in str(caught.value)
        assert "prod/green" in str(caught.value)
        assert watching_threads() == []
