"""``fleet upgrade`` from the command line: the dry run a pipeline branches on, windows, configuration errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]


def project(tmp_path: Path, envs: dict[str, dict[str, Any]]) -> Path:
    """A project whose environments are copies of the `local` sample with their own ``fleet:upgrade``."""
    base = yaml.safe_load((REPO / "stacks" / "Pulumi.local.yaml").read_text())
    (tmp_path / "stacks").mkdir()
    (tmp_path / "Pulumi.yaml").write_text((REPO / "Pulumi.yaml").read_text())
    for name, upgrade in envs.items():
        doc = json.loads(json.dumps(base))
        doc["config"]["fleet:upgrade"] = upgrade
        (tmp_path / "stacks" / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump(doc))
    return tmp_path


def fleet(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEET_")}
    env["FLEET_PROJECT"] = str(root)
    return subprocess.run(  # noqa: PLW1510
        [sys.executable, "-m", "fleet", *args, "--state", str(root / "state")],
        capture_output=True, text=True, timeout=60, env=env, cwd=root, stdin=subprocess.DEVNULL,
    )


def test_dry_run_json_lists_per_wave_the_environments_due_as_a_ci_matrix(tmp_path: Path) -> None:
    root = project(tmp_path, {
        "dev-a": {"channel": "minor", "wave": "dev"},
        "dev-b": {"channel": "pinned", "wave": "dev"},   # pinned to its fleet:cluster.version: current
        "prod-a": {"channel": "patch", "wave": "prod"},  # 1.29 -> 1.29.14 (kind's tag table)
    })

    done = fleet(root, "upgrade", "--wave", "dev,prod", "--dry-run", "--output", "json")

    assert done.returncode == 1, done.stderr
    data = json.loads(done.stdout)
    assert data["due"] is True
    dev, prod = data["waves"]
    assert dev["wave"] == "dev" and dev["ready"] is True
    assert dev["matrix"] == {"include": [{"env": "dev-a", "to": "1.30.10"}]}
    assert prod["ready"] is False and prod["matrix"]["include"] == [{"env": "prod-a", "to": "1.29.14"}]
    states = {r["environment"]: r["state"] for r in data["environments"]}
    assert states == {"dev-a": "upgrade", "dev-b": "current", "prod-a": "not started"}


def test_dry_run_exits_0_when_everything_is_current(tmp_path: Path) -> None:
    root = project(tmp_path, {"dev-a": {"channel": "pinned", "version": "1.29"}})
    done = fleet(root, "upgrade", "--dry-run", "--output", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["due"] is False


def test_outside_its_window_upgrade_refuses_with_the_next_window(tmp_path: Path) -> None:
    # A window one minute long, on the weekday three days from now: outside it; the message names it.
    from datetime import UTC, datetime

    day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[(datetime.now(UTC).weekday() + 3) % 7]
    root = project(tmp_path, {"dev-a": {"channel": "minor", "windows": [
        {"days": [day], "start": "03:00", "duration": "1m", "zone": "Asia/Kolkata"}]}})

    done = fleet(root, "upgrade", "dev-a")

    assert done.returncode == 1
    assert "outside the maintenance windows" in done.stderr and "IST" in done.stderr and "--now" in done.stderr
    assert not (root / "state" / "dev-a").exists(), "nothing was started"


def test_a_bad_upgrade_key_is_a_configuration_error_naming_file_and_key(tmp_path: Path) -> None:
    root = project(tmp_path, {"dev-a": {"channel": "fastest"}})
    done = fleet(root, "upgrade", "--dry-run")
    assert done.returncode == 2
    assert "stacks/Pulumi.dev-a.yaml:fleet:upgrade.channel" in done.stderr
    checked = fleet(root, "validate", "dev-a", "--output", "json")
    assert checked.returncode == 2 and "fleet:upgrade.channel" in checked.stdout


def test_several_environments_run_as_one_process_each_and_report_where_each_was_left(tmp_path: Path) -> None:
    """Two due environments, both outside their windows: each child `fleet upgrade ENV` refuses (exit 1)."""
    from datetime import UTC, datetime

    day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[(datetime.now(UTC).weekday() + 3) % 7]
    shut = [{"days": [day], "start": "03:00", "duration": "1m", "zone": "UTC"}]
    root = project(tmp_path, {"a": {"channel": "minor", "windows": shut}, "b": {"channel": "pinned"}})

    from fleet.domain.model import Version
    from fleet.domain.versions import Resolution
    from fleet.domain.waves import Action, EnvPlan
    from fleet.upgrade.rollout import ProcessRunner

    runner = ProcessRunner(state=str(root / "state"), now=False, yes=True, project=str(root))
    assert runner.command("a")[-6:] == ["a", "--output", "json", "--yes", "--state", str(root / "state")]
    plan = EnvPlan("a", "all", Version(1, 29), Version(1, 30, 10), Action.UPGRADE, Resolution(
        Version(1, 29), Version(1, 30, 10), "next minor").reason)
    result = runner.run(plan)
    assert not result.ok and result.exit_code == 1 and result.phase == "outside-window"
    assert "next:" in result.message

    done = fleet(root, "upgrade", "--output", "json")
    assert done.returncode == 1
    rows = {r["environment"]: r["state"] for r in json.loads(done.stdout)["environments"]}
    assert rows == {"a": "outside-window", "b": "current"}


def test_resume_of_a_cutover_held_by_its_window_waits_for_the_next_window(tmp_path: Path) -> None:
    """`fleet resume` outside the windows refuses (exit 1, the next window) before touching any provider."""
    from datetime import UTC, datetime

    from fleet.config import load_environment
    from fleet.domain.model import Version
    from fleet.state.local import LocalStateStore
    from tests.fleetkit import Fleet

    day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[(datetime.now(UTC).weekday() + 3) % 7]
    root = project(tmp_path, {"a": {"channel": "minor", "windows": [
        {"days": [day], "start": "03:00", "duration": "1m", "zone": "Australia/Sydney"}]}})
    store = LocalStateStore(root / "state")
    fake = Fleet()
    config = load_environment(root, "a")
    held = fake.engine(store).cutover(config, Version(1, 30), window_end=fake.clock.now() + 1200)
    assert held.cutover is not None and held.cutover.paused is not None
    before = store.history("a")

    done = fleet(root, "resume", "a")

    assert done.returncode == 1
    assert "outside its maintenance windows; next:" in done.stderr
    assert "AEDT" in done.stderr or "AEST" in done.stderr
    assert "--now" in done.stderr
    assert store.history("a") == before, "nothing was recorded"
