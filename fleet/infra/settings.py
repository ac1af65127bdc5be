"""The infrastructure program's configuration, parsed into plain values.

The Pulumi program reads ``fleet:cluster``, ``fleet:gitops``, ``fleet:dns``,
``fleet:hostnames`` and ``fleet:externalDns`` from its stack; ``fleet
validate`` reads the same keys from ``stacks/Pulumi.<env>.yaml`` without
Pulumi. Both go through :func:`infra_settings_from_config`, so a mistake is
reported the same way, with the file and the ``fleet:section.key`` to fix,
before a ten-minute cluster creation fails on it.

This module must not import pulumi: the CLI imports it for validation, and
``fleet --help`` must stay free of SDK imports. Keys that belong to other
parts of fleet (``traffic``, ``rollout``, ...) are ignored here; unknown keys
inside the sections this module owns are errors, because a misspelt
``vpcID`` would otherwise silently fall back to a default.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fleet.config import unknown_key_hint
from fleet.domain.model import Version
from fleet.errors import ConfigError

DRIVER_REQUIREMENTS: Mapping[str, tuple[str, ...]] = {
    "kind": (),
    "eks": ("region", "vpcId", "subnetIds"),
    "local": (),
}
"""Cluster drivers fleet knows, with the ``fleet:cluster`` keys each one needs.

``fleet.infra.cluster`` registers one driver per name here; a test keeps the
two in step. Adding a driver (aks, gke) adds one line here and one class there.
"""

SECRET_KEYS = ("gitToken", "sopsAgeKey")

KIND_NODE_VERSIONS: Mapping[str, str] = {
    "1.25": "1.25.16",
    "1.26": "1.26.15",
    "1.27": "1.27.16",
    "1.28": "1.28.15",
    "1.29": "1.29.14",
    "1.30": "1.30.10",
    "1.31": "1.31.6",
    "1.32": "1.32.2",
    "1.33": "1.33.1",
}
"""The ``kindest/node`` tag of each Kubernetes minor (kind images carry a patch level: ``v1.29`` does not exist).

