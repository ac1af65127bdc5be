"""Controllers, the flux-operator's objects, Helm sources and a whole reconciled installation.

Built on the status builders of :mod:`fleet.rehearsal.flux_objects.statuses`;
pure dicts, no client.
"""

from __future__ import annotations

from typing import Any

from fleet.rehearsal.flux_objects.statuses import (
    _conditions,
    _meta,
    _source_status,
    cond,
    git_repository,
    helm_release,
    kustomization,
    revision,
)


def helm_repository(
    name: str, namespace: str = "flux-system", *, index_rev: str = "sha256:" + "1" * 64, ready: bool | None = True
) -> dict[str, Any]:
    """A HelmRepository whose index artifact is at ``index_rev``."""
    obj = _meta("HelmRepository", name, namespace, 1)
    obj["spec"] = {"url": "https://charts.example.invalid", "interval": "1h"}
    obj["status"] = _source_status(index_rev, ready=ready, reason=None, message=None, generation=1,
                                   observed_generation=None)
    return obj


def helm_chart(
    name: str, namespace: str = "flux-system", *, version: str = "6.5.0", ready: bool | None = True
) -> dict[str, Any]:
    """A HelmChart (helm-controller creates one per HelmRelease) whose artifact is ``version`` of the chart."""
    obj = _meta("HelmChart", name, namespace, 1)
    obj["spec"] = {"chart": name, "version": "*", "sourceRef": {"kind": "HelmRepository", "name": name}}
    obj["status"] = _source_status(version, ready=ready, reason=None, message=None, generation=1,
                                   observed_generation=None)
    return obj


def bucket(name: str, namespace: str = "flux-system", *, rev: str = "sha256:" + "2" * 64) -> dict[str, Any]:
    obj = _meta("Bucket", name, namespace, 1)
    obj["spec"] = {"bucketName": name, "endpoint": "minio.example.invalid", "interval": "5m"}
    obj["status"] = _source_status(rev, ready=True, reason=None, message=None, generation=1, observed_generation=None)
    return obj


def deployment(
    name: str,
    namespace: str = "flux-system",
    *,
    replicas: int = 1,
    available: int | None = None,
    generation: int = 1,
    observed_generation: int | None = None,
) -> dict[str, Any]:
    """A Deployment with ``available`` replicas available (default: all of them)."""
    available = replicas if available is None else available
    obj = _meta("Deployment", name, namespace, generation)
    obj["spec"] = {"replicas": replicas, "selector": {"matchLabels": {"app": name}}}
    obj["status"] = {
        "observedGeneration": generation if observed_generation is None else observed_generation,
        "replicas": replicas,
        "readyReplicas": available,
        "availableReplicas": available,
        "conditions": [
            cond("Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
            if available >= replicas
            else cond(
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
            )
        ],
    }
    return obj


CONTROLLERS = ("source-controller", "kustomize-controller", "helm-controller", "notification-controller")


def flux_controllers(namespace: str = "flux-system") -> list[dict[str, Any]]:
    return [deployment(name, namespace) for name in CONTROLLERS]


def flux_instance(
    *,
    ready: bool | None = True,
    reason: str | None = None,
    message: str | None = None,
    namespace: str = "flux-system",
) -> dict[str, Any]:
    obj = _meta("FluxInstance", "flux", namespace, 1)
    obj["spec"] = {"distribution": {"version": "2.x", "registry": "ghcr.io/fluxcd"}}
    obj["status"] = {
        "observedGeneration": 1,
        "conditions": _conditions(
            ready, reason, message, ok_reason="ReconciliationSucceeded", ok_message="Reconciliation finished"
        ),
    }
    return obj


def flux_report(*, ready: bool | None = True, namespace: str = "flux-system") -> dict[str, Any]:
    obj = _meta("FluxReport", "flux", namespace, 1)
    obj["spec"] = {"distribution": {"status": "Installed"}}
    obj["status"] = {
        "observedGeneration": 1,
        "conditions": _conditions(
            ready, None, None, ok_reason="ReconciliationSucceeded", ok_message="Report is up-to-date"
        ),
    }
    return obj


def reconciled_cluster(rev: str | None = None) -> list[dict[str, Any]]:
    """A Flux installation that has fully applied ``rev``.

    Controllers, one GitRepository, two Kustomizations and one HelmRelease.
    """
    rev = rev or revision("1")
    return [
        *flux_controllers(),
        git_repository(rev=rev),
        kustomization("flux-system", applied=rev),
        kustomization("apps", applied=rev, depends_on=("flux-system",), path="./apps"),
        helm_release("podinfo", "podinfo"),
    ]
