"""A history that cannot be torn: framed records, checked against the state before anything is done.

The OS cannot be made to fail on cue, so faults are injected at the store's
own file-writing seam (:class:`fleet.state.local.Files`): a full disk (ENOSPC,
after writing part of the bytes, as a real full disk tears an append) or a
read-only directory (EROFS) at the Nth write of a cutover, N drawn at random.
After every fault the store either loads (the run is resumable) or refuses
naming a file, and once the fault is gone the cutover resumes to DONE with a
history that validates.
"""

from __future__ import annotations

import errno
import json
import os
import random
from dataclasses import replace
from pathlib import Path

import pytest

from fleet.domain.machine import EnvironmentState, Phase
from fleet.domain.model import Version
from fleet.errors import FleetError, StateError
from fleet.ports import Record
from fleet.state.local import Files, LocalStateStore
from tests.fleetkit import NEW_VERSION, Fleet, environment

SEED = EnvironmentState.seed("local", Version(1, 29))


def _record(seq: int, event: str = "Something") -> Record:
    return Record(seq, float(seq), event, None, SEED.weights, {}, {"user": "t"})


class FaultyFiles(Files):
    """Fails the ``fail_at``-th write with ``error``; an append writes ``torn`` of its bytes first."""

    def __init__(self, fail_at: int, error: int = errno.ENOSPC, torn: float = 0.5) -> None:
        self.fail_at = fail_at
        self.error = error
        self.torn = torn
        self.writes = 0
        self.failed = False

    def _fault(self) -> bool:
        self.writes += 1
        return self.writes == self.fail_at

    def append(self, path: Path, data: bytes, *, keep: int) -> None:
        if self._fault():
            self.failed = True
            if self.error == errno.ENOSPC:
                super().append(path, data[: int(len(data) * self.torn)], keep=keep)
            raise OSError(self.error, os.strerror(self.error))
        super().append(path, data, keep=keep)

    def atomic_write(self, path: Path, text: str) -> None:
        if self._fault():
            self.failed = True
            raise OSError(self.error, os.strerror(self.error))
        super().atomic_write(path, text)


def _history_file(root: Path) -> Path:
    return root / "local" / "history.jsonl"


def test_a_torn_append_never_swallows_the_next_record(tmp_path: Path) -> None:
    files = FaultyFiles(fail_at=3)  # writes: append 1, state 1, append 2 (torn), ...
    store = LocalStateStore(tmp_path, files=files)
    store.commit("local", replace(SEED, seq=1), [_record(1, "A")])
    with pytest.raises(StateError, match="No space left"):
        store.commit("local", replace(SEED, seq=2), [_record(2, "B")])
    assert not _history_file(tmp_path).read_bytes().endswith(b"\n"), "the append was torn"

    store.commit("local", replace(SEED, seq=2), [_record(2, "B")])
    store.commit("local", replace(SEED, seq=3), [_record(3, "C")])

    assert [r.event for r in LocalStateStore(tmp_path).history("local")] == ["A", "B", "C"]
    assert all(json.loads(line) for line in _history_file(tmp_path).read_text().splitlines())


@pytest.mark.parametrize(
    ("damage", "named"),
    [
        (lambda lines: [*lines[:2], '{"seq": 3, "ev', *lines[3:]], "record 3 (line 3) is damaged"),
        (lambda lines: lines[:2] + lines[3:], "record 3 is missing"),
        (lambda lines: [*lines[:2], lines[2].replace('"blue":100', '"blue":99'), *lines[3:]], "digest"),
        (lambda lines: lines[:4], "record 5 is missing"),
        (lambda lines: [], "record 1 is missing"),
    ],
    ids=["torn-in-the-middle", "line-removed", "line-edited", "tail-cut", "emptied"],
)
def test_a_damaged_history_is_refused_before_anything_is_done(tmp_path: Path, damage: object, named: str) -> None:
    store = LocalStateStore(tmp_path)
    for seq in range(1, 6):
        store.commit("local", replace(SEED, seq=seq), [_record(seq, f"E{seq}")])
    path = _history_file(tmp_path)
    lines = path.read_text().splitlines()
    path.write_text("".join(line + "\n" for line in damage(lines)))  # type: ignore[operator]

    fresh = LocalStateStore(tmp_path)
    for read in (fresh.load, fresh.history):
        with pytest.raises(StateError) as caught:
            read("local")
        assert caught.value.file == str(path)
        assert named in str(caught.value)
        assert "last good record" in str(caught.value) or "no record is good" in str(caught.value)
        assert "fleet state repair local" in str(caught.value)


def test_a_deleted_history_is_refused_not_restarted(tmp_path: Path) -> None:
    store = LocalStateStore(tmp_path)
    fleet = Fleet()
    fleet.engine(store).cutover(environment(), NEW_VERSION)
    _history_file(tmp_path).unlink()

    with pytest.raises(StateError, match="record 1 is missing"):
        fleet.engine(LocalStateStore(tmp_path)).cutover(environment(), Version(1, 31))
    assert fleet.world.created == {"green": 1}, "nothing was provisioned for the refused cutover"


def test_a_history_without_its_state_is_refused(tmp_path: Path) -> None:
    store = LocalStateStore(tmp_path)
    for seq in range(1, 4):
        store.commit("local", replace(SEED, seq=seq), [_record(seq)])
    (tmp_path / "local" / "state.json").unlink()
    with pytest.raises(StateError, match=r"no state\.json"):
        LocalStateStore(tmp_path).load("local")


