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
