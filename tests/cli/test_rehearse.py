"""``fleet rehearse``: a whole cutover of a real configuration on the simulated fleet."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest


def final_state(result: Any) -> dict[str, Any]:
    data = result.json()
    return data["status"]["state"]


def test_a_healthy_rehearsal_moves_all_traffic_to_green_and_destroys_blue(fleet: Any, tmp_path: Path) -> None:
    result = fleet("rehearse", "local", "--simulated", "--state", str(tmp_path / "s"), "--output", "json")

    assert result.code == 0, result.err
    state = final_state(result)
    assert state["weights"] == {"blue": 0, "green": 100}
    assert state["slots"]["green"] == {"role": "active", "version": "1.30", "healthy": True}
    assert state["slots"]["blue"]["role"] == "absent"
    assert state["cutover"]["phase"] == "DONE"
    world = result.json()["world"]
    assert world["created"] == {"green": 1}
    assert world["destroyed"] == {"blue": 1}
    assert [w["green"] for w in world["weight_changes"]] == [10, 25, 50, 100]


def test_the_table_output_shows_the_timeline_and_the_final_status(fleet: Any, tmp_path: Path) -> None:
    result = fleet("rehearse", "local", "--simulated", "--state", str(tmp_path / "s"))

    assert result.code == 0, result.err
    for phase in ("PROVISION", "BOOTSTRAP", "WAIT_HEALTHY", "VERIFY_PARITY", "SHIFT", "BAKE", "TEARDOWN_OLD"):
        assert phase in result.out
    assert "local: DONE" in result.out
    assert "1.30 (active)" in result.out


@pytest.mark.parametrize(
    ("fault", "phase", "weights", "reason"),
    [
        ("flux-stuck", "FAILED", {"blue": 100, "green": 0}, "HealthCheckFailed"),
        ("stale-revision", "FAILED", {"blue": 100, "green": 0}, "parity"),
        ("missing-objects=1", "FAILED", {"blue": 100, "green": 0}, "Ready on blue but not on green"),
        ("provision-fails", "FAILED", {"blue": 100, "green": 0}, "quota"),
        ("analysis-fails-at=2", "ROLLED_BACK", {"blue": 100, "green": 0}, "step 2/4"),
        ("green-errors=0.5", "ROLLED_BACK", {"blue": 100, "green": 0}, "analysis failed"),
        ("green-slow=800", "ROLLED_BACK", {"blue": 100, "green": 0}, "p99 latency"),
        ("weights-fail-at=50", "ROLLED_BACK", {"blue": 100, "green": 0}, "weights stay at"),
    ],
)
def test_each_fault_halts_with_traffic_on_the_old_slot_and_exit_1(
    fleet: Any, tmp_path: Path, fault: str, phase: str, weights: dict[str, int], reason: str
) -> None:
    result = fleet(
        "rehearse", "local", "--simulated", "--state", str(tmp_path / "s"), "--fault", fault, "--output", "json"
    )

    assert result.code == 1, result.err
    state = final_state(result)
    assert state["cutover"]["phase"] == phase
    assert state["weights"] == weights
    assert state["slots"]["blue"]["role"] == "active"
    assert reason in state["cutover"]["reason"]
    assert result.json()["world"]["destroyed"] == {}


def test_throttled_provider_calls_are_retried_and_the_cutover_finishes(fleet: Any, tmp_path: Path) -> None:
    result = fleet(
        "rehearse", "local", "--simulated", "--state", str(tmp_path / "s"), "--fault", "throttled=2", "--output", "json"
    )

    assert result.code == 0, result.err
    assert "retry" in result.err
    assert final_state(result)["cutover"]["phase"] == "DONE"


def test_a_failed_cutover_can_be_resumed_once_the_fault_is_gone(fleet: Any, tmp_path: Path) -> None:
    state_dir = tmp_path / "s"
    failed = fleet("rehearse", "local", "--simulated", "--state", str(state_dir), "--fault", "provision-fails")
    assert failed.code == 1
    assert "fleet resume local" in failed.out

    resumed = fleet("resume", "local", "--state", str(state_dir), "--output", "json")

    assert resumed.code == 0, resumed.err
    assert resumed.json()["status"]["state"]["cutover"]["phase"] == "DONE"


def test_a_rehearsal_killed_after_a_phase_is_finished_by_resume(fleet: Any, tmp_path: Path) -> None:
    state_dir = tmp_path / "s"
    crashed = fleet("rehearse", "local", "--simulated", "--state", str(state_dir), "--fault", "crash-after=SHIFT")
    assert crashed.code == -9
    assert f"fleet resume local --state {state_dir}" in crashed.err

    resumed = fleet("resume", "local", "--state", str(state_dir), "--output", "json")

    assert resumed.code == 0, resumed.err
    state = resumed.json()["status"]["state"]
    assert state["cutover"]["phase"] == "DONE"
    assert state["weights"] == {"blue": 0, "green": 100}
    world = json.loads((state_dir / "world.json").read_text())
    assert world["created"] == {"green": 1}
    assert world["destroyed"] == {"blue": 1}


def test_a_held_lock_exits_3_and_names_the_holder(fleet: Any, tmp_path: Path) -> None:
    result = fleet("rehearse", "local", "--simulated", "--state", str(tmp_path / "s"), "--fault", "lock-held")

    assert result.code == 3
    assert "is locked by" in result.err
    assert "Traceback" not in result.err


def test_an_unknown_fault_is_a_usage_error_on_one_line(fleet: Any, tmp_path: Path) -> None:
    result = fleet("rehearse", "local", "--simulated", "--state", str(tmp_path / "s"), "--fault", "meteor-strike")

    assert result.code == 2
    assert result.err.strip().count("\n") == 0
    assert "unknown fault 'meteor-strike'" in result.err


@pytest.mark.parametrize(
    ("rate", "phase", "code"), [("0.001", "DONE", 0), ("0.005", "DONE", 0), ("0.05", "ROLLED_BACK", 1)]
)
def test_simulated_traffic_is_judged_by_the_real_judge(
    fleet: Any, tmp_path: Path, rate: str, phase: str, code: int
) -> None:
    """A baseline error rate below the allowed 1 % completes; five times the allowed rate is rolled back."""
    result = fleet(
        "rehearse", "local", "--simulated", "--state", str(tmp_path / "s"),
        "--fault", f"green-errors={rate}", "--output", "json",
    )

    assert result.code == code, result.err
    state = final_state(result)
    assert state["cutover"]["phase"] == phase
    if phase == "ROLLED_BACK":
        assert state["weights"] == {"blue": 100, "green": 0}
        assert "clearly above 1%" in state["cutover"]["reason"]
    else:
        assert state["weights"] == {"blue": 0, "green": 100}


def test_a_new_slot_whose_flux_keeps_reconciling_completes(fleet: Any, tmp_path: Path) -> None:
    result = fleet(
        "rehearse", "local", "--simulated", "--state", str(tmp_path / "s"), "--fault", "flux-flap", "--output", "json"
    )

    assert result.code == 0, result.err
    state = final_state(result)
    assert state["cutover"]["phase"] == "DONE"
    assert [w["green"] for w in result.json()["world"]["weight_changes"]] == [10, 25, 50, 100]


def test_a_new_slot_that_fails_during_the_bake_is_rolled_back_and_the_old_slot_kept(
    fleet: Any, tmp_path: Path
) -> None:
    result = fleet(
        "rehearse", "local", "--simulated", "--state", str(tmp_path / "s"), "--fault", "flux-fails-in-bake",
        "--output", "json",
    )

    assert result.code == 1, result.err
    state = final_state(result)
    assert state["cutover"]["phase"] == "ROLLED_BACK"
    assert state["weights"] == {"blue": 100, "green": 0}
    assert "UpgradeFailed" in state["cutover"]["reason"]
    assert result.json()["world"]["destroyed"] == {}
