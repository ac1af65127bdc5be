"""Moving traffic between slots with Route53 weighted records.

Each hostname has one weighted record per slot, with the slot's name as its
SetIdentifier. A step UPSERTs both slots' records for every hostname in ONE
ChangeBatch, which Route53 applies atomically, then waits until the change is
INSYNC on Route53's name servers and tells the engine to wait the record's
TTL (60 s for alias records) before analysing, because resolvers keep the old
answer that long.

Route53 itself accepts or silently misreads several things this adapter
therefore refuses before calling it (and moto, used in tests, accepts even
more): weights outside 0..255, all-zero weights (Route53 then splits equally
instead of sending nothing), duplicate SetIdentifiers, a simple record of the
same name and type (Route53 refuses to add weighted records beside it, and
replacing it is a DNS outage waiting to happen, so fleet never switches a
record from simple to weighted), and weighted records of other set
identifiers (they would take a share fleet does not control).

Targets: by default the adapter keeps each existing record's values and only
changes its weight, because a new slot's ingress address comes from its
provisioning outputs and the records are normally created with the slots.
Targets given in the configuration (``records``) are written instead, and
allow a record that does not exist yet to be created.

Retries: throttling and 5xx answers (and dropped connections) are retried
with exponential backoff and jitter until a budget of waiting is used up,
then reported as ``TransientError``; access denied is reported at once as
``AccessDenied``. botocore's own retries are switched off so that this is
the only retry loop.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar, cast

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from fleet.adapters.traffic.settings import SettingsReader
from fleet.domain.model import SlotName, Weights
from fleet.errors import AccessDenied, ProviderError, TransientError
from fleet.ports import Applied

if TYPE_CHECKING:
    from mypy_boto3_route53.client import Route53Client
    from mypy_boto3_route53.literals import RRTypeType
    from mypy_boto3_route53.type_defs import (
        ChangeTypeDef,
        ListResourceRecordSetsResponseTypeDef,
        ResourceRecordSetOutputTypeDef,
        ResourceRecordSetTypeDef,
    )

T = TypeVar("T")

MAX_WEIGHT = 255
ALIAS_TTL_S = 60
RECORD_TYPES = ("A", "AAAA", "CNAME")

THROTTLING = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottled",
    "RequestLimitExceeded", "TooManyRequestsException", "PriorRequestNotComplete", "SlowDown",
})
SERVER_SIDE = frozenset({"InternalError", "InternalFailure", "ServiceUnavailable", "ServiceFailure"})
DENIED = frozenset({
    "AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "InvalidClientTokenId",
    "ExpiredToken", "ExpiredTokenException", "SignatureDoesNotMatch", "UnrecognizedClientException",
    "MissingAuthenticationToken",
})


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


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with equal jitter: attempt n waits between half and all of ``base * 2**n``."""

    budget_s: float = 30.0
    base_s: float = 0.2
    cap_s: float = 5.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        ceiling = min(self.cap_s, self.base_s * 2.0 ** attempt)
        return ceiling / 2 + rng.uniform(0, ceiling / 2)


@dataclass
class _Counters:
    calls: int = 0
    retries: int = 0
    slept_s: float = 0.0
    sleeps: list[float] = field(default_factory=list)


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


def _fqdn(name: str) -> str:
    return name.rstrip(".").lower() + "."


def _route53_name(name: str) -> str:
    return _fqdn(name.replace("\\052", "*"))


