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


def parse_target(raw: object) -> SlotTarget:
    """A slot's record target as ``fleet.adapters.traffic.blocks`` has checked it."""
    if isinstance(raw, Mapping):
        alias = raw["alias"]
        health = alias.get("evaluateTargetHealth", False)
        return SlotTarget(alias=AliasTarget(alias["zoneId"], alias["dnsName"], health))
    return SlotTarget(values=tuple([raw] if isinstance(raw, str) else raw))  # type: ignore[arg-type]


def settings_arguments(settings: Mapping[str, Any], *, file: str) -> dict[str, Any]:
    """``Route53Traffic``'s keyword arguments from a ``fleet:traffic`` block (ConfigError naming the key)."""
    from fleet.adapters.traffic.blocks import Route53TrafficBlock
    from fleet.settings.blocks import read_block

    block = read_block(Route53TrafficBlock, settings, file=file, block="traffic")
    return dict(
        zone_id=block.zone_id,
        hostnames=block.hostnames,
        record_type=block.type,
        ttl=block.ttl,
        targets={SlotName(slot): parse_target(raw) for slot, raw in block.records.items()},
        region=block.region,
        endpoint_url=block.endpoint_url,
        retry=RetryPolicy(budget_s=block.retry_budget),
        sync_timeout_s=block.sync_timeout,
        sync_poll_s=block.sync_poll,
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
