"""kill -9, SIGTERM and SIGINT at random moments of a real rehearsal: resumable, and no process outlives it.

A real rehearsal (HAProxy, the host of clusters, backends and load) is
started and signalled at a moment drawn at random from its run. Afterwards
every process it had started is gone (SIGKILL included: the kernel kills
them with it, :mod:`fleet.rehearsal.procs`), and ``fleet resume`` either
finishes the cutover or refuses it naming a file, or there was nothing to
resume. The next run reclaims the killed run's temporary directories.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from fleet.rehearsal.haproxy_process import find_haproxy
from fleet.rehearsal.procs import OWNER, owned_temp_dir, reclaim

REPO = Path(__file__).resolve().parents[2]


def _children(pid: int) -> set[int]:
    """Every live descendant of ``pid``."""
    found: set[int] = set()
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == parent and fields[0] != "Z" and int(entry.name) not in found:
                found.add(int(entry.name))
                frontier.append(int(entry.name))
    return found


def _running(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEET_")}
    env["FLEET_PROJECT"] = str(REPO)
    return env


_PARENT = """
import sys, time
from fleet.rehearsal.procs import owned_temp_dir, spawn
folder = owned_temp_dir(sys.argv[1])
child = spawn(["sleep", "60"], owner_dir=folder)
print(child.pid, folder, flush=True)
time.sleep(60)
"""


def test_a_child_dies_with_its_parent_on_kill_9_and_its_directory_is_reclaimed() -> None:
    prefix = f"fleet-test-{os.getpid()}-"
    parent = subprocess.Popen([sys.executable, "-c", _PARENT, prefix], stdout=subprocess.PIPE, text=True, cwd=REPO)
    assert parent.stdout is not None
    pid_text, folder_text = parent.stdout.readline().split()
    child, folder = int(pid_text), Path(folder_text)
    assert _running(child) and (folder / OWNER).is_file()

    parent.send_signal(signal.SIGKILL)
    parent.wait(timeout=10)
    deadline = time.monotonic() + 5
    while _running(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(child), "the child outlived its parent"

    mine = owned_temp_dir(prefix)  # the next run reclaims the dead one's directory
    try:
        assert not folder.exists()
        assert mine.exists() and reclaim(prefix) == []  # a live owner's directory is kept
    finally:
        import shutil

        shutil.rmtree(mine)


MOMENTS = [(sig, seed) for sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT) for seed in range(1)]


@pytest.mark.skipif(find_haproxy() is None, reason="needs haproxy")
@pytest.mark.parametrize(("sig", "seed"), MOMENTS, ids=[f"{s.name}-{n}" for s, n in MOMENTS])
def test_a_real_rehearsal_signalled_at_a_random_moment_leaves_no_process_and_resumes(
    tmp_path: Path, sig: signal.Signals, seed: int
) -> None:
    rng = random.Random(f"{sig.name}-{seed}")
    state_dir = tmp_path / "s"
    proc = subprocess.Popen(
        [sys.executable, "-m", "fleet", "rehearse", "local", "--state", str(state_dir)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
        env=_env(), start_new_session=True,
    )
    assert proc.stderr is not None
    lines: list[str] = []
    for line in proc.stderr:
        lines.append(line)
        if "waits, compressed" in line:
            break
    time.sleep(rng.uniform(0.5, 8.0))
    children = _children(proc.pid)
    os.kill(proc.pid, sig)
    rest = proc.stderr.read()
    code = proc.wait(timeout=60)
    deadline = time.monotonic() + 10
    while any(_running(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in children if _running(pid)], f"processes outlived the run: {children}"
    if sig != signal.SIGKILL and code == 1 and "interrupted" in rest:
        assert f"--state {state_dir}" in rest, rest

    state_file = state_dir / "local" / "state.json"
    if not state_file.exists():
        again = subprocess.run([sys.executable, "-m", "fleet", "rehearse", "local", "--state", str(state_dir)],
                               capture_output=True, text=True, timeout=180, cwd=tmp_path, env=_env(), check=False)
        assert again.returncode == 0, again.stderr
        return
    phase = json.loads(state_file.read_text())["cutover"]["phase"]
    resumed = subprocess.run([sys.executable, "-m", "fleet", "resume", "local", "--state", str(state_dir)],
                             capture_output=True, text=True, timeout=180, cwd=tmp_path, env=_env(), check=False)
    if phase in ("DONE", "ROLLED_BACK", "ABORTED"):
        assert resumed.returncode == 2 and "no cutover in flight" in resumed.stderr, resumed.stderr
    else:
        assert resumed.returncode == 0, resumed.stderr
    world = json.loads((state_dir / "world.json").read_text())
    assert all(n <= 1 for n in world["created"].values()), world
    assert not [p for p in Path(tempfile.gettempdir()).glob("fleet-haproxy-*")
                if (p / OWNER).is_file() and str(proc.pid) in (p / OWNER).read_text()], "not reclaimed"
