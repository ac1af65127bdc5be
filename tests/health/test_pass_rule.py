"""The pass rule, over plain dicts: each way a slot can look reconciled without being so."""

from __future__ import annotations

from typing import Any

import pytest

from fleet.domain.health import HealthSettings, Snapshot, evaluate, summary
from fleet.domain.model import SlotName
from fleet.domain.reports import HealthReport, ObjectRef
from fleet.rehearsal import flux_objects as fo

R1 = fo.revision("1")
R2 = fo.revision("2")


def snapshot(*objs: dict[str, Any], missing: frozenset[str] = frozenset()) -> Snapshot:
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for obj in objs:
        by_kind.setdefault(obj["kind"], []).append(obj)
    return Snapshot(objects=by_kind, missing=missing)


def judge(*objs: dict[str, Any], settings: HealthSettings | None = None, **kw: Any) -> HealthReport:
    return evaluate(SlotName.GREEN, snapshot(*objs, **kw), settings)


def cluster_with(*changed: dict[str, Any], rev: str = R1) -> list[dict[str, Any]]:
    """The reconciled cluster, with ``changed`` objects replacing those of the same kind and name."""
    keys = {(o["kind"], o["metadata"]["namespace"], o["metadata"]["name"]) for o in changed}
    base = [
        o
        for o in fo.reconciled_cluster(rev)
        if (o["kind"], o["metadata"]["namespace"], o["metadata"]["name"]) not in keys
    ]
    return [*base, *changed]


def reasons(report: HealthReport) -> dict[str, str]:
    return {str(f.ref): f.reason for f in report.failures}


class TestAReconciledCluster:
    def test_a_fully_applied_cluster_passes(self) -> None:
        report = judge(*fo.reconciled_cluster(R1))
        assert report.reconciled, summary(report)
        assert report.failures == ()

    def test_it_reports_the_revision_each_source_applied(self) -> None:
        report = judge(*fo.reconciled_cluster(R1))
        assert report.revisions == {"flux-system/flux-system": R1}

    def test_ready_lists_the_flux_objects_but_not_the_controllers(self) -> None:
        report = judge(*fo.reconciled_cluster(R1))
        assert report.ready == {
            ObjectRef("GitRepository", "flux-system", "flux-system"),
            ObjectRef("Kustomization", "flux-system", "flux-system"),
            ObjectRef("Kustomization", "flux-system", "apps"),
            ObjectRef("HelmRelease", "podinfo", "podinfo"),
        }


class TestStaleReady:
    def test_a_stale_ready_from_the_previous_revision_does_not_pass(self) -> None:
        report = judge(*cluster_with(fo.git_repository(rev=R2)))
        assert not report.reconciled
        assert reasons(report)["Kustomization/flux-system/apps"] == "StaleRevision"
        failure = next(f for f in report.failures if f.ref.name == "apps")
        assert R1 in failure.message and R2 in failure.message

    def test_a_kustomization_that_never_applied_anything_is_stale(self) -> None:
        report = judge(*cluster_with(fo.kustomization("apps", applied=None)))
        assert reasons(report)["Kustomization/flux-system/apps"] == "StaleRevision"

    def test_a_generation_the_controller_has_not_observed_does_not_pass(self) -> None:
        report = judge(*cluster_with(fo.kustomization("apps", applied=R1, generation=3, observed_generation=2)))
        assert reasons(report)["Kustomization/flux-system/apps"] == "GenerationNotObserved"

    def test_a_helm_release_with_an_unobserved_generation_does_not_pass(self) -> None:
        release = fo.helm_release("podinfo", "podinfo", generation=2, observed_generation=1)
        assert reasons(judge(*cluster_with(release)))["HelmRelease/podinfo/podinfo"] == "GenerationNotObserved"


