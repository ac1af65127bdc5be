"""Reading one Flux object's status: its conditions, generation, source and revision.

The per-object rules behind :func:`fleet.domain.health_report.evaluate`; see :mod:`fleet.domain.health`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fleet.domain.flux_kinds import HELM_CHART, HELM_RELEASE, KUSTOMIZATION
from fleet.domain.reports import ObjectRef, Running


@dataclass(frozen=True)
class Snapshot:
    """What the gate read from one cluster: the objects of each kind, and the kinds not served (404)."""

    objects: Mapping[str, Sequence[Mapping[str, Any]]] = field(default_factory=dict)
    missing: frozenset[str] = frozenset()

    def of(self, kind: str) -> Sequence[Mapping[str, Any]]:
        return self.objects.get(kind, ())


def ref_of(obj: Mapping[str, Any], kind: str | None = None) -> ObjectRef:
    meta = obj.get("metadata") or {}
    return ObjectRef(kind or str(obj.get("kind", "")), str(meta.get("namespace") or ""), str(meta.get("name", "")))


def condition(obj: Mapping[str, Any], type_: str) -> Mapping[str, Any] | None:
    for cond in (obj.get("status") or {}).get("conditions") or ():
        if isinstance(cond, Mapping) and cond.get("type") == type_:
            return cond
    return None


def is_true(cond: Mapping[str, Any] | None) -> bool:
    return cond is not None and cond.get("status") == "True"


def condition_message(cond: Mapping[str, Any]) -> str:
    return str(cond.get("message") or cond.get("reason") or "")


Problem = tuple[str, str, bool]
"""A failure's reason, message, and whether it is merely in progress (transient)."""

IN_PROGRESS_READY_FALSE = frozenset({"DependencyNotReady"})
"""Ready=False reasons that only mean another object is reconciling right now."""


def generation_failure(obj: Mapping[str, Any]) -> Problem | None:
    generation = (obj.get("metadata") or {}).get("generation")
    observed = (obj.get("status") or {}).get("observedGeneration")
    if generation is not None and observed != generation:
        return (
            "GenerationNotObserved",
            f"generation {generation} not yet observed by the controller (observedGeneration {observed})",
            True,
        )
    return None


def flux_object_failure(obj: Mapping[str, Any], *, source: bool = False) -> Problem | None:
    """The rules every reconciled Flux object obeys: not suspended, not stalled, current, Ready.

    Ready=Unknown (a reconcile under way), a generation not yet observed and
    DependencyNotReady are in progress; so is a source's failed fetch, which
    keeps the artifact the cluster runs. Suspended, Stalled and Ready=False are not.
    """
    if (obj.get("spec") or {}).get("suspend") is True:
        return "Suspended", "reconciliation is suspended (spec.suspend: true); its Ready condition is stale", False
    stalled = condition(obj, "Stalled")
    if is_true(stalled):
        assert stalled is not None
        return "Stalled", f"{stalled.get('reason', 'Stalled')}: {condition_message(stalled)}", False
    ready = condition(obj, "Ready")
    if ready is not None and ready.get("status") == "False":
        reason = str(ready.get("reason") or "NotReady")
        return reason, condition_message(ready), source or reason in IN_PROGRESS_READY_FALSE
    generation = generation_failure(obj)
    if generation is not None:
        return generation
    if ready is None:
        return "NotReady", "no Ready condition yet", True
    if ready.get("status") != "True":
        return str(ready.get("reason") or "Progressing"), condition_message(ready) or "reconciliation in progress", True
    return None


def source_ref_of(obj: Mapping[str, Any]) -> ObjectRef | None:
    ref = (obj.get("spec") or {}).get("sourceRef") or {}
    if not ref.get("kind") or not ref.get("name"):
        return None
    namespace = ref.get("namespace") or (obj.get("metadata") or {}).get("namespace") or ""
    return ObjectRef(str(ref["kind"]), str(namespace), str(ref["name"]))


def chart_sources(obj: Mapping[str, Any]) -> list[ObjectRef]:
    """The sources a HelmRelease installs from: ``spec.chartRef``, or its chart template's source and HelmChart."""
    spec = obj.get("spec") or {}
    namespace = str((obj.get("metadata") or {}).get("namespace") or "")
    found: list[ObjectRef] = []
    chart_ref = spec.get("chartRef") or {}
    if chart_ref.get("kind") and chart_ref.get("name"):
        found.append(ObjectRef(str(chart_ref["kind"]), str(chart_ref.get("namespace") or namespace), chart_ref["name"]))
    template = ((spec.get("chart") or {}).get("spec") or {}).get("sourceRef") or {}
    if template.get("kind") and template.get("name"):
        found.append(ObjectRef(str(template["kind"]), str(template.get("namespace") or namespace), template["name"]))
    helm_chart = str((obj.get("status") or {}).get("helmChart") or "")
    if "/" in helm_chart:
        chart_namespace, chart_name = helm_chart.split("/", 1)
        found.append(ObjectRef(HELM_CHART, chart_namespace, chart_name))
    return found


def source_key(ref: ObjectRef) -> str:
    return f"{ref.namespace}/{ref.name}"


def artifact_revision(source: Mapping[str, Any]) -> str | None:
    artifact = (source.get("status") or {}).get("artifact") or {}
    revision = artifact.get("revision")
    return str(revision) if revision else None


def running_of(kind: str, obj: Mapping[str, Any]) -> Running:
    return running_entry(ref_of(obj, kind), kind, obj)


def running_entry(ref: ObjectRef, kind: str, obj: Mapping[str, Any]) -> Running:
    """What ``obj`` runs, read from the fields each Flux version reports.

    HelmRelease (helm-controller v2): ``status.history[0]`` holds the chart
    name, version and values digest of the release Helm last installed;
    older versions (v2beta1) report ``lastAppliedRevision`` (the chart
    version) and ``lastAttemptedValuesChecksum``; ``lastAttemptedRevision``
    and ``lastAttemptedConfigDigest`` are the last resort.
    """
    status = obj.get("status") or {}
    if kind == KUSTOMIZATION:
        applied = status.get("lastAppliedRevision")
        return Running(ref, revision=str(applied) if applied else None)
    if kind == HELM_RELEASE:
        history = status.get("history") or []
        latest = history[0] if history and isinstance(history[0], Mapping) else {}
        template = ((obj.get("spec") or {}).get("chart") or {}).get("spec") or {}
        chart = latest.get("chartName") or template.get("chart")
        version = latest.get("chartVersion") or status.get("lastAppliedRevision") or status.get("lastAttemptedRevision")
        digest = (
            latest.get("configDigest")
            or status.get("lastAttemptedConfigDigest")
            or status.get("lastAttemptedValuesChecksum")
        )
        return Running(
            ref,
            chart=str(chart) if chart else None,
            chart_version=str(version) if version else None,
            config_digest=str(digest) if digest else None,
        )
    return Running(ref, revision=artifact_revision(obj))


# --- the rule ----------------------------------------------------------------------------------
