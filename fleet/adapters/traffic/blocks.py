"""The ``fleet:traffic`` block of each provider, as part of the typed model (``fleet.settings``).

Each provider's keys live beside the provider: adding one (a Cloudflare load
balancer) adds a block here and a line in ``PROVIDERS``. A backend or server
name is checked the one way HAProxy's runtime API needs (no ``;``, which
separates its commands, no spaces), wherever fleet takes one.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from fleet.settings.blocks import Block, StringList, between, choice, slot_names
from fleet.settings.types import Duration, Text, Whole, labelled, problem

NAME = re.compile(r"^[A-Za-z0-9_.:-]+$")
"""The characters HAProxy allows in proxy and server names (and the runtime API can take in a command)."""
RECORD_TYPES = ("A", "AAAA", "CNAME")


def name_problem(value: str) -> str | None:
    """Why ``value`` cannot be an HAProxy backend or server name, or None."""
    if not NAME.match(value):
        return f"{value!r} is not an HAProxy name (letters, digits, '-', '_', '.', ':')"
    return None


def _haproxy_name(value: str) -> str:
    wrong = name_problem(value)
    if wrong:
        raise problem(wrong)
    return value


def _address(value: str) -> str:
    from fleet.adapters.traffic.haproxy_api import parse_address

    try:
        parse_address(value)
    except ValueError as err:
        raise problem(str(err)) from None
    return value


HAProxyName = Annotated[Text, AfterValidator(_haproxy_name)]
Socket = Annotated[Text, AfterValidator(_address)]
"""HAProxy's runtime API: a socket path or ``host:port``."""
ServerNames = Annotated[dict[str, str], slot_names("servers", name_problem)]


class HAProxyTrafficBlock(Block):
    """``fleet:traffic`` with ``provider: haproxy``: the runtime API moves the servers' weights."""

    provider: Any = None
    socket: Socket
    backend: HAProxyName = "app"
    servers: ServerNames = {}
    timeout: Annotated[Duration, between(0.05, 60.0)] = 2.0


@labelled("`{blue, green}` of record targets")
def _records(value: object) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise problem(f"must be a mapping, not {value!r}")
    for key in value:
        if key not in ("blue", "green"):
            raise problem(f"unknown slot {key!r}; slots are blue and green")
    return {k: v for k, v in value.items() if v is not None}


def _endpoint(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise problem(f"{value!r} is not an http(s) URL")
    return value


class Route53TrafficBlock(Block):
    """``fleet:traffic`` with ``provider: route53``: weighted records, one per slot, in one hosted zone."""

    provider: Any = None
    zone_id: Text = Field(alias="zoneId")
    hostnames: StringList
    type: Annotated[str, choice(*RECORD_TYPES)] = "CNAME"
    ttl: Annotated[Whole, between(0, 172_800)] = 60
    region: Text = "us-east-1"
    endpoint_url: Annotated[Text, AfterValidator(_endpoint)] | None = Field(None, alias="endpointUrl")
    records: Annotated[dict[str, Any], BeforeValidator(_records)] = {}
    retry_budget: Annotated[Duration, between(0.0, 600.0)] = Field(30.0, alias="retryBudget")
    sync_timeout: Annotated[Duration, between(1.0, 3600.0)] = Field(300.0, alias="syncTimeout")
    sync_poll: Annotated[Duration, between(0.01, 60.0)] = Field(2.0, alias="syncPoll")

    @model_validator(mode="after")
    def _consistent(self) -> Route53TrafficBlock:
        if len({h.rstrip(".").lower() for h in self.hostnames}) != len(self.hostnames):
            raise problem("lists a hostname twice", key="hostnames")
        for slot, raw in self.records.items():
            wrong = target_problem(raw, self.type)
            if wrong:
                raise problem(wrong, key=f"records.{slot}")
        return self


def target_problem(raw: object, record_type: str) -> str | None:
    """Why ``raw`` is not a slot's record target (values, or ``{alias: {zoneId, dnsName}}``), or None."""
    if isinstance(raw, dict):
        alias = raw.get("alias")
        if set(raw) != {"alias"} or not isinstance(alias, dict):
            return "must be a value, a list of values, or {alias: {zoneId, dnsName}}"
        zone, name = alias.get("zoneId"), alias.get("dnsName")
        if not isinstance(zone, str) or not isinstance(name, str) or not isinstance(
            alias.get("evaluateTargetHealth", False), bool
        ):
            return "alias needs zoneId and dnsName strings (evaluateTargetHealth: bool)"
        if record_type == "CNAME":
            return "an alias target needs type A or AAAA"
        return None
    values = [raw] if isinstance(raw, str) else raw
    if not isinstance(values, list) or not values or any(not isinstance(v, str) or not v for v in values):
        return f"must be a value or a list of values, not {raw!r}"
    if record_type == "CNAME" and len(values) != 1:
        return "a CNAME record has exactly one value"
    return None
