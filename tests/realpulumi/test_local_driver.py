"""The project's own program on the `local` driver, for real: Pulumi brings up a slot, Flux syncs it.

A hand-run ``pulumi up -s demo`` from a copy of the project (Pulumi.yaml,
stacks/, fleet/) seeds the blue slot: a host process with etcd, a real kube-
apiserver and a Git server; the Flux bootstrap applies Flux's CRDs and the
flux-system GitRepository and Kustomization; the slot host starts the real
source- and kustomize-controller, which apply the GitOps repository with the
slot's substitutions (a preview before starts nothing). The bootstrap is
checked against what ``flux bootstrap`` would apply (the controllers' CRDs,
a GitRepository and a Kustomization at the stack's repository, branch and
path). A second preview plans nothing and a second ``up`` changes nothing;
draining suspends Flux on the real API server and deletes the Ingress and
LoadBalancer Service Flux applied, which a whole sync interval later are
still gone; ``pulumi destroy`` leaves no process, no file and no stack
resource behind.

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
from fleet.infra.local_driver import flux_crds
from fleet.infra.local_slot import process_alive
from tests.realpulumi.conftest import Pulumi, git

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


EDGE = """\
apiVersion: v1
kind: Service
metadata:
  name: edge
  namespace: demo-app
spec:
  type: LoadBalancer
  ports:
    - port: 80
  selector:
    app: edge
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: edge
  namespace: demo-app
spec:
  defaultBackend:
    service:
      name: edge
      port:
        number: 80
"""
"""What draining must delete: the objects cloud controllers turn into load balancers."""


def add_to_gitops(tree: Path, name: str, text: str) -> None:
    (tree / "clusters" / "demo" / name).write_text(text)
    git("add", "-A", cwd=tree)
    git("commit", "-q", "-m", f"add {name}", cwd=tree)
    git("push", "-q", "origin", "HEAD:main", cwd=tree)


def outputs_git(project: Path) -> str:
    """The Git server URL the blue slot's host serves the repositories at."""
    ready = json.loads((project / ".fleet" / "local" / "demo-blue" / "ready.json").read_text())
    return str(ready["git"])


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
    add_to_gitops(tmp_path / "gitops-tree", "edge.yaml", EDGE)
    pulumi(project, "stack", "init", "demo")
    # The store is elsewhere and empty: a hand-run up seeds blue as the active slot.
    os.environ.pop("FLEET_LAYOUT", None)
    pulumi(project, "config", "set", "fleet:state", str(tmp_path / "store"), "-s", "demo")
    try:
        plan = pulumi(project, "preview", "-s", "demo", timeout_s=600)
        assert "demo-blue-local" in plan.stdout and "create" in plan.stdout
        assert not (project / ".fleet" / "local" / "demo-blue").exists(), "a preview starts nothing"
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
        # What `flux bootstrap` applies: the controllers' own CRDs, a source and a sync at the stack's repo/path.
        crds = kube_get(kubeconfig, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions")
        assert crds is not None
        assert {c["metadata"]["name"] for c in crds["items"]} >= {d["metadata"]["name"] for d in flux_crds()}
        assert source["spec"]["url"] == f"{outputs_git(project)}/demo.git"
        flux_sync = kube_get(
            kubeconfig, "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/flux-system/kustomizations/flux-system"
        )
        assert flux_sync is not None
        assert flux_sync["spec"]["path"] == "clusters/demo" and flux_sync["spec"]["prune"] is True
        assert flux_sync["spec"]["sourceRef"] == {"kind": "GitRepository", "name": "flux-system"}
        wait_for("the edge objects applied by real Flux",
                 lambda: kube_get(kubeconfig, "/apis/networking.k8s.io/v1/namespaces/demo-app/ingresses/edge"))

        again = pulumi(project, "preview", "--expect-no-changes", "-s", "demo", check=False)
        assert again.returncode == 0, again.stdout + again.stderr
        second = pulumi(project, "up", "--yes", "--expect-no-changes", "-s", "demo", check=False, timeout_s=600)
        assert second.returncode == 0, second.stdout + second.stderr
        assert process_alive(ready["pid"]), "a second up leaves the slot's host as it is"

        report = drain_cluster(Secret(json.dumps(kubeconfig)), timeout_s=60, poll_s=1)
        assert {ref.name for ref in report.suspended} >= {"flux-system"}
        assert {str(ref) for ref in report.deleted} == {"Ingress/demo-app/edge", "Service/demo-app/edge"}
        sync = kube_get(
            kubeconfig, "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/flux-system/kustomizations/flux-system"
        )
        assert sync is not None and sync["spec"]["suspend"] is True
        # Suspended Flux does not put them back: past a whole sync interval they are still gone.
        source_seen = kube_get(
            kubeconfig, "/apis/source.toolkit.fluxcd.io/v1/namespaces/flux-system/gitrepositories/flux-system"
        )
        assert source_seen is not None
        time.sleep(35)
        assert kube_get(kubeconfig, "/api/v1/namespaces/demo-app/services/edge") is None
        assert kube_get(kubeconfig, "/apis/networking.k8s.io/v1/namespaces/demo-app/ingresses/edge") is None
    finally:
        pulumi(project, "destroy", "--yes", "--skip-preview", "-s", "demo", timeout_s=600)
    assert not (project / ".fleet" / "local" / "demo-blue").exists()
    assert not process_alive(ready["pid"])
    state = json.loads(pulumi(project, "stack", "export", "-s", "demo").stdout)
    assert (state["deployment"].get("resources") or []) == []
