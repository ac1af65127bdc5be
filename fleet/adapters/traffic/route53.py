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

The records as data and the checks made before sending live in
:mod:`fleet.adapters.traffic.route53_records`; how calls are made (timeouts,
retries, errors) in :mod:`fleet.adapters.traffic.route53_calls`.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import boto3

from fleet import retry
from fleet.adapters.traffic.route53_calls import CALL_TIMEOUTS_S, DENIED, SERVER_SIDE, THROTTLING, Route53Calls
from fleet.adapters.traffic.route53_records import (
    ALIAS_TTL_S,
    MAX_WEIGHT,
    NOT_SENT,
    RECORD_TYPES,
    AliasTarget,
    RetryPolicy,
    SlotTarget,
    build_record,
    check_read_back,
    fqdn,
    percent_of,
    route53_name,
    route53_weights,
    scale,
    settings_arguments,
    ttl_of,
    validate_changes,
    validate_weights,
)
from fleet.domain.model import SlotName, Weights
from fleet.domain.traffic import SlotTraffic, TrafficView
from fleet.errors import ProviderError, TransientError
from fleet.ports import Applied

if TYPE_CHECKING:
    from mypy_boto3_route53.type_defs import (
        ChangeTypeDef,
        ListResourceRecordSetsResponseTypeDef,
        ResourceRecordSetOutputTypeDef,
    )

__all__ = [
    "ALIAS_TTL_S", "CALL_TIMEOUTS_S", "DENIED", "MAX_WEIGHT", "RECORD_TYPES", "SERVER_SIDE", "THROTTLING",
    "AliasTarget", "RetryPolicy", "Route53Traffic", "SlotTarget", "percent_of", "route53_weights", "scale",
    "validate_changes", "validate_weights",
]


class Route53Traffic(Route53Calls):
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
        session: Callable[[], boto3.session.Session] | None = None,
    ) -> None:
        if record_type not in RECORD_TYPES:
            raise ValueError(f"record type {record_type!r} is not one of {', '.join(RECORD_TYPES)}")
        if not hostnames:
            raise ValueError("at least one hostname is needed")
        if not 0 <= ttl <= 2_147_483_647:
            raise ValueError(f"ttl {ttl} is out of range")
        self.zone_id = zone_id.removeprefix("/hostedzone/")
        self.hostnames = tuple(fqdn(h) for h in hostnames)
        if len(set(self.hostnames)) != len(self.hostnames):
            raise ValueError("hostnames are listed twice")
        self.record_type = record_type
        self.ttl = ttl
        self.targets = dict(targets or {})
        self.sync_timeout_s = sync_timeout_s
        self.sync_poll_s = sync_poll_s
        super().__init__(
            region=region, endpoint_url=endpoint_url, retry=retry, sleep=sleep, rng=rng, session=session
        )

    @classmethod
    def from_settings(cls, env: str, settings: Mapping[str, Any], *, file: str) -> Route53Traffic:
        return cls(**settings_arguments(settings, file=file))

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
                if route53_name(record["Name"]) != hostname:
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
            if any(key in record for key in NOT_SENT):
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
                held = max(held, ttl_of(old))
            for slot in SlotName:
                record = build_record(
                    hostname, slot, scaled[slot], existing.get(slot),
                    target=self.targets.get(slot), record_type=self.record_type, ttl=self.ttl,
                )
                if record is not None:
                    changes.append({"Action": "UPSERT", "ResourceRecordSet": record})
                    held = max(held, ttl_of(record))
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
        check_read_back(changes, {hostname: self._slot_records(hostname) for hostname in self.hostnames}, weights)

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
