"""Flux sources, Kustomizations and HelmReleases in given states, as the API would serve them.

Tests of the health gate, the kmock fixtures and the rehearsal simulator all
need Kustomizations that are stale, HelmReleases that failed an upgrade,
controllers that are down. Writing those dicts by hand invites statuses Flux
never produces, so the builders below follow Flux's documented status
semantics (Ready/Reconciling/Stalled conditions, ``lastAppliedRevision``,
``status.artifact.revision``, ``observedGeneration``) and take only the knobs
that matter for the rules. They are pure: plain dicts, no kmock, no client.
"""

from __future__ import annotations

import hashlib
from typing import Any

from fleet.domain.health import KINDS

TRANSITION_TIME = "2025-01-01T00:00:00Z"


def revision(seed: str = "1", branch: str = "main") -> str:
    """A Git revision in Flux's ``<branch>@sha1:<sha>`` form, derived from ``seed``."""
    return f"{branch}@sha1:{hashlib.sha1(seed.encode()).hexdigest()}"


def cond(type_: str, status: str, reason: str, message: str = "") -> dict[str, Any]:
    return {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": TRANSITION_TIME,
        "observedGeneration": 1,
    }


def _meta(kind: str, name: str, namespace: str, generation: int) -> dict[str, Any]:
    return {
        "apiVersion": KINDS[kind].api_version,
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace, "generation": generation, "uid": f"uid-{name}"},
    }


def _conditions(
    ready: bool | None,
    reason: str | None,
    message: str | None,
    *,
    ok_reason: str,
    ok_message: str,
    stalled: bool = False,
) -> list[dict[str, Any]]:
    if ready is True:
        return [cond("Ready", "True", reason or ok_reason, message or ok_message)]
    if ready is None:
        return [
            cond("Reconciling", "True", "Progressing", message or "Reconciliation in progress"),
            cond("Ready", "Unknown", reason or "Progressing", message or "Reconciliation in progress"),
        ]
    conditions = [cond("Ready", "False", reason or "ReconciliationFailed", message or "reconciliation failed")]
    if stalled:
        conditions.append(cond("Stalled", "True", reason or "ReconciliationFailed", message or "retries exhausted"))
    return conditions


def git_repository(
    name: str = "flux-system",
    namespace: str = "flux-system",
    *,
    rev: str | None = None,
    ready: bool | None = True,
    reason: str | None = None,
    message: str | None = None,
    generation: int = 1,
    observed_generation: int | None = None,
    suspend: bool = False,
    url: str = "https://example.invalid/fleet/gitops.git",
) -> dict[str, Any]:
    """A GitRepository whose artifact is at ``rev`` (None: no artifact yet)."""
    spec = {"url": url, "interval": "1m", "ref": {"branch": "main"}, "suspend": suspend}
    return _source("GitRepository", name, namespace, spec, rev, ready, reason, message, generation, observed_generation)


def oci_repository(
    name: str,
    namespace: str = "flux-system",
    *,
    rev: str | None = None,
    ready: bool | None = True,
    reason: str | None = None,
    message: str | None = None,
    generation: int = 1,
    observed_generation: int | None = None,
) -> dict[str, Any]:
    spec = {"url": "oci://example.invalid/manifests", "interval": "1m", "ref": {"tag": "latest"}}
    return _source("OCIRepository", name, namespace, spec, rev, ready, reason, message, generation, observed_generation)


def _source(
    kind: str, name: str, namespace: str, spec: dict[str, Any], rev: str | None, ready: bool | None,
    reason: str | None, message: str | None, generation: int, observed_generation: int | None,
) -> dict[str, Any]:
    obj = _meta(kind, name, namespace, generation)
    obj["spec"] = spec
    obj["status"] = _source_status(
        rev, ready=ready, reason=reason, message=message, generation=generation,
        observed_generation=observed_generation,
    )
    return obj


def _source_status(
    rev: str | None,
    *,
    ready: bool | None,
    reason: str | None,
    message: str | None,
    generation: int,
    observed_generation: int | None,
) -> dict[str, Any]:
    status: dict[str, Any] = {
        "observedGeneration": generation if observed_generation is None else observed_generation,
        "conditions": _conditions(
            ready,
            reason,
            message,
            ok_reason="Succeeded",
            ok_message=f"stored artifact for revision '{rev}'",
        ),
    }
    if rev is not None:
        status["artifact"] = {
            "revision": rev,
            "digest": "sha256:" + hashlib.sha256(rev.encode()).hexdigest(),
            "path": "gitrepository/flux-system/flux-system/artifact.tar.gz",
            "url": "http://source-controller.flux-system.svc/artifact.tar.gz",
            "lastUpdateTime": TRANSITION_TIME,
        }
    return status


