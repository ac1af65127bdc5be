"""Which moments of a cutover become notifications, in order, for a DONE, a rolled back and a held cutover."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fleet.adapters.notify.outbox import DeliveryPolicy, Tee, WebhookOutbox
from fleet.domain.gates import GatePolicy
from fleet.engine import Engine
from fleet.ports import HookResult, Target
from fleet.state.local import LocalStateStore
from tests.fleetkit import ACTOR, NEW_VERSION, Fleet, environment
from tests.notify.fakes import RecordingWebhook


def run(tmp_path: Path, gates: GatePolicy | None = None, smoke: list[HookResult] | None = None) -> list[dict[str, Any]]:
    fleet = Fleet()
    webhook = RecordingWebhook()
    outbox = WebhookOutbox([Target("webhook", "http://receiver.invalid/")], webhook, DeliveryPolicy(flush_s=2.0))
    ports = fleet.ports()
    ports.notifier = Tee(fleet.notifier, outbox)
    ports.outbox = outbox
    if smoke is not None:
        answers = list(smoke)

        class Hooks:
            def smoke(self, env: str, slot: Any, step: int, percent: int) -> HookResult:
                return answers.pop(0) if answers else HookResult(True)

        ports.hooks = Hooks()
    Engine(LocalStateStore(tmp_path), ports, actor=ACTOR).cutover(environment(), NEW_VERSION, gates=gates)
    outbox.flush(2.0)
    outbox.close()
    return [body for _, body in webhook.posts]


def test_a_done_cutover_tells_each_phase_then_done(tmp_path: Path) -> None:
    sent = run(tmp_path)
    assert [(b["kind"], b["cutover"]["phase"]) for b in sent] == [
        ("phase", "PROVISION"), ("phase", "BOOTSTRAP"), ("phase", "WAIT_HEALTHY"), ("phase", "VERIFY_PARITY"),
        ("phase", "SHIFT"), ("phase", "BAKE"), ("phase", "TEARDOWN_OLD"), ("done", "DONE"),
    ]
    assert len({b["id"] for b in sent}) == len(sent)


def test_a_rollback_tells_why(tmp_path: Path) -> None:
    sent = run(tmp_path, GatePolicy(smoke=True), [HookResult(True), HookResult(False, "api: HTTP 500")])
    rollbacks = [b for b in sent if b["kind"] == "rollback"]
    assert [b["cutover"]["phase"] for b in rollbacks] == ["ROLLING_BACK", "ROLLED_BACK"]
    assert "pre-shift smoke test failed before step 2 (25%): api: HTTP 500" in rollbacks[-1]["text"]


def test_a_step_held_for_approval_tells_who_must_act(tmp_path: Path) -> None:
    sent = run(tmp_path, GatePolicy(approve=(2,)))
    assert sent[-1]["kind"] == "waiting"
    wanted = "waits for a person: step 2 (25%) waits for approval: fleet approve local --step 2"
    assert sent[-1]["text"].endswith(wanted)
