"""The default state store: a directory that survives crashes and never overwrites what it cannot read."""

from __future__ import annotations

import json
import os
import time
from dataclasses import replace
from pathlib import Path

import pytest

from fleet.domain.machine import EnvironmentState
from fleet.domain.model import Version
from fleet.errors import LockedError, StateError
from fleet.ports import Record
from fleet.state.local import LocalStateStore
from tests.fleetkit import NEW_VERSION, Fleet, environment

SEED = EnvironmentState.seed("local", Version(1, 29))


def _record(seq: int, event: str = "Something") -> Record:
    return Record(seq, float(seq), event, None, SEED.weights, {}, {"user": "t"})


def test_a_commit_replaces_the_state_atomically_and_appends_the_history(tmp_path: Path) -> None:
    store = LocalStateStore(tmp_path)
    store.commit("local", replace(SEED, seq=1), [_record(1, "A")])
    store.commit("local", replace(SEED, seq=2), [_record(2, "B")])

    assert store.load("local") == replace(SEED, seq=2)
    assert [r.event for r in store.history("local")] == ["A", "B"]
    assert not [p for p in (tmp_path / "local").iterdir() if p.name.startswith(".")], "no temp files left"
    assert store.environments() == ["local"]


def test_a_torn_history_tail_is_ignored_and_superseded(tmp_path: Path) -> None:
    store = LocalStateStore(tmp_path)
    store.commit("local", replace(SEED, seq=1), [_record(1, "A")])
    with open(tmp_path / "local" / "history.jsonl", "a") as handle:
        uncounted = {"seq": 2, "at": 2.0, "event": "Uncounted", "phase": None, "weights": {"blue": 100, "green": 0}}
        handle.write(json.dumps(uncounted) + "\n")  # appended, but the state that counts it was never renamed
        handle.write('{"seq": 3, "ev')  # and a torn last line

    assert [r.event for r in store.history("local")] == ["A"]


def test_a_record_the_state_does_not_count_is_ignored(tmp_path: Path) -> None:
    store = LocalStateStore(tmp_path)
    store.commit("local", replace(SEED, seq=1), [_record(1, "A"), _record(2, "NotYet")])
    assert [r.event for r in store.history("local")] == ["A"]
    store.commit("local", replace(SEED, seq=2), [_record(2, "B")])
    assert [r.event for r in store.history("local")] == ["A", "B"]


def test_the_lock_is_exclusive_while_held(tmp_path: Path) -> None:
    store = LocalStateStore(tmp_path)
    with store.lock("local", lease_s=30):
        with pytest.raises(LockedError) as caught, LocalStateStore(tmp_path).lock("local", lease_s=30, force=True):
            pass
        assert not caught.value.expired
    assert not (tmp_path / "local" / "lock.json").exists(), "released at the end"


