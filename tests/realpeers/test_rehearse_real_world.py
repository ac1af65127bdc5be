"""``fleet rehearse local --world real``: the cutover's clusters are real API servers with real Flux."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from fleet.rehearsal.real import missing_parts

from .conftest import binaries_or_skip

REPO = Path(__file__).resolve().parents[2]
REVISION = re.compile(r"^main@sha1:[0-9a-f]{40}$")


def fleet(
    cwd: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("FLEET_")}
    base["FLEET_PROJECT"] = str(REPO)
    return subprocess.run(
        [sys.executable, "-m", "fleet", *args], capture_output=True, text=True, timeout=timeout, cwd=cwd,
        env={**base, **(env or {})}, stdin=subprocess.DEVNULL, check=False,
    )


def test_world_real_without_built_peers_is_a_usage_error_naming_the_build_command(tmp_path: Path) -> None:
    result = fleet(tmp_path, "rehearse", "local", "--world", "real", env={"FLEET_PEERS_CACHE": str(tmp_path)})

    assert result.returncode == 2, result.stderr
    assert "python3 tools/peers/build.py" in result.stderr
    assert result.stderr.strip().count("\n") == 0


@pytest.mark.realpeers
@pytest.mark.haproxy
@pytest.mark.timeout(600)
def test_a_rehearsal_on_the_real_world_cuts_over_on_revisions_real_flux_applied(tmp_path: Path) -> None:
    binaries_or_skip()
    if missing_parts():
        pytest.skip(f"the real rehearsal needs {', '.join(missing_parts())}")
    result = fleet(tmp_path, "rehearse", "local", "--world", "real", "--state", str(tmp_path / "s"),
                   "--output", "json", timeout=560)

    assert result.returncode == 0, result.stderr[-3000:]
    first_lines = result.stderr.splitlines()[:2]
    assert any(line.startswith("world: real") and "--world kmock" in line for line in first_lines), first_lines
    data = json.loads(result.stdout)
    assert data["status"]["state"]["cutover"]["phase"] == "DONE"
    assert data["cluster_world"] == "real"
    revisions = data["revisions"]
    assert set(revisions) == {"blue", "green"}
    assert revisions["blue"] == revisions["green"]
    (revision,) = revisions["green"].values()
    assert REVISION.match(revision), revision
    assert f"Flux applied on green: flux-system/flux-system {revision}" in result.stderr
    assert data["traffic"]["failed"] == 0
