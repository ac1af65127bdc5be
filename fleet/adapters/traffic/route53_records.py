"""Route53 weighted records as data: weights, targets and the checks made before anything is sent.

Pure functions and small types shared by the Route53 traffic adapter
(:mod:`fleet.adapters.traffic.route53`) and its settings: how a percentage
becomes a Route53 weight (0..255, a non-zero share never rounds to 0), what a
slot's record points at, how long a resolver may cache a record, and the
ChangeBatch checks Route53 itself would not make (moto makes even fewer).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from fleet import retry
from fleet.adapters.traffic.settings import SettingsReader
from fleet.domain.model import SlotName, Weights
from fleet.errors import ProviderError

if TYPE_CHECKING:
    from mypy_boto3_route53.literals import RRTypeType
    from mypy_boto3_route53.type_defs import (
        ChangeTypeDef,
        ResourceRecordSetOutputTypeDef,
        ResourceRecordSetTypeDef,
    )

MAX_WEIGHT = 255
ALIAS_TTL_S = 60
RECORD_TYPES = ("A", "AAAA", "CNAME")
NOT_SENT = frozenset({"TrafficPolicyInstanceId"})
"""Fields Route53 lists but a change may not carry."""


def RetryPolicy(budget_s: float = 30.0, base_s: float = 0.2, cap_s: float = 5.0) -> retry.RetryPolicy:
    """The shared retry policy as Route53 uses it: retry ``n`` (from 0) waits half to all of ``base * 2**n``."""
    return retry.RetryPolicy(attempts=1_000, base_s=base_s / 2, max_s=cap_s, budget_s=budget_s, jitter="equal")


@dataclass(frozen=True)
class AliasTarget:
    hosted_zone_id: str
    dns_name: str
    evaluate_target_health: bool = False


@dataclass(frozen=True)
class SlotTarget:
    """What a slot's record points at: record values, or an alias target."""

    values: tuple[str, ...] = ()
    alias: AliasTarget | None = None

    def __post_init__(self) -> None:
        if bool(self.values) == (self.alias is not None):
            raise ValueError("a slot target has either values or an alias, not both or neither")


def scale(percent: int) -> int:
    """A percentage as a Route53 weight (0..255); a non-zero share never rounds to 0."""
    if not 0 <= percent <= 100:
        raise ValueError(f"{percent}% is outside 0..100")
    weight = round(percent * MAX_WEIGHT / 100)
    return max(weight, 1) if percent > 0 else 0


def route53_weights(weights: Weights) -> dict[SlotName, int]:
    """Both slots' Route53 weights for ``weights``; never both zero, never above 255."""
    scaled = {slot: scale(weights.of(slot)) for slot in SlotName}
    validate_weights(scaled)
    return scaled


def validate_weights(weights: Mapping[SlotName, int]) -> None:
    for slot, weight in weights.items():
        if isinstance(weight, bool) or not isinstance(weight, int) or not 0 <= weight <= MAX_WEIGHT:
            raise ValueError(f"Route53 weight {weight!r} for {slot} is outside 0..{MAX_WEIGHT}")
    if sum(weights.values()) == 0:
        raise ValueError("all Route53 weights are 0: Route53 would split traffic equally")


def percent_of(weights: Mapping[SlotName, int]) -> Weights:
    """Route53 weights as percentages (all-zero weights mean an equal split to Route53)."""
    total = sum(weights.values())
    if total == 0:
        return Weights(blue=50, green=50)
    blue = round(100 * weights.get(SlotName.BLUE, 0) / total)
    return Weights(blue=blue, green=100 - blue)


def fqdn(name: str) -> str:
    return name.rstrip(".").lower() + "."


def route53_name(name: str) -> str:
    return fqdn(name.replace("\\052", "*"))


def ttl_of(record: Mapping[str, Any]) -> float:
    """How long resolvers may cache ``record``: its TTL, or Route53's fixed 60 s for an alias."""
    return float(ALIAS_TTL_S if "AliasTarget" in record else record.get("TTL", 0))


def validate_changes(changes: Sequence[ChangeTypeDef]) -> None:
    """Refuse a ChangeBatch Route53 would reject or misread (moto accepts all of these)."""
    seen: set[tuple[str, str, str]] = set()
    per_name: dict[tuple[str, str], list[int]] = {}
    for change in changes:
        record = change["ResourceRecordSet"]
        if record["Type"] not in RECORD_TYPES:
            raise ValueError(f"record type {record['Type']!r} is not one of {', '.join(RECORD_TYPES)}")
        ident = record.get("SetIdentifier")
        weight = record.get("Weight")
        if ident is None or weight is None:
            raise ValueError(f"{record['Name']} {record['Type']} is not a weighted record")
        if isinstance(weight, bool) or not 0 <= weight <= MAX_WEIGHT:
            raise ValueError(f"weight {weight} of {record['Name']} {ident} is outside 0..{MAX_WEIGHT}")
        key = (fqdn(record["Name"]), record["Type"], ident)
        if key in seen:
            raise ValueError(f"SetIdentifier {ident!r} appears twice for {record['Name']} {record['Type']}")
        seen.add(key)
        per_name.setdefault(key[:2], []).append(weight)
    for (name, rtype), weights in per_name.items():
        if sum(weights) == 0:
            raise ValueError(f"all weights of {name} {rtype} would be 0: Route53 would split traffic equally")


