"""The Flux health gate's rules, over the plain JSON of Kubernetes objects.

Traffic may only move to a slot once Flux has *really* reconciled it, and the
obvious check ("every Kustomization is Ready") passes too early in three well
known ways: a Kustomization keeps its Ready=True from the previous revision
until the new one is applied, a suspended object keeps its old Ready forever,
and a controller that has not yet observed a new generation still reports the
old outcome. So the pass rule here is stricter than Ready:

* every Kustomization and HelmRelease in scope is Ready, not Stalled, not
  suspended, and has observed its current generation;
* every Kustomization applied exactly the revision its source currently
  offers (``status.lastAppliedRevision == source.status.artifact.revision``);
* every HelmRelease is Released (and TestSuccess when its tests are enabled);
* the sources those Kustomizations use are themselves Ready;
* the Flux controllers present are available, and a FluxInstance/FluxReport,
  when flux-operator manages Flux, is Ready;
* the Flux APIs exist at all: a cluster without them is "not installed yet",
  which is a normal, reportable state of a fresh slot and not an error.

Everything here is pure: the adapter lists (and watches) objects and hands a
:class:`Snapshot` to :func:`evaluate`, so the same rules serve ``report()``,
every event of ``wait_reconciled()``, the tests and the rehearsal simulator.
One failure is reported per object (the most telling one), named by object,
reason and the condition's own message, and grouped by tenant so that a
blocked cutover says whose workload blocks it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from fleet.domain.model import SlotName
from fleet.domain.reports import HealthReport, ObjectFailure, ObjectRef, Running, TenantHealth
from fleet.errors import ConfigError

KUSTOMIZATION = "Kustomization"
HELM_RELEASE = "HelmRelease"
GIT_REPOSITORY = "GitRepository"
OCI_REPOSITORY = "OCIRepository"
HELM_REPOSITORY = "HelmRepository"
HELM_CHART = "HelmChart"
BUCKET = "Bucket"
DEPLOYMENT = "Deployment"
FLUX_INSTANCE = "FluxInstance"
FLUX_REPORT = "FluxReport"


@dataclass(frozen=True)
class KindInfo:
    """Where the API serves a kind; ``namespace`` narrows the listing (controllers only)."""

    kind: str
    group: str
    version: str
    plural: str
    required: bool = False
    """A 404 on this kind's list means Flux is not installed (rather than an optional part missing)."""

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def resource(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural


KINDS: Mapping[str, KindInfo] = {
    info.kind: info
    for info in (
        KindInfo(KUSTOMIZATION, "kustomize.toolkit.fluxcd.io", "v1", "kustomizations", required=True),
        KindInfo(HELM_RELEASE, "helm.toolkit.fluxcd.io", "v2", "helmreleases"),
        KindInfo(GIT_REPOSITORY, "source.toolkit.fluxcd.io", "v1", "gitrepositories", required=True),
        KindInfo(OCI_REPOSITORY, "source.toolkit.fluxcd.io", "v1", "ocirepositories"),
        KindInfo(HELM_REPOSITORY, "source.toolkit.fluxcd.io", "v1", "helmrepositories"),
        KindInfo(HELM_CHART, "source.toolkit.fluxcd.io", "v1", "helmcharts"),
        KindInfo(BUCKET, "source.toolkit.fluxcd.io", "v1", "buckets"),
        KindInfo(DEPLOYMENT, "apps", "v1", "deployments"),
        KindInfo(FLUX_INSTANCE, "fluxcd.controlplane.io", "v1", "fluxinstances"),
        KindInfo(FLUX_REPORT, "fluxcd.controlplane.io", "v1", "fluxreports"),
    )
}
"""Every kind the gate reads; the adapter lists and watches exactly these."""

KUSTOMIZATION_SOURCE_KINDS = frozenset({GIT_REPOSITORY, OCI_REPOSITORY, BUCKET})
"""What a Kustomization's ``spec.sourceRef`` may name."""
SOURCE_KINDS = frozenset({GIT_REPOSITORY, OCI_REPOSITORY, HELM_REPOSITORY, HELM_CHART, BUCKET})
FLUX_CONTROLLERS = frozenset(
    {
        "source-controller",
        "kustomize-controller",
        "helm-controller",
        "notification-controller",
        "image-reflector-controller",
        "image-automation-controller",
        "source-watcher",
    }
)
PLATFORM = "platform"
"""The tenant that owns everything no configured tenant claims, and Flux itself."""


# --- settings ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TenantSpec:
    """What a tenant owns: whole namespaces and/or named objects (``namespace/name``)."""

    name: str
    namespaces: frozenset[str] = frozenset()
    kustomizations: frozenset[str] = frozenset()
    helm_releases: frozenset[str] = frozenset()


@dataclass(frozen=True)
class HealthSettings:
    """Which Flux objects the gate judges, and who owns them.

    With no subset configured every namespace is in scope. Naming any subset
    (namespaces, Kustomizations, HelmReleases) limits the scope to their union.
    """

    namespaces: frozenset[str] | None = None
    kustomizations: frozenset[str] | None = None
    helm_releases: frozenset[str] | None = None
    tenants: tuple[TenantSpec, ...] = ()
    flux_namespace: str = "flux-system"

    @property
    def scoped(self) -> bool:
        return any(s is not None for s in (self.namespaces, self.kustomizations, self.helm_releases))

    def in_scope(self, kind: str, namespace: str, name: str) -> bool:
        if not self.scoped:
            return True
        if self.namespaces is not None and namespace in self.namespaces:
            return True
        key = f"{namespace}/{name}"
        if kind == KUSTOMIZATION:
            return self.kustomizations is not None and key in self.kustomizations
        if kind == HELM_RELEASE:
            return self.helm_releases is not None and key in self.helm_releases
        return False

    def expected(self, kind: str) -> frozenset[str]:
        """Objects named in the configuration (scope or tenants): each must exist."""
        named: set[str] = set()
        if kind == KUSTOMIZATION:
            named |= self.kustomizations or frozenset()
            for tenant in self.tenants:
                named |= tenant.kustomizations
        elif kind == HELM_RELEASE:
            named |= self.helm_releases or frozenset()
            for tenant in self.tenants:
                named |= tenant.helm_releases
        return frozenset(named)

    def tenant_of(self, ref: ObjectRef) -> str:
        if ref.kind not in (KUSTOMIZATION, HELM_RELEASE, *SOURCE_KINDS):
            return PLATFORM
        key = f"{ref.namespace}/{ref.name}"
        for tenant in self.tenants:
            if (ref.kind == KUSTOMIZATION and key in tenant.kustomizations) or (
                ref.kind == HELM_RELEASE and key in tenant.helm_releases
            ):
                return tenant.name
        for tenant in self.tenants:
            if ref.namespace in tenant.namespaces:
                return tenant.name
        return PLATFORM


HEALTH_KEY = "fleet:health"
TENANTS_KEY = "fleet:tenants"


def health_settings_from_config(raw: Mapping[str, Any], *, file: str) -> HealthSettings:
    """Read ``fleet:health`` and ``fleet:tenants`` from an environment's configuration.

    Values may be structured or, as ``pulumi config set`` stores them, JSON text.
    Keys may carry the ``fleet:`` prefix (the stack file) or not
    (``EnvironmentConfig.raw``, which the CLI hands over).
    """
    health = _mapping(_either(raw, HEALTH_KEY), file=file, key=HEALTH_KEY)
    _only_keys(
        health,
        {"namespaces", "kustomizations", "helmReleases", "fluxNamespace", "regressionGrace", "parity"},
        file,
        HEALTH_KEY,
    )
    flux_ns = health.get("fluxNamespace", "flux-system")
    if not isinstance(flux_ns, str) or not flux_ns:
        raise ConfigError("must be a namespace name", file=file, key=f"{HEALTH_KEY}.fluxNamespace")

    tenants_raw = _mapping(_either(raw, TENANTS_KEY), file=file, key=TENANTS_KEY)
    tenants: list[TenantSpec] = []
    for name, spec in tenants_raw.items():
        key = f"{TENANTS_KEY}.{name}"
        if not isinstance(name, str) or not name:
            raise ConfigError("tenant names must be non-empty strings", file=file, key=TENANTS_KEY)
        if not isinstance(spec, Mapping):
            raise ConfigError("must be a mapping with namespaces and/or kustomizations", file=file, key=key)
        _only_keys(spec, {"namespaces", "kustomizations", "helmReleases"}, file, key)
        tenant = TenantSpec(
            name=name,
            namespaces=_names(spec.get("namespaces"), file, f"{key}.namespaces") or frozenset(),
            kustomizations=_refs(spec.get("kustomizations"), file, f"{key}.kustomizations") or frozenset(),
            helm_releases=_refs(spec.get("helmReleases"), file, f"{key}.helmReleases") or frozenset(),
        )
        if not (tenant.namespaces or tenant.kustomizations or tenant.helm_releases):
            raise ConfigError("names no namespaces, kustomizations or helmReleases", file=file, key=key)
        tenants.append(tenant)

    return HealthSettings(
        namespaces=_names(health.get("namespaces"), file, f"{HEALTH_KEY}.namespaces"),
        kustomizations=_refs(health.get("kustomizations"), file, f"{HEALTH_KEY}.kustomizations"),
        helm_releases=_refs(health.get("helmReleases"), file, f"{HEALTH_KEY}.helmReleases"),
        tenants=tuple(tenants),
        flux_namespace=flux_ns,
    )


def _either(raw: Mapping[str, Any], key: str) -> object:
    return raw[key] if key in raw else raw.get(key.partition(":")[2])


def _mapping(value: object, *, file: str, key: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as err:
            raise ConfigError(f"is not valid JSON: {err}", file=file, key=key) from err
    if not isinstance(value, Mapping):
        raise ConfigError(f"must be a mapping, not {type(value).__name__}", file=file, key=key)
    return value


def _only_keys(value: Mapping[str, Any], allowed: set[str], file: str, key: str) -> None:
    unknown = sorted(str(k) for k in value if k not in allowed)
    if unknown:
        raise ConfigError(
            f"unknown key(s) {', '.join(unknown)} (expected {', '.join(sorted(allowed))})", file=file, key=key
        )


def _names(value: object, file: str, key: str) -> frozenset[str] | None:
    if value is None:
        return None
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError("must be a list of names", file=file, key=key)
    return frozenset(value)


def _refs(value: object, file: str, key: str) -> frozenset[str] | None:
    names = _names(value, file, key)
    if names is None:
        return None
    for ref in sorted(names):
        parts = ref.split("/")
        if len(parts) != 2 or not all(parts):
            raise ConfigError(f"{ref!r} is not namespace/name", file=file, key=key)
    return names


# --- reading objects ---------------------------------------------------------------------------


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


def _is_true(cond: Mapping[str, Any] | None) -> bool:
    return cond is not None and cond.get("status") == "True"


def _message(cond: Mapping[str, Any]) -> str:
    return str(cond.get("message") or cond.get("reason") or "")


Problem = tuple[str, str, bool]
"""A failure's reason, message, and whether it is merely in progress (transient)."""

IN_PROGRESS_READY_FALSE = frozenset({"DependencyNotReady"})
"""Ready=False reasons that only mean another object is reconciling right now."""


def _generation_failure(obj: Mapping[str, Any]) -> Problem | None:
    generation = (obj.get("metadata") or {}).get("generation")
    observed = (obj.get("status") or {}).get("observedGeneration")
    if generation is not None and observed != generation:
        return (
            "GenerationNotObserved",
            f"generation {generation} not yet observed by the controller (observedGeneration {observed})",
            True,
        )
    return None


def _flux_object_failure(obj: Mapping[str, Any], *, source: bool = False) -> Problem | None:
    """The rules every reconciled Flux object obeys: not suspended, not stalled, current, Ready.

    Ready=Unknown (a reconcile under way), a generation not yet observed and
    DependencyNotReady are in progress; so is a source's failed fetch, which
    keeps the artifact the cluster runs. Suspended, Stalled and Ready=False are not.
    """
    if (obj.get("spec") or {}).get("suspend") is True:
        return "Suspended", "reconciliation is suspended (spec.suspend: true); its Ready condition is stale", False
    stalled = condition(obj, "Stalled")
    if _is_true(stalled):
        assert stalled is not None
        return "Stalled", f"{stalled.get('reason', 'Stalled')}: {_message(stalled)}", False
    ready = condition(obj, "Ready")
    if ready is not None and ready.get("status") == "False":
        reason = str(ready.get("reason") or "NotReady")
        return reason, _message(ready), source or reason in IN_PROGRESS_READY_FALSE
    generation = _generation_failure(obj)
    if generation is not None:
        return generation
    if ready is None:
        return "NotReady", "no Ready condition yet", True
    if ready.get("status") != "True":
        return str(ready.get("reason") or "Progressing"), _message(ready) or "reconciliation in progress", True
    return None


def _source_ref(obj: Mapping[str, Any]) -> ObjectRef | None:
    ref = (obj.get("spec") or {}).get("sourceRef") or {}
    if not ref.get("kind") or not ref.get("name"):
        return None
    namespace = ref.get("namespace") or (obj.get("metadata") or {}).get("namespace") or ""
    return ObjectRef(str(ref["kind"]), str(namespace), str(ref["name"]))


def _chart_sources(obj: Mapping[str, Any]) -> list[ObjectRef]:
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


def _source_key(ref: ObjectRef) -> str:
    return f"{ref.namespace}/{ref.name}"


def _artifact_revision(source: Mapping[str, Any]) -> str | None:
    artifact = (source.get("status") or {}).get("artifact") or {}
    revision = artifact.get("revision")
    return str(revision) if revision else None


def running_of(kind: str, obj: Mapping[str, Any]) -> Running:
    return _running(ref_of(obj, kind), kind, obj)


def _running(ref: ObjectRef, kind: str, obj: Mapping[str, Any]) -> Running:
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
    return Running(ref, revision=_artifact_revision(obj))


# --- the rule ----------------------------------------------------------------------------------


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
            running[ref] = _running(ref, KUSTOMIZATION, obj)
            source_ref = _source_ref(obj)
            if source_ref is not None:
                used_sources.add(source_ref)
                applied_revision = (obj.get("status") or {}).get("lastAppliedRevision")
                if applied_revision and source_ref in sources:
                    applied.setdefault(_source_key(source_ref), set()).add(str(applied_revision))
            problem = _flux_object_failure(obj)
            if problem is None:
                problem = _kustomization_source_failure(obj, source_ref, sources)
            if problem is None:
                ready.add(ref)
            else:
                fail(ref, *problem)

        for ref, obj in _in_scope(snapshot.of(HELM_RELEASE), HELM_RELEASE, settings):
            checked.add(ref)
            running[ref] = _running(ref, HELM_RELEASE, obj)
            used_sources.update(_chart_sources(obj))
            problem = _flux_object_failure(obj) or _helm_release_failure(obj)
            if problem is None:
                ready.add(ref)
            else:
                fail(ref, *problem)

        for ref in sorted(used_sources & sources.keys()):
            checked.add(ref)
            running[ref] = _running(ref, ref.kind, sources[ref])
            problem = _flux_object_failure(sources[ref], source=True)
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
            offered = {_artifact_revision(obj) for ref, obj in sources.items() if _source_key(ref) == source}
            behind = sorted(revs - offered)
            revisions[source] = behind[0] if behind else sorted(revs)[0]

    failures.sort(key=lambda f: (f.ref, f.reason))
    tenants = _tenants(settings, checked, failures)
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
    offered = _artifact_revision(source)
    if offered is None:
        cond = condition(source, "Ready")
        detail = _message(cond) if cond is not None else "no artifact yet"
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
    if not _is_true(released):
        if released is None:
            return "NotReleased", "no Released condition yet", True
        return str(released.get("reason") or "NotReleased"), _message(released), False
    if ((obj.get("spec") or {}).get("test") or {}).get("enable") is True:
        tested = condition(obj, "TestSuccess")
        if not _is_true(tested):
            if tested is None:
                return "TestsPending", "spec.test.enable is true but no TestSuccess condition yet", True
            return str(tested.get("reason") or "TestFailed"), _message(tested), False
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
            problem = _flux_object_failure(obj)
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
    stale = _generation_failure(obj)
    if stale is not None:
        return stale[1]
    cond = condition(obj, "Available")
    if cond is not None and cond.get("status") != "True":
        return _message(cond) or "Available condition is not True"
    if available < wanted:
        return f"{available}/{wanted} replicas available"
    return None


def _tenants(
    settings: HealthSettings, checked: set[ObjectRef], failures: Sequence[ObjectFailure]
) -> tuple[TenantHealth, ...]:
    names = [t.name for t in settings.tenants if t.name != PLATFORM] + [PLATFORM]
    counts = dict.fromkeys(names, 0)
    grouped: dict[str, list[ObjectFailure]] = {name: [] for name in names}
    for ref in checked:
        counts[settings.tenant_of(ref)] += 1
    for failure in failures:
        grouped[settings.tenant_of(failure.ref)].append(failure)
    return tuple(
        TenantHealth(tenant=name, reconciled=not grouped[name], objects=counts[name], failures=tuple(grouped[name]))
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


# --- a verified slot under watch ---------------------------------------------------------------


class Live(StrEnum):
    """The state of a slot that passed the gate and parity, once traffic moves to it."""

    HEALTHY = "healthy"
    IN_PROGRESS = "in progress"
    """Only routine reconciles at the verified revision, each shorter than the grace."""
    REGRESSED = "regressed"


@dataclass(frozen=True)
class LiveJudgement:
    state: Live
    reason: str = ""

    @property
    def regressed(self) -> bool:
        return self.state is Live.REGRESSED


_TICK = 1e-6
"""A watch woken at ``since + grace`` may measure a hair less than the grace in floating point."""


def applied_revisions(report: HealthReport) -> dict[str, str]:
    """The revision applied per source (``namespace/name``) and per Kustomization (``Kustomization/ns/name``).

    What the machine keeps as verified when parity passes: a single
    Kustomization applying a new commit is a change of what runs, even
    while the others still run the verified one.
    """
    per_object = {
        str(running.ref): running.revision
        for running in report.running
        if running.ref.kind == KUSTOMIZATION and running.revision is not None
    }
    return {**report.revisions, **per_object}


def judge_live(report: HealthReport, verified: Mapping[str, str], grace_s: float) -> LiveJudgement:
    """Whether a verified slot has regressed, or is only going through Flux's routine reconciles.

    Flux marks every Kustomization and HelmRelease Ready=Unknown,
    Reconciling=True at the start of each reconcile, every interval, at the
    same revision: that is not a regression. A regression is a failure that
    is not merely in progress (Ready=False, Stalled, a failed release or
    test, a suspended object), an object in progress for ``grace_s`` or
    longer without a break (``ObjectFailure.for_s``, measured by a watch), or
    a source whose applied revision moved away from the one verified.
    """
    current = applied_revisions(report)
    moved = [
        f"{key} moved from {revision} to {current[key]}"
        for key, revision in sorted(verified.items())
        if current.get(key, revision) != revision
    ]
    hard = [f for f in report.failures if not f.transient]
    lasting = [f for f in report.failures if f.transient and f.for_s is not None and f.for_s >= grace_s - _TICK]
    if moved or hard or lasting:
        parts = [*moved, *(f"{f.ref}: {f.reason}: {f.message}" for f in hard)]
        parts += [f"{f.ref}: {f.reason} for {f.for_s:.0f}s (grace {grace_s:g}s): {f.message}" for f in lasting]
        more = f" (+{len(parts) - 3} more)" if len(parts) > 3 else ""
        return LiveJudgement(Live.REGRESSED, "; ".join(parts[:3]) + more)
    if report.failures:
        first = report.failures[0]
        more = f" (+{len(report.failures) - 1} more)" if len(report.failures) > 1 else ""
        return LiveJudgement(Live.IN_PROGRESS, f"{first.ref}: {first.reason}{more}")
    return LiveJudgement(Live.HEALTHY)


class ProgressWatch:
    """How long each object has been in progress without a break, across the reports of one watch.

    A watch sees every status change, so the durations are exact to one
    event, and measured on fleet's own clock (the cluster's
    ``lastTransitionTime`` has a second's resolution and the cluster's clock
    skew). The objects in progress when the watch began are awaited: a
    check before a weight increase returns once each of them has finished a
    reconcile or run out of grace.
    """

    def __init__(self) -> None:
        self._since: dict[ObjectRef, float] = {}
        self._awaited: set[ObjectRef] | None = None

    def observe(self, report: HealthReport, now: float) -> HealthReport:
        """``report`` with ``for_s`` set on each failure in progress."""
        current = {f.ref for f in report.failures if f.transient}
        self._since = {ref: self._since.get(ref, now) for ref in current}
        self._awaited = set(current) if self._awaited is None else self._awaited & current
        failures = tuple(
            replace(f, for_s=now - self._since[f.ref]) if f.transient else f for f in report.failures
        )
        return replace(report, failures=failures)

    @property
    def settled(self) -> bool:
        """Every object in progress when the watch began has since been seen settled."""
        return not self._awaited

    def next_expiry(self, grace_s: float) -> float | None:
        """When the longest-running reconcile reaches the grace (None: nothing in progress)."""
        return min(self._since.values()) + grace_s if self._since else None

    def done(self, judgement: LiveJudgement, now: float, until: float) -> bool:
        """Whether a watch ``until`` a time may return: on a regression, or once over and settled."""
        return judgement.regressed or (now >= until and self.settled)
