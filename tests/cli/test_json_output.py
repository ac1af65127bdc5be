"""``--output json`` is for machines: snake_case keys everywhere, numbers as numbers, times as epoch seconds."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fleet.state.local import LocalStateStore
from tests.fleetkit import NEW_VERSION, Fleet, environment

KEY = re.compile(r"[a-z][a-z0-9_]*")


def keys(value: object, path: str = "") -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if isinstance(value, dict):
        for k, v in value.items():
            found.append((f"{path}.{k}", k))
            found += keys(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += keys(v, f"{path}[{i}]")
    return found


def test_every_command_speaks_snake_case_json(fleet: Any, tmp_path: Path) -> None:
    state = str(tmp_path / "s")
    real = str(tmp_path / "real")  # plan and rollback refuse a rehearsal's state: a real environment's for them
    Fleet().engine(LocalStateStore(Path(real), rehearsal=False)).cutover(environment(), NEW_VERSION)
    outputs = {
        "rehearse": fleet("rehearse", "local", "--simulated", "--state", state, "--fault", "analysis-fails-at=2",
                          "--output", "json"),
        "status": fleet("status", "--state", state, "--output", "json"),
        "plan": fleet("plan", "local", "--to", "1.31", "--state", real, "--output", "json"),
        "validate": fleet("validate", "--output", "json"),
        "history": fleet("history", "local", "--state", state, "--output", "json"),
        "rollback": fleet("rollback", "local", "--state", real, "--output", "json"),
    }

    for name, result in outputs.items():
        data_keyed = ".revisions."  # maps a Flux source's namespace/name to its revision: names, not keys
        bad = [path for path, key in keys(result.json()) if not KEY.fullmatch(key) and data_keyed not in path]
        assert not bad, (name, bad)


def test_the_timeline_is_numbers_and_epoch_seconds(fleet: Any, tmp_path: Path) -> None:
    result = fleet("rehearse", "local", "--simulated", "--state", str(tmp_path / "s"), "--output", "json")
    data = result.json()

    timeline = data["timeline"]
    assert timeline[0]["phase"] == "PROVISION"
    for row in timeline:
        assert isinstance(row["start"], float) and isinstance(row["end"], float)
        assert row["start"] > 1.7e9  # epoch seconds, not "+2.1s"
        assert row["duration_s"] == round(row["end"] - row["start"], 3)
        assert set(row["weights"]) == {"blue", "green"} and all(isinstance(w, int) for w in row["weights"].values())
    windows = [row["analysis"] for row in timeline if row["analysis"] is not None]
    assert len(windows) == 4
    assert all(isinstance(w["success_rate"], float) and isinstance(w["requests"], int) for w in windows)
    assert data["exit_code"] == 0 and data["ok"] is True