def parse_target(reader: SettingsReader, key: str, raw: object, record_type: str) -> SlotTarget:
    if isinstance(raw, Mapping):
        alias = raw.get("alias")
        if set(raw) != {"alias"} or not isinstance(alias, Mapping):
            raise reader.error(key, "must be a value, a list of values, or {alias: {zoneId, dnsName}}")
        zone, name = alias.get("zoneId"), alias.get("dnsName")
        health = alias.get("evaluateTargetHealth", False)
        if not isinstance(zone, str) or not isinstance(name, str) or not isinstance(health, bool):
            raise reader.error(key, "alias needs zoneId and dnsName strings (evaluateTargetHealth: bool)")
        if record_type == "CNAME":
            raise reader.error(key, "an alias target needs type A or AAAA")
        return SlotTarget(alias=AliasTarget(zone, name, health))
    values = [raw] if isinstance(raw, str) else raw
    if not isinstance(values, list) or not values or any(not isinstance(v, str) or not v for v in values):
        raise reader.error(key, f"must be a value or a list of values, not {raw!r}")
    if record_type == "CNAME" and len(values) != 1:
        raise reader.error(key, "a CNAME record has exactly one value")
    return SlotTarget(values=tuple(values))


def settings_arguments(settings: Mapping[str, Any], *, file: str) -> dict[str, Any]:
    """``Route53Traffic``'s keyword arguments from a ``fleet:traffic`` block (ConfigError naming the key)."""

    reader = SettingsReader(
        settings, file=file, block="fleet:traffic",
        known=(
            "provider", "zoneId", "hostnames", "type", "ttl", "region", "endpointUrl", "records",
            "retryBudget", "syncTimeout", "syncPoll",
        ),
    )
    record_type = reader.choice("type", "CNAME", RECORD_TYPES)
    targets = {}
    records = reader.mapping("records", {})
    for key in records:
        if key not in ("blue", "green"):
            raise reader.error("records", f"unknown slot {key!r}; slots are blue and green")
    for slot in SlotName:
        if records.get(slot.value) is not None:
            key = f"records.{slot.value}"
            targets[slot] = parse_target(reader, key, records[slot.value], record_type)
    endpoint = reader.optional_string("endpointUrl")
    if endpoint is not None and not endpoint.startswith(("http://", "https://")):
        raise reader.error("endpointUrl", f"{endpoint!r} is not an http(s) URL")
    zone_id = reader.string("zoneId")
    hostnames = reader.string_list("hostnames")
    if len({fqdn(h) for h in hostnames}) != len(hostnames):
        raise reader.error("hostnames", "lists a hostname twice")
    return dict(
        zone_id=zone_id,
        hostnames=hostnames,
        record_type=record_type,
        ttl=reader.integer("ttl", 60, low=0, high=172_800),
        targets=targets,
        region=reader.string("region", "us-east-1"),
        endpoint_url=endpoint,
        retry=RetryPolicy(budget_s=reader.duration("retryBudget", 30.0, high=600.0)),
        sync_timeout_s=reader.duration("syncTimeout", 300.0, low=1.0, high=3600.0),
        sync_poll_s=reader.duration("syncPoll", 2.0, low=0.01, high=60.0),
    )


def build_record(
    hostname: str, slot: SlotName, weight: int, existing: ResourceRecordSetOutputTypeDef | None, *,
    target: SlotTarget | None, record_type: str, ttl: int,
) -> ResourceRecordSetTypeDef | None:
    """``existing`` with only its weight changed (and its target, when one is configured)."""
    record: ResourceRecordSetTypeDef
    if existing is not None:
        kept = {key: value for key, value in existing.items() if key not in NOT_SENT}
        record = cast("ResourceRecordSetTypeDef", kept)
    elif target is None and weight == 0:
        return None
    elif target is None:
        raise ProviderError(
            f"{hostname} has no weighted {record_type} record for {slot} and no target is "
            f"configured (fleet:traffic.records.{slot})"
        )
    else:
        record = {"Name": hostname, "Type": cast("RRTypeType", record_type), "SetIdentifier": slot.value}
    record["Weight"] = weight
    if target is not None and target.alias is not None:
        record.pop("TTL", None)
        record.pop("ResourceRecords", None)
        record["AliasTarget"] = {
            "HostedZoneId": target.alias.hosted_zone_id,
            "DNSName": target.alias.dns_name,
            "EvaluateTargetHealth": target.alias.evaluate_target_health,
        }
    elif target is not None:
        record.pop("AliasTarget", None)
        record.setdefault("TTL", ttl)
        record["ResourceRecords"] = [{"Value": v} for v in target.values]
    return record


def check_read_back(
    changes: Sequence[ChangeTypeDef], live: Mapping[str, Mapping[SlotName, ResourceRecordSetOutputTypeDef]],
    weights: Weights,
) -> None:
    """``ProviderError`` unless the ``live`` records carry what ``changes`` sent (weights, health checks, TTLs)."""
    for change in changes:
        sent = change["ResourceRecordSet"]
        ident = SlotName(sent.get("SetIdentifier", ""))
        found = live.get(route53_name(sent["Name"]), {}).get(ident)
        differs = [
            key for key in ("Weight", "HealthCheckId", "TTL") if found is None or found.get(key) != sent.get(key)
        ]
        if differs:
            raise ProviderError(
                f"Route53 reports {sent['Name']} {ident} with other {', '.join(differs)} than fleet sent "
                f"for {weights} (sent {[sent.get(k) for k in differs]}, "
                f"found {[None if found is None else found.get(k) for k in differs]})"
            )
