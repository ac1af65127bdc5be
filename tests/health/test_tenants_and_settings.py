"""Tenants in the report, the status table, and reading ``fleet:health``/``fleet:tenants``."""

from __future__ import annotations

from typing import Any

import pytest

from fleet.domain.health import (
    HealthSettings,
    Snapshot,
    TenantSpec,
    evaluate,
    tenant_rows,
)
from fleet.domain.model import SlotName
from fleet.domain.reports import HealthReport, check_parity
from fleet.errors import ConfigError
from fleet.rehearsal import flux_objects as fo
from fleet.settings.read import health_settings_from_config

R1 = fo.revision("1")
R2 = fo.revision("2")

TENANTS = (
    TenantSpec("payments", namespaces=frozenset({"payments"})),
    TenantSpec("search", kustomizations=frozenset({"flux-system/search"})),
)


def judge(objs: list[dict[str, Any]], settings: HealthSettings, slot: SlotName = SlotName.GREEN) -> HealthReport:
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for obj in objs:
        by_kind.setdefault(obj["kind"], []).append(obj)
    return evaluate(slot, Snapshot(objects=by_kind), settings)


def tenant_cluster(*, search_ready: bool = True, payments_released: bool = True) -> list[dict[str, Any]]:
    return [
        *fo.reconciled_cluster(R1),
        fo.kustomization(
            "search", applied=R1, ready=search_ready, reason=None if search_ready else "HealthCheckFailed"
        ),
        fo.helm_release("checkout", "payments", ready=payments_released, released=payments_released),
    ]


class TestTenantsInTheReport:
    def test_objects_are_grouped_by_namespace_and_by_named_kustomization(self) -> None:
        report = judge(tenant_cluster(), HealthSettings(tenants=TENANTS))
        counts = {t.tenant: t.objects for t in report.tenants}
        assert counts["payments"] == 1
        assert counts["search"] == 1
        assert counts["platform"] == 4 + 4  # controllers, the source, two Kustomizations, podinfo

    def test_the_report_names_the_tenants_that_block_a_cutover(self) -> None:
        report = judge(tenant_cluster(search_ready=False, payments_released=False), HealthSettings(tenants=TENANTS))
        assert report.blocking_tenants == ("payments", "search")

    def test_a_broken_controller_blocks_the_platform_tenant(self) -> None:
        objs = [o for o in tenant_cluster() if o["metadata"]["name"] != "kustomize-controller"]
        objs.append(fo.deployment("kustomize-controller", available=0))
        report = judge(objs, HealthSettings(tenants=TENANTS))
        assert report.blocking_tenants == ("platform",)

    def test_without_tenants_everything_belongs_to_the_platform(self) -> None:
        report = judge(tenant_cluster(), HealthSettings())
        assert [t.tenant for t in report.tenants] == ["platform"]

    def test_a_named_kustomization_wins_over_a_namespace_claim(self) -> None:
        tenants = (
            TenantSpec("infra", namespaces=frozenset({"flux-system"})),
            TenantSpec("search", kustomizations=frozenset({"flux-system/search"})),
        )
        report = judge(tenant_cluster(search_ready=False), HealthSettings(tenants=tenants))
        assert report.blocking_tenants == ("search",)

    def test_a_tenant_kustomization_missing_on_the_slot_blocks_that_tenant(self) -> None:
        report = judge(fo.reconciled_cluster(R1), HealthSettings(tenants=TENANTS))
        assert report.blocking_tenants == ("search",)
        (failure,) = report.failures
        assert failure.reason == "NotFound"


class TestStatusTable:
    def test_rows_name_each_tenant_with_its_failing_objects_and_reasons(self) -> None:
        report = judge(tenant_cluster(search_ready=False), HealthSettings(tenants=TENANTS))
        rows = {row["tenant"]: row for row in tenant_rows(report)}
        assert rows["search"] == {
            "tenant": "search",
            "reconciled": False,
            "objects": 1,
            "failing": "Kustomization/flux-system/search (HealthCheckFailed)",
        }
        assert rows["payments"]["reconciled"] is True
        assert rows["payments"]["failing"] == ""
        assert list(rows) == ["payments", "search", "platform"]


class TestParity:
    def test_a_green_that_reconciled_a_subset_fails_parity(self) -> None:
        blue = judge(tenant_cluster(), HealthSettings(), SlotName.BLUE)
        green = judge(fo.reconciled_cluster(R1), HealthSettings(), SlotName.GREEN)
        assert green.reconciled
        problems = check_parity(blue, green)
        assert any("Kustomization/flux-system/search" in p for p in problems)

    def test_a_green_at_another_revision_fails_parity(self) -> None:
        blue = judge(fo.reconciled_cluster(R1), HealthSettings(), SlotName.BLUE)
        green = judge(fo.reconciled_cluster(R2), HealthSettings(), SlotName.GREEN)
        assert any("flux-system/flux-system is at" in p for p in check_parity(blue, green))

    def test_identical_slots_pass_parity(self) -> None:
        blue = judge(fo.reconciled_cluster(R1), HealthSettings(), SlotName.BLUE)
        green = judge(fo.reconciled_cluster(R1), HealthSettings(), SlotName.GREEN)
        assert check_parity(blue, green) == ()


