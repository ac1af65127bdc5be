"""Broken configurations and state files: one line naming the file and key, exit 2, nothing touched.

The corpus lives in ``tests/corpus`` (``manifest.json`` names the key each
case must report). Every case runs through the real command line
(``click.testing.CliRunner``, in-process for speed); the test snapshots the
bytes and modification times of every file before and after.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from fleet.cli import cli

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
MANIFEST: dict[str, dict[str, dict[str, Any]]] = json.loads((CORPUS / "manifest.json").read_text())
STACK = 'config:\n  fleet:cluster: {driver: kind, version: "1.29"}\n  fleet:traffic: {provider: haproxy}\n'


def _snapshot(*folders: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(p): (p.read_bytes(), p.stat().st_mtime_ns) for folder in folders for p in folder.rglob("*") if p.is_file()
    }


def _run(project: Path, *args: str) -> Result:
    runner = CliRunner()
    return runner.invoke(
        cli, list(args), env={"FLEET_PROJECT": str(project), "FLEET_STATE": None}, catch_exceptions=True
    )


def _assert_refused(result: Result, file: str, key: str | None) -> None:
    assert isinstance(result.exception, SystemExit), f"crashed: {result.exception!r}"
    assert result.exit_code == 2, (result.exit_code, result.stderr)
    lines = [line for line in result.stderr.strip().splitlines() if not line.startswith("rehearsing ")]
    assert len(lines) == 1, f"expected one line, got: {result.stderr}"
    assert lines[0].startswith("fleet: ")
    assert "Traceback" not in result.stderr + result.stdout
    assert file in lines[0], f"{file} not named in: {lines[0]}"
    if key is not None:
        assert f":{key}:" in lines[0] or f" {key}:" in lines[0], f"{key} not named in: {lines[0]}"


def _project(root: Path, stack: bytes) -> Path:
    (root / "stacks").mkdir(parents=True)
    (root / "Pulumi.yaml").write_text("name: fleet\n")
    (root / "stacks" / "Pulumi.local.yaml").write_bytes(stack)
    return root


def test_the_corpus_has_at_least_thirty_broken_configurations_and_a_manifest_entry_for_each_file() -> None:
    assert len(MANIFEST["config"]) >= 30
    on_disk = {f"config/{p.name}" for p in (CORPUS / "config").iterdir()}
    assert on_disk == set(MANIFEST["config"])
    states = {f"state/{p.name}" for p in (CORPUS / "state").iterdir()} - {"state/valid-in-flight.json"}
    assert states == set(MANIFEST["state"])


@pytest.mark.parametrize("case", sorted(MANIFEST["config"]))
@pytest.mark.parametrize("command", [("plan", "local", "--to", "1.30"), ("rehearse", "local", "--simulated")])
def test_a_broken_configuration_is_refused_naming_its_file_and_key(
    case: str, command: tuple[str, ...], tmp_path: Path
) -> None:
    project = _project(tmp_path / "project", (CORPUS / case).read_bytes())
    state = tmp_path / "state"
    state.mkdir()
    before = _snapshot(project, state)

    result = _run(project, *command, "--state", str(state))

    _assert_refused(result, "stacks/Pulumi.local.yaml", MANIFEST["config"][case]["key"])
    assert _snapshot(project, state) == before


@pytest.mark.parametrize("case", sorted(MANIFEST["config"]))
def test_fleet_validate_lists_the_problem_and_exits_2(case: str, tmp_path: Path) -> None:
    project = _project(tmp_path / "project", (CORPUS / case).read_bytes())

    result = _run(project, "validate", "local", "-o", "json")

    assert isinstance(result.exception, SystemExit) and result.exit_code == 2, result.output
    problems = json.loads(result.stdout)["problems"]
    assert problems and all(p["file"] == "stacks/Pulumi.local.yaml" for p in problems)
    key = MANIFEST["config"][case]["key"]
    if key is not None:
        assert key in {p["key"] for p in problems}


@pytest.mark.parametrize("case", sorted(MANIFEST["state"]))
def test_a_broken_state_file_is_refused_naming_its_file_and_key_and_left_untouched(case: str, tmp_path: Path) -> None:
    entry = MANIFEST["state"][case]
    project = _project(tmp_path / "project", STACK.encode())
    state = tmp_path / "state"
    env_dir = state / "local"
    env_dir.mkdir(parents=True)
    broken = (CORPUS / case).read_bytes()
    valid = (CORPUS / "state" / "valid-in-flight.json").read_bytes()
    commands: list[tuple[str, ...]]
    match entry["kind"]:
        case "state":
            target = env_dir / "state.json"
            target.write_bytes(broken)
            commands = [
                ("status", "local"),
                ("history", "local"),
                ("resume", "local"),
                ("rehearse", "local", "--simulated"),
            ]
            (state / "rehearsal.json").write_text(json.dumps({"env": "local", "faults": []}))
        case "lock":
            target = env_dir / "lock.json"
            target.write_bytes(broken)
            (env_dir / "state.json").write_bytes(valid)
            (state / "rehearsal.json").write_text(json.dumps({"env": "local", "faults": []}))
            commands = [("resume", "local")]
        case _:
            target = env_dir / "history.jsonl"
            target.write_bytes(broken)
            (env_dir / "state.json").write_bytes(valid)
            commands = [("history", "local")]
    before = _snapshot(project, state)

    for command in commands:
        result = _run(project, *command, "--state", str(state))
        _assert_refused(result, str(target), entry["key"])
        after = _snapshot(project, state)
        assert {k: v for k, v in after.items() if k in before} == before, f"{command} changed a file"
