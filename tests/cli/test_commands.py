"""The operator's commands: what they print, and the exit codes pipelines rely on."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from fleet.state.local import LocalStateStore

REPO = Path(__file__).resolve().parents[2]


def copy_project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    (project / "stacks").mkdir(parents=True)
    shutil.copy(REPO / "stacks" / "Pulumi.local.yaml", project / "stacks")
    (project / "Pulumi.yaml").write_text("name: fleet\nruntime: python\n")
    return project


def test_validate_accepts_the_sample_environments(fleet: Any) -> None:
    result = fleet("validate")

    assert result.code == 0, result.out + result.err
    assert "local" in result.out
    assert "staging" in result.out


def test_validate_lists_every_problem_with_its_file_and_key(fleet: Any, tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    stack = project / "stacks" / "Pulumi.local.yaml"
    text = stack.read_text().replace("steps: [10, 25, 50, 100]", "steps: [10, 50, 25]")
    text = text.replace('version: "1.29"', "version: banana")
    stack.write_text(text)

    result = fleet("validate", "local", "--output", "json", extra_env={"FLEET_PROJECT": str(project)})

    assert result.code == 2
    problems = {(p["file"], p["key"]) for p in result.json()["problems"]}
    assert ("stacks/Pulumi.local.yaml", "fleet:rollout.steps") in problems
    assert ("stacks/Pulumi.local.yaml", "fleet:cluster.version") in problems


def test_an_unknown_environment_is_one_line_and_exit_2(fleet: Any) -> None:
    result = fleet("plan", "nowhere", "--to", "1.30")

    assert result.code == 2
    assert result.err.count("\n") == 1
    assert "unknown environment 'nowhere'" in result.err
    assert "Traceback" not in result.err


def test_a_version_that_is_not_a_version_is_a_usage_error(fleet: Any) -> None:
    result = fleet("plan", "local", "--to", "latest")

    assert result.code == 2
    assert "--to" in result.err and "not a Kubernetes version" in result.err


def test_steps_that_do_not_end_at_100_are_refused(fleet: Any) -> None:
    result = fleet("plan", "local", "--to", "1.30", "--steps", "10,50")

    assert result.code == 2
    assert "the last step must be 100" in result.err


def test_plan_lists_every_step_with_its_weights(fleet: Any, tmp_path: Path) -> None:
    result = fleet("plan", "local", "--to", "1.30", "--state", str(tmp_path / "s"), "--output", "json")

    assert result.code == 0, result.err
    plan = result.json()
    assert plan["from"] == "1.29" and plan["to"] == "1.30"
    weights = [s["weights"] for s in plan["steps"] if s["phase"] == "SHIFT"]
    assert weights == [{"blue": 90, "green": 10}, {"blue": 75, "green": 25}, {"blue": 50, "green": 50},
                       {"blue": 0, "green": 100}]
    assert plan["steps"][-1]["phase"] == "TEARDOWN_OLD"


def test_the_plan_names_each_steps_gates_and_the_singletons_handoff(fleet: Any, tmp_path: Path) -> None:
    """What stands before each increase is what the cutover will wait on: approval, health, smoke tests."""
    project = copy_project(tmp_path)
    stack = project / "stacks" / "Pulumi.local.yaml"
    stack.write_text(
        stack.read_text()
        + "  fleet:hooks:\n"
        + "    smoke:\n      - {name: api, urlEnv: SMOKE_URL}\n"
        + "    approval:\n      steps: [3]\n"
        + "  fleet:singletons:\n    handoffAt: 40\n"
    )
    env = {"FLEET_PROJECT": str(project), "SMOKE_URL": "http://127.0.0.1:9/smoke"}
    state = str(tmp_path / "s")

    result = fleet("plan", "local", "--to", "1.30", "--state", state, "--output", "json", extra_env=env)

    assert result.code == 0, result.err
    shift = [s for s in result.json()["steps"] if s["phase"] == "SHIFT"]
    assert [s["gates"] for s in shift] == [
        ["health", "smoke"], ["health", "smoke"], ["approve", "health", "smoke"], ["health", "smoke"]
    ]
    assert [s["handoff"] for s in shift] == [False, False, True, False]  # 50 % is the first step at 40 % or more
    assert result.json()["warnings"] == []

    text = fleet("cutover", "local", "--to", "1.30", "--dry-run", "--state", state, extra_env=env)
    assert text.code == 1
    assert "wait for `fleet approve local --step 3` (exit 4 until then)" in text.out
    assert "then stop the singletons on blue and start them on green" in text.out

    unset = fleet("plan", "local", "--to", "1.30", "--state", state, "--output", "json",
                  extra_env={"FLEET_PROJECT": str(project)})
    assert next(s["gates"] for s in unset.json()["steps"] if s["phase"] == "SHIFT") == ["health"]
    assert any("SMOKE_URL" in w and "not set" in w for w in unset.json()["warnings"])


def test_a_dry_run_shows_the_plan_and_exits_1_because_there_is_work_to_do(fleet: Any, tmp_path: Path) -> None:
    result = fleet("cutover", "local", "--to", "1.30", "--dry-run", "--state", str(tmp_path / "s"))

    assert result.code == 1
    assert "PROVISION" in result.out
    assert not (tmp_path / "s").exists()


def test_a_second_cutover_on_a_locked_environment_exits_3_within_a_second(fleet: Any, tmp_path: Path) -> None:
    store = LocalStateStore(tmp_path / "s")
    with store.lock("local", lease_s=60):
        started = time.monotonic()
        result = fleet("cutover", "local", "--to", "1.30", "--state", str(tmp_path / "s"))
        elapsed = time.monotonic() - started

    assert result.code == 3
    assert f"(pid {os.getpid()})" in result.err
    assert elapsed < 5  # process start included; the lock check itself is immediate


def test_a_cutover_without_the_pulumi_cli_is_refused_before_anything_is_recorded(fleet: Any, tmp_path: Path) -> None:
    no_pulumi = os.pathsep.join(
        p for p in os.environ.get("PATH", "").split(os.pathsep) if not shutil.which("pulumi", path=p)
    )

    # Neither installed nor built: fleet would otherwise use the engine tools/peers/build.py built.
    no_engine = {"PATH": no_pulumi, "FLEET_PEERS_CACHE": str(tmp_path / "no-peers")}
    result = fleet("cutover", "local", "--to", "1.30", "--state", str(tmp_path / "s"), extra_env=no_engine)

    assert result.code == 2
    assert "`pulumi` is not on PATH" in result.err and "fleet rehearse" in result.err
    assert not (tmp_path / "s" / "local" / "state.json").exists()


def test_an_expired_lock_is_taken_over_only_with_force_unlock(fleet: Any, tmp_path: Path) -> None:
    lock = tmp_path / "s" / "local" / "lock.json"
    lock.parent.mkdir(parents=True)
    lock.write_text(
        json.dumps(
            {"owner": "ci", "host": "runner-7", "pid": 4242, "acquired_at": 1.0, "expires_at": 2.0, "token": "t"}
        )
    )

    refused = fleet("rehearse", "local", "--simulated", "--state", str(tmp_path / "s"))
    assert refused.code == 3
    assert "lease expired" in refused.err and "--force-unlock" in refused.err

    taken = fleet("resume", "local", "--state", str(tmp_path / "s"), "--force-unlock")
    assert "is locked" not in taken.err


def test_status_shows_a_row_per_environment(fleet: Any, tmp_path: Path) -> None:
    assert fleet("rehearse", "local", "--simulated", "--state", str(tmp_path / "s")).code == 0

    result = fleet("status", "--state", str(tmp_path / "s"))

    assert result.code == 0
    lines = [line for line in result.out.splitlines() if line.startswith(("local", "staging"))]
    assert len(lines) == 2
    assert "1.30 (active)" in lines[0] and "0/100" in lines[0]
    assert "not started" in lines[1]


def test_history_records_who_did_what_and_when(fleet: Any, tmp_path: Path) -> None:
    fleet("rehearse", "local", "--simulated", "--state", str(tmp_path / "s"), extra_env={"GITHUB_RUN_ID": "987"})

    result = fleet("history", "local", "--state", str(tmp_path / "s"), "--output", "json")

    records = result.json()
    assert records[0]["event"] == "CutoverRequested"
    assert records[-1]["phase"] == "DONE"
    assert all(r["actor"]["ci_run"] == "GITHUB_RUN_ID=987" for r in records)
    assert all(r["actor"]["user"] and r["actor"]["host"] for r in records)
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))


def test_fleet_help_does_not_import_pulumi_kubernetes_or_boto3() -> None:
    code = (
        "import sys\n"
        "from fleet.cli import cli\n"
        "try:\n    cli.main(['--help'], prog_name='fleet')\nexcept SystemExit:\n    pass\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in {'pulumi','kubernetes','boto3','botocore'})\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout

    assert "HEAVY []" in out
