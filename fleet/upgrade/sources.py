"""Where the versions an environment may move to come from: its cluster driver, else its configuration.

* ``eks``: EKS's ``DescribeClusterVersions`` (through :mod:`fleet.adapters.eks_versions`, imported
  only when asked, so that ``fleet --help`` stays free of boto3);
* ``kind``: the known ``kindest/node`` tags (and ``fleet:cluster.nodeImages``' minors);
* anything else (``local``), or a driver that cannot be asked: ``fleet:upgrade.versions``.

A driver that fails falls back to ``fleet:upgrade.versions`` when it is set (and says so);
without it the error stands (exit 5): a channel must not resolve against a guess.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from fleet.config import EnvironmentConfig
from fleet.domain.model import Version
from fleet.errors import ProviderError
from fleet.upgrade.settings import UpgradeSettings


class VersionSource(Protocol):
    @property
    def where(self) -> str: ...

    def versions(self) -> list[Version]: ...


@dataclass(frozen=True)
class Offered:
    versions: tuple[Version, ...]
    where: str


@dataclass(frozen=True)
class StaticVersions:
    listed: tuple[Version, ...]
    where: str = "fleet:upgrade.versions"

    def versions(self) -> list[Version]:
        return list(self.listed)


@functools.cache
def _kind_table() -> frozenset[Version]:
    from fleet.infra.settings import KIND_NODE_VERSIONS

    return frozenset(Version.parse(v) for v in KIND_NODE_VERSIONS.values())


def kind_versions(cluster: Mapping[str, Any]) -> StaticVersions:
    found = set(_kind_table())
    images = cluster.get("nodeImages") or {}
    if isinstance(images, Mapping):
        for minor in images:
            try:
                found.add(Version.parse(minor))
            except ValueError:
                continue
    return StaticVersions(tuple(sorted(found, key=lambda v: (v.minor, v.patch or 0))), "kind's kindest/node tags")


def _eks(config: EnvironmentConfig) -> VersionSource:
    cluster = config.raw.get("cluster") or {}
    return _eks_in(str(cluster.get("region") or "us-east-1"))


@functools.cache
def _eks_in(region: str) -> VersionSource:
    """One source per region and process: a fleet of 500 EKS environments asks EKS once per region."""
    from fleet.adapters.eks_versions import EksVersions

    # boto3 honours AWS_ENDPOINT_URL_EKS (a VPC endpoint, a local server in tests).
    return EksVersions(region)


SourceFactory = Callable[[EnvironmentConfig], VersionSource | None]


def driver_source(config: EnvironmentConfig) -> VersionSource | None:
    """The driver's own list of versions, or None when the driver has none."""
    cluster = config.raw.get("cluster") or {}
    driver = cluster.get("driver") if isinstance(cluster, Mapping) else None
    if driver == "eks":
        return _eks(config)
    if driver == "kind":
        return kind_versions(cluster)
    return None


def offered(config: EnvironmentConfig, settings: UpgradeSettings, source: SourceFactory = driver_source) -> Offered:
    """The versions ``config``'s environment may move to, and where they came from."""
    found = source(config)
    if found is not None:
        try:
            return Offered(tuple(found.versions()), found.where)
        except ProviderError as err:
            if not settings.versions:
                raise
            return Offered(settings.versions, f"fleet:upgrade.versions ({found.where} failed: {err})")
    if settings.versions:
        return Offered(settings.versions, "fleet:upgrade.versions")
    return Offered((config.version,), "only the configured version (set fleet:upgrade.versions)")
