"""The exit codes are a contract: the README's table, ``fleet --help`` and every command agree.

0 done; 1 halted or rolled back (``--dry-run``: a cutover would run); 2 usage
or configuration; 3 locked; 4 waiting for a person; 5 could not reach a
provider or store, nothing changed; 137 (SIGKILL) a rehearsal's crash fault.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
from pathlib import Path
from typing import Any

from fleet.cli import EXIT_CODES
from fleet.state.local import LocalStateStore
from tests.fleetkit import NEW_VERSION, Fleet, environment

REPO = Path(__file__).resolve().parents[2]


def without_pulumi() -> str:
    paths = os.environ.get("PATH", "").split(os.pathsep)
    return os.pathsep.join(p for p in paths if not shutil.which("pulumi", path=p))


def no_engine(tmp_path: Path) -> dict[str, str]:
    """Neither an installed pulumi nor the one tools/peers/build.py builds (fleet would use that one)."""
    return {"PATH": without_pulumi(), "FLEET_PEERS_CACHE": str(tmp_path / "no-peers")}


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_readme_table_and_help_list_the_same_codes(fleet: Any) -> None:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    documented = [int(code) for code in re.findall(r"^\| (\d+) \|", section, flags=re.M)]
    help_text = fleet("--help").out

    assert documented == [code for code, _ in EXIT_CODES]
    for code, meaning in EXIT_CODES:
        assert re.search(rf"^\s+{code}\s+{re.escape(meaning[:30])}", help_text, flags=re.M), (code, help_text)


def test_rehearse_exits_0_when_done_and_1_when_rolled_back(fleet: Any, tmp_path: Path) -> None:
    assert fleet("rehearse", "local", "--simulated", "--state", str(tmp_path / "a")).code == 0
    rolled = fleet("rehearse", "local", "--simulated", "--state", str(tmp_path / "b"), "--fault", "analysis-fails-at=2")
    assert rolled.code == 1
    assert "ROLLED_BACK" in rolled.out


def test_waiting_for_a_person_to_confirm_the_teardown_is_4_and_resume_yes_finishes_with_0(
    fleet: Any, tmp_path: Path
) -> None:
    state = str(tmp_path / "s")

    asked = fleet("rehearse", "local", "--simulated", "--state", state, "--confirm-teardown", "ask")
    assert asked.code == 4, asked.err
    assert "waiting for a person" in asked.out and "fleet resume local" in asked.out and "--yes" in asked.out

    still = fleet("resume", "local", "--state", state)
    assert still.code == 4  # no terminal, no --yes: still waiting, the old slot kept

    done = fleet("resume", "local", "--state", state, "--yes")
    assert done.code == 0, done.err
    assert "local: DONE" in done.out


def test_rollback_and_abort_with_nothing_in_flight_exit_0_with_a_note(fleet: Any, tmp_path: Path) -> None:
    state = str(tmp_path / "s")  # a real environment's finished cutover (a rehearsal's state is refused here)
    Fleet().engine(LocalStateStore(Path(state), rehearsal=False)).cutover(environment(), NEW_VERSION)

    for command, verb in (("rollback", "roll back"), ("abort", "abort")):
        result = fleet(command, "local", "--state", state)
        assert result.code == 0, result.err
        assert f"no cutover in flight, nothing to {verb}" in result.out
        assert "cutover to 1.30: DONE" in result.out
    empty = fleet("rollback", "local", "--state", str(tmp_path / "empty"), "--output", "json")
    assert empty.code == 0
    assert empty.json()["ok"] is True and empty.json()["exit_code"] == 0


def test_resume_with_nothing_in_flight_is_2_and_starts_nothing(fleet: Any, tmp_path: Path) -> None:
    state = tmp_path / "s"
    assert fleet("rehearse", "local", "--state", str(state)).code == 0

    result = fleet("resume", "local", "--state", str(state))

    assert result.code == 2
    assert "no cutover in flight" in result.err and "nothing to resume" in result.err
    assert "restarting its HAProxy" not in result.err


def test_usage_and_configuration_errors_are_2(fleet: Any, tmp_path: Path) -> None:
    assert fleet("plan", "local", "--to", "latest").code == 2
    assert fleet("plan", "nowhere", "--to", "1.30").code == 2
    assert fleet("status", "--health").code == 2  # --health needs one environment
    assert fleet("rehearse", "local", "--simulated", "--fault", "meteor-strike").code == 2
    assert fleet("cutover", "local").code == 2  # --to missing: click's own usage error


def test_a_locked_environment_is_3(fleet: Any, tmp_path: Path) -> None:
    store = LocalStateStore(tmp_path / "s")
    with store.lock("local", lease_s=60):
        result = fleet("cutover", "local", "--to", "1.30", "--state", str(tmp_path / "s"))

    assert result.code == 3
    assert result.err.startswith("fleet: environment 'local' is locked by")


def test_a_state_store_that_cannot_be_reached_is_5(fleet: Any, tmp_path: Path) -> None:
    env = {
        "FLEET_S3_ENDPOINT_URL": f"http://127.0.0.1:{closed_port()}",
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_MAX_ATTEMPTS": "1",
    }

    for args in (("status", "local"), ("cutover", "local", "--to", "1.30"), ("rollback", "local")):
        result = fleet(*args, "--state", "s3://fleet-state/ci", extra_env=env, timeout=120)
        assert result.code == 5, (args, result.err)
        assert "Traceback" not in result.err


def test_status_health_that_could_not_ask_is_5_and_says_so_in_its_own_column(fleet: Any, tmp_path: Path) -> None:
    state = str(tmp_path / "s")
    assert fleet("rehearse", "local", "--simulated", "--state", state).code == 0

    table = fleet("status", "local", "--health", "--state", state, extra_env=no_engine(tmp_path))
    data = fleet("status", "local", "--health", "--state", state, "--output", "json",
                 extra_env=no_engine(tmp_path))

    assert table.code == data.code == 5
    assert "could not ask" in table.out
    rows = data.json()["health"]
    assert rows and all(row["asked"] is False and row["reconciled"] is None for row in rows)
    assert "`pulumi` is not on PATH" in rows[0]["error"]
    assert data.json()["could_not_ask"] == len(rows)


def test_dry_run_is_0_with_nothing_to_do_1_with_a_cutover_to_run_like_detailed_exitcode(
    fleet: Any, tmp_path: Path
) -> None:
    result = fleet("cutover", "local", "--to", "1.30", "--dry-run", "--state", str(tmp_path / "s"))
    assert result.code == 1
    assert fleet("cutover", "local", "--to", "x", "--dry-run").code == 2
    help_text = " ".join(fleet("cutover", "--help").out.split())
    assert "terraform plan -detailed-exitcode" in help_text


def test_a_crash_fault_kills_the_rehearsal_with_sigkill(fleet: Any, tmp_path: Path) -> None:
    result = fleet("rehearse", "local", "--simulated", "--state", str(tmp_path / "s"), "--fault", "crash-after=SHIFT")

    assert result.code == -9  # a shell reports it as 137 (128 + SIGKILL)
    assert "fleet resume local --state" in result.err


def test_the_error_prefix_is_never_doubled(fleet: Any, tmp_path: Path) -> None:
    result = fleet("cutover", "local", "--to", "1.30", "--state", str(tmp_path / "s"),
                   extra_env=no_engine(tmp_path))

    assert result.code == 2
    assert not result.err.startswith("fleet: fleet")
    assert result.err.startswith("fleet cutover provisions slots with the Pulumi CLI")
