"""Orphans of a killed fleet run are found by their mark and killed; nothing else is touched.

Real processes: an "owner" that starts a marked child in its own session (as
Pulumi starts its plugins) and is then killed with SIGKILL; a marked child of
a live owner (this test) and an unmarked process stand beside it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleet.adapters import pulumi_procs
from fleet.infra.local_slot import process_alive

pytestmark = pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc (Linux)")

OWNER = """
import os, subprocess, sys, time
from fleet.adapters import pulumi_procs
env = dict(os.environ, FLEET_CALL=pulumi_procs.new_mark())
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], env=env, start_new_session=True)
print(child.pid, flush=True)
time.sleep(60)
"""


def sleeper(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], env=env, start_new_session=True)


@pytest.fixture
def started() -> Iterator[list[int]]:
    pids: list[int] = []
    yield pids
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            continue


def test_a_marked_orphan_is_killed_and_nothing_else(started: list[int]) -> None:
    owner = subprocess.Popen([sys.executable, "-c", OWNER], stdout=subprocess.PIPE, text=True)
    started.append(owner.pid)
    assert owner.stdout is not None
    orphan = int(owner.stdout.readline())
    started.append(orphan)
    ours = sleeper(dict(os.environ, FLEET_CALL=pulumi_procs.new_mark()))
    plain = sleeper(pulumi_procs.without_mark(dict(os.environ, FLEET_CALL="1.2.3")))
    started.extend([ours.pid, plain.pid])

    assert orphan not in pulumi_procs.orphans(), "its owner still runs"
    owner.kill()
    owner.wait(10)

    assert orphan in pulumi_procs.orphans()
    killed = pulumi_procs.reclaim_orphans()
    assert orphan in killed
    assert not process_alive(orphan)
    assert ours.poll() is None and plain.poll() is None
    assert pulumi_procs.children_marked("no-such-mark") == []
    ours.kill()
    plain.kill()
    ours.wait(10)
    plain.wait(10)


def test_a_mark_names_its_owner_by_pid_and_start_time() -> None:
    mark = pulumi_procs.new_mark()
    pid, started_at, _ = mark.split(".")
    assert int(pid) == os.getpid() and started_at == pulumi_procs.start_time(os.getpid())
    assert pulumi_procs.owner_alive(mark)
    assert not pulumi_procs.owner_alive(f"{pid}.{int(started_at) + 1}.x"), "a reused PID is another process"
    assert pulumi_procs.owner_alive("not-a-mark"), "a mark fleet did not make is never reclaimed"
