"""Builders for Flux and controller objects in given states, as the API would serve them.

The rehearsal's Flux simulator, the health gate's tests and the benchmarks all
need Kustomizations that are stale, HelmReleases that failed an upgrade,
controllers that are down. Writing those dicts by hand invites statuses Flux
never produces, so the builders follow Flux's documented status semantics
(Ready/Reconciling/Stalled conditions, ``lastAppliedRevision``,
``status.artifact.revision``, ``observedGeneration``) and take only the knobs
that matter for the rules. They are pure: plain dicts, no kmock, no client.
"""

from fleet.rehearsal.flux_objects.installation import (
    CONTROLLERS,
    bucket,
    deployment,
    flux_controllers,
    flux_instance,
    flux_report,
    helm_chart,
    helm_repository,
    reconciled_cluster,
)
from fleet.rehearsal.flux_objects.statuses import (
    TRANSITION_TIME,
    cond,
    git_repository,
    helm_release,
    kustomization,
    oci_repository,
    revision,
)

__all__ = [
    "CONTROLLERS",
    "TRANSITION_TIME",
    "bucket",
    "cond",
    "deployment",
    "flux_controllers",
    "flux_instance",
    "flux_report",
    "git_repository",
    "helm_chart",
    "helm_release",
    "helm_repository",
    "kustomization",
    "oci_repository",
    "reconciled_cluster",
    "revision",
]
