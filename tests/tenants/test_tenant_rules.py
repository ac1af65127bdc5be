"""The pure rules: tenants' settings, how their verdicts combine with the slot's, who blocks a halted cutover."""

from __future__ import annotations

import pytest

from fleet.domain.analysis import SprtSettings
from fleet.domain.health import health_settings_from_config
from fleet.domain.machine import health_reason
from fleet.domain.model import SlotName
from fleet.domain.reports import Evidence, HealthReport, ObjectFailure, ObjectRef, Outcome, TenantHealth, Verdict
from fleet.domain.tenants import (
    TenantContact,
    judge_settings,
    tenant_traffic_from_config,
    tenant_verdict,
    with_tenants,
)
from fleet.errors import ConfigError

RAW = {
    "fleet:tenants": {
        "payments": {
            "namespaces": ["payments"],
            "traffic": {"hosts": ["pay.example.com"], "labels": {"namespace": "payments"},
                        "probes": {"green": "http://127.0.0.1:1/health"}},
            "contact": {"webhook": "https://hooks.example.com/p", "slack": "#payments"},
        },
        "search": {"namespaces": ["search"], "traffic": {"pathPrefixes": ["/search/"]}},
        "docs": {"namespaces": ["docs"]},
    }
}


def evidence(requests: int = 100, errors: int = 0) -> Evidence:
    return Evidence(requests, errors, 60.0)


def verdict(outcome: Outcome, reason: str = "") -> Verdict:
    return Verdict(outcome, evidence(), reason)


def test_tenants_traffic_and_contact_are_read_beside_what_the_health_gate_reads() -> None:
    tenants = {t.name: t for t in tenant_traffic_from_config(RAW, file="f")}
    assert tenants["payments"].hosts == ("pay.example.com",)
    assert tenants["payments"].promql_labels() == ',namespace="payments"'
    assert tenants["payments"].contact == TenantContact("https://hooks.example.com/p", "#payments")
    assert tenants["search"].path_prefixes == ("/search/",) and tenants["search"].judged
    assert not tenants["docs"].judged
    assert [t.name for t in health_settings_from_config(RAW, file="f").tenants] == ["payments", "search", "docs"]


@pytest.mark.parametrize(
    ("spec", "key"),
    [
        ({"traffic": {"host": ["x"]}}, "fleet:tenants.t.traffic"),
        ({"traffic": {"pathPrefixes": ["search"]}}, "fleet:tenants.t.traffic.pathPrefixes"),
        ({"traffic": {"probes": {"purple": "http://x/"}}}, "fleet:tenants.t.traffic.probes"),
        ({"contact": {"webhook": "ftp://x"}}, "fleet:tenants.t.contact.webhook"),
        ({"contact": {"slack": "payments"}}, "fleet:tenants.t.contact.slack"),
    ],
)
def test_bad_tenant_settings_name_the_key(spec: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        tenant_traffic_from_config({"fleet:tenants": {"t": {"namespaces": ["t"], **spec}}}, file="f")
    assert caught.value.key == key


def test_a_failing_tenant_fails_the_window_by_name_and_a_passing_one_changes_nothing() -> None:
    failing = tenant_verdict("payments", verdict(Outcome.FAIL, "error rate 100.00% is clearly above 1%"))
    passing = tenant_verdict("search", verdict(Outcome.PASS))
    combined = with_tenants(Verdict(Outcome.PASS, evidence(), "ok", (failing, passing)))
    assert combined.outcome is Outcome.FAIL
    assert combined.reason == "tenant payments: error rate 100.00% is clearly above 1%"
    assert with_tenants(combined) == combined
    fine = Verdict(Outcome.PASS, evidence(), "ok", (passing,))
    assert with_tenants(fine) is fine
    both = with_tenants(Verdict(Outcome.FAIL, evidence(), "slot bad", (failing,)))
    assert both.reason.endswith("; slot: slot bad")


def test_a_tenant_with_too_little_traffic_is_judged_by_its_probes_when_it_has_any() -> None:
    thin = verdict(Outcome.INCONCLUSIVE, "only 2 requests in 60.0s (need 100)")
    alone = tenant_verdict("docs", thin)
    assert alone.outcome is Outcome.INCONCLUSIVE and alone.probe is None
    assert with_tenants(Verdict(Outcome.PASS, evidence(), "ok", (alone,))).outcome is Outcome.PASS
    probed_bad = tenant_verdict("docs", thin, verdict(Outcome.FAIL, "error rate 50.00% is clearly above 1%"))
    assert probed_bad.outcome is Outcome.FAIL and "too little traffic to judge" in probed_bad.reason
    probed_ok = tenant_verdict("docs", thin, verdict(Outcome.PASS, "success rate 100.00%"))
    assert probed_ok.outcome is Outcome.PASS


def test_the_slots_error_chances_are_shared_out_over_the_tenants() -> None:
    base = SprtSettings()
    shared = judge_settings(base, 4)
    assert shared.alpha == pytest.approx(base.alpha / 4)
    assert 1 - shared.confidence == pytest.approx((1 - base.confidence) / 4)
    assert judge_settings(base, 1) == base


def test_a_halt_names_the_tenants_that_block_it_with_fluxs_message_for_each_object() -> None:
    stuck = ObjectFailure(ObjectRef("Kustomization", "search", "search"), "HealthCheckFailed", "timeout waiting")
    broken = ObjectFailure(ObjectRef("HelmRelease", "payments", "api"), "UpgradeFailed", "context deadline exceeded")
    settling = ObjectFailure(ObjectRef("Kustomization", "flux-system", "infra"), "Progressing", "in progress",
                             transient=True)
    report = HealthReport(
        slot=SlotName.GREEN, reconciled=False, failures=(settling, broken, stuck),
        tenants=(TenantHealth("platform", False, 2, (settling,)), TenantHealth("payments", False, 1, (broken,)),
                 TenantHealth("search", False, 1, (stuck,)), TenantHealth("docs", True, 3)),
    )
    reason = health_reason(report)
    assert reason == (
        "tenant payments: HelmRelease/payments/api: UpgradeFailed: context deadline exceeded"
        " | tenant search: Kustomization/search/search: HealthCheckFailed: timeout waiting"
        " | (+1 tenant(s) still reconciling)"
    )
