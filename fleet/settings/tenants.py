"""``fleet:tenants.<name>.traffic`` and ``.contact``: how a tenant's requests are told apart, and how it is reached.

Read by the model like every other key (file and ``fleet:`` key in each
message); :func:`tenant_traffic` turns them into the domain's frozen
:class:`~fleet.domain.tenants.TenantTraffic` values the analysis sources and
the notifiers use.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from pydantic import BeforeValidator, Field

from fleet.settings.infra import Section
from fleet.settings.types import labelled, problem

if TYPE_CHECKING:
    from fleet.domain.tenants import TenantTraffic
    from fleet.settings.rollout import Tenant

URL_SCHEMES = ("http://", "https://")


@labelled("list of strings")
def _strings(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) and v for v in value):
        raise problem("must be a list of strings")
    return tuple(value)


@labelled("list of path prefixes")
def _prefixes(value: object) -> tuple[str, ...]:
    prefixes: tuple[str, ...] = _strings(value)
    if any(not p.startswith("/") for p in prefixes):
        raise problem("path prefixes start with /")
    return prefixes


@labelled("string")
def _ingress_class(value: object) -> str | None:
    if value is not None and (not isinstance(value, str) or not value):
        raise problem("must be an IngressClass name")
    return value


@labelled("mapping")
def _names_to_strings(value: object) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(v, str) and v for v in value.values()):
        raise problem("must be a mapping of names to strings")
    return {str(k): v for k, v in value.items()}


@labelled("mapping of `blue`/`green` to URLs")
def _probes(value: object) -> dict[str, str]:
    probes: dict[str, str] = _names_to_strings(value)
    bad_slots = sorted(set(probes) - {"blue", "green"})
    if bad_slots:
        raise problem(f"unknown slot(s) {', '.join(bad_slots)}; slots are blue and green")
    return probes


@labelled("URL")
def _webhook(value: object) -> str | None:
    if value is not None and (not isinstance(value, str) or not value.startswith(URL_SCHEMES)):
        raise problem(f"{value!r} is not an http(s) URL")
    return value


@labelled("`#channel`")
def _slack(value: object) -> str | None:
    if value is not None and (not isinstance(value, str) or not value.startswith("#")):
        raise problem(f"{value!r} is not a Slack channel (#name)")
    return value


class TenantTrafficSection(Section):
    """``fleet:tenants.<name>.traffic``."""

    unknown_at_block: ClassVar[bool] = True

    hosts: Annotated[tuple[str, ...], BeforeValidator(_strings)] = ()
    path_prefixes: Annotated[tuple[str, ...], BeforeValidator(_prefixes)] = Field((), alias="pathPrefixes")
    ingress_class: Annotated[str | None, BeforeValidator(_ingress_class)] = Field(None, alias="ingressClass")
    labels: Annotated[dict[str, str], BeforeValidator(_names_to_strings)] = {}
    probes: Annotated[dict[str, str], BeforeValidator(_probes)] = {}


class TenantContactSection(Section):
    """``fleet:tenants.<name>.contact``."""

    unknown_at_block: ClassVar[bool] = True

    webhook: Annotated[str | None, BeforeValidator(_webhook)] = None
    slack: Annotated[str | None, BeforeValidator(_slack)] = None


def _section(value: object) -> object:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise problem("must be a mapping")
    return value


TrafficBlock = Annotated[TenantTrafficSection, BeforeValidator(_section)]
ContactBlock = Annotated[TenantContactSection, BeforeValidator(_section)]


def probes_are_urls(tenants: Mapping[str, Tenant]) -> None:
    """Each probe is an http(s) URL (checked here, where the tenant's name is known, to name the slot's key)."""
    for name, tenant in tenants.items():
        for slot, url in tenant.traffic.probes.items():
            if not url.startswith(URL_SCHEMES):
                raise problem(f"{url!r} is not an http(s) URL", key=f"tenants.{name}.traffic.probes.{slot}")


def tenant_traffic(tenants: Mapping[str, Tenant]) -> tuple[TenantTraffic, ...]:
    """The domain's view of each tenant's traffic and contact."""
    from fleet.domain.tenants import TenantContact, TenantTraffic

    return tuple(
        TenantTraffic(
            name=name,
            hosts=t.traffic.hosts,
            path_prefixes=t.traffic.path_prefixes,
            ingress_class=t.traffic.ingress_class,
            labels=dict(t.traffic.labels),
            probes=dict(t.traffic.probes),
            contact=TenantContact(webhook=t.contact.webhook, slack=t.contact.slack),
        )
        for name, t in tenants.items()
    )


def tenant_traffic_from_config(raw: Mapping[str, Any], *, file: str) -> tuple[TenantTraffic, ...]:
    """Each tenant's ``traffic`` and ``contact`` from ``fleet:tenants`` (keys with or without ``fleet:``)."""
    from fleet.settings.errors import NAMESPACE, read_all
    from fleet.settings.model import HealthModel

    value = raw.get(f"{NAMESPACE}:tenants", raw.get("tenants"))
    model, problems = read_all(HealthModel, {"tenants": value} if value is not None else {}, file=file)
    if problems:
        raise problems[0]
    assert model is not None
    return tenant_traffic(model.tenants)