class TestReadingSettings:
    def test_an_empty_configuration_checks_everything(self) -> None:
        settings = health_settings_from_config({}, file="Pulumi.prod.yaml")
        assert settings == HealthSettings()
        assert not settings.scoped

    def test_subsets_and_tenants_are_read(self) -> None:
        raw = {
            "fleet:health": {
                "namespaces": ["flux-system"],
                "kustomizations": ["flux-system/apps"],
                "helmReleases": ["podinfo/podinfo"],
            },
            "fleet:tenants": {
                "payments": {"namespaces": ["payments"]},
                "search": {"kustomizations": ["flux-system/search"]},
            },
        }
        settings = health_settings_from_config(raw, file="Pulumi.prod.yaml")
        assert settings.namespaces == {"flux-system"}
        assert settings.kustomizations == {"flux-system/apps"}
        assert settings.helm_releases == {"podinfo/podinfo"}
        assert settings.tenants == TENANTS

    def test_values_stored_as_json_text_are_read(self) -> None:
        raw = {"fleet:tenants": '{"payments": {"namespaces": ["payments"]}}'}
        assert health_settings_from_config(raw, file="f").tenants == (TENANTS[0],)

    @pytest.mark.parametrize(
        ("raw", "key"),
        [
            ({"fleet:tenants": {"payments": {"namespaces": "payments"}}}, "fleet:tenants.payments.namespaces"),
            ({"fleet:tenants": {"payments": {"namespaces": [1]}}}, "fleet:tenants.payments.namespaces"),
            ({"fleet:tenants": {"search": {"kustomizations": ["search"]}}}, "fleet:tenants.search.kustomizations"),
            ({"fleet:tenants": {"payments": ["payments"]}}, "fleet:tenants.payments"),
            ({"fleet:tenants": {"payments": {"namespace": ["payments"]}}}, "fleet:tenants.payments"),
            ({"fleet:tenants": {"payments": {}}}, "fleet:tenants.payments"),
            ({"fleet:tenants": ["payments"]}, "fleet:tenants"),
            ({"fleet:health": {"namespaces": "flux-system"}}, "fleet:health.namespaces"),
            ({"fleet:health": {"helmReleases": ["a/b/c"]}}, "fleet:health.helmReleases"),
            ({"fleet:health": {"namespace": ["x"]}}, "fleet:health"),
            ({"fleet:health": "{not json"}, "fleet:health"),
        ],
    )
    def test_wrong_types_are_a_config_error_naming_file_and_key(self, raw: dict[str, Any], key: str) -> None:
        with pytest.raises(ConfigError) as caught:
            health_settings_from_config(raw, file="Pulumi.prod.yaml")
        assert caught.value.file == "Pulumi.prod.yaml"
        assert caught.value.key == key


class TestJudgementSettings:
    """``fleet:health.regressionGrace`` and ``fleet:health.parity`` reach the policies a cutover records."""

    def _project(self, tmp_path: Any, health: str) -> Any:
        (tmp_path / "stacks").mkdir()
        (tmp_path / "Pulumi.yaml").write_text("name: fleet\nruntime: python\n")
        (tmp_path / "stacks" / "Pulumi.prod.yaml").write_text(
            "config:\n"
            "  fleet:cluster: {driver: kind, version: '1.29'}\n"
            "  fleet:traffic: {provider: haproxy, socket: /run/x.sock, backend: app}\n"
            f"  fleet:health: {health}\n"
        )
        return tmp_path

    def test_the_defaults_are_three_minutes_and_strict(self, tmp_path: Any) -> None:
        from fleet.config import load_environment
        from fleet.domain.model import ParityMode

        config = load_environment(self._project(tmp_path, "{}"), "prod")
        assert config.rollout.health.regression_grace_s == 180.0
        assert config.rollout.health.parity is ParityMode.STRICT

    def test_both_are_read_and_the_gate_accepts_them_beside_its_scope(self, tmp_path: Any) -> None:
        from fleet.config import load_environment
        from fleet.domain.model import ParityMode

        config = load_environment(
            self._project(tmp_path, "{regressionGrace: 90s, parity: warn, namespaces: [apps]}"), "prod"
        )
        assert config.rollout.health.regression_grace_s == 90.0
        assert config.rollout.health.parity is ParityMode.WARN
        assert health_settings_from_config(config.raw, file=config.file).namespaces == frozenset({"apps"})

    @pytest.mark.parametrize(
        ("health", "key"),
        [("{parity: loose}", "fleet:health.parity"), ("{regressionGrace: soon}", "fleet:health.regressionGrace")],
    )
    def test_a_wrong_value_names_its_key(self, tmp_path: Any, health: str, key: str) -> None:
        from fleet.config import validate_environment

        problems = validate_environment(self._project(tmp_path, health), "prod")
        assert [p.key for p in problems] == [key]
