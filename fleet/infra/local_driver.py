"""The ``local`` cluster driver: a slot is a real API server on this machine, with real Flux.

Beside ``kind`` (needs Docker) and ``eks`` (needs AWS), ``local`` needs only
the real-peers binaries (``python3 tools/peers/build.py``): each slot is a
host process (``fleet.infra.local_slot``) running etcd, kube-apiserver, a
Git server for the environment's local GitOps repository, and Flux's
controllers once the bootstrap has applied their CRDs. Pulumi creates and
destroys that process through a Python dynamic provider; the slot's
kubeconfig is an output, like every driver's.

``fleet:gitops.url`` names the local bare repository as ``file://<path>``
(absolute, or relative to the project root); the slot's Git server serves
its directory over HTTP, and the bootstrap points Flux at that address, so
both slots sync the same repository, branch and path.

What ``flux bootstrap`` would apply on a real cluster, :func:`local_flux`
applies here: Flux's CRDs (from the controllers' own modules), the
``flux-system`` namespace, the ``fleet-slot`` ConfigMap, and the
``flux-system`` GitRepository and Kustomization (with post-build
substitution from ``fleet-slot``, and born holding the singletons when the
layout says so: docs/singletons.md). No flux-operator and no Helm chart: both
would be downloaded, and nothing is downloaded here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml
from pulumi.dynamic import CreateResult, DiffResult, ResourceProvider, UpdateResult

from fleet.infra.cluster import ClusterHandles, ClusterSlotArgs, register_driver

SLOTS_DIR = Path(".fleet") / "local"
"""Where slots live, under the project root: one directory per ``<env>-<slot>``."""
SYNC_INTERVAL = "30s"
_REPLACE_ON = ("name", "workdir", "gitRoot", "version")
CRD_KIND = "CustomResourceDefinition"


def project_root() -> Path:
    return Path(pulumi.get_root_directory() or os.getcwd()).resolve()


def local_repository(url: str, root: Path) -> Path:
    """The bare repository a ``file://`` GitOps URL names (relative paths are from the project root)."""
    path = Path(url.removeprefix("file://"))
    return path if path.is_absolute() else (root / path)


class _SlotProvider(ResourceProvider):
    """Starts the slot's host at create, stops it by PID at delete; every input change replaces."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        from fleet.infra import local_slot

        git_root = Path(props["gitRoot"]) if props.get("gitRoot") else None
        ready = local_slot.start_host(Path(props["workdir"]), props["name"], git_root)
        import json

        outs = {
            **props,
            "kubeconfig": json.dumps(ready["kubeconfig"]),
            "api": ready["api"],
            "git": ready["git"],
            "pid": ready["pid"],
        }
        return CreateResult(id_=props["name"], outs=outs)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = [k for k in _REPLACE_ON if olds.get(k) != news.get(k)]
        return DiffResult(changes=bool(replaces), replaces=replaces, delete_before_replace=True)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs={**olds, **news})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        from fleet.infra import local_slot

        local_slot.stop_host(Path(props["workdir"]))


class LocalCluster(pulumi.dynamic.Resource):
    """One slot's host process; outputs ``kubeconfig`` (secret), ``api``, ``git`` and ``pid``."""

    kubeconfig: pulumi.Output[str]
    api: pulumi.Output[str]
    git: pulumi.Output[str]

    def __init__(self, name: str, props: Mapping[str, Any], opts: pulumi.ResourceOptions | None = None) -> None:
        outputs = {"kubeconfig": None, "api": None, "git": None, "pid": None}
        secret = pulumi.ResourceOptions(additional_secret_outputs=["kubeconfig"])
        super().__init__(_SlotProvider(), name, {**props, **outputs}, pulumi.ResourceOptions.merge(opts, secret))


@register_driver("local")
class LocalDriver:
    """A real API server and Flux on this machine, one host process per slot."""

    def create(self, args: ClusterSlotArgs, parent: pulumi.Resource) -> ClusterHandles:
        root = project_root()
        gitops = pulumi.Config("fleet").get_object("gitops") or {}
        url = str(gitops.get("url", "")) if isinstance(gitops, dict) else ""
        git_root = str(local_repository(url, root).parent) if url.startswith("file://") else ""
        cluster = LocalCluster(
            f"{args.cluster_name}-local",
            {
                "name": args.cluster_name,
                "workdir": str(root / SLOTS_DIR / args.cluster_name),
                "gitRoot": git_root,
                "version": str(args.version),
            },
            opts=pulumi.ResourceOptions(parent=parent),
        )
        return ClusterHandles(
            kubeconfig=pulumi.Output.secret(cluster.kubeconfig),
            ingress=pulumi.Output.from_input("127.0.0.1"),
            flux_cluster_type="local",
            substitutions={"local_git_server": cluster.git},
        )


def flux_crds() -> list[dict[str, Any]]:
    """Flux's CRDs as the built controllers ship them (tools/peers/build.py copies config/crd/bases)."""
    from fleet.rehearsal.peers import Binaries

    docs: list[dict[str, Any]] = []
    for path in Binaries.find().crds:
        docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d and d.get("kind") == CRD_KIND)
    return docs


def local_flux(
    name: str,
    *,
    provider: k8s.Provider,
    parent: pulumi.Resource,
    namespace: k8s.core.v1.Namespace,
    slot_config: k8s.core.v1.ConfigMap,
    url: str,
    branch: str,
    path: str,
    git_server: pulumi.Input[str],
    namespace_name: str,
    slot_configmap: str,
    patches: list[dict[str, Any]],
) -> k8s.apiextensions.CustomResource:
    """CRDs, then the flux-system GitRepository and Kustomization; returns the Kustomization."""
    on_slot = pulumi.ResourceOptions(parent=parent, provider=provider, retain_on_delete=True)
    crds = [
        k8s.apiextensions.CustomResource(
            f"{name}-crd-{doc['metadata']['name'].split('.')[0]}",
            api_version="apiextensions.k8s.io/v1",
            kind=CRD_KIND,
            metadata={"name": doc["metadata"]["name"], "annotations": (doc["metadata"].get("annotations") or {})},
            spec=doc["spec"],
            opts=on_slot,
        )
        for doc in flux_crds()
    ]
    repo_name = Path(url.removeprefix("file://")).name
    after = pulumi.ResourceOptions.merge(on_slot, pulumi.ResourceOptions(depends_on=[*crds, namespace]))
    source = k8s.apiextensions.CustomResource(
        f"{name}-source",
        api_version="source.toolkit.fluxcd.io/v1",
        kind="GitRepository",
        metadata={"name": namespace_name, "namespace": namespace_name},
        spec={
            "interval": SYNC_INTERVAL,
            "url": pulumi.Output.from_input(git_server).apply(lambda base: f"{base}/{repo_name}"),
            "ref": {"branch": branch},
        },
        opts=after,
    )
    return k8s.apiextensions.CustomResource(
        f"{name}-sync",
        api_version="kustomize.toolkit.fluxcd.io/v1",
        kind="Kustomization",
        metadata={"name": namespace_name, "namespace": namespace_name},
        spec={
            "interval": SYNC_INTERVAL,
            "retryInterval": SYNC_INTERVAL,
            "path": path,
            "prune": True,
            "sourceRef": {"kind": "GitRepository", "name": namespace_name},
            "postBuild": {"substituteFrom": [{"kind": "ConfigMap", "name": slot_configmap}]},
            **({"patches": patches} if patches else {}),
        },
        opts=pulumi.ResourceOptions.merge(after, pulumi.ResourceOptions(depends_on=[source, slot_config])),
    )
