"""Slot-hours in ``fleet status`` and ``fleet history``."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def test_status_and_history_show_the_slot_hours(fleet: Any, tmp_path: Path) -> None:
    state = str(tmp_path / "s")
    assert fleet("rehearse", "local", "--simulated", "--state", state).code == 0

    status = fleet("status", "local", "--state", state)
    assert "two slots" in status.out and " h" in status.out
    as_json = fleet("status", "local", "--state", state, "--output", "json")
    assert '"slot_hours"' in as_json.out
    history = fleet("history", "local", "--state", state)
    assert "two slots (the second cluster's hours)" in history.out


def test_the_report_shows_the_slot_hours(fleet: Any, tmp_path: Path) -> None:
    state = str(tmp_path / "s")
    assert fleet("rehearse", "local", "--simulated", "--state", state).code == 0
    report = tmp_path / "r.html"
    assert fleet("history", "local", "--state", state, "--report", str(report)).code == 0
    page = report.read_text()
    assert "What blue/green cost: two slots for" in page and "DONE" in page
