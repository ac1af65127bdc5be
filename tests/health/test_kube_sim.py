"""The threaded kmock simulator that ``fleet rehearse`` will build on, and the gate against it."""

from __future__ import annotations

import json
import threading
import time
import urllib.request

import pytest

from fleet.adapters.kube import FluxHealthGate
from fleet.domain.model import SlotName
from fleet.rehearsal import flux_objects as fo
from fleet.rehearsal.kube_sim import KubeSim, merge_patch

from .conftest import outputs_for, watching_threads

pytestmark = pytest.mark.timeout(30)

R1 = fo.revision("1")
R2 = fo.revision("2")


def fetch(sim: KubeSim, path: str) -> dict[str, object]:
    request = urllib.request.Request(sim.url + path, headers={"Authorization": "Bearer x"})
    with urllib.request.urlopen(request, timeout=5) as response:
        body: dict[str, object] = json.load(response)
    return body


class TestTheSimulator:
    def test_it_serves_on_a_local_port_with_a_dummy_token(self, sim: KubeSim) -> None:
        config = sim.kubeconfig()
        assert config["clusters"][0]["cluster"]["server"].startswith("http://127.0.0.1:")
        assert len(config["users"][0]["user"]["token"]) >= 16

    def test_put_creates_then_replaces_bumping_the_resource_version(self, sim: KubeSim) -> None:
        first = sim.put(fo.kustomization("apps", applied=R1, suspend=True))
        second = sim.put(fo.kustomization("apps", applied=R2))
        assert int(second["metadata"]["resourceVersion"]) > int(first["metadata"]["resourceVersion"])
        stored = sim.get("Kustomization", "flux-system", "apps")
        assert stored is not None
        assert stored["status"]["lastAppliedRevision"] == R2
        assert stored["spec"]["suspend"] is False

    def test_delete_removes_the_object(self, sim: KubeSim) -> None:
        sim.put(fo.helm_release("podinfo", "podinfo"))
        sim.delete("HelmRelease", "podinfo", "podinfo")
        assert sim.get("HelmRelease", "podinfo", "podinfo") is None
        items = fetch(sim, "/apis/helm.toolkit.fluxcd.io/v2/helmreleases")["items"]
        assert items == []

    def test_without_flux_the_flux_apis_answer_404(self) -> None:
        with KubeSim(flux_installed=False) as bare:
            with pytest.raises(urllib.error.HTTPError) as caught:
                fetch(bare, "/apis/kustomize.toolkit.fluxcd.io/v1/kustomizations")
            assert caught.value.code == 404
            bare.install_flux()
            assert fetch(bare, "/apis/kustomize.toolkit.fluxcd.io/v1/kustomizations")["items"] == []

    def test_a_merge_patch_removes_keys_that_are_gone(self) -> None:
        assert merge_patch({"a": 1, "b": {"c": 2, "d": 3}}, {"b": {"c": 2}, "e": [1]}) == {
            "a": None,
            "b": {"d": None},
            "e": [1],
        }


class TestTheGateAgainstTheSimulator:
    def test_the_gate_returns_when_the_simulated_flux_applies_the_new_revision(self, sim: KubeSim) -> None:
        sim.put_all(fo.reconciled_cluster(R1))
        sim.put(fo.git_repository(rev=R2))
        changed_at: list[float] = []

        def flux_applies() -> None:
            time.sleep(0.5)
            sim.put(fo.kustomization("flux-system", applied=R2))
            sim.put(fo.kustomization("apps", applied=R2, depends_on=("flux-system",), path="./apps"))
            changed_at.append(time.monotonic())

        applier = threading.Thread(target=flux_applies)
        applier.start()
        with FluxHealthGate() as gate:
            report = gate.wait_reconciled("prod", SlotName.GREEN, outputs_for(sim.kubeconfig()), 10)
            returned_at = time.monotonic()
        applier.join()
        assert report.reconciled
        assert returned_at - changed_at[0] < 0.5
        assert watching_threads() == []
