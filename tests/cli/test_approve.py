"""``fleet approve``: a gated step holds the cutover with exit 4 until a person or a pipeline approves it."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from fleet.domain.gates import GatePolicy
from fleet.domain.machine import Phase
from fleet.domain.model import Weights
from fleet.errors import UsageError
from fleet.ports import HookResult
from fleet.state.local import LocalStateStore
from tests.fleetkit import NEW_VERSION, Fleet, environment

REPO = Path(__file__).resolve().parents[2]


def project_with_gates(tmp_path: Path, hooks: str) -> Path:
    project = tmp_path / "project"
    (project / "stacks").mkdir(parents=True)
    shutil.copy(REPO / "Pulumi.yaml", project / "Pulumi.yaml")
    stack = (REPO / "stacks" / "Pulumi.local.yaml").read_text()
    (project / "stacks" / "Pulumi.local.yaml").write_text(stack + hooks)
    return project


def test_a_gated_step_exits_4_and_fleet_approve_finishes_the_cutover(fleet: Any, tmp_path: Path) -> None:
    project = {"FLEET_PROJECT": str(project_with_gates(tmp_path, "  fleet:hooks:\n    approval: {steps: [2]}\n"))}
    state = str(tmp_path / "s")

    held = fleet("rehearse", "local", "--simulated", "--state", state, extra_env=project)
    assert held.code == 4, held.err
    assert "step 2 (25%) waits for approval: fleet approve local --step 2" in held.out

    status = fleet("status", "local", "--state", state, "--output", "json", extra_env=project)
    assert '"awaiting_approval": 2' in status.out

    still = fleet("resume", "local", "--state", state, extra_env=project)
    assert still.code == 4  # resume does not approve

    done = fleet("approve", "local", "--state", state, extra_env=project)
    assert done.code == 0, done.err
    assert "local: DONE" in done.out
    history = fleet("history", "local", "--state", state, "--output", "json", extra_env=project)
    assert '"StepApproved"' in history.out


def test_a_bad_gate_setting_is_a_configuration_error(fleet: Any, tmp_path: Path) -> None:
    project = {"FLEET_PROJECT": str(project_with_gates(tmp_path, "  fleet:hooks:\n    approval: {steps: [0]}\n"))}
    bad = fleet("validate", "local", extra_env=project)
    assert bad.code == 2
    assert "fleet:hooks.approval.steps" in bad.out + bad.err


class Smoke:
    def __init__(self, answers: list[HookResult]) -> None:
        self.answers = answers
        self.calls: list[tuple[int, int]] = []

    def smoke(self, env: str, slot: Any, step: int, percent: int) -> HookResult:
        self.calls.append((step, percent))
        return self.answers.pop(0) if self.answers else HookResult(True)


def test_a_failing_smoke_test_rolls_back_with_its_reason_before_the_weight_moves(tmp_path: Path) -> None:
    fleet = Fleet()
    smoke = Smoke([HookResult(True), HookResult(False, "api (tenant payments): answered HTTP 503")])
    store = LocalStateStore(tmp_path)
    engine = fleet.engine(store)
    engine.ports.hooks = smoke

    final = engine.cutover(environment(), NEW_VERSION, gates=GatePolicy(smoke=True))

    assert final.cutover is not None and final.cutover.phase is Phase.ROLLED_BACK
    assert final.cutover.reason == (
        "pre-shift smoke test failed before step 2 (25%): api (tenant payments): answered HTTP 503"
    )
    assert smoke.calls == [(1, 10), (2, 25)]
    assert 25 not in [w["green"] for w in fleet.world.weight_changes], "the weight never rose past the smoke test"
    assert final.weights == Weights(blue=100, green=0)


def test_approve_ahead_and_approve_of_a_passed_step(tmp_path: Path) -> None:
    fleet = Fleet()
    store = LocalStateStore(tmp_path)
    engine = fleet.engine(store)
    held = engine.cutover(environment(), NEW_VERSION, gates=GatePolicy(approve=(1, 3)))
    assert held.cutover is not None and held.cutover.awaiting_approval == 1
    assert held.weights == Weights(blue=100, green=0)

    engine.approve("local", 1)
    with pytest.raises(UsageError, match="not ahead"):
        engine.approve("local", 1)
    ahead = store.load("local")
    assert ahead is not None and ahead.cutover is not None and ahead.cutover.awaiting_approval == 3
    done = engine.approve("local", None)
    assert done.cutover is not None and done.cutover.phase is Phase.DONE
