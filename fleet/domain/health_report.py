"""The pass rule over a whole cluster's snapshot: one report, one failure per object, grouped by tenant.

See :mod:`fleet.domain.health` for why the rule is stricter than Ready.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from fleet.domain.flux_kinds import (
    DEPLOYMENT,
    FLUX_CONTROLLERS,
    FLUX_INSTANCE,
    FLUX_REPORT,
    HELM_RELEASE,
    KINDS,
    KUSTOMIZATION,
    KUSTOMIZATION_SOURCE_KINDS,
    PLATFORM,
    SOURCE_KINDS,
)
from fleet.domain.flux_status import (
    Problem,
    Snapshot,
    artifact_revision,
    chart_sources,
    condition,
    condition_message,
    flux_object_failure,
    generation_failure,
    is_true,
    ref_of,
    running_entry,
    source_key,
    source_ref_of,
)
from fleet.domain.health_settings import HealthSettings
from fleet.domain.model import SlotName
from fleet.domain.reports import HealthReport, ObjectFailure, ObjectRef, Running, TenantHealth
from fleet.domain.tenants import rooted_objects


def evaluate(slot: SlotName, snapshot: Snapshot, settings: HealthSettings | None = None) -> HealthReport:
    """Judge one slot: reconciled only when every rule of the module docstring holds."""
    settings = settings or HealthSettings()
    failures: list[ObjectFailure] = []
    ready: set[ObjectRef] = set()
    checked: set[ObjectRef] = set()
    revisions: dict[str, str] = {}
    running: dict[ObjectRef, Running] = {}

    def fail(ref: ObjectRef, reason: str, message: str, transient: bool = False) -> None:
        failures.append(ObjectFailure(ref, reason, message, transient))

    failures.extend(_platform_failures(snapshot, settings, checked))
    missing_required = [KINDS[k] for k in KINDS if KINDS[k].required and k in snapshot.missing]
    for info in missing_required:
        fail(
            ObjectRef("CustomResourceDefinition", "", info.resource),
            "FluxNotInstalled",
            f"the API does not serve {info.kind} ({info.api_version}): Flux is not installed yet",
        )

    if not missing_required:
        sources = {ref_of(obj, kind): obj for kind in SOURCE_KINDS for obj in snapshot.of(kind)}
        used_sources: set[ObjectRef] = set()
        applied: dict[str, set[str]] = {}
        kustomizations = _in_scope(snapshot.of(KUSTOMIZATION), KUSTOMIZATION, settings)
        for ref, obj in kustomizations:
            checked.add(ref)
            running[ref] = running_entry(ref, KUSTOMIZATION, obj)
            source_ref = source_ref_of(obj)
            if source_ref is not None:
                used_sources.add(source_ref)
                applied_revision = (obj.get("status") or {}).get("lastAppliedRevision")
                if applied_revision and source_ref in sources:
                    applied.setdefault(source_key(source_ref), set()).add(str(applied_revision))
            problem = flux_object_failure(obj)
            if problem is None:
                problem = _kustomization_source_failure(obj, source_ref, sources)
            if problem is None:
                ready.add(ref)
            else:
                fail(ref, *problem)

        for ref, obj in _in_scope(snapshot.of(HELM_RELEASE), HELM_RELEASE, settings):
            checked.add(ref)
            running[ref] = running_entry(ref, HELM_RELEASE, obj)
            used_sources.update(chart_sources(obj))
            problem = flux_object_failure(obj) or _helm_release_failure(obj)
            if problem is None:
                ready.add(ref)
            else:
                fail(ref, *problem)

        for ref in sorted(used_sources & sources.keys()):
            checked.add(ref)
            running[ref] = running_entry(ref, ref.kind, sources[ref])
            problem = flux_object_failure(sources[ref], source=True)
            if problem is None:
                ready.add(ref)
            else:
                fail(ref, *problem)

        for kind in (KUSTOMIZATION, HELM_RELEASE):
            present = {f"{r.namespace}/{r.name}" for r in checked if r.kind == kind}
            for key in sorted(settings.expected(kind) - present):
                namespace, name = key.split("/", 1)
                ref = ObjectRef(kind, namespace, name)
                checked.add(ref)
                fail(ref, "NotFound", f"{kind} {key} is named in the configuration but does not exist")

        if not kustomizations:
            fail(
                ObjectRef(KUSTOMIZATION, "*", "*"),
                "NothingToCheck",
                "no Kustomization in scope: Flux has not created its sync yet",
            )

        for source, revs in applied.items():
            offered = {artifact_revision(obj) for ref, obj in sources.items() if source_key(ref) == source}
            behind = sorted(revs - offered)
            revisions[source] = behind[0] if behind else sorted(revs)[0]

    failures.sort(key=lambda f: (f.ref, f.reason))
    tenants = _tenants(settings, checked, failures, snapshot)
    return HealthReport(
        slot=slot,
        reconciled=not failures,
        revisions=revisions,
        ready=frozenset(ready),
        failures=tuple(failures),
        tenants=tenants,
        running=tuple(running[ref] for ref in sorted(running)),
    )


def _in_scope(
    objects: Iterable[Mapping[str, Any]], kind: str, settings: HealthSettings
) -> list[tuple[ObjectRef, Mapping[str, Any]]]:
    result = []
    for obj in objects:
        ref = ref_of(obj, kind)
        if settings.in_scope(kind, ref.namespace, ref.name):
            result.append((ref, obj))
    return sorted(result, key=lambda pair: pair[0])


def _kustomization_source_failure(
    obj: Mapping[str, Any],
    source_ref: ObjectRef | None,
    sources: Mapping[ObjectRef, Mapping[str, Any]],
) -> Problem | None:
    if source_ref is None:
        return "SourceNotFound", "spec.sourceRef is missing", False
    if source_ref.kind not in KUSTOMIZATION_SOURCE_KINDS:
        return "SourceNotFound", f"source kind {source_ref.kind} is not one the gate reads", False
    source = sources.get(source_ref)
    if source is None:
        return "SourceNotFound", f"source {source_ref} does not exist", False
    offered = artifact_revision(source)
    if offered is None:
        cond = condition(source, "Ready")
        detail = condition_message(cond) if cond is not None else "no artifact yet"
        return "ArtifactFailed", f"source {source_ref} has no artifact: {detail}", False
    applied_revision = (obj.get("status") or {}).get("lastAppliedRevision")
    if applied_revision != offered:
        return (
            "StaleRevision",
            f"applied {applied_revision or 'nothing'} but source {source_ref} offers {offered}",
            True,
        )
    return None


def _helm_release_failure(obj: Mapping[str, Any]) -> Problem | None:
    released = condition(obj, "Released")
    if not is_true(released):
        if released is None:
            return "NotReleased", "no Released condition yet", True
        return str(released.get("reason") or "NotReleased"), condition_message(released), False
    if ((obj.get("spec") or {}).get("test") or {}).get("enable") is True:
        tested = condition(obj, "TestSuccess")
        if not is_true(tested):
            if tested is None:
                return "TestsPending", "spec.test.enable is true but no TestSuccess condition yet", True
            return str(tested.get("reason") or "TestFailed"), condition_message(tested), False
    return None


def _platform_failures(snapshot: Snapshot, settings: HealthSettings, checked: set[ObjectRef]) -> list[ObjectFailure]:
    failures: list[ObjectFailure] = []
    controllers = [
        obj
        for obj in snapshot.of(DEPLOYMENT)
        if ref_of(obj, DEPLOYMENT).namespace == settings.flux_namespace
        and ref_of(obj, DEPLOYMENT).name in FLUX_CONTROLLERS
    ]
    if not controllers:
        ref = ObjectRef(DEPLOYMENT, settings.flux_namespace, "kustomize-controller")
        checked.add(ref)
        failures.append(
            ObjectFailure(
                ref,
                "FluxNotInstalled",
                f"no Flux controller Deployment in namespace {settings.flux_namespace}",
            )
        )
    for obj in controllers:
        ref = ref_of(obj, DEPLOYMENT)
        checked.add(ref)
        unavailable = _deployment_failure(obj)
        if unavailable is not None:
            # What runs keeps running while a controller restarts; only a lasting outage is a regression.
            failures.append(ObjectFailure(ref, "ControllerUnavailable", unavailable, transient=True))
    for kind in (FLUX_INSTANCE, FLUX_REPORT):
        for obj in snapshot.of(kind):
            ref = ref_of(obj, kind)
            checked.add(ref)
            problem = flux_object_failure(obj)
            if problem is not None:
                failures.append(ObjectFailure(ref, *problem))
    return failures


def _deployment_failure(obj: Mapping[str, Any]) -> str | None:
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    wanted = spec.get("replicas", 1)
    available = status.get("availableReplicas") or 0
    if wanted == 0:
        return "scaled to 0 replicas: nothing reconciles"
    stale = generation_failure(obj)
    if stale is not None:
        return stale[1]
    cond = condition(obj, "Available")
    if cond is not None and cond.get("status") != "True":
        return condition_message(cond) or "Available condition is not True"
    if available < wanted:
        return f"{available}/{wanted} replicas available"
    return None


def _tenants(
    settings: HealthSettings, checked: set[ObjectRef], failures: Sequence[ObjectFailure], snapshot: Snapshot
) -> tuple[TenantHealth, ...]:
    names = [t.name for t in settings.tenants if t.name != PLATFORM] + [PLATFORM]
    labels: dict[ObjectRef, Mapping[str, str]] = {}
    for kind in (KUSTOMIZATION, HELM_RELEASE):
        for obj in snapshot.of(kind):
            labels[ref_of(obj, kind)] = (obj.get("metadata") or {}).get("labels") or {}
    rooted = rooted_objects(settings, labels)
    owner = {ref: settings.tenant_of(ref, labels.get(ref), rooted) for ref in checked | {f.ref for f in failures}}
    mine: dict[str, list[ObjectRef]] = {name: [] for name in names}
    grouped: dict[str, list[ObjectFailure]] = {name: [] for name in names}
    for ref in sorted(checked):
        mine[owner[ref]].append(ref)
    for failure in failures:
        grouped[owner[failure.ref]].append(failure)
    return tuple(
        TenantHealth(tenant=name, reconciled=not grouped[name], objects=len(mine[name]),
                     failures=tuple(grouped[name]), refs=tuple(mine[name]) if name != PLATFORM else ())
        for name in names
    )



def tenant_rows(report: HealthReport) -> list[dict[str, object]]:
    """One row per tenant for ``fleet status ENV --health``; failing objects carry their reason."""
    return [
        {
            "tenant": tenant.tenant,
            "reconciled": tenant.reconciled,
            "objects": tenant.objects,
            "failing": ", ".join(f"{f.ref} ({f.reason})" for f in tenant.failures),
        }
        for tenant in report.tenants
    ]


def summary(report: HealthReport, *, limit: int = 3) -> str:
    """A one-line account of why a slot is (not) reconciled, for logs and timeouts."""
    if report.reconciled:
        return f"{report.slot} is reconciled ({len(report.ready)} objects Ready)"
    shown = "; ".join(f"{f.ref} {f.reason}: {f.message}" for f in report.failures[:limit])
    more = f"; and {len(report.failures) - limit} more" if len(report.failures) > limit else ""
    return f"{report.slot} is not reconciled: {shown}{more}"