def _foreign_lock(path: Path, *, expires_at: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    holder = {"owner": "ci", "host": "another-host", "pid": 1, "acquired_at": 0.0, "expires_at": expires_at}
    path.write_text(json.dumps({**holder, "token": "theirs"}))


def test_an_expired_lease_is_taken_over_only_with_force(tmp_path: Path) -> None:
    store = LocalStateStore(tmp_path)
    _foreign_lock(tmp_path / "local" / "lock.json", expires_at=time.time() - 1)

    with pytest.raises(LockedError) as caught, store.lock("local", lease_s=30):
        pass
    assert caught.value.expired

    with store.lock("local", lease_s=30, force=True) as lease:
        assert json.loads((tmp_path / "local" / "lock.json").read_text())["token"] == lease.info.run_id


def test_a_live_lease_of_another_host_is_never_taken_over(tmp_path: Path) -> None:
    _foreign_lock(tmp_path / "local" / "lock.json", expires_at=time.time() + 60)
    with pytest.raises(LockedError) as caught, LocalStateStore(tmp_path).lock("local", lease_s=30, force=True):
        pass
    assert not caught.value.expired and caught.value.exit_code == 3


def test_a_holder_renews_its_lease_and_learns_when_it_lost_it(tmp_path: Path) -> None:
    store = LocalStateStore(tmp_path)
    with store.lock("local", lease_s=0.3) as lease:
        first = lease.info.expires_at
        time.sleep(0.5)  # the keep-alive renews in the background
        on_disk = json.loads((tmp_path / "local" / "lock.json").read_text())
        assert on_disk["expires_at"] > first
        lease.renew()
        assert lease.info.expires_at > first
        _foreign_lock(tmp_path / "local" / "lock.json", expires_at=time.time() + 60)
        with pytest.raises(LockedError, match="lost"):
            lease.renew()


def test_renewing_a_fresh_lease_checks_the_holder_without_rewriting_the_lock(tmp_path: Path) -> None:
    store = LocalStateStore(tmp_path)
    path = tmp_path / "local" / "lock.json"
    with store.lock("local", lease_s=600) as lease:
        written = path.stat().st_mtime_ns, lease.info.expires_at
        lease.renew()
        assert (path.stat().st_mtime_ns, lease.info.expires_at) == written
        _foreign_lock(path, expires_at=time.time() + 60)
        with pytest.raises(LockedError, match="lost"):
            lease.renew()


def test_renewing_a_lease_a_sixth_of_which_has_passed_pushes_its_expiry_out(tmp_path: Path) -> None:
    store = LocalStateStore(tmp_path)
    path = tmp_path / "local" / "lock.json"
    with store.lock("local", lease_s=600) as lease:
        lease.info = replace(lease.info, expires_at=time.time() + 490)  # 110 s of 600 have passed

        lease.renew()

        assert lease.info.expires_at > time.time() + 590
        assert json.loads(path.read_text())["expires_at"] == lease.info.expires_at


def test_a_garbage_lock_file_is_reported_and_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "local" / "lock.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\x00garbage{")
    before = path.stat().st_mtime_ns

    with pytest.raises(StateError) as caught, LocalStateStore(tmp_path).lock("local", lease_s=30, force=True):
        pass

    assert caught.value.file == str(path)
    assert path.read_bytes() == b"\x00garbage{"
    assert path.stat().st_mtime_ns == before


def test_a_truncated_state_file_is_reported_with_its_name_and_left_alone(tmp_path: Path) -> None:
    store = LocalStateStore(tmp_path)
    Fleet().engine(store).cutover(environment(), NEW_VERSION)
    path = tmp_path / "local" / "state.json"
    text = path.read_text()
    path.write_text(text[: len(text) // 2])

    with pytest.raises(StateError) as caught:
        store.load("local")
    assert caught.value.file == str(path)
    assert "truncated" in str(caught.value)
    assert path.read_text() == text[: len(text) // 2]


def test_the_store_holds_only_its_own_files(tmp_path: Path) -> None:
    store = LocalStateStore(tmp_path)
    Fleet().engine(store).cutover(environment(), NEW_VERSION)
    # No temporary files and no lock are left behind; the empty guard file serialises lock changes.
    assert sorted(os.listdir(tmp_path / "local")) == [".lock.guard", "history.jsonl", "state.json"]


def test_no_request_is_lost_between_the_holders_read_and_its_removal(tmp_path: Path) -> None:
    """A stress test: every request posted after the last one was taken is itself taken, never removed unread."""
    import threading

    from fleet.ports import Request

    store = LocalStateStore(tmp_path)
    (tmp_path / "local").mkdir()
    taken: list[str] = []
    done = threading.Event()

    def holder() -> None:
        while not done.is_set():
            request = store.take_request("local")
            if request is not None:
                taken.append(request.reason)

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        for n in range(200):
            store.post_request("local", Request("rollback", f"r{n}", "t", time.time()))
            deadline = time.monotonic() + 5
            while len(taken) <= n and time.monotonic() < deadline:
                time.sleep(0.0005)
            assert taken and taken[-1] == f"r{n}", f"request r{n} was lost"
    finally:
        done.set()
        thread.join(timeout=30)
