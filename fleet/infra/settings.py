"""The infrastructure program's configuration, parsed into plain values.

The Pulumi program reads ``fleet:cluster``, ``fleet:gitops``, ``fleet:dns``,
``fleet:hostnames`` and ``fleet:externalDns`` from its stack; ``fleet
validate`` reads the same keys from ``stacks/Pulumi.<env>.yaml`` without
Pulumi. Both go through :func:`infra_settings_from_config`, which reads the
one model of ``fleet.settings`` (the CLI's too), so a mistake is reported
the same way, with the file and the ``fleet:section.key`` to fix,
before a ten-minute cluster creation fails on it.

This module must not import pulumi: the CLI imports it for validation, and
``fleet --help`` must stay free of SDK imports. Keys that belong to other
parts of fleet (``traffic``, ``rollout``, ...) are ignored here; unknown keys
inside the sections this module owns are errors, because a misspelt
``vpcID`` would otherwise silently fall back to a default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fleet.domain.model import Version
from fleet.errors import ConfigError
from fleet.settings.infra import DRIVER_REQUIREMENTS, KIND_NODE_VERSIONS
from fleet.settings.model import InfraModel

__all__ = [
    "DRIVER_REQUIREMENTS",
    "KIND_NODE_VERSIONS",
    "SECRET_KEYS",
    "ClusterSettings",
    "DnsSettings",
    "GitOpsSettings",
    "InfraSettings",
    "infra_problems",
    "infra_settings_from_config",
]

SECRET_KEYS = ("gitToken", "sopsAgeKey")


@dataclass(frozen=True)
class ClusterSettings:
    driver: str
    version: Version
    """Version of the first active slot when fleet's store has no record yet."""
    region: str | None = None
    vpc_id: str | None = None
    subnet_ids: tuple[str, ...] = ()
    instance_type: str = "m6i.large"
    desired_size: int = 2
    min_size: int = 1
    max_size: int = 4
    node_image: str = "kindest/node:v{version}"
    node_images: Mapping[str, str] = field(default_factory=dict)
    """Image per minor (``"1.29": kindest/node:v1.29.14@sha256:...``), before the table of known tags."""

    def node_image_for(self, version: Version) -> str:
        """The kind node image for ``version``: configured for its minor, its own patch, or the known tag."""
        minor = f"{version.major}.{version.minor}"
        if minor in self.node_images:
            return self.node_images[minor]
        if version.patch is not None:
            return self.node_image.format(version=version)
        known = KIND_NODE_VERSIONS.get(minor)
        if known is None:
            raise ConfigError(
                f"no known kindest/node tag for Kubernetes {minor} (known: {', '.join(KIND_NODE_VERSIONS)}); "
                f"give the version with its patch level or set nodeImages.'{minor}'",
                key="fleet:cluster.nodeImages",
            )
        return self.node_image.format(version=known)


@dataclass(frozen=True)
class GitOpsSettings:
    url: str
    branch: str = "main"
    path: str = "."
    flux_version: str = "2.x"
    image_automation: bool = False
    operator_version: str | None = None
    """flux-operator Helm chart version; None installs the latest chart."""

    @property
    def ref(self) -> str:
        return f"refs/heads/{self.branch}"


@dataclass(frozen=True)
class DnsSettings:
    zone_id: str
    ttl: int = 60
    health_check_path: str = "/healthz"
    health_check_port: int = 80


@dataclass(frozen=True)
class InfraSettings:
    cluster: ClusterSettings
    gitops: GitOpsSettings
    hostnames: tuple[str, ...] = ()
    dns: DnsSettings | None = None
    external_dns_owner_prefix: str | None = None
    has_git_token: bool = False
    has_sops_age_key: bool = False

    def owner_id(self, env: str, slot: str) -> str:
        """external-dns owner id of one slot: distinct per slot, never shared by the two slots."""
        prefix = self.external_dns_owner_prefix or env
        return f"{prefix}-{slot}"


def infra_settings_from_config(raw: Mapping[str, Any], *, file: str) -> InfraSettings:
    """Parse the ``fleet:``-stripped stack config (``{"cluster": {...}, "gitops": {...}}``); raises the first problem.

    Secret values may appear as ``{"secure": "..."}``; they are only checked
    for presence, never decoded. An empty ``dns``/``externalDns`` mapping or an
    empty secret (the defaults in Pulumi.yaml) counts as absent.
    """
    model, problems = _read(raw, file)
    if problems:
        raise problems[0]
    assert model is not None
    return _settings(model)


def infra_problems(raw: Mapping[str, Any], *, file: str) -> list[ConfigError]:
    """Every problem :func:`infra_settings_from_config` would raise one at a time, for ``fleet validate``."""
    return _read(raw, file)[1]


def _read(raw: Mapping[str, Any], file: str) -> tuple[InfraModel | None, list[ConfigError]]:
    from fleet.settings.errors import read_all

    model, problems = read_all(InfraModel, raw, file=file, context={"provisioning": True})
    return model, sorted(problems, key=_block_order)


_BLOCKS = ("cluster", "gitops", "hostnames", "dns", "externalDns", "gitToken", "sopsAgeKey")


def _block_order(problem: ConfigError) -> tuple[int, int]:
    """The program names a stack's problems block by block, key by key, in the order it reads them."""
    from fleet.settings.errors import keys_in_order
    from fleet.settings.infra import Cluster

    block, _, key = (problem.key or "").removeprefix("fleet:").split("[")[0].partition(".")
    order = keys_in_order(Cluster) if block == "cluster" else []
    return (
        _BLOCKS.index(block) if block in _BLOCKS else len(_BLOCKS),
        -1 if problem.detail.startswith("unknown key") else order.index(key) if key in order else len(order),
    )


def _settings(model: InfraModel) -> InfraSettings:
    c, g, d = model.cluster, model.gitops, model.dns
    assert c.driver is not None and g is not None
    cluster = ClusterSettings(
        driver=c.driver,
        version=c.version,
        region=c.region,
        vpc_id=c.vpc_id,
        subnet_ids=c.subnet_ids,
        instance_type=c.instance_type,
        desired_size=c.desired_size,
        min_size=c.min_size,
        max_size=c.max_size if c.max_size is not None else max(4, c.desired_size),
        node_image=c.node_image,
        node_images=dict(c.node_images),
    )
    gitops = GitOpsSettings(
        url=g.url,
        branch=g.branch,
        path=g.path,
        flux_version=g.flux_version,
        image_automation=g.image_automation,
        operator_version=g.operator_version,
    )
    dns = None if d is None else DnsSettings(d.zone_id, d.ttl, d.health_check_path, d.health_check_port)
    return InfraSettings(
        cluster=cluster,
        gitops=gitops,
        hostnames=tuple(name.lower() for name in model.hostnames),
        dns=dns,
        external_dns_owner_prefix=model.external_dns.owner_id_prefix if model.external_dns else None,
        has_git_token=model.git_token,
        has_sops_age_key=model.sops_age_key,
    )
