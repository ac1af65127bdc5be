"""Health once traffic moves, and parity on what runs: judged by the pure core on real Flux statuses.

Reports are built by the gate's own rules (``evaluate``) from objects in the
states Flux writes (``fleet.rehearsal.flux_objects``), then handed to the
transition function, so these tests cover the decision end to end without
a cluster.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from fleet.domain.health import Snapshot, applied_revisions, evaluate, judge_live
from fleet.domain.invariants import violations
from fleet.domain.machine import (
    CheckHealth,
    CheckParity,
    EnvironmentState,
    Event,
    HealthReported,
    ParityObserved,
    Phase,
    SetWeights,
    TimerFired,
    WaitUntil,
    pending,
    transition,
)
from fleet.domain.model import HealthPolicy, ParityMode, SlotName, Weights
from fleet.domain.reports import HealthReport, ObjectFailure, compare_parity
from fleet.rehearsal import flux_objects as fo
from tests.domain.test_transitions import ROLLOUT, reach

R1 = fo.revision("1")
R2 = fo.revision("2")
GRACE = 180.0


def judge(objs: list[dict[str, Any]], slot: SlotName = SlotName.GREEN) -> HealthReport:
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for obj in objs:
        by_kind.setdefault(obj["kind"], []).append(obj)
    return evaluate(slot, Snapshot(objects=by_kind))


def cluster(rev: str = R1, *, chart: str = "6.5.0", digest: str = "sha256:" + "a" * 64, **extra: Any) -> list[Any]:
    objs = [
        *fo.flux_controllers(),
        fo.git_repository(rev=rev),
        fo.kustomization("flux-system", applied=rev),
        fo.kustomization("apps", applied=rev, depends_on=("flux-system",), path="./apps"),
        fo.helm_release("podinfo", "podinfo", chart_version=chart, chart_range="6.x", values_digest=digest),
    ]
    replaced = {(o["kind"], o["metadata"]["namespace"], o["metadata"]["name"]): o for o in objs}
    for obj in extra.get("objects", ()):
        replaced[(obj["kind"], obj["metadata"]["namespace"], obj["metadata"]["name"])] = obj
    return list(replaced.values())


FAILED_RELEASE = fo.helm_release("podinfo", "podinfo", ready=False, released=False, reason="UpgradeFailed")


def apps(**kw: Any) -> dict[str, Any]:
    kw.setdefault("applied", R1)
    return fo.kustomization("apps", depends_on=("flux-system",), path="./apps", **kw)


def step(state: EnvironmentState, event: Event) -> EnvironmentState:
    result = transition(state, event)
    assert violations(state, result.state, result.commands, event.at) == []
    return result.state


def with_health(state: EnvironmentState, **changes: Any) -> EnvironmentState:
    assert state.cutover is not None
    rollout = replace(state.cutover.rollout, health=replace(state.cutover.rollout.health, **changes))
    return replace(state, cutover=replace(state.cutover, rollout=rollout))


def verified_at(phase: Phase, **kw: Any) -> EnvironmentState:
    """The happy path at ``phase``, verified on the reports ``cluster()`` gives (not the table's stand-ins)."""
    state = reach(phase, **kw)
    assert state.cutover is not None
    return replace(state, cutover=replace(state.cutover, revisions=applied_revisions(judge(cluster()))))


def now(state: EnvironmentState) -> float:
    assert state.cutover is not None
    return state.cutover.updated_at + 1


# --- the classification of a verified slot's report ------------------------------------------------


class TestARoutineReconcileIsNotARegression:
    verified = applied_revisions(judge(cluster()))

    def test_ready_unknown_reconciling_at_the_same_revision_is_in_progress(self) -> None:
        report = judge(cluster(objects=[apps(ready=None)]))
        assert not report.reconciled
        assert not judge_live(report, self.verified, GRACE).regressed

    def test_dependency_not_ready_while_the_dependency_reconciles_is_in_progress(self) -> None:
        report = judge(cluster(objects=[apps(ready=False, reason="DependencyNotReady")]))
        assert not judge_live(report, self.verified, GRACE).regressed

    def test_a_reconcile_longer_than_the_grace_is_a_regression(self) -> None:
        report = judge(cluster(objects=[apps(ready=None)]))
        lasting = replace(report, failures=tuple(replace(f, for_s=GRACE) for f in report.failures))
        judgement = judge_live(lasting, self.verified, GRACE)
        assert judgement.regressed and "grace 180s" in judgement.reason

    @pytest.mark.parametrize(
        ("obj", "reason"),
        [
            (apps(ready=False, reason="HealthCheckFailed"), "HealthCheckFailed"),
            (apps(ready=False, stalled=True, reason="BuildFailed"), "Stalled"),
            (apps(suspend=True), "Suspended"),
            (FAILED_RELEASE, "UpgradeFailed"),
            (fo.helm_release("podinfo", "podinfo", test_enable=True, test_success=False), "TestFailed"),
        ],
        ids=["ready-false", "stalled", "suspended", "release-failed", "test-failed"],
    )
    def test_failures_that_are_not_in_progress_are_regressions_at_once(self, obj: Any, reason: str) -> None:
        judgement = judge_live(judge(cluster(objects=[obj])), self.verified, GRACE)
        assert judgement.regressed and reason in judgement.reason

    def test_a_kustomization_applying_another_revision_is_a_regression(self) -> None:
        moved = judge(cluster(objects=[fo.git_repository(rev=R2), fo.kustomization("flux-system", applied=R2)]))
        judgement = judge_live(moved, self.verified, GRACE)
        assert judgement.regressed and "moved from" in judgement.reason

    def test_a_new_commit_fetched_but_not_yet_applied_is_in_progress(self) -> None:
        fetched = judge(cluster(objects=[fo.git_repository(rev=R2)]))
        assert not judge_live(fetched, self.verified, GRACE).regressed


# --- the machine in SHIFT and BAKE -----------------------------------------------------------------


class TestShiftAndBake:
    def test_a_flap_at_the_check_before_an_increase_does_not_stop_the_increase(self) -> None:
        state = verified_at(Phase.SHIFT, weight=10)
        state = step(state, _analysis_pass(state))
        assert isinstance(pending(state), CheckHealth)
        flapping = judge(cluster(objects=[apps(ready=None)]))
        state = step(state, HealthReported(at=now(state), report=flapping))
        assert state.cutover is not None and state.cutover.phase is Phase.SHIFT
        assert pending(state) == SetWeights(Weights.split(SlotName.GREEN, 50))

    def test_ready_false_at_the_check_rolls_back_before_the_increase(self) -> None:
        state = verified_at(Phase.SHIFT, weight=10)
        state = step(state, _analysis_pass(state))
        broken = judge(cluster(objects=[apps(ready=False, reason="HealthCheckFailed")]))
        state = step(state, HealthReported(at=now(state), report=broken))
        assert state.cutover is not None and state.cutover.phase is Phase.ROLLING_BACK
        assert pending(state) == SetWeights(Weights.all_to(SlotName.BLUE))

    def test_a_flap_during_the_bake_keeps_baking_and_the_bake_ends_in_teardown(self) -> None:
        state = verified_at(Phase.BAKE)
        c = state.cutover
        assert c is not None and c.teardown_due is not None
        assert pending(state) == WaitUntil(c.teardown_due, watch=SlotName.GREEN)
        flapping = judge(cluster(objects=[apps(ready=None)]))
        state = step(state, HealthReported(at=now(state), report=flapping))
        assert state.cutover is not None and state.cutover.phase is Phase.BAKE
        state = step(state, TimerFired(at=c.teardown_due, report=flapping))
        assert state.cutover is not None and state.cutover.phase is Phase.TEARDOWN_OLD

    def test_a_persistent_ready_false_during_the_bake_rolls_back(self) -> None:
        state = verified_at(Phase.BAKE)
        broken = judge(cluster(objects=[FAILED_RELEASE]))
        state = step(state, HealthReported(at=now(state), report=broken))
        c = state.cutover
        assert c is not None and c.phase is Phase.ROLLING_BACK
        assert "green became unhealthy" in (c.reason or "") and "UpgradeFailed" in (c.reason or "")

    def test_a_regression_found_as_the_bake_ends_still_rolls_back(self) -> None:
        state = verified_at(Phase.BAKE)
        c = state.cutover
        assert c is not None and c.teardown_due is not None
        broken = judge(cluster(objects=[apps(suspend=True)]))
        state = step(state, TimerFired(at=c.teardown_due, report=broken))
        assert state.cutover is not None and state.cutover.phase is Phase.ROLLING_BACK

    def test_a_revision_moving_away_during_the_bake_rolls_back(self) -> None:
        state = verified_at(Phase.BAKE)
        moved = judge(cluster(R2))
        state = step(state, HealthReported(at=now(state), report=moved))
        c = state.cutover
        assert c is not None and c.phase is Phase.ROLLING_BACK and "moved from" in (c.reason or "")

    def test_the_grace_is_the_configured_one(self) -> None:
        state = with_health(verified_at(Phase.BAKE), regression_grace_s=30.0)
        report = judge(cluster(objects=[apps(ready=None)]))
        at_35s = replace(report, failures=tuple(replace(f, for_s=35.0) for f in report.failures))
        state = step(state, HealthReported(at=now(state), report=at_35s))
        assert state.cutover is not None and state.cutover.phase is Phase.ROLLING_BACK


def _analysis_pass(state: EnvironmentState) -> Event:
    from fleet.domain.machine import AnalysisCompleted
    from fleet.domain.reports import Evidence, Outcome, Verdict

    evidence = Evidence(500, 0, 60.0, success_rate=100.0, source="t")
    return AnalysisCompleted(at=now(state), verdict=Verdict(Outcome.PASS, evidence, "ok"))


# --- parity ---------------------------------------------------------------------------------------


class TestChartDrift:
    def test_blue_at_6_5_0_and_green_at_6_6_0_is_refused_under_strict(self) -> None:
        blue, green = judge(cluster(chart="6.5.0"), SlotName.BLUE), judge(cluster(chart="6.6.0"))
        assert blue.reconciled and green.reconciled
        parity = compare_parity(blue, green, strict=True)
        assert [line for line in parity.blocking if "HelmRelease/podinfo/podinfo" in line] == [
            "HelmRelease/podinfo/podinfo: chart podinfo@6.5.0 values sha256:aaaaaaaaaaaa on blue, "
            "chart podinfo@6.6.0 values sha256:aaaaaaaaaaaa on green"
        ]

    def test_the_other_direction_is_refused_too(self) -> None:
        blue, green = judge(cluster(chart="6.6.0"), SlotName.BLUE), judge(cluster(chart="6.5.0"))
        assert compare_parity(blue, green, strict=True).blocking

    def test_warn_reports_the_drift_and_lets_traffic_move(self) -> None:
        blue, green = judge(cluster(chart="6.5.0"), SlotName.BLUE), judge(cluster(chart="6.6.0"))
        parity = compare_parity(blue, green, strict=False)
        assert parity.ok
        assert any("6.5.0" in line and "6.6.0" in line for line in parity.accepted)

    def test_different_values_are_drift(self) -> None:
        blue = judge(cluster(digest="sha256:" + "a" * 64), SlotName.BLUE)
        green = judge(cluster(digest="sha256:" + "b" * 64))
        assert compare_parity(blue, green).blocking

    def test_an_older_helm_controller_is_read_from_last_applied_revision(self) -> None:
        legacy = fo.helm_release("podinfo", "podinfo", chart_version="6.6.0", legacy=True)
        assert "history" not in legacy["status"]
        blue = judge(cluster(objects=[fo.helm_release("podinfo", "podinfo", legacy=True)]), SlotName.BLUE)
        green = judge(cluster(objects=[legacy]))
        assert any("6.6.0" in line for line in compare_parity(blue, green).blocking)

    def test_the_machine_fails_strict_drift_and_accepts_warned_drift(self) -> None:
        blue, green = judge(cluster(chart="6.5.0"), SlotName.BLUE), judge(cluster(chart="6.6.0"))
        strict = reach(Phase.VERIFY_PARITY)
        failed = step(strict, ParityObserved(at=now(strict), old=blue, new=green))
        assert failed.cutover is not None and failed.cutover.phase is Phase.FAILED
        assert "chart podinfo@6.5.0" in (failed.cutover.reason or "")
        warn = with_health(reach(Phase.VERIFY_PARITY), parity=ParityMode.WARN)
        shifted = step(warn, ParityObserved(at=now(warn), old=blue, new=green))
        assert shifted.cutover is not None and shifted.cutover.phase is Phase.SHIFT
        assert "accepted drift" in (shifted.cutover.reason or "")


class TestDirectionalParity:
    def test_extra_healthy_objects_on_the_new_slot_are_fine(self) -> None:
        blue = judge(cluster(), SlotName.BLUE)
        green = judge([*cluster(), fo.kustomization("search", applied=R1, path="./search")])
        assert compare_parity(blue, green).ok

    def test_a_broken_object_on_blue_that_green_fixed_is_fine(self) -> None:
        blue = judge(cluster(objects=[apps(ready=False, reason="HealthCheckFailed")]), SlotName.BLUE)
        green = judge(cluster())
        assert compare_parity(blue, green).ok

    def test_an_object_ready_on_blue_and_missing_on_green_is_refused(self) -> None:
        blue = judge([*cluster(), fo.kustomization("search", applied=R1, path="./search")], SlotName.BLUE)
        parity = compare_parity(blue, judge(cluster()))
        assert parity.blocking == ("Kustomization/flux-system/search: Ready on blue but not on green: missing",)

    def test_an_object_ready_on_blue_and_failing_on_green_is_refused(self) -> None:
        blue = judge(cluster(), SlotName.BLUE)
        green = judge(cluster(objects=[apps(ready=False, reason="HealthCheckFailed")]))
        blocking = compare_parity(blue, green).blocking
        assert any("but not on green: HealthCheckFailed" in line for line in blocking)

    def test_an_object_mid_reconcile_on_green_is_waited_for(self) -> None:
        parity = compare_parity(judge(cluster(), SlotName.BLUE), judge(cluster(objects=[apps(ready=None)])))
        assert not parity.blocking and parity.waiting

    @pytest.mark.parametrize(
        "source",
        [
            lambda rev: fo.helm_repository("podinfo", "podinfo", index_rev=rev),
            lambda rev: fo.helm_chart("podinfo-podinfo", "podinfo", version=rev),
        ],
        ids=["HelmRepository", "HelmChart"],
    )
    def test_every_source_kind_is_compared_by_its_artifact_revision(self, source: Any) -> None:
        blue = judge([*cluster(), source("sha256:" + "1" * 64)], SlotName.BLUE)
        green = judge([*cluster(), source("sha256:" + "2" * 64)])
        parity = compare_parity(blue, green)
        assert any(line.startswith(source("x")["kind"]) for line in parity.waiting)

    def test_a_bucket_source_is_read(self) -> None:
        objs = [
            *cluster(),
            fo.bucket("manifests"),
            fo.kustomization("from-bucket", applied="sha256:" + "2" * 64, source=("Bucket", "manifests")),
        ]
        report = judge(objs)
        assert report.reconciled
        assert any(ref.kind == "Bucket" for ref in report.ready)


class TestACommitDuringTheWait:
    def test_slots_at_different_revisions_wait_then_pass_once_both_applied_the_commit(self) -> None:
        state = reach(Phase.VERIFY_PARITY)
        blue, green = judge(cluster(R1), SlotName.BLUE), judge(cluster(R2))
        state = step(state, ParityObserved(at=now(state), old=blue, new=green))
        c = state.cutover
        assert c is not None and c.phase is Phase.VERIFY_PARITY
        assert "waiting for both slots to settle" in (c.reason or "")
        command = pending(state)
        assert isinstance(command, CheckParity) and command.not_before > c.updated_at
        state = step(state, ParityObserved(at=command.not_before, old=judge(cluster(R2), SlotName.BLUE),
                                           new=judge(cluster(R2))))
        assert state.cutover is not None and state.cutover.phase is Phase.SHIFT
        assert state.cutover.revisions["flux-system/flux-system"] == R2

    def test_slots_that_never_settle_fail_after_the_health_timeout_naming_each_difference(self) -> None:
        state = reach(Phase.VERIFY_PARITY)
        assert state.cutover is not None
        late = state.cutover.phase_since + ROLLOUT.health_timeout_s
        state = step(state, ParityObserved(at=late, old=judge(cluster(R1), SlotName.BLUE), new=judge(cluster(R2))))
        c = state.cutover
        assert c is not None and c.phase is Phase.FAILED
        assert "not settled after 600s" in (c.reason or "")
        assert "Kustomization/flux-system/apps" in (c.reason or "")


def test_a_failure_without_a_measured_duration_is_never_persistent() -> None:
    report = judge(cluster(objects=[apps(ready=None)]))
    assert all(isinstance(f, ObjectFailure) and f.for_s is None for f in report.failures)
    assert not judge_live(report, {}, 0.0).regressed
    assert HealthPolicy().regression_grace_s == GRACE


def test_what_was_verified_and_the_health_policy_survive_the_state_file() -> None:
    from fleet.state.codec import dump_state, load_state

    state = with_health(verified_at(Phase.SHIFT, weight=10), regression_grace_s=45.0, parity=ParityMode.WARN)
    assert state.cutover is not None
    state = replace(state, cutover=replace(state.cutover, health_checked=True, parity_retry_at=1234.5))
    again = load_state(dump_state(state), file="state.json")
    assert again.cutover == state.cutover
