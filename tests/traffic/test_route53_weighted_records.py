"""Route53 weighted records against moto in server mode, with a real fault-injecting proxy in front.

moto accepts much that Route53 rejects, so these tests check what fleet
validates itself, what it sends (one ChangeBatch per step, recorded by the
proxy), and how it reacts to throttling, 5xx, access denied and PENDING
changes (answered by the proxy, not by patching boto3).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from fleet.adapters.traffic.route53 import (
    RetryPolicy,
    Route53Traffic,
    SlotTarget,
    percent_of,
    route53_weights,
    scale,
    validate_changes,
)
from fleet.domain.model import SlotName, Weights
from fleet.errors import AccessDenied, ProviderError, TransientError
from tests.traffic.support import CHANGE_RRSETS, GET_CHANGE, Fault, FaultProxy

HOST = "app.example.com."


@pytest.fixture
def route53(aws_env: None, moto_url: str) -> Any:
    return boto3.client("route53", region_name="us-east-1", endpoint_url=moto_url)


@pytest.fixture
def zone(route53: Any) -> Iterator[str]:
    created = route53.create_hosted_zone(Name="example.com", CallerReference=uuid.uuid4().hex)
    zone_id: str = created["HostedZone"]["Id"].removeprefix("/hostedzone/")
    yield zone_id


def put(route53: Any, zone_id: str, *records: dict[str, Any]) -> None:
    route53.change_resource_record_sets(
        HostedZoneId=zone_id,
        ChangeBatch={"Changes": [{"Action": "UPSERT", "ResourceRecordSet": r} for r in records]},
    )


def weighted(slot: str, weight: int, target: str, name: str = HOST) -> dict[str, Any]:
    return {
        "Name": name,
        "Type": "CNAME",
        "SetIdentifier": slot,
        "Weight": weight,
        "TTL": 60,
        "ResourceRecords": [{"Value": target}],
    }


def live_weights(route53: Any, zone_id: str, name: str = HOST) -> dict[str, int]:
    records = route53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    return {r["SetIdentifier"]: r["Weight"] for r in records if r["Name"] == name and "SetIdentifier" in r}


def adapter(zone_id: str, endpoint: str, sleeps: list[float] | None = None, **kwargs: Any) -> Route53Traffic:
    recorded = sleeps if sleeps is not None else []
    options: dict[str, Any] = {
        "zone_id": zone_id,
        "hostnames": [HOST],
        "endpoint_url": endpoint,
        "sleep": recorded.append,
        "rng": random.Random(1),
        "sync_poll_s": 0.01,
    }
    options.update(kwargs)
    return Route53Traffic(**options)


def test_each_step_upserts_both_slots_in_one_change_batch(route53: Any, zone: str, fault_proxy: FaultProxy) -> None:
    put(route53, zone, weighted("blue", 255, "blue.lb.example.com"), weighted("green", 0, "green.lb.example.com"))
    traffic = adapter(zone, fault_proxy.url)
    for percent in (10, 25, 50, 100):
        applied = traffic.set_weights("prod", Weights.split(SlotName.GREEN, percent))
        assert applied.settle_s == 60.0
        assert traffic.get_weights("prod") == Weights.split(SlotName.GREEN, percent)
    batches = fault_proxy.calls("POST", CHANGE_RRSETS)
    assert len(batches) == 4
    assert all(body.count("<Action>UPSERT</Action>") == 2 for body in (b.body for b in batches))
    assert "<Weight>230</Weight>" in batches[0].body and "<Weight>26</Weight>" in batches[0].body
    assert live_weights(route53, zone) == {"blue": 0, "green": 255}


def test_existing_targets_are_kept_and_configured_targets_are_written(route53: Any, zone: str, moto_url: str) -> None:
    put(route53, zone, weighted("blue", 255, "blue.lb.example.com"))
    traffic = adapter(zone, moto_url, targets={SlotName.GREEN: SlotTarget(values=("green.lb.example.com",))})
    traffic.set_weights("prod", Weights(blue=90, green=10))
    records = route53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
    values = {r["SetIdentifier"]: r["ResourceRecords"][0]["Value"] for r in records if "SetIdentifier" in r}
    assert values == {"blue": "blue.lb.example.com", "green": "green.lb.example.com"}


def test_all_hostnames_move_together(route53: Any, zone: str, fault_proxy: FaultProxy) -> None:
    other = "api.example.com."
    put(
        route53,
        zone,
        weighted("blue", 255, "b.example.com"),
        weighted("green", 0, "g.example.com"),
        weighted("blue", 255, "b.example.com", other),
        weighted("green", 0, "g.example.com", other),
    )
    traffic = adapter(zone, fault_proxy.url, hostnames=[HOST, other])
    traffic.set_weights("prod", Weights(blue=50, green=50))
    [batch] = fault_proxy.calls("POST", CHANGE_RRSETS)
    assert batch.body.count("<Action>UPSERT</Action>") == 4
    assert live_weights(route53, zone, other) == {"blue": 128, "green": 128}


def test_a_slot_without_a_record_or_target_cannot_be_given_traffic(route53: Any, zone: str, moto_url: str) -> None:
    put(route53, zone, weighted("blue", 255, "b.example.com"))
    traffic = adapter(zone, moto_url)
    with pytest.raises(ProviderError, match="no weighted CNAME record for green"):
        traffic.set_weights("prod", Weights(blue=90, green=10))


def test_a_simple_record_is_never_switched_to_weighted(route53: Any, zone: str, fault_proxy: FaultProxy) -> None:
    put(route53, zone, {"Name": HOST, "Type": "CNAME", "TTL": 60, "ResourceRecords": [{"Value": "old.example.com"}]})
    traffic = adapter(zone, fault_proxy.url)
    with pytest.raises(ProviderError, match="simple record"):
        traffic.set_weights("prod", Weights(blue=90, green=10))
    assert fault_proxy.calls("POST", CHANGE_RRSETS) == []


def test_a_weighted_record_that_is_not_a_slot_is_refused(route53: Any, zone: str, moto_url: str) -> None:
    put(route53, zone, weighted("blue", 255, "b.example.com"), weighted("canary", 10, "c.example.com"))
    with pytest.raises(ProviderError, match="'canary' that is not a slot"):
        adapter(zone, moto_url).set_weights("prod", Weights(blue=90, green=10))


def test_duplicate_set_identifiers_that_moto_accepted_are_refused(route53: Any, zone: str, moto_url: str) -> None:
    put(route53, zone, weighted("blue", 255, "b.example.com"))
    route53.change_resource_record_sets(
        HostedZoneId=zone,
        ChangeBatch={"Changes": [{"Action": "CREATE", "ResourceRecordSet": weighted("blue", 1, "x.example.com")}]},
    )
    blues = [
        r
        for r in route53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
        if r.get("SetIdentifier") == "blue"
    ]
    if len(blues) < 2:
        pytest.skip("this moto version rejects duplicate set identifiers itself")
    with pytest.raises(ProviderError, match="twice"):
        adapter(zone, moto_url).get_weights("prod")


def test_the_adapter_waits_until_the_change_is_insync(route53: Any, zone: str, fault_proxy: FaultProxy) -> None:
    put(route53, zone, weighted("blue", 255, "b.example.com"), weighted("green", 0, "g.example.com"))
    fault_proxy.faults += [Fault("POST", CHANGE_RRSETS, 1, pending=True), Fault("GET", GET_CHANGE, 2, pending=True)]
    sleeps: list[float] = []
    adapter(zone, fault_proxy.url, sleeps, sync_poll_s=0.5).set_weights("prod", Weights(blue=75, green=25))
    assert len(fault_proxy.calls("GET", GET_CHANGE)) == 3
    assert sleeps == [0.5, 0.5, 0.5]


def test_a_change_that_stays_pending_is_a_transient_error(route53: Any, zone: str, fault_proxy: FaultProxy) -> None:
    put(route53, zone, weighted("blue", 255, "b.example.com"), weighted("green", 0, "g.example.com"))
    fault_proxy.faults += [Fault("POST", CHANGE_RRSETS, 1, pending=True), Fault("GET", GET_CHANGE, 100, pending=True)]
    traffic = adapter(zone, fault_proxy.url, sync_poll_s=1.0, sync_timeout_s=3.0)
    with pytest.raises(TransientError, match="still PENDING"):
        traffic.set_weights("prod", Weights(blue=75, green=25))


def test_throttling_is_retried_with_growing_jittered_backoff(route53: Any, zone: str, fault_proxy: FaultProxy) -> None:
    put(route53, zone, weighted("blue", 255, "b.example.com"), weighted("green", 0, "g.example.com"))
    fault_proxy.faults.append(Fault("POST", CHANGE_RRSETS, 3, status=400, code="Throttling"))
    sleeps: list[float] = []
    policy = RetryPolicy(budget_s=30.0, base_s=0.2, cap_s=5.0)
    traffic = adapter(zone, fault_proxy.url, sleeps, retry=policy)
    traffic.set_weights("prod", Weights(blue=90, green=10))
    assert len(fault_proxy.calls("POST", CHANGE_RRSETS)) == 4
    assert traffic.counters.retries == 3
    for attempt, slept in enumerate(sleeps):
        ceiling = 0.2 * 2**attempt
        assert ceiling / 2 <= slept <= ceiling
    assert live_weights(route53, zone) == {"blue": 230, "green": 26}


def test_server_errors_are_retried_too(route53: Any, zone: str, fault_proxy: FaultProxy) -> None:
    put(route53, zone, weighted("blue", 255, "b.example.com"), weighted("green", 0, "g.example.com"))
    fault_proxy.faults.append(Fault("GET", r"/rrset", 2, status=503, code="ServiceUnavailable"))
    traffic = adapter(zone, fault_proxy.url)
    assert traffic.get_weights("prod") == Weights(blue=100, green=0)
    assert traffic.counters.retries == 2


def test_throttling_beyond_the_budget_is_a_transient_error(route53: Any, zone: str, fault_proxy: FaultProxy) -> None:
    put(route53, zone, weighted("blue", 255, "b.example.com"), weighted("green", 0, "g.example.com"))
    fault_proxy.faults.append(Fault("POST", CHANGE_RRSETS, 1000, status=400, code="Throttling"))
    sleeps: list[float] = []
    traffic = adapter(zone, fault_proxy.url, sleeps, retry=RetryPolicy(budget_s=2.0, base_s=0.2, cap_s=1.0))
    with pytest.raises(TransientError, match="Throttling") as caught:
        traffic.set_weights("prod", Weights(blue=90, green=10))
    assert sum(sleeps) <= 2.0
    assert caught.value.retry_after > 0
    assert live_weights(route53, zone) == {"blue": 255, "green": 0}


def test_access_denied_is_reported_at_once(route53: Any, zone: str, fault_proxy: FaultProxy) -> None:
    put(route53, zone, weighted("blue", 255, "b.example.com"), weighted("green", 0, "g.example.com"))
    fault_proxy.faults.append(Fault("POST", CHANGE_RRSETS, 5, status=403, code="AccessDenied", message="nope"))
    sleeps: list[float] = []
    traffic = adapter(zone, fault_proxy.url, sleeps)
    with pytest.raises(AccessDenied, match="AccessDenied"):
        traffic.set_weights("prod", Weights(blue=90, green=10))
    assert len(fault_proxy.calls("POST", CHANGE_RRSETS)) == 1
    assert sleeps == []


def test_percentages_scale_to_route53_weights_and_back() -> None:
    assert [scale(p) for p in (0, 1, 10, 25, 50, 75, 99, 100)] == [0, 3, 26, 64, 128, 191, 252, 255]
    for percent in range(0, 101):
        weights = route53_weights(Weights.split(SlotName.GREEN, percent))
        assert sum(weights.values()) > 0
        assert all(0 <= w <= 255 for w in weights.values())
        assert percent_of(weights) == Weights.split(SlotName.GREEN, percent)
    assert percent_of({SlotName.BLUE: 0, SlotName.GREEN: 0}) == Weights(blue=50, green=50)


def change(ident: str, weight: int, rtype: str = "CNAME") -> Any:
    return {"Action": "UPSERT", "ResourceRecordSet": {**weighted(ident, weight, "x.example.com"), "Type": rtype}}


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ([change("blue", 256), change("green", 0)], "outside 0..255"),
        ([change("blue", 0), change("green", 0)], "would be 0"),
        ([change("blue", 10), change("blue", 20)], "twice"),
        ([change("blue", 10, "TXT"), change("green", 20, "TXT")], "record type"),
        ([{"Action": "UPSERT", "ResourceRecordSet": {"Name": HOST, "Type": "CNAME", "TTL": 60}}], "not a weighted"),
    ],
)
def test_change_batches_that_moto_would_accept_are_refused(changes: Any, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        validate_changes(changes)


def test_the_change_comment_names_the_environment(route53: Any, zone: str, fault_proxy: FaultProxy) -> None:
    put(route53, zone, weighted("blue", 255, "b.example.com"), weighted("green", 0, "g.example.com"))
    adapter(zone, fault_proxy.url).set_weights("prod", Weights(blue=90, green=10))
    [batch] = fault_proxy.calls("POST", CHANGE_RRSETS)
    assert "fleet prod: blue 90% / green 10%" in batch.body


def _health_check(route53: Any) -> str:
    created = route53.create_health_check(
        CallerReference=uuid.uuid4().hex,
        HealthCheckConfig={"Type": "HTTP", "FullyQualifiedDomainName": "b.example.com", "Port": 80,
                           "ResourcePath": "/healthz"},
    )
    return str(created["HealthCheck"]["Id"])


def _records_by_slot(route53: Any, zone_id: str) -> dict[str, dict[str, Any]]:
    records = route53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    return {r["SetIdentifier"]: r for r in records if r["Name"] == HOST and "SetIdentifier" in r}


@pytest.mark.parametrize("fails_at", [None, 25])
def test_health_checks_and_ttls_survive_a_whole_cutover_and_a_rollback(
    route53: Any, zone: str, moto_url: str, tmp_path: Any, fails_at: int | None
) -> None:
    from fleet.domain.machine import Phase
    from fleet.state.local import LocalStateStore
    from tests.fleetkit import NEW_VERSION, Fleet, environment

    checks = {"blue": _health_check(route53), "green": _health_check(route53)}
    put(
        route53, zone,
        {**weighted("blue", 255, "b.example.com"), "TTL": 300, "HealthCheckId": checks["blue"]},
        {**weighted("green", 0, "g.example.com"), "TTL": 30, "HealthCheckId": checks["green"]},
    )
    fleet = Fleet()
    fleet.analysis.fail_at_weight = fails_at
    traffic = adapter(zone, moto_url, ttl=60)
    fleet.traffic = traffic  # type: ignore[assignment]
    settles: list[float] = []
    inner = traffic.set_weights

    def recording(env: str, weights: Weights) -> Any:
        applied = inner(env, weights)
        settles.append(applied.settle_s)
        fleet.world.weights = {"blue": weights.blue, "green": weights.green}  # what the fake analysis judges
        return applied

    traffic.set_weights = recording  # type: ignore[method-assign]

    final = fleet.engine(LocalStateStore(tmp_path)).cutover(environment(), NEW_VERSION)

    expected = Phase.DONE if fails_at is None else Phase.ROLLED_BACK
    assert final.cutover is not None and final.cutover.phase is expected, final.cutover
    after = _records_by_slot(route53, zone)
    assert {slot: r.get("HealthCheckId") for slot, r in after.items()} == checks
    assert {slot: r["TTL"] for slot, r in after.items()} == {"blue": 300, "green": 30}
    assert {slot: r["ResourceRecords"] for slot, r in after.items()} == {
        "blue": [{"Value": "b.example.com"}], "green": [{"Value": "g.example.com"}]
    }
    assert settles and all(s == 300.0 for s in settles), "settle by the largest TTL resolvers may hold"
    if fails_at is not None:
        assert live_weights(route53, zone) == {"blue": 255, "green": 0}


@pytest.mark.parametrize(("ours", "other", "refused"), [
    ("CNAME", "TXT", True), ("A", "CNAME", True), ("A", "AAAA", False),
])
def test_a_name_with_records_of_a_clashing_type_is_refused_before_any_change(
    route53: Any, zone: str, fault_proxy: FaultProxy, ours: str, other: str, refused: bool
) -> None:
    values = {"CNAME": "b.example.com", "A": "192.0.2.1", "AAAA": "2001:db8::1", "TXT": '"owner=someone"'}
    blue = {**weighted("blue", 255, values[ours]), "Type": ours, "ResourceRecords": [{"Value": values[ours]}]}
    green = {**weighted("green", 0, values[ours]), "Type": ours, "ResourceRecords": [{"Value": values[ours]}]}
    put(route53, zone, blue, green)
    put(route53, zone, {"Name": HOST, "Type": other, "TTL": 60, "ResourceRecords": [{"Value": values[other]}]})
    traffic = adapter(zone, fault_proxy.url, record_type=ours)
    if refused:
        with pytest.raises(ProviderError, match=f"also has {other} records"):
            traffic.set_weights("prod", Weights(blue=90, green=10))
        assert fault_proxy.calls("POST", CHANGE_RRSETS) == []
    else:
        traffic.set_weights("prod", Weights(blue=90, green=10))
        assert live_weights(route53, zone) == {"blue": 230, "green": 26}


def test_a_route53_endpoint_that_never_answers_bounds_a_rollback_to_its_budget(
    aws_env: None, tmp_path: Any
) -> None:
    import socket
    import time

    from fleet.domain.machine import Phase
    from fleet.engine import RetryPolicy as EngineRetry
    from fleet.state.local import LocalStateStore
    from fleet.wiring import SystemClock
    from tests.fleetkit import NEW_VERSION, Fleet, environment

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)  # accepted by the kernel, never answered
    fleet = Fleet()
    store = LocalStateStore(tmp_path)

    class Crash(Exception):
        pass

    def crash(point: str) -> None:
        if point == "after-commit:WeightsApplied":
            raise Crash(point)

    try:
        with pytest.raises(Crash):
            fleet.engine(store, checkpoint=crash).cutover(environment(), NEW_VERSION)
        fleet.traffic = Route53Traffic(  # type: ignore[assignment]
            zone_id="Z1", hostnames=[HOST], endpoint_url=f"http://127.0.0.1:{silent.getsockname()[1]}"
        )
        fleet.clock = SystemClock()  # type: ignore[assignment]
        engine = fleet.engine(store, retry=EngineRetry(attempts=10, base_s=0.1, max_s=0.5, budget_s=2.0))
        started = time.monotonic()
        final = engine.rollback("local", reason="test")
        took = time.monotonic() - started
    finally:
        silent.close()
    assert took < 2.0 + 1.0, f"the rollback took {took:.2f}s with a budget of 2s"
    assert final.cutover is not None and final.cutover.phase is Phase.ROLLING_BACK
    assert "rollback not confirmed" in (final.cutover.reason or "")


def test_records_that_differ_from_the_change_after_insync_are_reported(
    route53: Any, zone: str, fault_proxy: FaultProxy
) -> None:
    put(route53, zone, weighted("blue", 255, "b.example.com"), weighted("green", 0, "g.example.com"))
    fault_proxy.faults.append(Fault("POST", CHANGE_RRSETS, 1, pending=True))

    def someone_else_writes(seconds: float) -> None:  # while fleet waits for INSYNC
        put(route53, zone, weighted("green", 5, "g.example.com"))

    traffic = adapter(zone, fault_proxy.url, sync_poll_s=0.01, sleep=someone_else_writes)
    with pytest.raises(ProviderError, match=r"green with other Weight than fleet sent .*sent \[26\], found \[5\]"):
        traffic.set_weights("prod", Weights(blue=90, green=10))