def kustomization(
    name: str = "flux-system",
    namespace: str = "flux-system",
    *,
    source: tuple[str, str] | tuple[str, str, str] = ("GitRepository", "flux-system"),
    applied: str | None = None,
    attempted: str | None = None,
    ready: bool | None = True,
    reason: str | None = None,
    message: str | None = None,
    stalled: bool = False,
    generation: int = 1,
    observed_generation: int | None = None,
    suspend: bool = False,
    depends_on: tuple[str, ...] = (),
    path: str = "./clusters/production",
) -> dict[str, Any]:
    """A Kustomization that has applied ``applied`` from ``source`` (kind, name[, namespace])."""
    obj = _meta("Kustomization", name, namespace, generation)
    source_ref: dict[str, str] = {"kind": source[0], "name": source[1]}
    if len(source) == 3:
        source_ref["namespace"] = source[2]
    obj["spec"] = {
        "interval": "10m",
        "path": path,
        "prune": True,
        "sourceRef": source_ref,
        "suspend": suspend,
        "dependsOn": [{"name": dep} for dep in depends_on],
    }
    status: dict[str, Any] = {
        "observedGeneration": generation if observed_generation is None else observed_generation,
        "conditions": _conditions(
            ready,
            reason,
            message,
            ok_reason="ReconciliationSucceeded",
            ok_message=f"Applied revision: {applied}",
            stalled=stalled,
        ),
    }
    if applied is not None:
        status["lastAppliedRevision"] = applied
    status["lastAttemptedRevision"] = attempted or applied
    obj["status"] = status
    return obj


def helm_release(
    name: str,
    namespace: str = "default",
    *,
    ready: bool | None = True,
    released: bool | None = True,
    reason: str | None = None,
    message: str | None = None,
    stalled: bool = False,
    test_enable: bool = False,
    test_success: bool | None = None,
    generation: int = 1,
    observed_generation: int | None = None,
    suspend: bool = False,
    chart_version: str = "6.5.0",
    chart_range: str | None = None,
    values_digest: str = "sha256:" + "0" * 64,
    legacy: bool = False,
) -> dict[str, Any]:
    """A HelmRelease that installed ``chart_version`` with values of ``values_digest``.

    ``released=None`` leaves out the Released condition (never released).
    ``chart_range`` is what ``spec.chart.spec.version`` asks for (``6.x``);
    helm-controller v2 reports the install in ``status.history``, an older
    one (``legacy``, v2beta1) in ``lastAppliedRevision`` and
    ``lastAttemptedValuesChecksum``.
    """
    obj = _meta("HelmRelease", name, namespace, generation)
    obj["spec"] = {
        "interval": "10m",
        "chart": {
            "spec": {
                "chart": name,
                "version": chart_range or chart_version,
                "sourceRef": {"kind": "HelmRepository", "name": name},
            }
        },
        "suspend": suspend,
        "test": {"enable": test_enable},
    }
    ok_message = f"Helm upgrade succeeded for release {namespace}/{name}.v2 with chart {name}@{chart_version}"
    conditions = _conditions(
        ready, reason, message, ok_reason="UpgradeSucceeded", ok_message=ok_message, stalled=stalled
    )
    if released is not None:
        conditions.append(
            cond("Released", "True", "UpgradeSucceeded", ok_message)
            if released
            else cond("Released", "False", reason or "UpgradeFailed", message or "Helm upgrade failed")
        )
    if test_success is not None:
        conditions.append(
            cond("TestSuccess", "True", "TestSucceeded", "Helm test succeeded")
            if test_success
            else cond("TestSuccess", "False", "TestFailed", "Helm test failed: pod podinfo-grpc-test failed")
        )
    status: dict[str, Any] = {
        "observedGeneration": generation if observed_generation is None else observed_generation,
        "conditions": conditions,
        "lastAttemptedRevision": chart_version,
        "helmChart": f"{namespace}/{namespace}-{name}",
    }
    if legacy:
        status["lastAppliedRevision"] = chart_version
        status["lastAttemptedValuesChecksum"] = values_digest.partition(":")[2][:40]
    else:
        status["lastAttemptedConfigDigest"] = values_digest
        status["history"] = [
            {
                "name": name,
                "namespace": namespace,
                "version": 2,
                "status": "deployed" if released is not False else "failed",
                "chartName": name,
                "chartVersion": chart_version,
                "appVersion": chart_version,
                "configDigest": values_digest,
                "firstDeployed": TRANSITION_TIME,
                "lastDeployed": TRANSITION_TIME,
            }
        ]
    obj["status"] = status
    return obj
