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

The records belong to the infrastructure program (``fleet/infra/endpoint.py``
creates them with the slots, with a health check each); the weight is the
only field the two share (Pulumi ignores changes to it). So a step copies
every field of each existing record (``HealthCheckId``, ``TTL``, the values or
the ``AliasTarget``) and changes only ``Weight``. Targets given in the
configuration (``records``) replace the values or alias and allow a record
that does not exist yet to be created (with ``ttl``). A name that also holds
records of a type that cannot share it (anything beside a CNAME, a CNAME
beside an A/AAAA) is refused before anything is sent.

After ``INSYNC`` the records are read back and must carry the weights (and
the health checks) that were sent. The settle time is the largest TTL a
resolver may still hold: the old records' TTL or the new, 60 s for aliases.

Retries: throttling and 5xx answers (and dropped connections and timeouts)
are retried by ``fleet.retry`` (exponential backoff with equal jitter) within
a budget that counts the time spent in the calls as well as the waits, and
every call's connect and read timeouts are cut to what is left of it (or of
the engine's deadline, if that is earlier); then ``TransientError``. Access
denied is reported at once as ``AccessDenied``. botocore's own retries are
switched off.
"""

from __future__ import annotations

import math
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
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from fleet import retry
from fleet.adapters.traffic.settings import SettingsReader
from fleet.domain.model import SlotName, Weights
from fleet.domain.traffic import SlotTraffic, TrafficView
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
CALL_TIMEOUTS_S = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0)
"""Read timeouts a client is built with: the largest that fits in what is left of the deadline."""
_NOT_SENT = frozenset({"TrafficPolicyInstanceId"})
"""Fields Route53 lists but a change may not carry."""

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


def RetryPolicy(budget_s: float = 30.0, base_s: float = 0.2, cap_s: float = 5.0) -> retry.RetryPolicy:
    """The shared retry policy as Route53 uses it: retry ``n`` (from 0) waits half to all of ``base * 2**n``."""
    return retry.RetryPolicy(attempts=1_000, base_s=base_s / 2, max_s=cap_s, budget_s=budget_s, jitter="equal")


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
        retry: retry.RetryPolicy | None = None,
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
        self.retry = retry or RetryPolicy()
        self.sync_timeout_s = sync_timeout_s
        self.sync_poll_s = sync_poll_s
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._clients: dict[float, Route53Client] = {}
        self._sleep_passes_time = sleep is time.sleep
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
        """A client whose timeouts end by the deadline in force (clients are kept per timeout)."""
        limit = retry.remaining(CALL_TIMEOUTS_S[-1])
        read = next((t for t in reversed(CALL_TIMEOUTS_S) if t <= limit), None)
        if read is None:
            retry.timeout(limit)  # raises DeadlineExceeded once nothing is left
            read = CALL_TIMEOUTS_S[0]
        client = self._clients.get(read)
        if client is None:
            config = Config(
                region_name=self.region,
                retries={"total_max_attempts": 1, "mode": "standard"},
                connect_timeout=min(5.0, read),
                read_timeout=read,
            )
            client = boto3.session.Session().client(
                "route53", region_name=self.region, endpoint_url=self.endpoint_url, config=config
            )
            self._clients[read] = client
        return client

    def _now(self) -> float:
        """Wall time, plus the waits of an injected ``sleep`` that lets no time pass (tests)."""
        return time.monotonic() + (0.0 if self._sleep_passes_time else self.counters.slept_s)

    def _wait(self, seconds: float) -> None:
        self.counters.sleeps.append(seconds)
        self.counters.slept_s += seconds
        self._sleep(seconds)

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        def retried(err: TransientError, delay: float) -> None:
            self.counters.retries += 1

        return retry.call_with_retries(
            lambda: self._attempt(what, fn),
            policy=self.retry,
            what=f"Route53 {what}",
            now=self._now,
            sleep=self._wait,
            rng=self._rng,
            on_retry=retried,
            still_transient=True,
        )

    def _attempt(self, what: str, fn: Callable[[], T]) -> T:
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
            raise TransientError(f"Route53 {what} failed ({code or status}: {message})", retry_after=0.0) from err
        except NoCredentialsError as err:
            raise AccessDenied(f"Route53 {what}: no AWS credentials found") from err
        except (EndpointConnectionError, ConnectionClosedError, ReadTimeoutError, ConnectTimeoutError) as err:
            raise TransientError(f"Route53 {what} did not answer ({err})", retry_after=0.0) from err
        except BotoCoreError as err:
            raise ProviderError(f"Route53 {what} failed: {err}") from err

    def _records(self, hostname: str) -> list[ResourceRecordSetOutputTypeDef]:
        """The record sets of ``hostname`` and this adapter's type, after refusing a type that cannot share it."""
        found: list[ResourceRecordSetOutputTypeDef] = []
        others: set[str] = set()
        start_name, start_type = hostname, None
        start_id: str | None = None
        while True:
            kwargs: dict[str, Any] = {"HostedZoneId": self.zone_id, "StartRecordName": start_name, "MaxItems": "300"}
            if start_type is not None:
                kwargs["StartRecordType"] = start_type
            if start_id is not None:
                kwargs["StartRecordIdentifier"] = start_id

            def list_page(kw: dict[str, Any] = kwargs) -> ListResourceRecordSetsResponseTypeDef:
                return self.client.list_resource_record_sets(**kw)

            page = self._call("ListResourceRecordSets", list_page)
            past = False
            for record in page["ResourceRecordSets"]:
                if _route53_name(record["Name"]) != hostname:
                    past = past or bool(found or others)
                    continue
                if record["Type"] == self.record_type:
                    found.append(record)
                else:
                    others.add(record["Type"])
            if past or not page.get("IsTruncated"):
                break
            start_name = page.get("NextRecordName", hostname)
            start_type = page.get("NextRecordType")
            start_id = page.get("NextRecordIdentifier")
        clashing = sorted(t for t in others if self.record_type == "CNAME" or t == "CNAME")
        if clashing:
            raise ProviderError(
                f"{hostname} also has {', '.join(clashing)} records; a CNAME cannot share its name with other "
                f"records, so weighted {self.record_type} records there would not resolve as intended "
                "(remove them or use another hostname)"
            )
        return found

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
            if any(key in record for key in _NOT_SENT):
                raise ProviderError(
                    f"{hostname} {self.record_type} {ident} belongs to a Route53 traffic policy; fleet cannot change it"
                )
            by_slot[SlotName(ident)] = record
        return by_slot

    def _all_slot_records(self) -> dict[str, dict[SlotName, ResourceRecordSetOutputTypeDef]]:
        found = {}
        for hostname in self.hostnames:
            records = self._slot_records(hostname)
            if not records:
                raise ProviderError(f"{hostname} has no weighted {self.record_type} records for blue or green")
            found[hostname] = records
        return found

    @staticmethod
    def _weights_of(records: Mapping[SlotName, ResourceRecordSetOutputTypeDef]) -> dict[SlotName, int]:
        return {slot: int(r.get("Weight", 0)) for slot, r in records.items()}

    def _agreed(self, found: Mapping[str, Mapping[SlotName, ResourceRecordSetOutputTypeDef]]) -> dict[SlotName, int]:
        """The slots' Route53 weights, the same for every hostname (ProviderError when they disagree)."""
        results = {hostname: percent_of(self._weights_of(records)) for hostname, records in found.items()}
        if len(set(results.values())) > 1:
            detail = "; ".join(f"{name} {w}" for name, w in results.items())
            raise ProviderError(f"hostnames disagree on the weights: {detail}")
        return self._weights_of(next(iter(found.values())))

    def get_weights(self, env: str) -> Weights:
        return percent_of(self._agreed(self._all_slot_records()))

    def observe(self, env: str) -> TrafficView:
        found = self._all_slot_records()
        raw = self._agreed(found)
        first = next(iter(found.values()))
        slots = {}
        for slot in SlotName:
            record = first.get(slot)
            address = None
            if record is not None:
                alias = record.get("AliasTarget")
                values = [r["Value"] for r in record.get("ResourceRecords", [])]
                address = alias["DNSName"] if alias else ", ".join(values) or None
            slots[slot] = SlotTraffic(weight=raw.get(slot, 0), address=address)
        return TrafficView(self.provider, slots)

    def address_of(self, ingress: str) -> str | None:
        return None  # the records' targets belong to the infrastructure program

    def point(self, env: str, slot: SlotName, ingress: str) -> None:
        return None

    def _record(
        self, hostname: str, slot: SlotName, weight: int, existing: ResourceRecordSetOutputTypeDef | None
    ) -> ResourceRecordSetTypeDef | None:
        """``existing`` with only its weight changed (and its target, when one is configured)."""
        target = self.targets.get(slot)
        record: ResourceRecordSetTypeDef
        if existing is not None:
            kept = {key: value for key, value in existing.items() if key not in _NOT_SENT}
            record = cast("ResourceRecordSetTypeDef", kept)
        elif target is None and weight == 0:
            return None
        elif target is None:
            raise ProviderError(
                f"{hostname} has no weighted {self.record_type} record for {slot} and no target is "
                f"configured (fleet:traffic.records.{slot})"
            )
        else:
            record = {"Name": hostname, "Type": cast("RRTypeType", self.record_type), "SetIdentifier": slot.value}
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
            record.setdefault("TTL", self.ttl)
            record["ResourceRecords"] = [{"Value": v} for v in target.values]
        return record

    def change_batch(self, env: str, weights: Weights) -> list[ChangeTypeDef]:
        """The changes one step sends, after validating them and the records already there."""
        return self._plan(weights)[0]

    def _plan(self, weights: Weights) -> tuple[list[ChangeTypeDef], float]:
        """The changes for ``weights`` and the largest TTL a resolver may hold during them (old or new)."""
        scaled = route53_weights(weights)
        changes: list[ChangeTypeDef] = []
        held = 0.0
        for hostname in self.hostnames:
            existing = self._slot_records(hostname)
            for old in existing.values():
                held = max(held, _ttl_of(old))
            for slot in SlotName:
                record = self._record(hostname, slot, scaled[slot], existing.get(slot))
                if record is not None:
                    changes.append({"Action": "UPSERT", "ResourceRecordSet": record})
                    held = max(held, _ttl_of(record))
        validate_changes(changes)
        return changes, held

    def set_weights(self, env: str, weights: Weights) -> Applied:
        changes, settle = self._plan(weights)
        response = self._call(
            "ChangeResourceRecordSets",
            lambda: self.client.change_resource_record_sets(
                HostedZoneId=self.zone_id,
                ChangeBatch={"Comment": f"fleet {env}: {weights}", "Changes": changes},
            ),
        )
        self._wait_insync(response["ChangeInfo"]["Id"], response["ChangeInfo"]["Status"])
        self._read_back(changes, weights)
        return Applied(weights=weights, settle_s=settle)

    def _read_back(self, changes: Sequence[ChangeTypeDef], weights: Weights) -> None:
        """After INSYNC, the records must carry what was sent: the weights, and the fields that were kept."""
        live = {hostname: self._slot_records(hostname) for hostname in self.hostnames}
        for change in changes:
            sent = change["ResourceRecordSet"]
            ident = SlotName(sent.get("SetIdentifier", ""))
            found = live.get(_route53_name(sent["Name"]), {}).get(ident)
            differs = [
                key for key in ("Weight", "HealthCheckId", "TTL")
                if found is None or found.get(key) != sent.get(key)
            ]
            if differs:
                raise ProviderError(
                    f"Route53 reports {sent['Name']} {ident} with other {', '.join(differs)} than fleet sent "
                    f"for {weights} (sent {[sent.get(k) for k in differs]}, "
                    f"found {[None if found is None else found.get(k) for k in differs]})"
                )

    def _wait_insync(self, change_id: str, status: str) -> None:
        waited = 0.0
        started = self._now()
        while status != "INSYNC":
            left = min(self.sync_timeout_s - (self._now() - started), retry.remaining(math.inf))
            if waited >= self.sync_timeout_s or left <= 0:
                raise TransientError(
                    f"Route53 change {change_id} is still {status} after {waited:.0f}s",
                    retry_after=self.sync_poll_s,
                )
            self._wait(min(self.sync_poll_s, left))
            waited += self.sync_poll_s
            info = self._call("GetChange", lambda: self.client.get_change(Id=change_id))
            status = info["ChangeInfo"]["Status"]


def _ttl_of(record: Mapping[str, Any]) -> float:
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
