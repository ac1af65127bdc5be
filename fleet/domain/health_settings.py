"""Which Flux objects the health gate judges and who owns them, read from ``fleet:health`` and ``fleet:tenants``.

Kept apart from the rules so that it can be replaced by the typed configuration model as one piece.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from fleet.domain.flux_kinds import HELM_RELEASE, KUSTOMIZATION, PLATFORM, SOURCE_KINDS
from fleet.domain.reports import ObjectRef


@dataclass(frozen=True)
class TenantSpec:
    """What a tenant owns: whole namespaces and/or named objects (``namespace/name``)."""

    name: str
    namespaces: frozenset[str] = frozenset()
    kustomizations: frozenset[str] = frozenset()
    helm_releases: frozenset[str] = frozenset()
    roots: frozenset[str] = frozenset()
    """Root Kustomizations (``namespace/name``): they and every Flux object they create, transitively, are the
    tenant's (Flux labels what a Kustomization applies with ``kustomize.toolkit.fluxcd.io/name``/``namespace``)."""
    selector: tuple[tuple[str, str], ...] = ()
    """Labels a Flux object carries (all of them) to be the tenant's."""


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
                named |= tenant.kustomizations | tenant.roots
        elif kind == HELM_RELEASE:
            named |= self.helm_releases or frozenset()
            for tenant in self.tenants:
                named |= tenant.helm_releases
        return frozenset(named)

    def tenant_of(
        self, ref: ObjectRef, labels: Mapping[str, str] | None = None, rooted: Mapping[ObjectRef, str] | None = None
    ) -> str:
        """Whose ``ref`` is: named, else created under a tenant's root, else labelled, else by namespace."""
        if ref.kind not in (KUSTOMIZATION, HELM_RELEASE, *SOURCE_KINDS):
            return PLATFORM
        key = f"{ref.namespace}/{ref.name}"
        for tenant in self.tenants:
            if (ref.kind == KUSTOMIZATION and key in tenant.kustomizations) or (
                ref.kind == HELM_RELEASE and key in tenant.helm_releases
            ):
                return tenant.name
        if rooted and ref in rooted:
            return rooted[ref]
        for tenant in self.tenants:
            if ref.kind == KUSTOMIZATION and key in tenant.roots:
                return tenant.name
        if labels:
            for tenant in self.tenants:
                if tenant.selector and all(labels.get(k) == v for k, v in tenant.selector):
                    return tenant.name
        for tenant in self.tenants:
            if ref.namespace in tenant.namespaces:
                return tenant.name
        return PLATFORM
