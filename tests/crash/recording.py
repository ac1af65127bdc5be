"""The project, the scratch space and the recorded checkpoints that the kill tests share.

Both kill tests (in memory: tests/crash; on real Flux: tests/singletons) kill
a rehearsed cutover at checkpoints they do not list by hand: a run in process
with a recording checkpoint hook passes them, and each pass becomes
``name#occurrence`` (each weight step passes ``before:SetWeights`` again).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from fleet.config import load_environment
from fleet.domain.machine import Phase
from fleet.domain.model import Version
from fleet.rehearsal.inmemory import Faults, build
from fleet.rehearsal.sim import RecordingNotifier

ENV = "local"
STACK = """\
config:
  fleet:cluster: {driver: kind, version: "1.29"}
  fleet:traffic: {provider: haproxy}
"""


def project(root: Path) -> Path:
    (root / "stacks").mkdir(parents=True, exist_ok=True)
    (root / "Pulumi.yaml").write_text("name: fleet\n")
    (root / "stacks" / f"Pulumi.{ENV}.yaml").write_text(STACK)
    return root


def scratch() -> Path:
    """A directory on tmpfs when there is one: fsync is free there, and there are many runs."""
    shm = Path("/dev/shm")
    return Path(tempfile.mkdtemp(prefix="fleet-crash-", dir=shm if shm.is_dir() and os.access(shm, os.W_OK) else None))


def fleet(project: Path, *args: str, timeout_s: float) -> subprocess.CompletedProcess[str]:
    """``python -m fleet ARGS`` in ``project``, with none of the caller's FLEET_ variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEET_")}
    env["FLEET_PROJECT"] = str(project)
    return subprocess.run(
        [sys.executable, "-m", "fleet", *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env=env,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def recorded_checkpoints(faults: Faults, *, ends: Phase) -> list[str]:
    """Every checkpoint of a rehearsed cutover with ``faults``, as ``name#occurrence``, in order; it ends ``ends``."""
    root = scratch()
    try:
        config = load_environment(project(root / "project"), ENV)
        passed: list[str] = []
        r = build(str(root / "state"), ENV, faults, RecordingNotifier(), steps=config.rollout.steps)
        r.world.clusters["blue"] = str(config.version)
        r.world.bootstrapped.append("blue")
        r.world.save()
        r.engine.checkpoint = passed.append
        final = r.engine.cutover(config, Version(1, 30))
        assert final.cutover is not None and final.cutover.phase is ends, final.cutover
    finally:
        subprocess.run(["rm", "-rf", str(root)], check=False)
    seen: Counter[str] = Counter()
    out = []
    for name in passed:
        seen[name] += 1
        out.append(f"{name}#{seen[name]}")
    return out
