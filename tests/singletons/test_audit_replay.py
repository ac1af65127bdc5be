"""The audit-log replay the kill test judges by: writes in, running intervals and overlaps out."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from tests.singletons.audit_replay import both_ran, read_log, replay, running_now

CRON = "CronJob jobs/billing"
DEPLOY = "Deployment jobs/consumer"


def _at(second: int) -> str:
    return datetime(2026, 1, 1, 0, 0, second, 123456, tzinfo=UTC).isoformat().replace("+00:00", "Z")


def event(second: int, resource: str, name: str, spec: dict[str, Any] | None, *, verb: str = "patch",
          code: int = 200, uri: str = "/apis/x", stage: str = "ResponseComplete", subresource: str = "") -> str:
    ref = {"resource": resource, "namespace": "jobs", "name": name, **({"subresource": subresource} if subresource
                                                                         else {})}
    body = None if spec is None else {"kind": "X", "spec": spec}
    return json.dumps({"kind": "Event", "stage": stage, "verb": verb, "requestURI": uri, "objectRef": ref,
                       "responseStatus": {"code": code}, "responseObject": body, "stageTimestamp": _at(second)})


def test_a_cronjob_runs_unless_suspended_and_a_deployment_while_it_has_replicas() -> None:
    lines = [
        event(1, "cronjobs", "billing", {"suspend": False}, verb="create"),
        event(2, "deployments", "consumer", {"replicas": 2}, verb="create"),
        event(3, "cronjobs", "billing", {"suspend": True}),
        event(4, "deployments", "consumer", {"replicas": 0}),
        event(5, "deployments", "consumer", {}),  # replicas defaults to 1
    ]
    intervals = replay(read_log(lines, "1-blue", "blue"), {})
    spans = [(i.key, i.start.second, i.end.second if i.end else None) for i in intervals]
    assert spans == [(CRON, 1, 3), (DEPLOY, 2, 4), (DEPLOY, 5, None)]
    assert running_now(intervals) == {"blue": {DEPLOY}}


def test_dry_runs_refused_writes_subresources_and_early_stages_change_nothing() -> None:
    lines = [
        event(1, "cronjobs", "billing", {"suspend": False}, uri="/apis/batch/v1/x?dryRun=All&fieldManager=k"),
        event(2, "cronjobs", "billing", {"suspend": False}, code=409),
        event(3, "cronjobs", "billing", {"suspend": False}, stage="ResponseStarted"),
        event(4, "deployments", "consumer", {"replicas": 3}, subresource="status"),
        event(5, "configmaps", "billing", {"suspend": False}),
        event(6, "cronjobs", "billing", {"suspend": False}, verb="get"),
        "",
    ]
    assert read_log(lines, "1-blue", "blue") == []


def test_a_deleted_object_or_a_destroyed_cluster_stops_running() -> None:
    blue = read_log([event(1, "cronjobs", "billing", {"suspend": False}, verb="create"),
                     event(4, "cronjobs", "billing", None, verb="delete")], "1-blue", "blue")
    green = read_log([event(2, "cronjobs", "billing", {}, verb="create")], "2-green", "green")
    ended = {"2-green": datetime.fromisoformat(_at(6))}
    spans = [(i.slot, i.start.second, i.end.second if i.end else None) for i in replay(blue + green, ended)]
    assert spans == [("blue", 1, 4), ("green", 2, 6)]


def test_both_slots_running_at_once_is_found_and_a_clean_handoff_is_not() -> None:
    blue = read_log([event(1, "cronjobs", "billing", {}, verb="create"),
                     event(5, "cronjobs", "billing", {"suspend": True})], "1-blue", "blue")
    late = read_log([event(6, "cronjobs", "billing", {}, verb="create")], "2-green", "green")
    early = read_log([event(4, "cronjobs", "billing", {}, verb="create")], "2-green", "green")

    assert both_ran(replay(blue + late, {}), CRON) == []
    (pair,) = both_ran(replay(blue + early, {}), CRON)
    assert {pair[0].slot, pair[1].slot} == {"blue", "green"}
    assert both_ran(replay(blue + early, {}), DEPLOY) == []


def test_two_clusters_of_one_slot_in_turn_are_not_an_overlap() -> None:
    first = read_log([event(1, "cronjobs", "billing", {}, verb="create")], "1-green", "green")
    second = read_log([event(8, "cronjobs", "billing", {}, verb="create")], "3-green", "green")
    intervals = replay(first + second, {"1-green": datetime.fromisoformat(_at(5))})
    assert both_ran(intervals, CRON) == []
    assert running_now(intervals) == {"green": {CRON}}
