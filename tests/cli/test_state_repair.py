"""``fleet state repair ENV``: the one way past a damaged history, keeping the damaged file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def test_a_torn_history_is_refused_by_every_command_until_repaired(fleet: Any, tmp_path: Path) -> None:
    state_dir = tmp_path / "r"
    assert fleet("rehearse", "local", "--simulated", "--state", str(state_dir), "--fault", "provision-fails").code == 1
    history = state_dir / "local" / "history.jsonl"
    lines = history.read_text().splitlines(keepends=True)
    history.write_text("".join(lines[:1]) + lines[1][: len(lines[1]) // 2] + "\n" + "".join(lines[2:]))
    damaged = history.read_bytes()

    for command in (("status", "local"), ("history", "local"), ("resume", "local")):
        refused = fleet(*command, "--state", str(state_dir))
        assert refused.code == 2, (command, refused.err)
        assert str(history) in refused.err and "last good record is 1" in refused.err, refused.err
        assert "fleet state repair local" in refused.err
        assert history.read_bytes() == damaged

    repaired = fleet("state", "repair", "local", "--state", str(state_dir), "-o", "json")

    assert repaired.code == 0, repaired.err
    result = json.loads(repaired.out)
    assert result["repaired"] is True and result["kept"] == 1
    assert Path(result["aside"]).read_bytes() == damaged
    events = [r["event"] for r in fleet("history", "local", "--state", str(state_dir), "-o", "json").json()]
    assert events[0] == "CutoverRequested" and events[-1] == "HistoryRepaired"
    resumed = fleet("resume", "local", "--state", str(state_dir), "-o", "json")
    assert resumed.code == 0, resumed.err
    again = fleet("state", "repair", "local", "--state", str(state_dir), "-o", "json")
    assert again.code == 0 and json.loads(again.out)["repaired"] is False
