"""The multi-tenant GitOps repository the real world's Flux reconciles: its files and objects."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from fleet.rehearsal.peers.base import FLUX_NAMESPACE

# --- the GitOps repository ---------------------------------------------------------------------

TENANTS = ("team-a", "team-b")


def _docs(*objs: Mapping[str, Any]) -> str:
    return yaml.safe_dump_all([dict(o) for o in objs], sort_keys=False)


def kustomization(name: str, path: str, interval: str, *, depends_on: Iterable[str] = (), wait: bool = True,
                  namespace: str = FLUX_NAMESPACE) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "interval": interval,
        "retryInterval": interval,
        "timeout": "2m",
        "path": path,
        "prune": True,
        "wait": wait,
        "sourceRef": {"kind": "GitRepository", "name": "flux-system", "namespace": FLUX_NAMESPACE},
    }
    deps = list(depends_on)
    if deps:
        spec["dependsOn"] = [{"name": d, "namespace": FLUX_NAMESPACE} for d in deps]
    return {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def git_repository(url: str, interval: str) -> dict[str, Any]:
    return {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": "flux-system", "namespace": FLUX_NAMESPACE},
        "spec": {"interval": interval, "url": url, "ref": {"branch": "main"}, "timeout": "30s"},
    }


def tenant_manifests(tenant: str, *, greeting: str = "hello") -> dict[str, str]:
    """One tenant's namespace and the objects in it: all Current at once, without a kubelet."""
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": tenant, "labels": {"tenant": tenant}}}
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "app-config", "namespace": tenant},
        "data": {"greeting": greeting, "tenant": tenant},
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "app", "namespace": tenant},
        "spec": {"selector": {"app": "app"}, "ports": [{"port": 80, "targetPort": 8080}]},
    }
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "app-reader", "namespace": tenant},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]}],
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "app-reader", "namespace": tenant},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "app-reader"},
        "subjects": [{"kind": "Group", "name": f"{tenant}:developers", "apiGroup": "rbac.authorization.k8s.io"}],
    }
    widget = {
        "apiVersion": "platform.example.com/v1",
        "kind": "Widget",
        "metadata": {"name": f"{tenant}-widget", "namespace": tenant},
        "spec": {"size": 3},
    }
    return {
        f"tenants/{tenant}/namespace.yaml": _docs(ns),
        f"tenants/{tenant}/app.yaml": _docs(config, service, role, binding),
        f"tenants/{tenant}/widget.yaml": _docs(widget),
    }


WIDGET_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.platform.example.com"},
    "spec": {
        "group": "platform.example.com",
        "names": {"kind": "Widget", "plural": "widgets", "singular": "widget", "listKind": "WidgetList"},
        "scope": "Namespaced",
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {"type": "object", "properties": {"size": {"type": "integer", "minimum": 1}}}
                        },
                    }
                },
            }
        ],
    },
}


def repository_files(url: str, interval: str) -> dict[str, str]:
    """A multi-tenant GitOps repository as a platform team lays it out.

    ``clusters/local`` is what each cluster's ``flux-system`` Kustomization
    applies: Flux's own sync objects, the ``infrastructure`` Kustomization
    (a CRD, a shared namespace, cluster RBAC) and one Kustomization per
    tenant that ``dependsOn`` infrastructure (a tenant's Widget needs the CRD).
    """
    platform_ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "platform"}}
    cluster_role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "widget-editor"},
        "rules": [{"apiGroups": ["platform.example.com"], "resources": ["widgets"], "verbs": ["*"]}],
    }
    platform_config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "platform-settings", "namespace": "platform"},
        "data": {"owner": "platform-team"},
    }
    files = {
        "clusters/local/flux-system/gotk-sync.yaml": _docs(
            git_repository(url, interval), kustomization("flux-system", "./clusters/local", interval, wait=False)
        ),
        "clusters/local/infrastructure.yaml": _docs(kustomization("infrastructure", "./infrastructure", interval)),
        "clusters/local/tenants.yaml": _docs(
            *(kustomization(t, f"./tenants/{t}", interval, depends_on=["infrastructure"]) for t in TENANTS)
        ),
        "infrastructure/crds.yaml": _docs(WIDGET_CRD),
        "infrastructure/platform.yaml": _docs(platform_ns, platform_config, cluster_role),
        "README.md": "# fleet's rehearsal GitOps repository\n\nWritten by fleet.rehearsal.peers.\n",
    }
    for tenant in TENANTS:
        files.update(tenant_manifests(tenant))
    return files
