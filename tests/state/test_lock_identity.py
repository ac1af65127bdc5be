"""Locks that know who is alive: a lease id plus the kernel's identity of the holder, not hostname and pid.

Containers on one CI host share a hostname, and every PID namespace has its
own small pids, so "same host, pid gone" is no proof of death. A holder is
known dead only on the same machine, boot and PID namespace, with its pid
gone or reused (a different start time); anywhere else the lease's expiry
decides. The second PID namespace is simulated (a lock naming another
namespace), and is real where ``unshare`` works (as root).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fleet.errors import LockedError
from fleet.state.identity import Identity, current, holder_is_dead, pid_start
from fleet.state.local import LocalStateStore

REPO = Path(__file__).resolve().parents[2]


def _lock(path: Path, identity: Identity, *, expires_in: float = 60.0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {
        "owner": "ci", "host": os.uname().nodename, "pid": identity.pid, "acquired_at": time.time(),
        "expires_at": time.time() + expires_in, "token": "theirs", "lease_s": 60.0, "identity": identity.to_json(),
    }
    path.write_text(json.dumps(body))


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_the_identity_of_this_process_is_complete() -> None:
    me = current()
    assert me.machine_id and me.boot_id and me.pidns
    assert me.pid == os.getpid() and me.pid_start == pid_start(os.getpid())
    assert not holder_is_dead(me, me)


def test_a_dead_holder_on_this_machine_is_taken_over_at_once(tmp_path: Path) -> None:
    me = current()
    dead = Identity(me.machine_id, me.boot_id, me.pidns, _dead_pid(), 12345)
    _lock(tmp_path / "local" / "lock.json", dead)

    with LocalStateStore(tmp_path).lock("local", lease_s=30) as lease:
        assert lease.info.pid == os.getpid()


def test_a_reused_pid_is_not_taken_for_the_holder(tmp_path: Path) -> None:
    me = current()
    assert me.pid_start is not None
    reused = Identity(me.machine_id, me.boot_id, me.pidns, os.getpid(), me.pid_start - 1)  # ours, started later
    assert holder_is_dead(reused, me)


def test_a_holder_after_a_reboot_is_dead(tmp_path: Path) -> None:
    me = current()
    assert holder_is_dead(Identity(me.machine_id, "an-earlier-boot", me.pidns, 1, 1), me)


@pytest.mark.parametrize("where", ["another-pid-namespace", "another-machine"])
def test_a_holder_this_process_cannot_see_is_never_displaced(tmp_path: Path, where: str) -> None:
    me = current()
    pid = _dead_pid()  # the pid is free here, which says nothing about the holder's namespace
    other = (
        Identity(me.machine_id, me.boot_id, "4026530000", pid, 5)
        if where == "another-pid-namespace"
        else Identity("another-machine", "b", me.pidns, pid, 5)
    )
    _lock(tmp_path / "local" / "lock.json", other)

    with pytest.raises(LockedError) as caught, LocalStateStore(tmp_path).lock("local", lease_s=30, force=True):
        pass
    assert not caught.value.expired
    assert "expires at" in str(caught.value) and "--force-unlock" in str(caught.value)


_HOLDER = """
import sys, time
from fleet.state.local import LocalStateStore
with LocalStateStore(sys.argv[1]).lock("local", lease_s=60):
    print("held", flush=True)
    time.sleep(60)
"""


def _unshare_works() -> bool:
    if shutil.which("unshare") is None or os.geteuid() != 0:
        return False
    done = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "true"], capture_output=True, check=False)
    return done.returncode == 0


@pytest.mark.skipif(not _unshare_works(), reason="needs unshare --pid (root)")
def test_a_live_holder_in_another_pid_namespace_keeps_its_lock(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        ["unshare", "--pid", "--fork", "--kill-child", "--mount-proc", sys.executable, "-c", _HOLDER, str(tmp_path)],
        stdout=subprocess.PIPE, text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        on_disk = json.loads((tmp_path / "local" / "lock.json").read_text())
        assert on_disk["pid"] <= 3, "the holder sees itself as one of its namespace's first pids"
        assert on_disk["identity"]["pidns"] != current().pidns

        with pytest.raises(LockedError), LocalStateStore(tmp_path).lock("local", lease_s=30, force=True):
            pass
        assert json.loads((tmp_path / "local" / "lock.json").read_text())["token"] == on_disk["token"]
    finally:
        holder.kill()
        holder.wait(timeout=10)


def test_a_live_holder_whose_lease_ran_out_is_not_displaced_even_with_force(tmp_path: Path) -> None:
    _lock(tmp_path / "local" / "lock.json", current(), expires_in=-60)  # this very process, its lease long gone

    with pytest.raises(LockedError) as caught, LocalStateStore(tmp_path).lock("local", lease_s=30, force=True):
        pass
    assert "alive" in str(caught.value) and not caught.value.expired
