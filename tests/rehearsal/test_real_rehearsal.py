"""``fleet rehearse`` on real parts: HAProxy with real load, Kubernetes APIs read by the real health gate.

Each test runs the CLI in a fresh process, as a user would, and checks what
the real parts did: requests the load generator sent and what answered them,
weights HAProxy held, what the state dir recorded.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fleet.rehearsal.real import missing_parts

REPO = Path(__file__).resolve().parents[2]
MISSING = missing_parts()

pytestmark = [
    pytest.mark.haproxy,
    pytest.mark.skipif(bool(MISSING), reason=f"the real rehearsal needs {', '.join(MISSING)}"),
]


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def fleet(cwd: Path, *args: str, timeout: float = 60) -> Result:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEET_")}
    env["FLEET_PROJECT"] = str(REPO)
    proc = subprocess.run(
        [sys.executable, "-m", "fleet", *args], capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env,
        stdin=subprocess.DEVNULL, check=False,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def split(cell: str) -> tuple[int, int]:
    blue, green = cell.split("/")
    return int(blue), int(green)


def test_a_healthy_rehearsal_moves_real_traffic_step_by_step_and_fails_no_request(tmp_path: Path) -> None:
    result = fleet(tmp_path, "rehearse", "local", "--state", str(tmp_path / "s"), "--output", "json")

    assert result.code == 0, result.err
    data = result.json()
    assert data["mode"] == "real"
    assert data["status"]["state"]["cutover"]["phase"] == "DONE"
    assert data["traffic"]["failed"] == 0
    assert data["traffic"]["requests"] > 1500
    assert data["world"]["created"] == {"green": 1}
    assert data["world"]["destroyed"] == {"blue": 1}
    shifts = [row for row in data["timeline"] if row["phase"] == "SHIFT"]
    assert [row["weights"]["green"] for row in shifts] == [10, 25, 50, 100]
    for row in shifts:
        seen = row["users"]["split"].get("green", 0.0)
        assert abs(seen - row["weights"]["green"]) <= 3, row
    assert data["traffic"]["after_end"]["split"] == {"green": 100.0}
    assert "analysis window per step" in result.err
    assert "world: kmock" in result.err and "--world real" in result.err


def rolled_back_by(tmp_path: Path, fault: str) -> tuple[str, dict[str, Any]]:
    """Rehearse with ``fault``; check it ended rolled back with all traffic on blue; the reason and traffic."""
    result = fleet(tmp_path, "rehearse", "local", "--state", str(tmp_path / "s"), "--fault", fault, "--output", "json")
    assert result.code == 1, result.err
    data = result.json()
    state = data["status"]["state"]
    assert state["cutover"]["phase"] == "ROLLED_BACK"
    assert state["weights"] == {"blue": 100, "green": 0}
    assert data["traffic"]["after_end"]["split"] == {"blue": 100.0}
    return str(state["cutover"]["reason"]), dict(data["traffic"])


def test_a_green_answering_errors_is_rolled_back_and_gets_no_new_requests(tmp_path: Path) -> None:
    reason, traffic = rolled_back_by(tmp_path, "green-errors=0.5")

    assert "error rate" in reason
    assert traffic["failed"] == traffic["failed_by_slot"]["green"] > 0
    assert traffic["after_end"]["requests"] > 50


def test_a_green_at_half_the_allowed_error_rate_completes(tmp_path: Path) -> None:
    """0.5 % errors (every 200th request fails) against a 99 % success rate: a healthy service's baseline."""
    result = fleet(
        tmp_path, "rehearse", "local", "--state", str(tmp_path / "s"), "--fault", "green-errors=0.005",
        "--output", "json",
    )

    assert result.code == 0, result.err
    data = result.json()
    assert data["status"]["state"]["cutover"]["phase"] == "DONE"
    assert data["status"]["state"]["weights"] == {"blue": 0, "green": 100}
    assert data["traffic"]["failed"] == data["traffic"]["failed_by_slot"]["green"] > 0


def test_a_green_at_five_times_the_allowed_error_rate_is_rolled_back(tmp_path: Path) -> None:
    reason, traffic = rolled_back_by(tmp_path, "green-errors=0.05")

    assert "step 1/4" in reason
    assert "below 99%" in reason or "clearly above 1%" in reason
    assert traffic["failed"] == traffic["failed_by_slot"]["green"] > 0


def test_a_green_answering_slowly_is_rolled_back_for_its_latency_not_for_lack_of_traffic(tmp_path: Path) -> None:
    reason, traffic = rolled_back_by(tmp_path, "green-slow=800")

    assert "p99 latency" in reason and "above 500 ms" in reason
    assert traffic["failed"] == 0


def test_a_green_whose_flux_keeps_reconciling_completes_with_no_failed_request(tmp_path: Path) -> None:
    result = fleet(tmp_path, "rehearse", "local", "--state", str(tmp_path / "s"), "--fault", "flux-flap",
                   "--output", "json")

    assert result.code == 0, result.err
    data = result.json()
    assert data["status"]["state"]["cutover"]["phase"] == "DONE"
    assert data["traffic"]["failed"] == 0
    flux = json.loads((tmp_path / "s" / "flux.json").read_text())
    assert flux["green"]["flap"] and not flux["blue"].get("flap")  # green's Flux reconciled every 0.8 s throughout


