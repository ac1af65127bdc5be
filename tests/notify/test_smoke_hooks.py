"""Pre-shift smoke tests over real HTTP on 127.0.0.1: 2xx passes, anything else rolls the cutover back."""

from __future__ import annotations

from pathlib import Path

from fleet.adapters.notify.hooks import HOOK_SCHEMA, HttpHooks
from fleet.adapters.notify.webhook import UrllibWebhook
from fleet.domain.gates import GatePolicy
from fleet.domain.machine import Phase
from fleet.domain.model import SlotName, Weights
from fleet.notify_settings import Hook
from fleet.state.local import LocalStateStore
from tests.fleetkit import NEW_VERSION, Fleet, environment
from tests.notify.receiver import receiver, refused_url


def test_a_2xx_passes_and_the_hook_is_told_the_step() -> None:
    with receiver() as r:
        result = HttpHooks([Hook("api", r.url, tenant="payments")], UrllibWebhook()).smoke(
            "local", SlotName.GREEN, 2, 25)
    assert result.ok
    assert r.bodies == [{"schema": HOOK_SCHEMA, "type": "pre-shift", "env": "local", "slot": "green", "step": 2,
                         "percent": 25, "tenant": "payments", "hook": "api"}]


def test_an_error_a_slow_answer_and_a_refusal_each_fail_with_the_hook_named() -> None:
    webhook = UrllibWebhook()
    with receiver([("fail", 503), ("slow", 1.0)]) as r:
        failed = HttpHooks([Hook("api", r.url, tenant="payments")], webhook).smoke("local", SlotName.GREEN, 1, 10)
        slow = HttpHooks([Hook("api", r.url, timeout_s=0.3)], webhook).smoke("local", SlotName.GREEN, 1, 10)
    refused = HttpHooks([Hook("db", refused_url())], webhook).smoke("local", SlotName.GREEN, 1, 10)

    assert not failed.ok and failed.reason.startswith("api (tenant payments): ") and "HTTP 503" in failed.reason
    assert not slow.ok and "did not answer within 0.3s" in slow.reason
    assert not refused.ok and refused.reason.startswith("db: ") and "refused" in refused.reason.lower()


def test_a_failing_smoke_test_on_a_real_receiver_rolls_back_before_the_weight_moves(tmp_path: Path) -> None:
    fleet = Fleet()
    store = LocalStateStore(tmp_path)
    engine = fleet.engine(store)
    with receiver([("ok", 0), ("fail", 500)]) as r:
        engine.ports.hooks = HttpHooks([Hook("checkout", r.url, tenant="payments")], UrllibWebhook())
        final = engine.cutover(environment(), NEW_VERSION, gates=GatePolicy(smoke=True))

    assert final.cutover is not None and final.cutover.phase is Phase.ROLLED_BACK
    assert "pre-shift smoke test failed before step 2 (25%): checkout (tenant payments)" in (final.cutover.reason or "")
    assert [b["step"] for b in r.bodies] == [1, 2]
    assert max(w["green"] for w in fleet.world.weight_changes) == 10
    assert final.weights == Weights(blue=100, green=0)
