"""Traffic and its record never part ways: a weight change the store cannot record is set back.

Faults are injected at the local store's write seam after the traffic
provider applied a weight change and before the change is recorded: the
engine reads the weights back, tries the commit once more and, if the disk
is still full (or the directory read-only), sets the traffic back to the
recorded weights and reports the commit's own error, not the lock release's.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from fleet.domain.model import Weights
from fleet.engine import CommitFailed
from fleet.state.local import Files, LocalStateStore
from tests.fleetkit import NEW_VERSION, Fleet, environment


class BrokenFromNowOn(Files):
    """Every write fails once ``broken`` is set (a disk that stays full)."""

    def __init__(self) -> None:
        self.broken = False

    def append(self, path: Path, data: bytes, *, keep: int) -> None:
        if self.broken:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        super().append(path, data, keep=keep)

    def atomic_write(self, path: Path, text: str) -> None:
        if self.broken:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        super().atomic_write(path, text)


def test_weights_that_cannot_be_recorded_are_set_back_and_the_commit_error_is_reported(tmp_path: Path) -> None:
    files = BrokenFromNowOn()
    fleet = Fleet()
    store = LocalStateStore(tmp_path, files=files)
    seen: list[str] = []

    def checkpoint(name: str) -> None:
        seen.append(name)
        if name == "before-commit:WeightsApplied" and seen.count(name) == 2:
            files.broken = True

    with pytest.raises(CommitFailed) as caught:
        fleet.engine(store, checkpoint=checkpoint).cutover(environment(), NEW_VERSION)

    message = str(caught.value)
    assert "No space left on device" in message and "set back" in message
    assert caught.value.exit_code == 2
    recorded = LocalStateStore(tmp_path).load("local")
    assert recorded is not None
    assert recorded.weights == Weights(90, 10)
    assert fleet.traffic.get_weights("local") == recorded.weights, "traffic is where the record says"
    intents = [r for r in LocalStateStore(tmp_path).history("local") if r.event == "WeightsIntended"]
    assert intents[-1].detail["weights"] == {"blue": 75, "green": 25}, "the journal names the weights that may be live"

    files.broken = False
    final = fleet.engine(LocalStateStore(tmp_path)).resume("local")
    assert final.cutover is not None and final.cutover.phase.value == "DONE"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_a_read_only_directory_reports_the_commit_error_not_the_lock_release(tmp_path: Path) -> None:
    fleet = Fleet()
    store = LocalStateStore(tmp_path)
    folder = tmp_path / "local"

    def checkpoint(name: str) -> None:
        if name == "before-commit:WeightsApplied":
            folder.chmod(stat.S_IRUSR | stat.S_IXUSR)

    try:
        with pytest.raises(CommitFailed) as caught:
            fleet.engine(store, checkpoint=checkpoint).cutover(environment(), NEW_VERSION)
    finally:
        folder.chmod(stat.S_IRWXU)
    assert "release the lock" not in str(caught.value)
    assert "Permission denied" in str(caught.value)


def test_a_lock_that_cannot_be_released_does_not_mask_the_runs_error(tmp_path: Path) -> None:
    store = LocalStateStore(tmp_path)

    class Boom(Exception):
        pass

    with pytest.raises(Boom), store.lock("local", lease_s=30):
        (tmp_path / "local" / "lock.json").unlink()
        (tmp_path / "local" / "lock.json").mkdir()  # release now fails: the lock is a directory
        raise Boom


class Crash(BaseException):
    """Stands for the process dying at a checkpoint (nothing after it runs)."""


def test_a_resume_after_an_unconfirmed_weight_change_says_which_weights_may_be_live(tmp_path: Path) -> None:
    fleet = Fleet()

    def checkpoint(name: str) -> None:
        if name == "after:SetWeights":
            raise Crash

    with pytest.raises(Crash):
        fleet.engine(LocalStateStore(tmp_path), checkpoint=checkpoint).cutover(environment(), NEW_VERSION)
    history = LocalStateStore(tmp_path).history("local")
    assert history[-1].event == "WeightsIntended"
    assert fleet.traffic.get_weights("local") == Weights(90, 10), "the change was made, not confirmed"

    final = fleet.engine(LocalStateStore(tmp_path)).resume("local")

    told = [n.message for n in fleet.notifier.notices if "not confirmed" in n.message]
    assert told and "100/0 (recorded)" in told[0] and "90/10 (intended" in told[0]
    assert final.cutover is not None and final.cutover.phase.value == "DONE"
