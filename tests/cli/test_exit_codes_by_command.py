"""The exit-code contract, command by command: the codes each command can give, each produced once.

``tests/cli/test_exit_codes.py`` checks the table against ``--help`` and the
codes that need a scene (a lock, a rehearsal waiting for a person, a crash);
this file walks every command through its ordinary codes, so that a command
added or changed without its codes shows up here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_exit_codes import closed_port

NO_AWS = {
    "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "",  # empty: not found
    "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_DEFAULT_REGION": "us-east-1", "AWS_MAX_ATTEMPTS": "1",
}


@pytest.fixture
def done(fleet: Any, tmp_path: Path) -> str:
    """A store holding one finished (rehearsed) cutover of ``local``."""
    state = str(tmp_path / "done")
    assert fleet("rehearse", "local", "--simulated", "--state", state).code == 0
    return state


def test_every_command_exits_0_on_its_ordinary_path(fleet: Any, tmp_path: Path, done: str) -> None:
    empty = str(tmp_path / "empty")
    for args in (
        ("validate", "local"),
        ("status", "local", "--state", empty),
        ("status", "local", "--state", done),
        ("plan", "local", "--to", "1.30"),
        ("history", "local", "--state", done),
        ("history", "local", "--state", empty),  # a configured environment without a history yet
        ("state", "repair", "local", "--state", done),  # a whole history: nothing to do
        ("rollback", "local", "--state", empty),  # nothing in flight: 0 with a note
        ("abort", "local", "--state", empty),
        ("rehearse", "local", "--simulated", "--state", str(tmp_path / "r")),
    ):
        result = fleet(*args)
        assert result.code == 0, (args, result.err)


def test_every_command_exits_2_on_a_name_that_is_neither_configured_nor_recorded(fleet: Any, tmp_path: Path) -> None:
    state = str(tmp_path / "s")
    for args in (
        ("validate", "nowhere"), ("status", "nowhere"), ("plan", "nowhere", "--to", "1.30"), ("history", "nowhere"),
        ("cutover", "nowhere", "--to", "1.30"), ("resume", "nowhere"), ("rollback", "nowhere"), ("abort", "nowhere"),
        ("rehearse", "nowhere", "--simulated"), ("state", "repair", "nowhere"),
    ):
        result = fleet(*args, "--state", state) if args[0] != "rehearse" else fleet(*args)
        assert result.code == 2, (args, result.code, result.err)
        said = result.err + result.out
        assert "unknown environment 'nowhere'" in said or "no state to repair" in said, (args, said)


def test_production_commands_on_a_rehearsals_store_exit_2(fleet: Any, done: str) -> None:
    for args in (("cutover", "local", "--to", "1.31", "--dry-run"), ("cutover", "local", "--to", "1.31"),
                 ("rollback", "local"), ("abort", "local")):
        result = fleet(*args, "--state", done)
        assert result.code == 2, (args, result.err)
        assert "rehearsal's state" in result.err


def test_a_missing_s3_credential_is_5_for_every_command_that_reads_the_store(fleet: Any) -> None:
    env = {**NO_AWS, "FLEET_S3_ENDPOINT_URL": f"http://127.0.0.1:{closed_port()}"}
    for args in (("status", "local"), ("history", "local"), ("cutover", "local", "--to", "1.30"),
                 ("resume", "local"), ("rollback", "local"), ("abort", "local")):
        result = fleet(*args, "--state", "s3://fleet-state/ci", extra_env=env, timeout=120)
        assert result.code == 5, (args, result.code, result.err)
        assert "credentials" in result.err.lower(), (args, result.err)
        assert "Traceback" not in result.err
