"""``FluxHealthGate.report`` over real HTTP against kmock: one listing, judged, errors translated."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Callable

import kmock
import pytest
from kmock import KubernetesError

from fleet.adapters.kube import FluxHealthGate
from fleet.domain.health import HealthSettings, TenantSpec
from fleet.domain.model import SlotName
from fleet.domain.reports import HealthReport, Secret
from fleet.errors import AccessDenied, ConfigError, TransientError
from fleet.rehearsal import flux_objects as fo
from fleet.rehearsal.kube_sim import KubeApi, KubeSim, kubeconfig_for

from .conftest import outputs_for

pytestmark = pytest.mark.timeout(30)

R1 = fo.revision("1")
R2 = fo.revision("2")
KUSTOMIZATIONS = kmock.resource("kustomize.toolkit.fluxcd.io", "v1", "kustomizations")


async def report_of(gate: FluxHealthGate, api: KubeApi, slot: SlotName = SlotName.GREEN) -> HealthReport:
    return await asyncio.to_thread(gate.report, "prod", slot, outputs_for(api.kubeconfig(), slot))


class TestReportingASlot:
    async def test_a_reconciled_cluster_reports_reconciled_with_its_revision(
        self, any_api: KubeApi, gate: FluxHealthGate
    ) -> None:
        await any_api.put_all(fo.reconciled_cluster(R1))
        report = await report_of(gate, any_api)
        assert report.reconciled
        assert report.revisions == {"flux-system/flux-system": R1}
        assert len(report.ready) == 4

    async def test_a_stale_ready_from_the_previous_revision_does_not_pass(
        self, any_api: KubeApi, gate: FluxHealthGate
    ) -> None:
        await any_api.put_all(fo.reconciled_cluster(R1))
        await any_api.put(fo.git_repository(rev=R2))
        report = await report_of(gate, any_api)
        assert not report.reconciled
        assert {f.reason for f in report.failures} == {"StaleRevision"}

    async def test_flux_not_installed_is_a_failing_report_not_an_exception(
        self, bare_api: KubeApi, gate: FluxHealthGate
    ) -> None:
        report = await report_of(gate, bare_api)
        assert not report.reconciled
        assert {f.reason for f in report.failures} == {"FluxNotInstalled"}
        assert any("not installed" in f.message for f in report.failures)

    async def test_tenants_appear_in_the_report(
        self, any_api: KubeApi, make_gate: Callable[..., FluxHealthGate]
    ) -> None:
        gate = make_gate(HealthSettings(tenants=(TenantSpec("web", namespaces=frozenset({"podinfo"})),)))
        await any_api.put_all(fo.reconciled_cluster(R1))
        await any_api.put(fo.helm_release("podinfo", "podinfo", ready=False, released=False, reason="InstallFailed"))
        report = await report_of(gate, any_api)
        assert report.blocking_tenants == ("web",)

    async def test_objects_are_read_with_the_slots_own_credentials(
        self, api: KubeApi, gate: FluxHealthGate, kmock: kmock.KubernetesEmulator
    ) -> None:
        await api.put_all(fo.reconciled_cluster(R1))
        await report_of(gate, api)
        reads = list(kmock["get"])
        assert reads
        assert all(r.headers.get("Authorization") == f"Bearer {api.token}" for r in reads)


class TestTwoClustersAtOnce:
    async def test_blue_and_green_are_read_from_their_own_servers(
        self, api: KubeApi, gate: FluxHealthGate, sim: KubeSim
    ) -> None:
        await api.put_all(fo.reconciled_cluster(R1))
        sim.put_all(fo.reconciled_cluster(R2))
        sim.put(fo.kustomization("apps", applied=R1))
        green = await report_of(gate, api, SlotName.GREEN)
        blue = await asyncio.to_thread(gate.report, "prod", SlotName.BLUE, outputs_for(sim.kubeconfig(), SlotName.BLUE))
        again = await report_of(gate, api, SlotName.GREEN)
        assert green.reconciled and again.reconciled
        assert [(f.ref.name, f.reason) for f in blue.failures] == [("apps", "StaleRevision")]
        assert green.revisions == {"flux-system/flux-system": R1}


class TestErrors:
    async def test_a_forbidden_list_fails_at_once_naming_cluster_and_permission(
        self, api: KubeApi, gate: FluxHealthGate, kmock: kmock.KubernetesEmulator
    ) -> None:
        await api.put_all(fo.reconciled_cluster(R1))
        kmock["list", KUSTOMIZATIONS] << KubernetesError(
            status=403, reason="Forbidden", message='kustomizations is forbidden: User "fleet" cannot list'
        )
        with pytest.raises(AccessDenied) as caught:
            await report_of(gate, api)
        message = str(caught.value)
        assert "prod/green" in message
        assert api.url in message
        assert "'list'" in message and "kustomizations.kustomize.toolkit.fluxcd.io" in message
        assert len(kmock["list", KUSTOMIZATIONS]) == 1
        assert caught.value.__cause__ is not None

    async def test_an_unauthenticated_request_is_access_denied(
        self, api: KubeApi, gate: FluxHealthGate, kmock: kmock.KubernetesEmulator
    ) -> None:
        kmock["list"] << KubernetesError(status=401, reason="Unauthorized", message="Unauthorized")
        with pytest.raises(AccessDenied, match="not authenticated"):
            await report_of(gate, api)

    async def test_server_errors_are_retried_with_backoff(
        self, api: KubeApi, gate: FluxHealthGate, kmock: kmock.KubernetesEmulator
    ) -> None:
        await api.put_all(fo.reconciled_cluster(R1))
        kmock["list", KUSTOMIZATIONS][:2] << KubernetesError(status=503, reason="ServiceUnavailable")
        report = await report_of(gate, api)
        assert report.reconciled
        assert len(kmock["list", KUSTOMIZATIONS]) == 3

    async def test_persistent_server_errors_end_as_a_transient_error(
        self, api: KubeApi, gate: FluxHealthGate, kmock: kmock.KubernetesEmulator
    ) -> None:
        kmock["list", KUSTOMIZATIONS] << KubernetesError(status=500, reason="InternalError", message="etcd")
        with pytest.raises(TransientError, match="HTTP 500"):
            await report_of(gate, api)
        assert len(kmock["list", KUSTOMIZATIONS]) == gate.backoff.attempts

    def test_an_unreachable_server_is_a_transient_error(self, gate: FluxHealthGate) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        kubeconfig = kubeconfig_for(f"http://127.0.0.1:{port}", "dummy-token")
        with pytest.raises(TransientError, match="prod/green"):
            gate.report("prod", SlotName.GREEN, outputs_for(kubeconfig))

    def test_a_kubeconfig_that_is_not_one_is_a_config_error(self, gate: FluxHealthGate) -> None:
        outputs = outputs_for(json.loads('{"clusters": [{"cluster": {"server": "http://127.0.0.1:1"}}]}'))
        broken = type(outputs)(
            slot=outputs.slot,
            version=outputs.version,
            endpoint=outputs.endpoint,
            ingress=outputs.ingress,
            kubeconfig=Secret("::: not yaml ["),
        )
        with pytest.raises(ConfigError, match="prod/green"):
            gate.report("prod", SlotName.GREEN, broken)