Taken from kind's release notes (v0.25 to v0.29); a slot at ``1.29.2`` uses that patch
level as given, and ``fleet:cluster.nodeImages`` overrides any minor (with a digest, as kind advises).
"""

_CLUSTER_KEYS = frozenset(
    {
        "driver",
        "version",
        "region",
        "vpcId",
        "subnetIds",
        "instanceType",
        "desiredSize",
        "minSize",
        "maxSize",
        "nodeImage",
        "nodeImages",
    }
)
_GITOPS_KEYS = frozenset({"url", "branch", "path", "fluxVersion", "imageAutomation", "operatorVersion"})
_DNS_KEYS = frozenset({"zoneId", "ttl", "healthCheckPath", "healthCheckPort"})
_EXTERNAL_DNS_KEYS = frozenset({"ownerIdPrefix"})
_HOSTNAME = re.compile(r"^(?=.{1,253}$)(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}\.?$")
_OWNER_PREFIX = re.compile(r"^[a-z0-9]([a-z0-9-]{0,40}[a-z0-9])?$")


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
    """Parse the ``fleet:``-stripped stack config (``{"cluster": {...}, "gitops": {...}}``).

    Secret values may appear as ``{"secure": "..."}``; they are only checked
    for presence, never decoded. An empty ``dns``/``externalDns`` mapping or an
    empty secret (the defaults in Pulumi.yaml) counts as absent.
    """
    parser = _Parser(file)
    cluster = parser.cluster(raw.get("cluster"))
    gitops = parser.gitops(raw.get("gitops"), local_repository=cluster.driver == "local")
    hostnames = parser.hostnames(raw.get("hostnames"))
    dns = parser.dns(raw.get("dns"))
    if dns is not None and not hostnames:
        raise parser.error("dns", "is set but fleet:hostnames is empty: list the names to route")
    prefix = parser.external_dns(raw.get("externalDns"))
    return InfraSettings(
        cluster=cluster,
        gitops=gitops,
        hostnames=hostnames,
        dns=dns,
        external_dns_owner_prefix=prefix,
        has_git_token=parser.secret(raw, "gitToken"),
        has_sops_age_key=parser.secret(raw, "sopsAgeKey"),
    )


def infra_problems(raw: Mapping[str, Any], *, file: str) -> list[ConfigError]:
    """Every problem :func:`infra_settings_from_config` would raise one at a time, for ``fleet validate``."""
    parser = _Parser(file)
    parts: list[Any] = [
        lambda: parser.cluster(raw.get("cluster")),
        lambda: parser.gitops(raw.get("gitops"), local_repository=_driver(raw) == "local"),
        lambda: parser.hostnames(raw.get("hostnames")),
        lambda: parser.dns(raw.get("dns")),
        lambda: parser.external_dns(raw.get("externalDns")),
        lambda: parser.secret(raw, "gitToken"),
        lambda: parser.secret(raw, "sopsAgeKey"),
    ]
    problems: list[ConfigError] = []
    for part in parts:
        try:
            part()
        except ConfigError as err:
            problems.append(err)
    if not problems:
        try:
            infra_settings_from_config(raw, file=file)
        except ConfigError as err:
            problems.append(err)
    return problems


def _driver(raw: Mapping[str, Any]) -> object:
    cluster = raw.get("cluster")
    return cluster.get("driver") if isinstance(cluster, Mapping) else None


class _Parser:
    def __init__(self, file: str) -> None:
        self.file = file

    def error(self, key: str, message: str) -> ConfigError:
        return ConfigError(message, file=self.file, key=f"fleet:{key}")

    def section(self, name: str, value: object, allowed: frozenset[str], *, required: bool) -> dict[str, Any]:
        if value is None:
            if required:
                raise self.error(name, "is required")
            return {}
        if not isinstance(value, Mapping):
            raise self.error(name, f"must be a mapping, not {type(value).__name__}")
        unknown = sorted(str(k) for k in value if k not in allowed)
        if unknown:
            hint = unknown_key_hint(unknown[0], allowed, prefix=f"fleet:{name}.")
            raise self.error(f"{name}.{unknown[0]}", f"is not a known key{hint}")
        return dict(value)

    def text(self, section: Mapping[str, Any], name: str, key: str, default: str | None = None) -> str:
        value = section.get(key, default)
        if value is None:
            raise self.error(f"{name}.{key}", "is required")
        if not isinstance(value, str) or not value.strip():
            raise self.error(f"{name}.{key}", "must be a non-empty string")
        return value.strip()

    def optional_text(self, section: Mapping[str, Any], name: str, key: str) -> str | None:
        return self.text(section, name, key) if section.get(key) is not None else None

    def integer(self, section: Mapping[str, Any], name: str, key: str, default: int, *, low: int, high: int) -> int:
        value = section.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(f"{name}.{key}", f"must be a whole number, not {value!r}")
        if not low <= value <= high:
            raise self.error(f"{name}.{key}", f"must be between {low} and {high}, not {value}")
        return value

    def cluster(self, value: object) -> ClusterSettings:
        section = self.section("cluster", value, _CLUSTER_KEYS, required=True)
        driver = self.text(section, "cluster", "driver")
        if driver not in DRIVER_REQUIREMENTS:
            raise self.error(
                "cluster.driver",
                f"unknown driver {driver!r} (known: {', '.join(sorted(DRIVER_REQUIREMENTS))})",
            )
        for key in DRIVER_REQUIREMENTS[driver]:
            if section.get(key) in (None, "", []):
                raise self.error(f"cluster.{key}", f"is required by the {driver} driver")
        raw_version = section.get("version")
        if raw_version is None:
            raise self.error("cluster.version", "is required (the version of the first active slot)")
        if not isinstance(raw_version, str):
            raise self.error(
                "cluster.version",
                f'must be a quoted string such as "1.30" (YAML reads {raw_version!r} as a number)',
            )
        try:
            version = Version.parse(raw_version)
        except ValueError as err:
            raise self.error("cluster.version", str(err)) from None
        subnets = section.get("subnetIds", [])
        if (
            not isinstance(subnets, Sequence)
            or isinstance(subnets, str)
            or not all(isinstance(s, str) and s for s in subnets)
        ):
            raise self.error("cluster.subnetIds", "must be a list of subnet ids")
        desired = self.integer(section, "cluster", "desiredSize", 2, low=0, high=1000)
        low = self.integer(section, "cluster", "minSize", 1, low=0, high=1000)
        high = self.integer(section, "cluster", "maxSize", max(4, desired), low=1, high=1000)
        if not low <= desired <= high:
            raise self.error("cluster.desiredSize", f"must lie between minSize {low} and maxSize {high}")
        node_image = self.text(section, "cluster", "nodeImage", "kindest/node:v{version}")
        try:
            node_image.format(version=version)
        except (KeyError, IndexError, ValueError):
            raise self.error("cluster.nodeImage", "may only use the {version} placeholder") from None
        images = section.get("nodeImages", {})
        if not isinstance(images, Mapping):
            raise self.error("cluster.nodeImages", 'must map a minor version ("1.29") to an image')
        for minor, image in images.items():
            if not isinstance(minor, str) or not re.match(r"^\d+\.\d+$", minor):
                raise self.error("cluster.nodeImages", f'{minor!r} is not a quoted minor version such as "1.29"')
            if not isinstance(image, str) or not image.strip():
                raise self.error(f"cluster.nodeImages.{minor}", "must be an image reference")
        settings = ClusterSettings(
            driver=driver,
            version=version,
            region=self.optional_text(section, "cluster", "region"),
            vpc_id=self.optional_text(section, "cluster", "vpcId"),
            subnet_ids=tuple(subnets),
            instance_type=self.text(section, "cluster", "instanceType", "m6i.large"),
            desired_size=desired,
            min_size=low,
            max_size=high,
            node_image=node_image,
            node_images={str(k): str(v).strip() for k, v in images.items()},
        )
        if driver == "kind":
            try:
                settings.node_image_for(version)
            except ConfigError as err:
                raise self.error("cluster.nodeImages", err.detail) from None
        return settings

    def gitops(self, value: object, *, local_repository: bool = False) -> GitOpsSettings:
        section = self.section("gitops", value, _GITOPS_KEYS, required=True)
        url = self.text(section, "gitops", "url")
        if local_repository and url.startswith("file://"):
            pass  # the local driver serves a local bare repository to its slots' Flux over HTTP
        elif not re.match(r"^(https://|ssh://|git@)", url):
            raise self.error("gitops.url", f"{url!r} is not an https:// or ssh:// Git URL")
        automation = section.get("imageAutomation", False)
        if not isinstance(automation, bool):
            raise self.error("gitops.imageAutomation", "must be true or false")
        path = self.text(section, "gitops", "path", ".")
        if path.startswith("/") or ".." in path.split("/"):
            raise self.error("gitops.path", "must be a path inside the repository")
        return GitOpsSettings(
            url=url,
            branch=self.text(section, "gitops", "branch", "main"),
            path=path,
            flux_version=self.text(section, "gitops", "fluxVersion", "2.x"),
            image_automation=automation,
            operator_version=self.optional_text(section, "gitops", "operatorVersion"),
        )

    def hostnames(self, value: object) -> tuple[str, ...]:
        if value is None:
            return ()
        if isinstance(value, str) or not isinstance(value, Sequence):
            raise self.error("hostnames", "must be a list of host names")
        names: list[str] = []
        for item in value:
            if not isinstance(item, str) or not _HOSTNAME.match(item.lower()):
                raise self.error("hostnames", f"{item!r} is not a DNS host name")
            if item.lower() in names:
                raise self.error("hostnames", f"{item!r} is listed twice")
            names.append(item.lower())
        return tuple(names)

    def dns(self, value: object) -> DnsSettings | None:
        if value is None or value == {}:
            return None
        section = self.section("dns", value, _DNS_KEYS, required=True)
        path = self.text(section, "dns", "healthCheckPath", "/healthz")
        if not path.startswith("/"):
            raise self.error("dns.healthCheckPath", "must start with /")
        return DnsSettings(
            zone_id=self.text(section, "dns", "zoneId"),
            ttl=self.integer(section, "dns", "ttl", 60, low=0, high=86400),
            health_check_path=path,
            health_check_port=self.integer(section, "dns", "healthCheckPort", 80, low=1, high=65535),
        )

    def external_dns(self, value: object) -> str | None:
        section = self.section("externalDns", value, _EXTERNAL_DNS_KEYS, required=False)
        prefix = self.optional_text(section, "externalDns", "ownerIdPrefix")
        if prefix is not None and not _OWNER_PREFIX.match(prefix):
            raise self.error("externalDns.ownerIdPrefix", "must be lower-case letters, digits and dashes")
        return prefix

    def secret(self, raw: Mapping[str, Any], key: str) -> bool:
        value = raw.get(key)
        if value is None or value == "":
            return False
        if isinstance(value, Mapping) and set(value) == {"secure"}:
            return True
        if isinstance(value, str):
            raise self.error(key, f"is stored in plain text: set it with `pulumi config set --secret fleet:{key} ...`")
        raise self.error(key, "must be a Pulumi secret")