class TestSourcesOfKustomizations:
    def test_a_missing_source_fails_the_kustomization(self) -> None:
        objs = [o for o in fo.reconciled_cluster(R1) if o["kind"] != "GitRepository"]
        assert reasons(judge(*objs))["Kustomization/flux-system/apps"] == "SourceNotFound"

    def test_the_source_namespace_defaults_to_the_kustomizations_namespace(self) -> None:
        tenant_repo = fo.git_repository("team", "payments", rev=R2)
        ks = fo.kustomization("payments", "payments", source=("GitRepository", "team"), applied=R2)
        report = judge(*fo.reconciled_cluster(R1), tenant_repo, ks)
        assert report.reconciled, summary(report)
        assert report.revisions["payments/team"] == R2

    def test_a_source_in_another_namespace_is_found_by_its_explicit_namespace(self) -> None:
        ks = fo.kustomization(
            "payments", "payments", source=("GitRepository", "flux-system", "flux-system"), applied=R1
        )
        assert judge(*fo.reconciled_cluster(R1), ks).reconciled

    def test_an_oci_repository_source_is_compared_like_a_git_one(self) -> None:
        oci = fo.oci_repository("manifests", rev="latest@sha256:" + "b" * 64)
        stale = fo.kustomization("oci", source=("OCIRepository", "manifests"), applied="latest@sha256:" + "a" * 64)
        assert reasons(judge(*fo.reconciled_cluster(R1), oci, stale))["Kustomization/flux-system/oci"] == (
            "StaleRevision"
        )

    def test_a_source_without_an_artifact_fails_as_artifact_failed(self) -> None:
        repo = fo.git_repository(rev=None, ready=False, reason="GitOperationFailed", message="auth failed")
        report = judge(*cluster_with(repo))
        assert reasons(report)["Kustomization/flux-system/apps"] == "ArtifactFailed"
        assert "auth failed" in next(f.message for f in report.failures if f.ref.name == "apps")

    def test_a_source_that_cannot_fetch_fails_the_slot_even_with_an_old_artifact(self) -> None:
        repo = fo.git_repository(rev=R1, ready=False, reason="GitOperationFailed", message="timeout")
        report = judge(*cluster_with(repo))
        assert reasons(report) == {"GitRepository/flux-system/flux-system": "GitOperationFailed"}

    def test_an_unreferenced_broken_source_does_not_block(self) -> None:
        unused = fo.git_repository("unused", rev=None, ready=False, reason="GitOperationFailed")
        assert judge(*fo.reconciled_cluster(R1), unused).reconciled


class TestConditions:
    @pytest.mark.parametrize(
        "reason", ["HealthCheckFailed", "DependencyNotReady", "ArtifactFailed", "BuildFailed", "PruneFailed"]
    )
    def test_a_ready_false_kustomization_fails_with_its_conditions_reason_and_message(self, reason: str) -> None:
        ks = fo.kustomization("apps", applied=R1, ready=False, reason=reason, message=f"because {reason}")
        report = judge(*cluster_with(ks))
        (failure,) = report.failures
        assert (str(failure.ref), failure.reason, failure.message) == (
            "Kustomization/flux-system/apps",
            reason,
            f"because {reason}",
        )

    def test_a_reconciling_kustomization_is_not_yet_reconciled(self) -> None:
        report = judge(*cluster_with(fo.kustomization("apps", applied=R1, ready=None)))
        assert reasons(report)["Kustomization/flux-system/apps"] == "Progressing"

    def test_an_object_without_status_is_not_ready(self) -> None:
        ks = fo.kustomization("apps", applied=R1)
        del ks["status"]
        assert reasons(judge(*cluster_with(ks)))["Kustomization/flux-system/apps"] == "GenerationNotObserved"

    def test_a_stalled_kustomization_fails_as_stalled(self) -> None:
        ks = fo.kustomization(
            "apps", applied=R1, ready=False, reason="BuildFailed", message="kustomize build", stalled=True
        )
        report = judge(*cluster_with(ks))
        (failure,) = report.failures
        assert failure.reason == "Stalled"
        assert "BuildFailed" in failure.message

    def test_a_suspended_kustomization_does_not_pass_even_though_it_shows_ready(self) -> None:
        report = judge(*cluster_with(fo.kustomization("apps", applied=R1, suspend=True)))
        assert reasons(report) == {"Kustomization/flux-system/apps": "Suspended"}

    def test_a_suspended_helm_release_does_not_pass(self) -> None:
        report = judge(*cluster_with(fo.helm_release("podinfo", "podinfo", suspend=True)))
        assert reasons(report) == {"HelmRelease/podinfo/podinfo": "Suspended"}


class TestHelmReleases:
    def test_a_ready_and_released_helm_release_passes(self) -> None:
        assert judge(*cluster_with(fo.helm_release("podinfo", "podinfo"))).reconciled

    def test_a_failed_upgrade_fails_with_its_reason(self) -> None:
        release = fo.helm_release("podinfo", "podinfo", ready=False, released=False, reason="UpgradeFailed")
        assert reasons(judge(*cluster_with(release))) == {"HelmRelease/podinfo/podinfo": "UpgradeFailed"}

    def test_a_helm_release_that_was_never_released_does_not_pass(self) -> None:
        release = fo.helm_release("podinfo", "podinfo", released=None)
        assert reasons(judge(*cluster_with(release))) == {"HelmRelease/podinfo/podinfo": "NotReleased"}

    def test_a_stalled_helm_release_fails_as_stalled(self) -> None:
        release = fo.helm_release("podinfo", "podinfo", ready=False, released=False, stalled=True)
        assert reasons(judge(*cluster_with(release))) == {"HelmRelease/podinfo/podinfo": "Stalled"}

    def test_enabled_tests_must_have_succeeded(self) -> None:
        failed = fo.helm_release("podinfo", "podinfo", test_enable=True, test_success=False)
        pending = fo.helm_release("podinfo", "podinfo", test_enable=True)
        passed = fo.helm_release("podinfo", "podinfo", test_enable=True, test_success=True)
        assert reasons(judge(*cluster_with(failed))) == {"HelmRelease/podinfo/podinfo": "TestFailed"}
        assert reasons(judge(*cluster_with(pending))) == {"HelmRelease/podinfo/podinfo": "TestsPending"}
        assert judge(*cluster_with(passed)).reconciled

    def test_test_results_do_not_matter_when_tests_are_disabled(self) -> None:
        assert judge(*cluster_with(fo.helm_release("podinfo", "podinfo", test_success=False))).reconciled


