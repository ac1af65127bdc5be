"""One typed model of everything under ``fleet:`` in a stack file, read by the CLI and the Pulumi program alike.

:class:`InfraModel` is what the Pulumi program provisions from (other keys
are ignored there, because they belong to the CLI's parts); :class:`FleetModel`
is the whole ``fleet:`` namespace, where an unknown key is an error. Rules that
tie keys of different blocks together are ``model_validator``\\ s here, so
the CLI, the Pulumi program and ``fleet validate`` apply the same ones.

``fleet:traffic`` is a provider's block (HAProxy or Route53): its keys are
checked by the provider's adapter, which knows them; the model requires the
block and checks what it must agree with (``fleet:dns``, ``fleet:hostnames``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, model_validator

from fleet.settings.infra import Cluster, Dns, ExternalDns, GitOps, empty_is_absent, provisioning, secret
from fleet.settings.notify import Hooks, HooksBlock, Notifications, NotificationsBlock
from fleet.settings.rollout import Analysis, HealthBlock, Rollout, Singletons, Teardown, Tenant, Tenants
from fleet.settings.tenants import probes_are_urls
from fleet.settings.types import DNS_NAME, HOSTNAME, asked, labelled, problem
from fleet.settings.upgrade import Upgrade


@labelled("list of hostnames")
def _hostnames(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list | tuple) or not all(isinstance(h, str) for h in value):
        raise problem("expected a list of hostnames")
    seen: set[str] = set()
    for index, name in enumerate(value):
        if not HOSTNAME.match(name.lower()):
            raise problem(f"{name!r} is not a hostname", key=f"hostnames[{index}]")
        if _host(name) in seen:
            raise problem(f"{name!r} is listed twice", key=f"hostnames[{index}]")
        seen.add(_host(name))
    return tuple(value)


def _host(name: str) -> str:
    return name.strip().lower().rstrip(".")


@labelled("mapping")
def _mapping(value: object) -> object:
    if value is not None and not isinstance(value, dict):
        raise problem(f"expected a mapping, found {type(value).__name__}")
    return value


def _section(value: object) -> object:
    """An optional block: absent or null reads as every default."""
    return _mapping(value) or {}


@labelled("path or `s3://bucket/prefix`")
def _location(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise problem("expected a non-empty string")
    return value


S = TypeVar("S", bound=BaseModel)


def _empty(section: type[S]) -> S:
    """A block left out: every default (built on first use, so importing the model builds no schema)."""
    return section.model_validate({})


Hostnames = Annotated[tuple[str, ...], BeforeValidator(_hostnames)]
Traffic = Annotated[dict[str, Any], BeforeValidator(_mapping)]


class InfraModel(BaseModel):
    """The keys the Pulumi program owns; the others are left to the CLI."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True, defer_build=True)

    cluster: Cluster
    gitops: GitOps | None = None
    """Required to provision (the Pulumi program and ``fleet validate``), not to plan or report."""
    hostnames: Hostnames = ()
    """The names both slots serve; Route53 weights move only for these."""
    dns: Annotated[Dns | None, BeforeValidator(empty_is_absent)] = None
    external_dns: Annotated[ExternalDns | None, BeforeValidator(empty_is_absent)] = Field(None, alias="externalDns")
    git_token: Annotated[bool, secret("gitToken")] = Field(False, alias="gitToken")
    """Whether a Git token is set (a Pulumi secret; never decoded here)."""
    sops_age_key: Annotated[bool, secret("sopsAgeKey")] = Field(False, alias="sopsAgeKey")
    """Whether a SOPS age key is set (a Pulumi secret; never decoded here)."""

    @model_validator(mode="after")
    def _infra_agrees(self, info: ValidationInfo) -> InfraModel:
        if self.dns is not None and not self.hostnames and asked(info, "dns"):
            raise problem("is set but fleet:hostnames is empty: list the names to route", key="dns")
        if not provisioning(info):
            return self
        if self.gitops is None and asked(info, "gitops"):
            raise problem("missing (required)", key="gitops")
        url = self.gitops.url if self.gitops else "https://"
        local = self.cluster.driver == "local" and url.startswith("file://")
        if not local and not url.startswith(("https://", "ssh://", "git@")) and asked(info, "gitops.url"):
            raise problem(f"{url!r} is not an https:// or ssh:// Git URL", key="gitops.url")
        for index, name in enumerate(self.hostnames):
            if not DNS_NAME.match(name.lower()) and asked(info, f"hostnames[{index}]"):
                raise problem(f"{name!r} is not a DNS host name", key=f"hostnames[{index}]")
        return self


