"""Whose a Flux object is: by a tenant's root Kustomization and what it creates, or by labels."""

from __future__ import annotations

from typing import Any

from fleet.domain.health import HealthSettings, Snapshot, evaluate
from fleet.domain.model import SlotName
from fleet.domain.reports import HealthReport
from fleet.rehearsal import flux_objects as fo
from fleet.settings.read import health_settings_from_config

R1 = fo.revision("1")
CREATOR_NAME, CREATOR_NS = "kustomize.toolkit.fluxcd.io/name", "kustomize.toolkit.fluxcd.io/namespace"


def created_by(obj: dict[str, Any], name: str, namespace: str = "flux-system", **labels: str) -> dict[str, Any]:
    obj["metadata"].setdefault("labels", {}).update({CREATOR_NAME: name, CREATOR_NS: namespace, **labels})
    return obj


def judge(objs: list[dict[str, Any]], settings: HealthSettings) -> HealthReport:
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for obj in objs:
        by_kind.setdefault(obj["kind"], []).append(obj)
    return evaluate(SlotName.GREEN, Snapshot(objects=by_kind), settings)


SETTINGS = health_settings_from_config(
    {"fleet:tenants": {
        "payments": {"roots": ["flux-system/payments"]},
        "search": {"selector": {"team": "search"}},
    }},
    file="f",
)


def test_a_root_owns_what_it_creates_transitively_and_a_selector_owns_what_it_labels() -> None:
    objects = [
        *fo.reconciled_cluster(R1),
        created_by(fo.kustomization("payments", applied=R1), "flux-system"),
        created_by(fo.kustomization("payments-apps", "payments", applied=R1,
                                     source=("GitRepository", "flux-system", "flux-system")), "payments"),
        created_by(fo.helm_release("api", "payments", ready=False, released=False), "payments-apps", "payments"),
        created_by(fo.kustomization("search", applied=R1), "flux-system", team="search"),
    ]
    report = judge(objects, SETTINGS)
    tenants = {t.tenant: t for t in report.tenants}
    assert {str(r) for r in tenants["payments"].refs} == {
        "Kustomization/flux-system/payments", "Kustomization/payments/payments-apps", "HelmRelease/payments/api",
    }
    assert [f.ref.name for f in tenants["payments"].failures] == ["api"]
    assert {str(r) for r in tenants["search"].refs} == {"Kustomization/flux-system/search"}
    assert report.blocking_tenants == ("payments",)


def test_a_missing_root_is_not_found() -> None:
    report = judge(list(fo.reconciled_cluster(R1)), SETTINGS)
    missing = [f for f in report.failures if f.reason == "NotFound"]
    assert [str(f.ref) for f in missing] == ["Kustomization/flux-system/payments"]
    assert report.blocking_tenants == ("payments",)
