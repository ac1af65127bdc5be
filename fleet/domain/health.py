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

The rules live in parts (:mod:`~fleet.domain.flux_kinds`, :mod:`~fleet.domain.health_settings`,
:mod:`~fleet.domain.flux_status`, :mod:`~fleet.domain.health_report`, :mod:`~fleet.domain.live_health`);
this module names them in one place.
"""

from __future__ import annotations

from fleet.domain.flux_kinds import (
    BUCKET,
    DEPLOYMENT,
    FLUX_CONTROLLERS,
    FLUX_INSTANCE,
    FLUX_REPORT,
    GIT_REPOSITORY,
    HELM_CHART,
    HELM_RELEASE,
    HELM_REPOSITORY,
    KINDS,
    KUSTOMIZATION,
    KUSTOMIZATION_SOURCE_KINDS,
    OCI_REPOSITORY,
    PLATFORM,
    SOURCE_KINDS,
    KindInfo,
)
from fleet.domain.flux_status import (
    IN_PROGRESS_READY_FALSE,
    Problem,
    Snapshot,
    condition,
    ref_of,
    running_of,
)
from fleet.domain.health_report import (
    evaluate,
    summary,
    tenant_rows,
)
from fleet.domain.health_settings import (
    HealthSettings,
    TenantSpec,
)
from fleet.domain.live_health import (
    Live,
    LiveJudgement,
    ProgressWatch,
    applied_revisions,
    judge_live,
)

__all__ = [
    "BUCKET", "DEPLOYMENT", "FLUX_CONTROLLERS", "FLUX_INSTANCE", "FLUX_REPORT", "GIT_REPOSITORY",
    "HELM_CHART", "HELM_RELEASE", "HELM_REPOSITORY", "IN_PROGRESS_READY_FALSE", "KINDS", "KUSTOMIZATION",
    "KUSTOMIZATION_SOURCE_KINDS", "OCI_REPOSITORY", "PLATFORM", "SOURCE_KINDS", "HealthSettings",
    "KindInfo", "Live", "LiveJudgement", "Problem", "ProgressWatch", "Snapshot", "TenantSpec", "applied_revisions",
    "condition", "evaluate", "judge_live", "ref_of", "running_of", "summary",
    "tenant_rows",
]
