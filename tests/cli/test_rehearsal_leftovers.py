"""A rehearsal without --state leaves nothing behind that nobody needs, and says where it kept what is needed."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def leftovers(folder: Path) -> list[Path]:
    return sorted(folder.glob("fleet-rehearsal-*"))


def test_a_rehearsal_that_ends_done_removes_its_temporary_state_dir(fleet: Any, tmp_path: Path) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()

    result = fleet("rehearse", "local", "--simulated", extra_env={"TMPDIR": str(temp)})

    assert result.code == 0, result.err
    assert leftovers(temp) == []
    assert "removed the rehearsal's state dir" in result.out


def test_a_rehearsal_that_rolls_back_keeps_it_and_says_how_to_look_at_it(fleet: Any, tmp_path: Path) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()

    result = fleet("rehearse", "local", "--simulated", "--fault", "analysis-fails-at=1", "--output", "json",
                   extra_env={"TMPDIR": str(temp)})

    assert result.code == 1
    kept = leftovers(temp)
    assert len(kept) == 1
    data = result.json()
    assert data["state_kept"] is True and data["state_location"] == str(kept[0])
    assert f"fleet history local --state {kept[0]}" in data["message"]


def test_a_rehearsal_refused_before_it_starts_leaves_no_directory(fleet: Any, tmp_path: Path) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()

    result = fleet("rehearse", "local", "--simulated", "--fault", "meteor-strike", extra_env={"TMPDIR": str(temp)})

    assert result.code == 2
    assert leftovers(temp) == []


def test_the_last_result_says_what_was_attempted_and_how_it_ended(fleet: Any, tmp_path: Path) -> None:
    state = str(tmp_path / "s")
    assert fleet("rehearse", "local", "--simulated", "--state", state, "--fault", "analysis-fails-at=1").code == 1

    result = fleet("status", "local", "--state", state)

    assert "cutover to 1.30: ROLLED_BACK" in result.out
    assert "ROLLED_BACK -> 1.30" not in result.out
