"""WeightedEndpoint: weighted Route53 records from day one; the weights belong to the cutover engine."""

from __future__ import annotations

from fleet.domain.model import Role, SlotName, Version
from fleet.infra.layout import EnvironmentPlan, SlotPlan
from fleet.infra.program import FluxSecrets, build_environment
from tests.infra.conftest import Deployment, kind_settings, plain


def both_slots(deployment: Deployment, **settings: object) -> None:
    plan = EnvironmentPlan(
        "local",
        (
            SlotPlan(SlotName.BLUE, Role.STANDBY, Version(1, 29)),
            SlotPlan(SlotName.GREEN, Role.ACTIVE, Version(1, 30)),
        ),
        "test",
    )
    deployment.run(lambda: build_environment(kind_settings(**settings), plan, FluxSecrets()))


def records(deployment: Deployment) -> list[dict[str, object]]:
    return [plain(r.inputs) for r in deployment.of_type("aws:route53/record:Record")]


def test_every_hostname_gets_one_weighted_record_per_slot(deployment: Deployment) -> None:
    both_slots(deployment)
    found = {(r["name"], r["setIdentifier"]) for r in records(deployment)}
    assert found == {(host, slot) for host in ("shop.example.com", "api.example.com") for slot in ("blue", "green")}


def test_the_active_slot_is_seeded_with_all_the_weight(deployment: Deployment) -> None:
    both_slots(deployment)
    weights = {r["setIdentifier"]: r["weightedRoutingPolicies"] for r in records(deployment)}
    assert weights == {"green": [{"weight": 100}], "blue": [{"weight": 0}]}


def test_pulumi_never_resets_the_weights_the_engine_moved(deployment: Deployment) -> None:
    both_slots(deployment)
    for record in deployment.of_type("aws:route53/record:Record"):
        assert record.ignore_changes == ("weightedRoutingPolicies",)


def test_each_slot_has_a_health_check_attached_to_its_records(deployment: Deployment) -> None:
    both_slots(deployment)
    checks = {
        plain(r.inputs)["tags"]["fleet:slot"]: r for r in deployment.of_type("aws:route53/healthCheck:HealthCheck")
    }
    assert set(checks) == {"blue", "green"}
    assert plain(checks["green"].inputs)["ipAddress"] == "172.18.0.4"
    for record in records(deployment):
        assert record["healthCheckId"] == f"local-{record['setIdentifier']}-dns-health-id"


def test_records_point_at_the_slots_ingress(deployment: Deployment) -> None:
    both_slots(deployment)
    by_slot = {r["setIdentifier"]: r for r in records(deployment) if r["name"] == "shop.example.com"}
    assert by_slot["blue"]["records"] == ["172.18.0.3"] and by_slot["blue"]["type"] == "A"
    assert by_slot["green"]["ttl"] == 60 and by_slot["green"]["zoneId"] == "Z123EXAMPLE"


def test_without_dns_settings_no_records_are_made(deployment: Deployment) -> None:
    both_slots(deployment, dns=None)
    assert deployment.of_type("aws:route53/record:Record") == []
    assert deployment.of_type("fleet:infra:WeightedEndpoint") == []


def test_a_record_type_follows_the_ingress_address() -> None:
    from fleet.infra.endpoint import initial_weight, is_ip

    assert is_ip("10.0.0.1") and is_ip("::1") and not is_ip("lb.elb.amazonaws.com")
    assert initial_weight(Role.ACTIVE) == 100 and initial_weight(Role.STANDBY) == 0
