"""A run killed (SIGKILL) at any checkpoint resumes, in a new process, to the same end.

The list of checkpoints is not written by hand: a healthy cutover is run once
in-process with a recording checkpoint hook, and every checkpoint it passes,
with every occurrence (each weight step passes ``before:SetWeights`` again),
becomes a test. Each test runs ``fleet rehearse --fault crash-at=NAME#N`` in a
subprocess, which kills itself with SIGKILL at exactly that point, then
``fleet resume`` in another subprocess, and compares the outcome with an
uninterrupted run: the same final state, weights and history of events, and a
world in which nothing was done twice that must not be.
"""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fleet.domain.machine import Phase
from fleet.rehearsal.inmemory import Faults
from tests.crash import recording
from tests.crash.recording import ENV, recorded_checkpoints, scratch

IGNORED_EVENTS = {"Resumed", "Refreshed", "WeightsIntended"}
"""Records a resume repeats by design: WeightsIntended is journalled again before the weight change it re-does."""
VOLATILE_CUTOVER_KEYS = {"id", "started_at", "phase_since", "updated_at", "drained_at"}


CHECKPOINTS = recorded_checkpoints(Faults(), ends=Phase.DONE)


def _fleet(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return recording.fleet(project, *args, timeout_s=30)


def _outcome(state_dir: Path) -> dict[str, Any]:
    """What an interrupted run must end with exactly like an uninterrupted one."""
    state = json.loads((state_dir / ENV / "state.json").read_text())
    cutover = {k: v for k, v in state["cutover"].items() if k not in VOLATILE_CUTOVER_KEYS}
    last = {k: v for k, v in state["last"].items() if k != "at"}
    records = [json.loads(line) for line in (state_dir / ENV / "history.jsonl").read_text().splitlines()]
    committed = [r for r in records if r["seq"] <= state["seq"]]
    events = [
        (r["event"], r["phase"], r["weights"], {k: v for k, v in r["detail"].items() if k != "id"})
        for r in committed
        if r["event"] not in IGNORED_EVENTS
    ]
    for index, r in enumerate(committed):
        if r["event"] == "WeightsApplied":
            intents = [x for x in committed[:index] if x["event"] == "WeightsIntended"]
            assert intents and intents[-1]["detail"]["weights"] == r["weights"], f"unjournalled weights at {r['seq']}"
    world = json.loads((state_dir / "world.json").read_text())
    distinct_weights = [
        w for i, w in enumerate(world["weight_changes"]) if i == 0 or w != world["weight_changes"][i - 1]
    ]
    return {
        "slots": state["slots"],
        "weights": state["weights"],
        "cutover": cutover,
        "last": last,
        "events": events,
        "clusters": world["clusters"],
        "created": world["created"],
        "destroyed": world["destroyed"],
        "bootstrapped": sorted(world["bootstrapped"]),
        "weight_steps": distinct_weights,
        "world_weights": world["weights"],
        "singletons": world["singletons"],
    }


@pytest.fixture(scope="module")
def project() -> Iterator[Path]:
    root = scratch()
    yield recording.project(root)
    subprocess.run(["rm", "-rf", str(root)], check=False)


@pytest.fixture(scope="module")
def uninterrupted(project: Path) -> dict[str, Any]:
    state_dir = project / "uninterrupted"
    done = _fleet(project, "rehearse", ENV, "--simulated", "--state", str(state_dir))
    assert done.returncode == 0, done.stderr
    return _outcome(state_dir)


def test_a_healthy_cutover_passes_every_kind_of_checkpoint() -> None:
    names = {c.split("#")[0] for c in CHECKPOINTS}
    for command in ("ProvisionSlot", "BootstrapFlux", "AwaitHealthy", "CheckParity", "SetWeights", "Analyse"):
        assert f"before:{command}" in names and f"after:{command}" in names
    for command in ("WaitUntil", "ConfirmTeardown", "DrainSlot", "DestroySlot", "HandoffSingletons"):
        assert f"before:{command}" in names
    for event in ("CutoverRequested", "SlotProvisioned", "WeightsApplied", "TimerFired", "SlotDestroyed"):
        assert f"before-commit:{event}" in names and f"after-commit:{event}" in names
    assert "before:SetWeights#4" in CHECKPOINTS


@pytest.mark.parametrize("checkpoint", CHECKPOINTS)
def test_a_run_killed_at_the_checkpoint_resumes_to_the_same_end(
    checkpoint: str, project: Path, uninterrupted: dict[str, Any], covered_checkpoints: set[str]
) -> None:
    state_dir = project / f"crash-{checkpoint.replace(':', '_').replace('#', '_')}"

    killed = _fleet(
        project, "rehearse", ENV, "--simulated", "--state", str(state_dir), "--fault", f"crash-at={checkpoint}"
    )
    assert killed.returncode == -signal.SIGKILL, f"not killed at {checkpoint}: {killed.stderr}"

    committed = (state_dir / ENV / "state.json").is_file()
    if not committed:
        # Killed before the cutover was recorded: there is nothing to resume; nothing happened yet.
        assert json.loads((state_dir / "world.json").read_text())["created"] == {}
        again = _fleet(project, "rehearse", ENV, "--simulated", "--state", str(state_dir))
        assert again.returncode == 0, again.stderr
    else:
        state = json.loads((state_dir / ENV / "state.json").read_text())
        resumed = _fleet(project, "resume", ENV, "--state", str(state_dir))
        if state["cutover"]["phase"] in ("DONE", "ROLLED_BACK", "ABORTED"):
            assert resumed.returncode == 2 and "no cutover in flight" in resumed.stderr, resumed.stderr
        else:
            assert resumed.returncode == 0, resumed.stderr
            assert "Traceback" not in resumed.stderr

    assert _outcome(state_dir) == uninterrupted
    world = json.loads((state_dir / "world.json").read_text())
    assert all(n <= 1 for n in world["created"].values()), world["created"]
    assert all(n <= 1 for n in world["destroyed"].values()), world["destroyed"]
    green = [w["green"] for w in world["weight_changes"]]
    assert green == sorted(green), f"weights went backwards without a rollback: {green}"
    assert all(w["blue"] + w["green"] == 100 for w in world["weight_changes"])
    assert world["singleton_overlaps"] == [], "both slots ran the workloads that must not run twice"
    covered_checkpoints.add(checkpoint)
