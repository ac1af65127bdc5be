"""Each tenant with a contact is told its own story when a run ends, through the outbox, over real HTTP.

The cutover runs on the in-memory fakes; the tenant's contact is a real
receiver on 127.0.0.1. What is checked: the message reaches that tenant's
contacts only, says how the run ended for it, is logged in the history like
every delivery, and a story that cannot be told never fails the cutover.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fleet.adapters.notify.outbox import STORY, DeliveryPolicy, Tee, WebhookOutbox
from fleet.adapters.notify.tenants import TenantMessenger
from fleet.adapters.notify.webhook import UrllibWebhook
from fleet.config import EnvironmentConfig
from fleet.domain.cutover import EnvironmentState
from fleet.domain.health_settings import HealthSettings, TenantSpec
from fleet.domain.machine import Phase
from fleet.domain.tenants import TenantContact
from fleet.engine import DELIVERIES, Engine, RetryPolicy
from fleet.ports import Record, Target
from fleet.state.local import LocalStateStore
from fleet.wiring import notify_ports, tenant_messenger
from tests.fleetkit import ACTOR, NEW_VERSION, Fleet, environment
from tests.notify.receiver import receiver

FAST = DeliveryPolicy(timeout_s=0.5, attempts=3, budget_s=2.0, backoff_s=0.05, flush_s=3.0)
SETTINGS = HealthSettings(tenants=(TenantSpec("payments", namespaces=frozenset({"payments"})),
                                   TenantSpec("search", namespaces=frozenset({"search"}))))


def run(tmp_path: Path, url: str, *, fail_at: int | None = None, tenants: Any = None) -> tuple[Any, list[Record]]:
    fleet = Fleet()
    fleet.analysis.fail_at_weight = fail_at
    outbox = WebhookOutbox([Target("webhook", url + "/payments", events=frozenset({STORY}), tenant="payments"),
                            Target("webhook", url + "/ops", events=frozenset({"done"}))], UrllibWebhook(), FAST)
    ports = fleet.ports()
    ports.outbox = outbox
    ports.notifier = Tee(fleet.notifier, outbox)
    ports.tenants = tenants or TenantMessenger(
        outbox, SETTINGS, {"payments": TenantContact(webhook=url + "/payments")}, ["payments", "search"])
    store = LocalStateStore(tmp_path)
    engine = Engine(store, ports, retry=RetryPolicy(attempts=2, base_s=0.1, budget_s=5.0), actor=ACTOR)
    final = engine.cutover(environment(), NEW_VERSION)
    outbox.close()
    return final, store.history("local")


def test_a_tenant_contact_gets_its_own_story_of_a_completed_cutover_and_nothing_else(tmp_path: Path) -> None:
    with receiver() as r:
        final, records = run(tmp_path, r.url)
    assert final.cutover.phase is Phase.DONE
    mine = [b for p, b in zip(r.paths, r.bodies, strict=True) if p.endswith("/payments")]
    assert len(mine) == 1, "one story, and no environment-wide notice, reaches the tenant's contact"
    story = mine[0]
    assert story["tenant"] == "payments" and story["kind"] == "done"
    assert "payments" in story["text"] and story["story"]["tenant"] == "payments"
    assert [p for p in r.paths if p.endswith("/ops")], "the environment's own target still gets its notice"
    logged = [d for rec in records if rec.event == DELIVERIES for d in rec.detail["deliveries"]]
    assert {"tenant": "payments", "status": "delivered", "kind": "done"}.items() <= next(
        d for d in logged if d["tenant"] == "payments").items()


def test_a_rolled_back_cutover_tells_the_tenant_it_was_rolled_back(tmp_path: Path) -> None:
    with receiver() as r:
        final, _ = run(tmp_path, r.url, fail_at=25)
    assert final.cutover.phase is Phase.ROLLED_BACK
    mine = [b for p, b in zip(r.paths, r.bodies, strict=True) if p.endswith("/payments")]
    assert [b["kind"] for b in mine] == ["rollback"]
    assert "ROLLED_BACK" in mine[0]["title"] or "ROLLED_BACK" in mine[0]["text"]


class Broken:
    def tell(self, state: EnvironmentState, records: Sequence[Record]) -> int:
        raise RuntimeError("no story today")


def test_a_story_that_cannot_be_told_does_not_fail_the_cutover(tmp_path: Path) -> None:
    with receiver() as r:
        final, _ = run(tmp_path, r.url, tenants=Broken())
    assert final.cutover.phase is Phase.DONE


def test_wiring_gives_a_tenant_contact_its_own_target_and_a_messenger(tmp_path: Path) -> None:
    config = EnvironmentConfig(
        name="local", file="stacks/Pulumi.local.yaml", version=environment().version,
        rollout=environment().rollout, teardown=environment().teardown, hostnames=("app.local.test",),
        traffic={"provider": "haproxy"},
        raw={"tenants": {"payments": {"namespaces": ["payments"],
                                            "contact": {"webhook": "http://127.0.0.1:9/hook"}}}},
    )
    outbox, _ = notify_ports(config, Fleet().notifier)
    assert outbox is not None
    assert [(t.tenant, t.events) for t in outbox.targets] == [("payments", frozenset({STORY}))]
    assert tenant_messenger(config, outbox) is not None
    outbox.close()
