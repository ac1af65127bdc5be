"""A rehearsal's state is never real state, and a rehearsal's contenders leave at once touching nothing."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from fleet.state.local import LocalStateStore
from tests.fleetkit import NEW_VERSION, Fleet, environment

REPO = Path(__file__).resolve().parents[2]


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p): (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()}


def _real_store(folder: Path) -> Path:
    Fleet().engine(LocalStateStore(folder, rehearsal=False)).cutover(environment(), NEW_VERSION)
    return folder


def test_fleet_state_in_the_environment_is_ignored_by_a_rehearsal(fleet: Any, tmp_path: Path) -> None:
    real = _real_store(tmp_path / "production")
    before = _snapshot(real)

    result = fleet("rehearse", "local", "--simulated", "-o", "json", extra_env={"FLEET_STATE": str(real)})

    assert result.code == 0, result.err
    assert result.json()["state_location"] != str(real)
    assert _snapshot(real) == before, "the real environment's state was touched"

    explicit = tmp_path / "explicit"
    given = fleet("--state", str(explicit), "rehearse", "local", "--simulated", "-o", "json",
                  extra_env={"FLEET_STATE": str(real)})
    assert given.code == 0, given.err
    assert given.json()["state_location"] == str(explicit), "a --state on the command line is explicit"


def test_a_store_holding_a_real_environment_is_refused_by_a_rehearsal(fleet: Any, tmp_path: Path) -> None:
    real = _real_store(tmp_path / "production")
    before = _snapshot(real)

    result = fleet("rehearse", "local", "--simulated", "--state", str(real))

    assert result.code == 2, result.err
    assert str(real / "local" / "state.json") in result.err and "real environment" in result.err
    assert _snapshot(real) == before


def test_production_commands_refuse_a_rehearsals_state(fleet: Any, tmp_path: Path) -> None:
    state_dir = tmp_path / "r"
    crashed = fleet("rehearse", "local", "--simulated", "--state", str(state_dir), "--fault", "crash-after=SHIFT")
    assert crashed.code == -9
    before = _snapshot(state_dir)

    for command in (("rollback", "local"), ("abort", "local"), ("cutover", "local", "--to", "1.31"),
                    ("plan", "local", "--to", "1.31")):
        refused = fleet(*command, "--state", str(state_dir))
        assert refused.code == 2, (command, refused.err)
        assert "rehearsal's state" in refused.err and f"--state {state_dir}" in refused.err
    assert _snapshot(state_dir) == before

    status = fleet("status", "local", "--state", str(state_dir), "-o", "json")
    assert status.code == 0, status.err  # reading is allowed
    resumed = fleet("resume", "local", "--state", str(state_dir), "-o", "json")
    assert resumed.code == 0, resumed.err


def test_every_record_of_a_rehearsal_says_so(fleet: Any, tmp_path: Path) -> None:
    state_dir = tmp_path / "r"
    assert fleet("rehearse", "local", "--simulated", "--state", str(state_dir)).code == 0
    state = json.loads((state_dir / "local" / "state.json").read_text())
    records = [json.loads(line) for line in (state_dir / "local" / "history.jsonl").read_text().splitlines()]
    assert state["rehearsal"] is True and state["history"]["seq"] == state["seq"] == records[-1]["seq"]
    assert state["history"]["digest"] == records[-1]["digest"]
    assert all(r["rehearsal"] is True for r in records)


def test_the_hint_after_a_failed_rehearsal_names_its_state(fleet: Any, tmp_path: Path) -> None:
    state_dir = tmp_path / "r"
    failed = fleet("rehearse", "local", "--simulated", "--state", str(state_dir), "--fault", "provision-fails")
    assert failed.code == 1
    assert f"fleet resume local --state {state_dir}" in failed.out


_HOLDER = """
import sys, time
from fleet.state import open_store
with open_store(sys.argv[1], rehearsal=True).lock("local", lease_s=60):
    print("held", flush=True)
    time.sleep(60)
"""


def test_a_contender_exits_3_within_a_second_naming_the_holder_and_touching_nothing(
    fleet: Any, tmp_path: Path
) -> None:
    state_dir = tmp_path / "r"
    crashed = fleet("rehearse", "local", "--simulated", "--state", str(state_dir), "--fault", "crash-after=SHIFT")
    assert crashed.code == -9
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(state_dir)], stdout=subprocess.PIPE, text=True,
                              cwd=REPO)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        before = _snapshot(state_dir)
        for command in (("rehearse", "local", "--simulated"), ("resume", "local")):
            started = time.monotonic()
            result = fleet(*command, "--state", str(state_dir))
            elapsed = time.monotonic() - started
            assert result.code == 3, (command, result.err)
            assert f"(pid {holder.pid})" in result.err and "expires at" in result.err
            assert f"--state {state_dir}" in result.err
            assert elapsed < 1.0 + 1.0, f"{command} took {elapsed:.2f}s"  # 1 s, plus this machine's start-up
            assert _snapshot(state_dir) == before, f"{command} touched the holder's files"
    finally:
        holder.kill()
        holder.wait(timeout=10)


def test_damaged_rehearsal_files_are_refused_naming_the_file(fleet: Any, tmp_path: Path) -> None:
    for name in ("rehearsal.json", "world.json"):
        state_dir = tmp_path / name
        crashed = fleet("rehearse", "local", "--simulated", "--state", str(state_dir), "--fault", "crash-after=SHIFT")
        assert crashed.code == -9
        (state_dir / name).write_text('{"env": "loc')
        before = _snapshot(state_dir)

        for command in (("resume", "local"), ("rehearse", "local", "--simulated")):
            result = fleet(*command, "--state", str(state_dir))

            assert result.code == 2, (command, result.err)
            assert str(state_dir / name) in result.err and "Traceback" not in result.err
            assert _snapshot(state_dir) == before
