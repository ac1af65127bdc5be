"""Every history record says who did it, where, when and what changed; CI runs are traceable."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from fleet import audit

STACK = 'config:\n  fleet:cluster: {driver: kind, version: "1.29"}\n  fleet:traffic: {provider: haproxy}\n'


def _fleet(project: Path, *args: str, env_extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEET_") and k not in audit._CI_RUN_VARIABLES}
    env.update(FLEET_PROJECT=str(project), **env_extra)
    return subprocess.run(
        [sys.executable, "-m", "fleet", *args], capture_output=True, text=True, timeout=60, env=env, check=False
    )


def test_fleet_history_json_names_the_actor_and_ci_run_of_every_record(tmp_path: Path) -> None:
    (tmp_path / "stacks").mkdir()
    (tmp_path / "Pulumi.yaml").write_text("name: fleet\n")
    (tmp_path / "stacks" / "Pulumi.local.yaml").write_text(STACK)
    state = str(tmp_path / "state")
    killed = _fleet(
        tmp_path,
        "rehearse",
        "local",
        "--simulated",
        "--state",
        state,
        "--fault",
        "crash-after=SHIFT",
        env_extra={"GITHUB_RUN_ID": "111"},
    )
    assert killed.returncode == -9
    resumed = _fleet(tmp_path, "resume", "local", "--state", state, env_extra={"GITHUB_RUN_ID": "222"})
    assert resumed.returncode == 0, resumed.stderr

    done = _fleet(tmp_path, "history", "local", "--state", state, "-o", "json", env_extra={})
    assert done.returncode == 0, done.stderr
    records = json.loads(done.stdout)

    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))
    for record in records:
        actor = record["actor"]
        assert actor["user"] and actor["host"] == socket.gethostname() and actor["pid"].isdigit()
        assert actor["ci_run"] in ("GITHUB_RUN_ID=111", "GITHUB_RUN_ID=222")
        assert isinstance(record["at"], float)
        assert record["event"] and "weights" in record and isinstance(record["detail"], dict)
    runs = {r["actor"]["ci_run"] for r in records}
    assert runs == {"GITHUB_RUN_ID=111", "GITHUB_RUN_ID=222"}, "the resume is attributed to the second run"
    resumed_at = next(i for i, r in enumerate(records) if r["event"] == "Resumed")
    assert all(r["actor"]["ci_run"] == "GITHUB_RUN_ID=222" for r in records[resumed_at:])
    assert len({r["actor"]["pid"] for r in records}) == 2
    weights = next(r for r in records if r["event"] == "WeightsApplied")
    assert weights["detail"]["weights"] == weights["weights"] == {"blue": 90, "green": 10}


def test_the_actor_has_no_ci_run_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in audit._CI_RUN_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert set(audit.actor()) == {"user", "host", "pid"}
    monkeypatch.setenv("CI_PIPELINE_ID", "77")
    assert audit.actor()["ci_run"] == "CI_PIPELINE_ID=77"
