"""The peers fixture itself: bounded start, everything stopped by PID, nothing left on disk."""

from __future__ import annotations

import os
import time

import pytest

from fleet.rehearsal.peers import RealPeers

from .conftest import binaries_or_skip

pytestmark = [pytest.mark.realpeers, pytest.mark.timeout(300)]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_one_slot_starts_within_bounds_and_leaves_no_process_or_file_behind() -> None:
    binaries = binaries_or_skip()
    started = time.monotonic()
    with RealPeers(slots=("green",), binaries=binaries, interval="1m") as peers:
        revision = peers.wait_converged(timeout_s=120)
        took = time.monotonic() - started
        pids = peers.pids()
        workdir = peers.workdir
        assert workdir is not None and workdir.exists()
        assert len(pids) == 4  # etcd, kube-apiserver, source-controller, kustomize-controller
        assert all(alive(pid) for pid in pids)
        assert peers.slot("green").applied_revision() == revision
    assert not [pid for pid in pids if alive(pid)]
    assert not workdir.exists()
    assert took < 150
