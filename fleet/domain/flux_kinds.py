"""The Flux kinds the health gate reads, and what it needs to know of each (group, version, plural)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

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
