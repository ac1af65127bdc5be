"""Notifications reach a real HTTP receiver on 127.0.0.1; one that fails, stalls or refuses costs the cutover nothing.

The cutover runs on the in-memory fakes (minutes in milliseconds) while the
outbox posts over real sockets with urllib: what is measured is how long
the engine's own calls to its notifier take and whether the cutover ends
DONE, with the delivery log in the history.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]

from fleet.adapters.notify.outbox import DeliveryPolicy, Tee, WebhookOutbox
from fleet.adapters.notify.webhook import UrllibWebhook
from fleet.domain.machine import Phase
from fleet.domain.notices import SCHEMA
from fleet.engine import DELIVERIES, Engine, RetryPolicy
from fleet.ports import Notice, Target
from fleet.state.local import LocalStateStore
from tests.fleetkit import ACTOR, NEW_VERSION, Fleet, environment
from tests.notify.receiver import receiver, refused_url

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "docs" / "notification.schema.json"
FAST = DeliveryPolicy(timeout_s=0.5, attempts=3, budget_s=2.0, backoff_s=0.05, flush_s=3.0)


class TimedOutbox:
    """Measures how long each of the engine's calls to the outbox's notify takes."""

    def __init__(self, outbox: WebhookOutbox) -> None:
        self.outbox = outbox
        self.slowest = 0.0

    def notify(self, notice: Notice) -> None:
        started = time.perf_counter()
        self.outbox.notify(notice)
        self.slowest = max(self.slowest, time.perf_counter() - started)


def run_cutover(
    tmp_path: Path, targets: list[Target], policy: DeliveryPolicy = FAST
) -> tuple[Any, list[Any], float, float]:
    fleet = Fleet()
    outbox = WebhookOutbox(targets, UrllibWebhook(), policy)
    timed = TimedOutbox(outbox)
    ports = fleet.ports()
    ports.notifier = Tee(fleet.notifier, timed)
    ports.outbox = outbox
    store = LocalStateStore(tmp_path)
    engine = Engine(store, ports, retry=RetryPolicy(attempts=2, base_s=0.1, budget_s=5.0), actor=ACTOR)
    started = time.monotonic()
    final = engine.cutover(environment(), NEW_VERSION)
    elapsed = time.monotonic() - started
    outbox.close()
    return final, store.history("local"), elapsed, timed.slowest


def deliveries(records: list[Any]) -> list[Mapping[str, Any]]:
    return [d for r in records if r.event == DELIVERIES for d in r.detail["deliveries"]]


def test_a_receiver_that_fails_once_gets_every_notification_on_the_second_try(tmp_path: Path) -> None:
    with receiver([("fail", 500)]) as r:
        final, records, _, slowest = run_cutover(tmp_path, [Target("webhook", r.url, name="ci")])

    assert final.cutover.phase is Phase.DONE
    kinds = [b["kind"] for b in r.bodies]
    assert kinds[0] == "phase" and kinds[-1] == "done"
    assert "rollback" not in kinds
    log = deliveries(records)
    sent = [b["id"] for b in r.bodies]
    assert sent[0] == sent[1], "the first notification was posted twice: failed, then delivered"
    assert [d["status"] for d in log] == ["delivered"] * len(set(sent))
    assert log[0]["attempts"] == 2 and all(d["attempts"] == 1 for d in log[1:])
    assert [d["id"] for d in log] == sent[1:]
    assert slowest < 0.05, f"the engine waited {slowest:.3f}s on its notifier"


def test_every_payload_follows_the_published_schema(tmp_path: Path) -> None:
    schema = json.loads(SCHEMA_FILE.read_text())
    with receiver() as r:
        run_cutover(tmp_path, [Target("webhook", r.url), Target("webhook", r.url, tenant="payments",
                                                                   events=frozenset({"done", "step"}))])
    assert r.bodies
    for body in r.bodies:
        jsonschema.validate(body, schema)
        assert body["schema"] == SCHEMA
    tenant = [b for b in r.bodies if b["tenant"] == "payments"]
    assert {b["kind"] for b in tenant} == {"done", "step"}
    assert [b["cutover"]["step"] for b in tenant if b["kind"] == "step"] == [1, 2, 3, 4]


def test_slack_gets_a_text_message(tmp_path: Path) -> None:
    with receiver() as r:
        run_cutover(tmp_path, [Target("slack", r.url, events=frozenset({"done"}))])
    assert len(r.bodies) == 1
    assert set(r.bodies[0]) == {"text"}
    assert "local: cutover blue -> green (1.30) is DONE" in r.bodies[0]["text"]


def test_a_receiver_that_answers_slowly_neither_blocks_nor_fails_the_cutover(tmp_path: Path) -> None:
    slow = [("slow", 1.5)] * 40
    with receiver(slow) as r:
        final, records, elapsed, slowest = run_cutover(tmp_path, [Target("webhook", r.url, name="slow")])

    assert final.cutover.phase is Phase.DONE
    assert slowest < 0.05, f"the engine waited {slowest:.3f}s on its notifier"
    assert elapsed < FAST.flush_s + 1.5, "the end of the run waits at most flush_s for deliveries in flight"
    log = deliveries(records)
    assert log and all(d["status"] in ("failed", "abandoned") for d in log)
    failed = [d for d in log if d["status"] == "failed"]
    assert failed and "did not answer within" in failed[0]["error"]
    assert any(d["status"] == "abandoned" for d in log)


def test_a_refused_connection_is_retried_then_logged_and_the_cutover_completes(tmp_path: Path) -> None:
    final, records, _, slowest = run_cutover(tmp_path, [Target("webhook", refused_url(), name="down")])

    assert final.cutover.phase is Phase.DONE
    assert slowest < 0.05
    log = deliveries(records)
    assert log and all(d["status"] in ("failed", "abandoned") for d in log)
    first = log[0]
    assert first["status"] == "failed" and first["attempts"] == FAST.attempts
    assert "refused" in first["error"].lower()


def test_a_client_error_is_not_retried(tmp_path: Path) -> None:
    with receiver([("fail", 404)]) as r:
        _, records, _, _ = run_cutover(tmp_path, [Target("webhook", r.url, events=frozenset({"done"}))])
    log = deliveries(records)
    assert log == [{"id": log[0]["id"], "kind": "done", "target": f"webhook {r.url}", "tenant": None,
                    "status": "failed", "attempts": 1, "http": None, "error": log[0]["error"]}]
    assert "HTTP 404" in log[0]["error"]


def test_no_outbox_no_delivery_records(tmp_path: Path) -> None:
    fleet = Fleet()
    store = LocalStateStore(tmp_path)
    fleet.engine(store).cutover(environment(), NEW_VERSION)
    assert not deliveries(store.history("local"))


def test_a_message_composed_for_a_tenant_goes_to_that_tenants_contacts_only() -> None:
    with receiver() as r:
        outbox = WebhookOutbox([Target("webhook", r.url + "/payments", tenant="payments"),
                                Target("slack", r.url + "/search", tenant="search"),
                                Target("webhook", r.url + "/platform")], UrllibWebhook(), FAST)
        queued = outbox.to_tenant("payments", "rollback", {"schema": SCHEMA, "id": "local/c1/9",
                                                           "text": "your checkout blocked the cutover"})
        outbox.flush(3.0)
        outbox.close()
    assert queued == 1
    assert r.paths == ["/hook/payments"]
    assert r.bodies[0]["tenant"] == "payments" and r.bodies[0]["kind"] == "rollback"
    assert [d["status"] for d in outbox.take()] == ["delivered"]