class Route53Traffic:
    """Traffic between the slots as the weights of two Route53 weighted records per hostname."""

    provider = "route53"

    def __init__(
        self,
        *,
        zone_id: str,
        hostnames: Sequence[str],
        record_type: str = "CNAME",
        ttl: int = 60,
        targets: Mapping[SlotName, SlotTarget] | None = None,
        region: str = "us-east-1",
        endpoint_url: str | None = None,
        retry: RetryPolicy = RetryPolicy(),
        sync_timeout_s: float = 300.0,
        sync_poll_s: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if record_type not in RECORD_TYPES:
            raise ValueError(f"record type {record_type!r} is not one of {', '.join(RECORD_TYPES)}")
        if not hostnames:
            raise ValueError("at least one hostname is needed")
        if not 0 <= ttl <= 2_147_483_647:
            raise ValueError(f"ttl {ttl} is out of range")
        self.zone_id = zone_id.removeprefix("/hostedzone/")
        self.hostnames = tuple(_fqdn(h) for h in hostnames)
        if len(set(self.hostnames)) != len(self.hostnames):
            raise ValueError("hostnames are listed twice")
        self.record_type = record_type
        self.ttl = ttl
        self.targets = dict(targets or {})
        self.region = region
        self.endpoint_url = endpoint_url
        self.retry = retry
        self.sync_timeout_s = sync_timeout_s
        self.sync_poll_s = sync_poll_s
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._client: Route53Client | None = None
        self.counters = _Counters()

    @classmethod
    def from_settings(cls, env: str, settings: Mapping[str, Any], *, file: str) -> Route53Traffic:
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
                targets[slot] = _parse_target(reader, key, records[slot.value], record_type)
        endpoint = reader.optional_string("endpointUrl")
        if endpoint is not None and not endpoint.startswith(("http://", "https://")):
            raise reader.error("endpointUrl", f"{endpoint!r} is not an http(s) URL")
        zone_id = reader.string("zoneId")
        hostnames = reader.string_list("hostnames")
        if len({_fqdn(h) for h in hostnames}) != len(hostnames):
            raise reader.error("hostnames", "lists a hostname twice")
        return cls(
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

    @property
    def client(self) -> Route53Client:
        if self._client is None:
            config = Config(
                region_name=self.region,
                retries={"total_max_attempts": 1, "mode": "standard"},
                connect_timeout=5,
                read_timeout=15,
            )
            self._client = boto3.session.Session().client(
                "route53", region_name=self.region, endpoint_url=self.endpoint_url, config=config
            )
        return self._client

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        attempt = 0
        spent = 0.0
        while True:
            self.counters.calls += 1
            try:
                return fn()
            except ClientError as err:
                error = err.response.get("Error", {})
                code = str(error.get("Code", ""))
                message = str(error.get("Message", ""))
                status = int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
                if code in DENIED or status == 403:
                    raise AccessDenied(f"Route53 {what} denied ({code}): {message}") from err
                if not (code in THROTTLING or code in SERVER_SIDE or status >= 500):
                    raise ProviderError(f"Route53 {what} failed ({code}): {message}") from err
                cause = f"{code or status}: {message}"
                last: Exception = err
            except NoCredentialsError as err:
                raise AccessDenied(f"Route53 {what}: no AWS credentials found") from err
            except (EndpointConnectionError, ConnectionClosedError, ReadTimeoutError) as err:
                cause = str(err)
                last = err
            except BotoCoreError as err:
                raise ProviderError(f"Route53 {what} failed: {err}") from err
            delay = self.retry.delay(attempt, self._rng)
            if spent + delay > self.retry.budget_s:
                raise TransientError(
                    f"Route53 {what} still failing after {attempt + 1} attempts ({cause})",
                    retry_after=delay,
                ) from last
            self.counters.retries += 1
            self.counters.sleeps.append(delay)
            self.counters.slept_s += delay
            spent += delay
            attempt += 1
            self._sleep(delay)

    def _records(self, hostname: str) -> list[ResourceRecordSetOutputTypeDef]:
        """The record sets of ``hostname`` and this adapter's type."""
        found: list[ResourceRecordSetOutputTypeDef] = []
        start_name, start_type = hostname, self.record_type
        start_id: str | None = None
        while True:
            kwargs: dict[str, Any] = {
                "HostedZoneId": self.zone_id, "StartRecordName": start_name,
                "StartRecordType": start_type, "MaxItems": "300",
            }
            if start_id is not None:
                kwargs["StartRecordIdentifier"] = start_id
            def list_page(kw: dict[str, Any] = kwargs) -> ListResourceRecordSetsResponseTypeDef:
                return self.client.list_resource_record_sets(**kw)

            page = self._call("ListResourceRecordSets", list_page)
            past = False
            for record in page["ResourceRecordSets"]:
                if _route53_name(record["Name"]) == hostname and record["Type"] == self.record_type:
                    found.append(record)
                elif found:
                    past = True
            if past or not page.get("IsTruncated"):
                return found
            start_name = page.get("NextRecordName", hostname)
            start_type = page.get("NextRecordType", self.record_type)
            start_id = page.get("NextRecordIdentifier")

    def _slot_records(self, hostname: str) -> dict[SlotName, ResourceRecordSetOutputTypeDef]:
        """The slots' weighted records of ``hostname``, after checking nothing else shares the name."""
        by_slot: dict[SlotName, ResourceRecordSetOutputTypeDef] = {}
        seen: set[str] = set()
        for record in self._records(hostname):
            ident = record.get("SetIdentifier")
            if ident is None or "Weight" not in record:
                policy = "a simple" if ident is None else "a non-weighted"
                raise ProviderError(
                    f"{hostname} {self.record_type} is {policy} record; fleet only moves weighted records "
                    "and never converts a simple record (create weighted records per slot instead)"
                )
            if ident in seen:
                raise ProviderError(f"{hostname} {self.record_type} has SetIdentifier {ident!r} twice")
            seen.add(ident)
            if ident not in (SlotName.BLUE.value, SlotName.GREEN.value):
                raise ProviderError(
                    f"{hostname} {self.record_type} has a weighted record {ident!r} that is not a slot; "
                    "it would take a share of traffic fleet does not control"
                )
            by_slot[SlotName(ident)] = record
        return by_slot

    def get_weights(self, env: str) -> Weights:
        results: dict[str, Weights] = {}
        for hostname in self.hostnames:
            records = self._slot_records(hostname)
            if not records:
                raise ProviderError(
                    f"{hostname} has no weighted {self.record_type} records for blue or green"
                )
            results[hostname] = percent_of({slot: int(r.get("Weight", 0)) for slot, r in records.items()})
        distinct = set(results.values())
        if len(distinct) > 1:
            detail = "; ".join(f"{name} {w}" for name, w in results.items())
            raise ProviderError(f"hostnames disagree on the weights: {detail}")
        return distinct.pop()

    def _record(
        self, hostname: str, slot: SlotName, weight: int, existing: ResourceRecordSetOutputTypeDef | None
    ) -> ResourceRecordSetTypeDef | None:
        target = self.targets.get(slot)
        record: ResourceRecordSetTypeDef = {
            "Name": hostname, "Type": cast("RRTypeType", self.record_type),
            "SetIdentifier": slot.value, "Weight": weight,
        }
        if target is not None and target.alias is not None:
            record["AliasTarget"] = {
                "HostedZoneId": target.alias.hosted_zone_id,
                "DNSName": target.alias.dns_name,
                "EvaluateTargetHealth": target.alias.evaluate_target_health,
            }
        elif target is not None:
            record["TTL"] = self.ttl
            record["ResourceRecords"] = [{"Value": v} for v in target.values]
        elif existing is not None and "AliasTarget" in existing:
            record["AliasTarget"] = existing["AliasTarget"]
        elif existing is not None and existing.get("ResourceRecords"):
            record["TTL"] = self.ttl
            record["ResourceRecords"] = existing["ResourceRecords"]
        elif weight == 0:
            return None
        else:
            raise ProviderError(
                f"{hostname} has no weighted {self.record_type} record for {slot} and no target is "
                f"configured (fleet:traffic.records.{slot})"
            )
        return record

    def change_batch(self, env: str, weights: Weights) -> list[ChangeTypeDef]:
        """The changes one step sends, after validating them and the records already there."""
        scaled = route53_weights(weights)
        changes: list[ChangeTypeDef] = []
        for hostname in self.hostnames:
            existing = self._slot_records(hostname)
            for slot in SlotName:
                record = self._record(hostname, slot, scaled[slot], existing.get(slot))
                if record is not None:
                    changes.append({"Action": "UPSERT", "ResourceRecordSet": record})
        validate_changes(changes)
        return changes

    def set_weights(self, env: str, weights: Weights) -> Applied:
        changes = self.change_batch(env, weights)
        response = self._call(
            "ChangeResourceRecordSets",
            lambda: self.client.change_resource_record_sets(
                HostedZoneId=self.zone_id,
                ChangeBatch={"Comment": f"fleet {env}: {weights}", "Changes": changes},
            ),
        )
        self._wait_insync(response["ChangeInfo"]["Id"], response["ChangeInfo"]["Status"])
        alias = any("AliasTarget" in c["ResourceRecordSet"] for c in changes)
        return Applied(weights=weights, settle_s=float(max(self.ttl, ALIAS_TTL_S) if alias else self.ttl))

    def _wait_insync(self, change_id: str, status: str) -> None:
        waited = 0.0
        while status != "INSYNC":
            if waited >= self.sync_timeout_s:
                raise TransientError(
                    f"Route53 change {change_id} is still {status} after {waited:.0f}s",
                    retry_after=self.sync_poll_s,
                )
            self._sleep(self.sync_poll_s)
            waited += self.sync_poll_s
            info = self._call("GetChange", lambda: self.client.get_change(Id=change_id))
            status = info["ChangeInfo"]["Status"]


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
        key = (_fqdn(record["Name"]), record["Type"], ident)
        if key in seen:
            raise ValueError(f"SetIdentifier {ident!r} appears twice for {record['Name']} {record['Type']}")
        seen.add(key)
        per_name.setdefault(key[:2], []).append(weight)
    for (name, rtype), weights in per_name.items():
        if sum(weights) == 0:
            raise ValueError(f"all weights of {name} {rtype} would be 0: Route53 would split traffic equally")


def _parse_target(reader: SettingsReader, key: str, raw: object, record_type: str) -> SlotTarget:
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