def test_repair_keeps_the_damaged_file_aside_and_goes_on_from_the_last_good_record(tmp_path: Path) -> None:
    store = LocalStateStore(tmp_path)
    for seq in range(1, 6):
        store.commit("local", replace(SEED, seq=seq), [_record(seq, f"E{seq}")])
    path = _history_file(tmp_path)
    lines = path.read_text().splitlines()
    damaged = "".join(line + "\n" for line in [*lines[:2], "garbage", *lines[3:]])
    path.write_text(damaged)

    result = LocalStateStore(tmp_path).repair("local", {"user": "t"})

    assert result["repaired"] is True and result["kept"] == 2 and result["lost"] == 3
    assert Path(str(result["aside"])).read_text() == damaged
    repaired = LocalStateStore(tmp_path)
    history = repaired.history("local")
    assert [r.event for r in history] == ["E1", "E2", "HistoryRepaired"]
    assert history[-1].detail["lost_from"] == 3 and history[-1].detail["lost_to"] == 5
    state = repaired.load("local")
    assert state is not None and state.seq == 6
    repaired.commit("local", replace(SEED, seq=7), [_record(7, "After")])
    assert [r.event for r in LocalStateStore(tmp_path).history("local")][-1] == "After"
    assert LocalStateStore(tmp_path).repair("local", {"user": "t"})["repaired"] is False


def test_a_history_of_format_1_is_read_and_continued(tmp_path: Path) -> None:
    folder = tmp_path / "local"
    folder.mkdir()
    state = json.loads((Path(__file__).parents[1] / "corpus" / "state" / "valid-in-flight.json").read_text())
    assert state["format"] == 1 and state["seq"] == 5
    (folder / "state.json").write_text(json.dumps(state))
    old = [
        {"seq": n, "at": float(n), "event": f"E{n}", "phase": "SHIFT", "weights": {"blue": 100, "green": 0},
         "detail": {}, "actor": {}}
        for n in (1, 2, 3, 3, 4, 5, 6)  # the old store superseded a torn tail (3) and left one (6)
    ]
    (folder / "history.jsonl").write_text("".join(json.dumps(r) + "\n" for r in old))
    store = LocalStateStore(tmp_path)

    loaded = store.load("local")
    assert loaded is not None and [r.seq for r in store.history("local")] == [1, 2, 3, 4, 5]
    store.commit("local", replace(loaded, seq=6), [replace(_record(6, "New"), phase="SHIFT")])
    assert [r.event for r in LocalStateStore(tmp_path).history("local")][-2:] == ["E5", "New"]
    assert json.loads((folder / "state.json").read_text())["format"] == 2


@pytest.mark.parametrize("error", [errno.ENOSPC, errno.EROFS], ids=["disk-full", "read-only"])
@pytest.mark.parametrize("seed", range(8))
def test_a_failed_write_at_a_random_moment_leaves_a_resumable_state(tmp_path: Path, error: int, seed: int) -> None:
    rng = random.Random(seed * 31 + error)
    healthy = FaultyFiles(fail_at=0)
    Fleet().engine(LocalStateStore(tmp_path / "probe", files=healthy)).cutover(environment(), NEW_VERSION)
    files = FaultyFiles(fail_at=rng.randint(1, healthy.writes), error=error, torn=rng.random())
    fleet = Fleet()
    store = LocalStateStore(tmp_path / "s", files=files)

    try:
        done = fleet.engine(store).cutover(environment(), NEW_VERSION)
    except FleetError as err:
        assert "release the lock" not in str(err), "the lock's release must not mask the write's error"
    else:  # the write failed once and the engine's second try (after reading the weights back) landed
        assert done.cutover is not None and done.cutover.phase is Phase.DONE
    assert files.failed

    after = LocalStateStore(tmp_path / "s")
    state = after.load("local")  # resumable: loads (or is None when the first commit never landed)
    after.history("local")
    if state is None:
        final = fleet.engine(after).cutover(environment(), NEW_VERSION)
    else:
        assert state.cutover is not None
        recorded = state.weights
        live = fleet.traffic.get_weights("local")
        intents = [r for r in after.history("local") if r.event == "WeightsIntended"]
        assert live == recorded or (intents and live.green == intents[-1].detail["weights"]["green"]), (
            f"traffic {live} is neither the recorded {recorded} nor the journalled intent"
        )
        final = fleet.engine(after).resume("local") if state.in_flight else state
    assert final.cutover is not None and final.cutover.phase is Phase.DONE
    assert fleet.world.created == {"green": 1} and fleet.world.destroyed == {"blue": 1}
    assert [r.seq for r in after.history("local")] == list(range(1, final.seq + 1))


def test_a_record_reformatted_without_changing_its_content_still_validates(tmp_path: Path) -> None:
    store = LocalStateStore(tmp_path)
    for seq in range(1, 4):
        store.commit("local", replace(SEED, seq=seq), [_record(seq, f"E{seq}")])
    path = _history_file(tmp_path)
    lines = path.read_text().splitlines()
    pretty = json.dumps(json.loads(lines[1]), indent=None, separators=(", ", ": "))  # a person's editor
    assert pretty != lines[1]
    path.write_text("\n".join([lines[0], pretty, lines[2]]) + "\n")

    assert [r.event for r in LocalStateStore(tmp_path).history("local")] == ["E1", "E2", "E3"]
