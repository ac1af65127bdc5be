"""The project's own program on the `local` driver, for real: Pulumi brings up a slot, Flux syncs it.

A hand-run ``pulumi up -s demo`` from a copy of the project (Pulumi.yaml,
stacks/, fleet/) seeds the blue slot: a host process with etcd, a real
kube-apiserver and a Git server; the Flux bootstrap applies Flux's CRDs and
the flux-system GitRepository and Kustomization; the slot host starts the
real source- and kustomize-controller, which apply the GitOps repository
with the slot's substitutions. A second preview plans nothing; draining
suspends Flux on the real API server; ``pulumi destroy`` leaves no process,
no file and no stack resource behind.

Needs the engine (``python3 tools/peers/build.py --only pulumi pulumi-kubernetes``)
and the real peers (``python3 tools/peers/build.py``); skips naming them otherwise.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from fleet.adapters.kube_teardown import drain_cluster
from fleet.domain.reports import Secret
from fleet.infra.local_slot import process_alive
from tests.realpulumi.conftest import Pulumi

pytestmark = [pytest.mark.realpulumi, pytest.mark.slow, pytest.mark.timeout(900)]

def kube_get(kubeconfig: dict[str, Any], path: str) -> dict[str, Any] | None:
    import ssl
    import urllib.error
    import urllib.request
    from base64 import b64decode

    cluster = kubeconfig["clusters"][0]["cluster"]
    context = ssl.create_default_context(cadata=b64decode(cluster["certificate-authority-data"]).decode())
    request = urllib.request.Request(cluster["server"] + path)
    request.add_header("Authorization", f"Bearer {kubeconfig['users'][0]['user']['token']}")
    try:
        with urllib.request.urlopen(request, timeout=5, context=context) as response:
            value: dict[str, Any] = json.loads(response.read())
            return value
    except urllib.error.HTTPError as err:
        if err.code == 404:
            return None
        raise


def wait_for(what: str, check: Any, timeout_s: float = 240.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s:g}s")
        time.sleep(1)


def test_a_local_slot_is_created_synced_by_real_flux_drained_and_destroyed(
    demo_project: Path, tmp_path: Path, pulumi: Pulumi
) -> None:
    project = demo_project
    pulumi(project, "stack", "init", "demo")
    # The store is elsewhere and empty: a hand-run up seeds blue as the active slot.
    os.environ.pop("FLEET_LAYOUT", None)
    pulumi(project, "config", "set", "fleet:state", str(tmp_path / "store"), "-s", "demo")
    try:
        pulumi(project, "up", "--yes", "--skip-preview", "-s", "demo", timeout_s=600)
        outputs = json.loads(pulumi(project, "stack", "output", "--json", "--show-secrets", "-s", "demo").stdout)
        assert outputs["blue_role"] == "active" and outputs["blue_bootstrapped"] is True
        kubeconfig = json.loads(outputs["blue_kubeconfig"])
        assert outputs["blue_endpoint"].startswith("https://127.0.0.1:")
        ready = json.loads((project / ".fleet" / "local" / "demo-blue" / "ready.json").read_text())
        assert process_alive(ready["pid"])

        synced = wait_for(
            "the demo app applied by real Flux",
            lambda: kube_get(kubeconfig, "/api/v1/namespaces/demo-app/configmaps/slot-info"),
        )
        assert synced["data"] == {"slot": "blue", "env": "demo"}
        source = kube_get(
            kubeconfig, "/apis/source.toolkit.fluxcd.io/v1/namespaces/flux-system/gitrepositories/flux-system"
        )
        assert source is not None and source["spec"]["ref"] == {"branch": "main"}

        again = pulumi(project, "preview", "--expect-no-changes", "-s", "demo", check=False)
        assert again.returncode == 0, again.stdout + again.stderr

        report = drain_cluster(Secret(json.dumps(kubeconfig)), timeout_s=60, poll_s=1)
        assert {ref.name for ref in report.suspended} >= {"flux-system"}
        sync = kube_get(
            kubeconfig, "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/flux-system/kustomizations/flux-system"
        )
        assert sync is not None and sync["spec"]["suspend"] is True
    finally:
        pulumi(project, "destroy", "--yes", "--skip-preview", "-s", "demo", timeout_s=600)
    assert not (project / ".fleet" / "local" / "demo-blue").exists()
    assert not process_alive(ready["pid"])
    state = json.loads(pulumi(project, "stack", "export", "-s", "demo").stdout)
    assert (state["deployment"].get("resources") or []) == []
