"""A CronJob and a singleton never run on both slots, through cutovers and rollbacks killed at every checkpoint.

The slots are real kube-apiservers (over one etcd) with real Flux reconciling
one Git repository that holds a CronJob (held by default), a CronJob opted
out with ``fleet.io/singleton: "false"`` (the control: it runs on both) and a
Deployment labelled ``fleet.io/singleton: "true"``. The clusters live in this
process (:mod:`.cluster_host`) and are attached to rehearsals run in
subprocesses (:mod:`fleet.rehearsal.attached`); the real ``KubeSingletons``
holds and hands off on the real API servers throughout.

The checkpoints come from recording runs in memory (a healthy cutover, and
one rolled back in the bake after the handoff): every checkpoint from
``BootstrapFlux`` to DONE, and every checkpoint of the rollback path from
where it leaves the healthy one. A new cluster and Flux per kill would take
about 13 s each (measured), over 20 minutes for the 109 checkpoints; so one
world serves them all, and one cutover serves each path: ``fleet rehearse``
runs with a kill plan (:class:`fleet.rehearsal.attached.KillPlan`) and is
killed with SIGKILL at the path's first checkpoint, ``fleet resume`` is
killed at the next one, and so on until a ``fleet resume`` ends the cutover.
The checkpoints killed at, in order, must be exactly the recorded path.
(``fleet rehearse --fault crash-at=NAME#N``, one kill per cutover, works on
this world too; tests/crash covers it in memory.)

The verdict comes from the API servers' records, not from polling: every API
server writes an audit log of the workloads' writes; merged by time, they
replay each workload's running state per slot (:mod:`.audit_replay`).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fleet.domain.machine import Phase
from fleet.rehearsal.attached import ATTACHED, KILLS
from fleet.rehearsal.inmemory import parse_faults
from tests.crash import recording
from tests.crash.recording import ENV, recorded_checkpoints
from tests.realpeers.conftest import binaries_or_skip
from tests.singletons import audit_replay
from tests.singletons.cluster_host import ClusterHost
from tests.singletons.workloads import CONTROL, HELD, manifests

pytestmark = [pytest.mark.realpeers, pytest.mark.slow, pytest.mark.timeout(600)]

ROLLBACK = "flux-fails-in-bake"
"""Fails the new slot once all traffic is on it: the singletons were handed over, and are handed back."""


def paths() -> dict[str, tuple[str, list[str]]]:
    """Per end, the checkpoint to arm the kills at and the checkpoints to kill at, in order."""
    healthy = recorded_checkpoints(parse_faults([]), ends=Phase.DONE)
    rolled_back = recorded_checkpoints(parse_faults([ROLLBACK]), ends=Phase.ROLLED_BACK)
    first = next(i for i, c in enumerate(healthy) if ":BootstrapFlux#" in c)
    split = next(i for i, (a, b) in enumerate(zip(healthy, rolled_back, strict=False)) if a != b)
    arm = max(i for i in range(split + 1) if rolled_back[i].endswith("#1"))  # its name's first pass arms the plan
    return {"DONE": (healthy[first], healthy[first:]), "ROLLED_BACK": (rolled_back[arm], rolled_back[arm:])}


def _fleet(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return recording.fleet(project, *args, timeout_s=600)


class World:
    """The clusters, their host, the project and the one state directory every case continues."""

    def __init__(self, root: Path) -> None:
        from fleet.rehearsal.peers import RealClusters

        self.root = root
        self.project = recording.project(root / "project")
        self.state = root / "state"
        self.state.mkdir()
        self.audit = root / "audit"
        self.clusters = RealClusters(interval="1m", binaries=binaries_or_skip(), audit_dir=self.audit)
        self.host = ClusterHost(self.clusters, self.audit).start()
        (self.state / ATTACHED).write_text(json.dumps({"url": self.host.url}))
        self.clusters.cluster("blue")
        self.clusters.repo.commit("Workloads that must not run twice", manifests())
        self.host.handle("bootstrap", "blue")
        self.cases: list[tuple[str, str, float]] = []

    def close(self) -> None:
        self.host.stop()
        self.clusters.close()

    def live(self) -> dict[str, Any]:
        return dict(json.loads((self.state / ENV / "state.json").read_text()))

    def intervals(self) -> list[audit_replay.Interval]:
        changes = []
        for name, slot, path in self.host.logs():
            changes += audit_replay.read_log(path.read_text().splitlines(), name, slot)
        return audit_replay.replay(changes, self.host.ended)

    def wait_running(self, slot: str, timeout_s: float = 120.0) -> list[audit_replay.Interval]:
        """The records once ``slot`` alone runs the held workloads and every cluster runs the control."""
        deadline = time.monotonic() + timeout_s
        while True:
            intervals = self.intervals()
            now = audit_replay.running_now(intervals)
            alive = set(self.clusters.slots)
            if (all(k in now.get(slot, set()) for k in HELD)
                    and not any(k in now.get(s, set()) for s in alive - {slot} for k in HELD)
                    and all(CONTROL in now.get(s, set()) for s in alive)):
                return intervals
            if time.monotonic() > deadline:
                raise AssertionError(f"not within {timeout_s:g}s: {slot} alone runs {HELD}; running: {now}")
            time.sleep(0.5)


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    binaries_or_skip()
    root = Path(tempfile.mkdtemp(prefix="fleet-singletons-kills-"))
    made = World(root)
    try:
        yield made
        print("\nsingletons across kills: " + ", ".join(f"{end}: {n} kills in {s:.0f}s" for end, n, s in made.cases),
              file=sys.stderr)
    finally:
        made.close()
        subprocess.run(["rm", "-rf", str(root)], check=False)


PATHS = paths()


def test_the_paths_span_bootstrap_the_handoffs_the_teardown_and_the_rollback() -> None:
    done, back = PATHS["DONE"][1], PATHS["ROLLED_BACK"][1]
    assert done[0] == "before:BootstrapFlux#1" and done[-1] == "after-commit:SlotDestroyed#1"
    for name in ("before:HandoffSingletons#1", "after-commit:SingletonsHandedOff#2", "before:SetWeights#4"):
        assert name in done, name
    assert "after-commit:SingletonsHandedOff#4" in back and "before:SetWeights#5" in back


def _kill_all_along(world: World, end: str) -> list[str]:
    """One cutover ending ``end``, killed once at every checkpoint of its path; the checkpoints killed at."""
    arm_at, path = PATHS[end]
    names = sorted({c.split("#")[0] for c in path})
    plan = {"env": ENV, "arm_at": arm_at.split("#")[0], "armed": False, "killed": [], "names": names}
    (world.state / KILLS).write_text(json.dumps(plan))
    faults = ["--fault", ROLLBACK] if end == "ROLLED_BACK" else []
    run = _fleet(world.project, "rehearse", ENV, "--simulated", "--state", str(world.state), *faults)
    for _ in range(len(path) + 5):
        if run.returncode != -signal.SIGKILL:
            break
        resumed = _fleet(world.project, "resume", ENV, "--state", str(world.state))
        if world.live()["cutover"]["phase"] == end and resumed.returncode == 2:  # killed after the end's commit
            assert "no cutover in flight" in resumed.stderr, resumed.stderr
            break
        run = resumed
    else:
        raise AssertionError(f"still killed after {len(path) + 5} runs")
    if run.returncode != -signal.SIGKILL:
        assert run.returncode == (0 if end == "DONE" else 1), run.stderr[-3000:]  # README: 1 is rolled back
        assert "Traceback" not in run.stderr
    killed = json.loads((world.state / KILLS).read_text())["killed"]
    (world.state / KILLS).unlink()
    return [str(name) for name, _committed in killed]


@pytest.mark.parametrize("end", ["DONE", "ROLLED_BACK"])
def test_killed_at_every_checkpoint_they_never_run_on_both_slots(world: World, end: str) -> None:
    started = time.monotonic()
    before = world.live() if (world.state / ENV / "state.json").exists() else None
    old = next(s for s, v in before["slots"].items() if v["role"] == "active") if before else "blue"
    new = "green" if old == "blue" else "blue"

    killed = _kill_all_along(world, end)

    assert killed == [c.split("#")[0] for c in PATHS[end][1]], "not killed at exactly the recorded checkpoints"
    assert world.live()["cutover"]["phase"] == end
    intervals = world.wait_running(new if end == "DONE" else old)
    if end == "DONE":
        assert old not in world.clusters.slots, "the old slot was not destroyed"
    else:
        assert new in world.clusters.slots, "the rolled-back slot is kept, holding them"
    for key in HELD:
        both = audit_replay.both_ran(intervals, key)
        assert both == [], f"{key} ran on both slots at once: {both[:2]}"
    world.cases.append((end, str(len(killed)), time.monotonic() - started))
def test_the_records_would_have_shown_two_slots_running(world: World) -> None:
    """The control: the opted-out CronJob ran on both slots at once, and the replay saw it."""
    if not world.cases:
        pytest.skip("no case ran")
    assert audit_replay.both_ran(world.intervals(), CONTROL) != []
