"""A kill plan kills one cutover once at each checkpoint in turn; ``fleet resume`` in a loop ends it as one run would.

The in-memory counterpart of the real-Flux test (tests/singletons/test_singletons_across_kills.py),
kept short: the plan is armed at the teardown, so a handful of kills show the mechanics.
"""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleet.rehearsal.attached import KILLS
from tests.crash import recording
from tests.crash.recording import ENV, scratch
from tests.crash.test_kill_at_every_checkpoint import CHECKPOINTS, _fleet, _outcome


@pytest.fixture()
def root() -> Iterator[Path]:
    where = scratch()
    yield where
    subprocess.run(["rm", "-rf", str(where)], check=False)


def test_resumed_runs_are_killed_at_each_remaining_checkpoint_once_and_end_as_one_run(root: Path) -> None:
    project = recording.project(root / "project")
    path = CHECKPOINTS[CHECKPOINTS.index("before:ConfirmTeardown#1"):]
    names = sorted({c.split("#")[0] for c in path})
    state = root / "state"
    state.mkdir()
    plan = {"env": ENV, "arm_at": "before:ConfirmTeardown", "armed": False, "killed": [], "names": names}
    (state / KILLS).write_text(json.dumps(plan))

    run = _fleet(project, "rehearse", ENV, "--simulated", "--state", str(state))
    runs = 1
    while run.returncode == -signal.SIGKILL and runs <= len(path) + 2:
        run = _fleet(project, "resume", ENV, "--state", str(state))
        runs += 1

    # The last kill is after the last commit: that resume finds nothing in flight.
    assert run.returncode == 2 and "no cutover in flight" in run.stderr, run.stderr
    killed = [name for name, _ in json.loads((state / KILLS).read_text())["killed"]]
    assert killed == [c.split("#")[0] for c in path]
    assert runs == len(path) + 1
    (state / KILLS).unlink()
    uninterrupted = root / "uninterrupted"
    assert _fleet(project, "rehearse", ENV, "--simulated", "--state", str(uninterrupted)).returncode == 0
    assert _outcome(state) == _outcome(uninterrupted)
    world = json.loads((state / "world.json").read_text())
    assert all(n <= 1 for n in world["destroyed"].values()), world["destroyed"]
    assert world["singleton_overlaps"] == []
