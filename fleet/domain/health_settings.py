"""Which Flux objects the health gate judges and who owns them, read from ``fleet:health`` and ``fleet:tenants``.

Kept apart from the rules so that it can be replaced by the typed configuration model as one piece.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fleet.domain.flux_kinds import HELM_RELEASE, KUSTOMIZATION, PLATFORM, SOURCE_KINDS
from fleet.domain.reports import ObjectRef
from fleet.errors import ConfigError


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
        _only_keys(
            spec, {"namespaces", "kustomizations", "helmReleases", "roots", "selector", "traffic", "contact"}, file, key
        )
        selector = _mapping(spec.get("selector"), file=file, key=f"{key}.selector")
        if not all(isinstance(v, str) for v in selector.values()):
            raise ConfigError("must map label names to values", file=file, key=f"{key}.selector")
        tenant = TenantSpec(
            name=name,
            namespaces=_names(spec.get("namespaces"), file, f"{key}.namespaces") or frozenset(),
            kustomizations=_refs(spec.get("kustomizations"), file, f"{key}.kustomizations") or frozenset(),
            helm_releases=_refs(spec.get("helmReleases"), file, f"{key}.helmReleases") or frozenset(),
            roots=_refs(spec.get("roots"), file, f"{key}.roots") or frozenset(),
            selector=tuple(sorted((str(k), str(v)) for k, v in selector.items())),
        )
        if not (tenant.namespaces or tenant.kustomizations or tenant.helm_releases or tenant.roots or tenant.selector):
            raise ConfigError(
                "names no namespaces, kustomizations, helmReleases, roots or selector", file=file, key=key
            )
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
