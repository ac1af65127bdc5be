"""Flux's source- and kustomize-controller, run as local processes against one slot's API server."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from fleet.rehearsal.listen_ports import free_port
from fleet.rehearsal.peers.base import FLUX_NAMESPACE, Binaries, PeerFailed, Process, _http_ok
from fleet.rehearsal.peers.kube import ApiServer
from fleet.rehearsal.peers.repository import git_repository, kustomization

# --- Flux --------------------------------------------------------------------------------------


class Flux:
    """One slot's Flux: its CRDs in the API server, its controllers as local processes."""

    def __init__(self, api: ApiServer, binaries: Binaries, workdir: Path) -> None:
        self.api = api
        self.binaries = binaries
        self.workdir = workdir / f"{api.slot}-flux"
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.kubeconfig = self.workdir / "kubeconfig"
        self.processes: list[Process] = []
        self.storage = f"127.0.0.1:{free_port()}"

    def install_crds(self, timeout_s: float = 60.0) -> None:
        rest = self.api.rest()
        names = []
        for path in self.binaries.crds:
            for doc in yaml.safe_load_all(path.read_text()):
                if doc and doc.get("kind") == "CustomResourceDefinition":
                    rest.apply(doc)
                    names.append(doc["metadata"]["name"])
        self.wait_established(names, timeout_s)

    def wait_established(self, names: Iterable[str], timeout_s: float = 60.0) -> None:
        rest = self.api.rest()
        deadline = time.monotonic() + timeout_s
        for name in names:
            while not _established(rest.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", None, name)):
                if time.monotonic() > deadline:
                    raise PeerFailed(f"{self.api.slot}: CRD {name} not established within {timeout_s:g}s")
                time.sleep(0.1)

    def start(self, timeout_s: float = 60.0) -> None:
        """Start source-controller and kustomize-controller and wait until both answer /readyz."""
        self.kubeconfig.write_text(json.dumps(self.api.kubeconfig()))
        self.kubeconfig.chmod(0o600)
        env = dict(os.environ, KUBECONFIG=str(self.kubeconfig), RUNTIME_NAMESPACE=FLUX_NAMESPACE)
        common = ["--log-level=info", "--log-encoding=json", "--watch-all-namespaces=true", "--events-addr="]
        started = []
        (self.workdir / "artifacts").mkdir(exist_ok=True)
        for name, extra in (
            ("source-controller", [
                f"--storage-path={self.workdir / 'artifacts'}",
                f"--storage-addr={self.storage}",
                f"--storage-adv-addr={self.storage}",
            ]),
            # A tenant waiting on infrastructure (dependsOn) is looked at again after 2 s, not 30 s.
            ("kustomize-controller", ["--requeue-dependency=2s"]),
        ):
            health = free_port()
            process = Process(
                f"{name} ({self.api.slot})",
                [
                    str(self.binaries.bin[name]), *common, *extra,
                    f"--metrics-addr=127.0.0.1:{free_port()}", f"--health-addr=127.0.0.1:{health}",
                ],
                self.workdir / f"{name}.log",
                env=env,
            ).start()
            self.processes.append(process)
            started.append((process, health))
        for process, health in started:
            url = f"http://127.0.0.1:{health}/readyz"
            process.wait_until(functools.partial(_http_ok, url), timeout_s, "ready")
        self.publish(available=True)

    def publish(self, *, available: bool) -> None:
        """Show the controllers as the Deployments a cluster would have, available while their processes run.

        There is no kubelet: the controllers run as local processes, and this
        writes what the kubelet and the Deployment controller would report
        for them (the gate checks that Flux's controllers are available).
        """
        rest = self.api.rest()
        rest.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": FLUX_NAMESPACE}})
        for name in ("source-controller", "kustomize-controller"):
            labels = {"app": name}
            deployment = rest.apply({
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": name, "namespace": FLUX_NAMESPACE, "labels": labels},
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": labels},
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {"containers": [{"name": "manager", "image": f"fluxcd/{name}:local-process"}]},
                    },
                },
            })
            count = 1 if available else 0
            deployment["status"] = {
                "observedGeneration": deployment["metadata"].get("generation", 1),
                "replicas": 1,
                "readyReplicas": count,
                "availableReplicas": count,
                "updatedReplicas": 1,
                "conditions": [{
                    "type": "Available",
                    "status": "True" if available else "False",
                    "reason": "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable",
                    "message": f"{name} runs as a local process" if available else f"{name} is stopped",
                }],
            }
            path = rest.path("apps/v1", "Deployment", FLUX_NAMESPACE, name) + "/status"
            rest.call("PUT", path, deployment)

    def bootstrap(self, url: str, interval: str, *, patches: list[dict[str, Any]] | None = None) -> None:
        """What ``flux bootstrap`` leaves behind: the namespace and the sync objects; Git holds the rest.

        ``patches``: the sync Kustomization's ``spec.patches`` from its creation (a slot born held).
        """
        rest = self.api.rest()
        rest.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": FLUX_NAMESPACE}})
        rest.apply(git_repository(url, interval))
        sync = kustomization("flux-system", "./clusters/local", interval, wait=False)
        if patches:
            sync["spec"]["patches"] = patches
        rest.apply(sync)

    def stop(self) -> None:
        running = bool(self.processes)
        for process in reversed(self.processes):
            process.stop()
        self.processes = []
        if running and self.api.process.running():
            with contextlib.suppress(OSError, urllib.error.URLError):
                self.publish(available=False)


def _established(crd: Mapping[str, Any]) -> bool:
    conditions = (crd.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)


def ready_condition(obj: Mapping[str, Any]) -> dict[str, Any] | None:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return dict(c)
    return None