class TestFluxItself:
    def test_missing_flux_apis_mean_flux_is_not_installed_yet(self) -> None:
        report = judge(*fo.flux_controllers(), missing=frozenset({"Kustomization", "GitRepository", "HelmRelease"}))
        assert not report.reconciled
        assert {f.reason for f in report.failures} == {"FluxNotInstalled"}
        assert any("kustomizations.kustomize.toolkit.fluxcd.io" in str(f.ref) for f in report.failures)

    def test_no_controller_deployments_mean_flux_is_not_installed(self) -> None:
        objs = [o for o in fo.reconciled_cluster(R1) if o["kind"] != "Deployment"]
        assert reasons(judge(*objs)) == {"Deployment/flux-system/kustomize-controller": "FluxNotInstalled"}

    def test_an_unavailable_controller_fails_the_slot(self) -> None:
        down = fo.deployment("kustomize-controller", available=0)
        report = judge(*cluster_with(down))
        assert reasons(report) == {"Deployment/flux-system/kustomize-controller": "ControllerUnavailable"}

    def test_a_controller_scaled_to_zero_fails_the_slot(self) -> None:
        report = judge(*cluster_with(fo.deployment("helm-controller", replicas=0)))
        assert reasons(report) == {"Deployment/flux-system/helm-controller": "ControllerUnavailable"}

    def test_only_the_controllers_present_are_required(self) -> None:
        objs = [o for o in fo.reconciled_cluster(R1) if o["metadata"]["name"] != "notification-controller"]
        assert judge(*objs).reconciled

    def test_other_deployments_in_flux_system_are_ignored(self) -> None:
        assert judge(*fo.reconciled_cluster(R1), fo.deployment("something-else", available=0)).reconciled

    def test_a_flux_instance_that_is_not_ready_fails_the_slot(self) -> None:
        instance = fo.flux_instance(ready=False, reason="ReconciliationFailed", message="sync failed")
        assert reasons(judge(*fo.reconciled_cluster(R1), instance)) == {
            "FluxInstance/flux-system/flux": "ReconciliationFailed"
        }
        assert judge(*fo.reconciled_cluster(R1), fo.flux_instance()).reconciled

    def test_a_flux_report_that_is_not_ready_fails_the_slot(self) -> None:
        assert not judge(*fo.reconciled_cluster(R1), fo.flux_report(ready=None)).reconciled
        assert judge(*fo.reconciled_cluster(R1), fo.flux_report()).reconciled

    def test_a_cluster_with_flux_but_no_kustomization_has_nothing_to_pass_yet(self) -> None:
        report = judge(*fo.flux_controllers())
        assert reasons(report) == {"Kustomization/*/*": "NothingToCheck"}


class TestScope:
    def test_objects_outside_the_configured_namespaces_are_ignored(self) -> None:
        broken = fo.helm_release("podinfo", "podinfo", ready=False, released=False)
        settings = HealthSettings(namespaces=frozenset({"flux-system"}))
        report = judge(*cluster_with(broken), settings=settings)
        assert report.reconciled, summary(report)
        assert ObjectRef("HelmRelease", "podinfo", "podinfo") not in report.ready

    def test_named_kustomizations_limit_the_scope_to_them(self) -> None:
        stale = fo.kustomization("apps", applied=R2)
        settings = HealthSettings(kustomizations=frozenset({"flux-system/flux-system"}))
        assert judge(*cluster_with(stale), settings=settings).reconciled

    def test_a_named_object_that_does_not_exist_fails(self) -> None:
        settings = HealthSettings(
            kustomizations=frozenset({"flux-system/flux-system", "flux-system/search"}),
            helm_releases=frozenset({"podinfo/podinfo", "search/elastic"}),
        )
        report = judge(*fo.reconciled_cluster(R1), settings=settings)
        assert reasons(report) == {
            "Kustomization/flux-system/search": "NotFound",
            "HelmRelease/search/elastic": "NotFound",
        }

    def test_the_flux_namespace_is_configurable(self) -> None:
        settings = HealthSettings(flux_namespace="gitops")
        objs = [o for o in fo.reconciled_cluster(R1) if o["kind"] != "Deployment"]
        assert judge(*objs, *fo.flux_controllers("gitops"), settings=settings).reconciled
        assert not judge(*fo.reconciled_cluster(R1), settings=settings).reconciled