class FleetModel(InfraModel):
    """Every key under ``fleet:``; an unknown one is an error."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)

    traffic: Traffic
    """The traffic provider's block (``provider: haproxy`` or ``route53`` and its keys)."""
    analysis: Annotated[Analysis, BeforeValidator(_section)] = Field(default_factory=lambda: _empty(Analysis))
    rollout: Annotated[Rollout, BeforeValidator(_section)] = Field(default_factory=lambda: _empty(Rollout))
    teardown: Annotated[Teardown, BeforeValidator(_section)] = Field(default_factory=lambda: _empty(Teardown))
    health: HealthBlock | None = None
    singletons: Annotated[Singletons, BeforeValidator(_section)] = Field(default_factory=lambda: _empty(Singletons))
    tenants: Tenants = {}
    state: Annotated[str, BeforeValidator(_location)] | None = None
    """Where this environment's state store lives (default: the local store)."""
    upgrade: Annotated[Upgrade, BeforeValidator(_section)] = Field(default_factory=lambda: _empty(Upgrade))
    notifications: NotificationsBlock = Field(default_factory=lambda: _empty(Notifications))
    """Where cutover news goes; a ``urlEnv`` is resolved where the settings are built (``fleet.notify_settings``)."""
    hooks: HooksBlock = Field(default_factory=lambda: _empty(Hooks))

    @model_validator(mode="after")
    def _blocks_agree(self, info: ValidationInfo) -> FleetModel:
        analysis = self.analysis.model_fields_set
        bake = self.rollout.step_bake
        differs = bake is not None and "window" in analysis and bake != self.analysis.window
        if differs and asked(info, "rollout.stepBake"):
            raise problem(
                f"{self.rollout.step_bake:g}s differs from fleet:analysis.window {self.analysis.window:g}s: "
                "both set how long each step is analysed; keep one",
                key="rollout.stepBake",
            )
        self._tenants_own_distinct_namespaces()
        self._traffic_agrees_with_dns(info)
        return self

    def _tenants_own_distinct_namespaces(self) -> None:
        distinct_namespaces(self.tenants)
        probes_are_urls(self.tenants)

    def _traffic_agrees_with_dns(self, info: ValidationInfo) -> None:
        """``fleet:traffic`` moves the weights of records ``fleet:dns`` creates for names ``fleet:hostnames`` lists."""
        traffic = self.traffic
        if self.dns is not None:
            zone, dns_zone = traffic.get("zoneId"), self.dns.zone_id
            if isinstance(zone, str) and zone.strip() != dns_zone and asked(info, "traffic.zoneId"):
                raise problem(f"{zone!r} differs from fleet:dns.zoneId {dns_zone!r}: use the same hosted zone",
                              key="traffic.zoneId")
            ttl = traffic.get("ttl", 60)
            whole = isinstance(ttl, int) and not isinstance(ttl, bool)
            if "zoneId" in traffic and whole and ttl != self.dns.ttl and asked(info, "traffic.ttl"):
                raise problem(
                    f"{ttl} differs from fleet:dns.ttl {self.dns.ttl}: "
                    "the settle wait after a step must cover the records' TTL",
                    key="traffic.ttl",
                )
        ttl = traffic.get("ttl", 60)
        whole = isinstance(ttl, int) and not isinstance(ttl, bool)
        bake = self.teardown.bake
        if traffic.get("provider") == "route53" and whole and bake < ttl and asked(info, "teardown.bake"):
            raise problem(
                f"{bake:g}s is shorter than the records' TTL ({ttl}s, fleet:traffic.ttl): resolvers "
                "would still send users to the old slot after it is destroyed",
                key="teardown.bake",
            )
        names = traffic.get("hostnames")
        if isinstance(names, str):
            names = [names]
        if isinstance(names, list) and all(isinstance(name, str) for name in names):
            served = {_host(name) for name in self.hostnames}
            missing = [name for name in names if _host(name) not in served]
            if missing and asked(info, "traffic.hostnames"):
                raise problem(
                    f"{', '.join(missing)} not in fleet:hostnames ({', '.join(self.hostnames) or 'empty'}): "
                    "the slots would not serve a name whose weights move",
                    key="traffic.hostnames",
                )


def distinct_namespaces(tenants: Mapping[str, Tenant]) -> None:
    """A namespace belongs to one tenant: the health report names one owner for each object."""
    owner: dict[str, str] = {}
    for name, tenant in tenants.items():
        for namespace in sorted(tenant.namespaces):
            if namespace in owner:
                raise problem(
                    f"namespace {namespace!r} is already tenant {owner[namespace]!r}'s: "
                    "a namespace belongs to one tenant",
                    key=f"tenants.{name}.namespaces",
                )
            owner[namespace] = name


class HealthModel(BaseModel):
    """``fleet:health`` and ``fleet:tenants`` alone, as the health gate reads them from a stack's raw keys."""

    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

    health: HealthBlock | None = None
    tenants: Tenants = {}

    @model_validator(mode="after")
    def _tenants_own_distinct_namespaces(self) -> HealthModel:
        distinct_namespaces(self.tenants)
        probes_are_urls(self.tenants)
        return self


class UpgradeModel(BaseModel):
    """``fleet:upgrade`` alone, as ``fleet upgrade`` reads it from a stack's raw keys."""

    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

    upgrade: Annotated[Upgrade, BeforeValidator(_section)] = Field(default_factory=lambda: _empty(Upgrade))