def test_a_green_that_fails_during_the_bake_is_rolled_back_before_the_old_slot_is_destroyed(tmp_path: Path) -> None:
    reason, _ = rolled_back_by(tmp_path, "flux-fails-in-bake")

    assert "green became unhealthy" in reason and "UpgradeFailed" in reason
    world = json.loads((tmp_path / "s" / "world.json").read_text())
    assert world["destroyed"] == {}


def test_a_held_lock_on_real_parts_exits_3_and_moves_nothing(tmp_path: Path) -> None:
    result = fleet(tmp_path, "rehearse", "local", "--state", str(tmp_path / "s"), "--fault", "lock-held")

    assert result.code == 3, result.err
    assert "is locked by" in result.err
    assert "Traceback" not in result.err
    # The lock is taken before anything else: the loser writes no world, starts no process.
    assert not (tmp_path / "s" / "world.json").exists()
    assert not (tmp_path / "s" / "rehearsal.json").exists()


def test_a_rehearsal_killed_during_the_shift_is_finished_by_resume_on_restarted_parts(tmp_path: Path) -> None:
    state_dir = tmp_path / "s"
    crashed = fleet(tmp_path, "rehearse", "local", "--state", str(state_dir), "--fault", "crash-after=SHIFT")
    assert crashed.code == -9, crashed.err
    assert f"fleet resume local --state {state_dir}" in crashed.err

    resumed = fleet(tmp_path, "resume", "local", "--state", str(state_dir), "--output", "json")

    assert resumed.code == 0, resumed.err
    data = resumed.json()
    assert data["status"]["state"]["cutover"]["phase"] == "DONE"
    assert data["status"]["state"]["weights"] == {"blue": 0, "green": 100}
    assert data["traffic"]["failed"] == 0
    assert data["traffic"]["after_end"]["split"] == {"green": 100.0}
    world = json.loads((state_dir / "world.json").read_text())
    assert world["created"] == {"green": 1}
    assert world["destroyed"] == {"blue": 1}


@pytest.mark.parametrize(("fault", "reason"), [("flux-stuck", "HealthCheckFailed"), ("stale-revision", "parity")])
def test_a_green_flux_cannot_vouch_for_halts_before_any_traffic_moves(
    tmp_path: Path, fault: str, reason: str
) -> None:
    result = fleet(tmp_path, "rehearse", "local", "--state", str(tmp_path / "s"), "--fault", fault,
                   "--output", "json")

    assert result.code == 1, result.err
    data = result.json()
    state = data["status"]["state"]
    assert state["cutover"]["phase"] == "FAILED"
    assert reason in state["cutover"]["reason"]
    assert state["weights"] == {"blue": 100, "green": 0}
    assert data["world"]["weight_changes"] == []
    assert data["traffic"]["failed"] == 0
    assert data["traffic"]["after_end"]["split"] == {"blue": 100.0}


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                found.add(int(entry.name))
    return found


def _running(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_ctrl_c_during_the_shift_stops_every_process_the_rehearsal_started(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEET_")}
    env["FLEET_PROJECT"] = str(REPO)
    proc = subprocess.Popen(
        [sys.executable, "-m", "fleet", "rehearse", "local", "--state", str(tmp_path / "s")],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
        env=env, start_new_session=True,
    )
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if "SHIFT step 2/4" in line:
                break
        children = _children(proc.pid)
        assert len(children) >= 2  # HAProxy and the host of the clusters, backends and load
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal does on Ctrl-C
        rest = proc.stderr.read()
        assert proc.wait(timeout=30) == 1, rest
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "interrupted" in rest
    deadline = time.monotonic() + 10
    while any(_running(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in children if _running(pid)]


def test_a_fault_only_the_simulation_knows_is_a_usage_error_naming_the_real_ones(tmp_path: Path) -> None:
    result = fleet(tmp_path, "rehearse", "local", "--state", str(tmp_path / "s"), "--fault", "analysis-fails-at=2")

    assert result.code == 2
    assert "green-errors=RATE" in result.err and "--simulated" in result.err
    assert result.err.strip().count("\n") == 0


@pytest.mark.parametrize(("fault", "provider_says"), [
    ("haproxy-reload", "haproxy has blue 100% / green 0%"),
    ("hand-edit", "haproxy has blue 50% / green 50%"),
])
def test_a_reload_or_a_hand_edit_mid_rehearsal_halts_the_step_and_resume_reapplies(
    tmp_path: Path, fault: str, provider_says: str
) -> None:
    state = str(tmp_path / "s")
    halted = fleet(tmp_path, "rehearse", "local", "--state", state, "--fault", fault, "--output", "json")

    assert halted.code == 1, halted.err
    cutover = halted.json()["status"]["state"]["cutover"]
    assert cutover["phase"] == "SHIFT"
    assert f"fleet recorded blue 90% / green 10%, {provider_says}" in cutover["held"]
    assert "fleet resume local" in halted.json()["message"]

    resumed = fleet(tmp_path, "resume", "local", "--state", state, "--output", "json")
    assert resumed.code == 0, resumed.err
    assert resumed.json()["status"]["state"]["cutover"]["phase"] == "DONE"
