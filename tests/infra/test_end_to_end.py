"""The real thing on a laptop: the Pulumi CLI, kind and Docker bring a slot up and take it down.

Skipped wherever one of them is missing (CI containers without a Docker
engine, this repository's development sandbox); the unit tests beside this
file cover the program and the adapter with Pulumi's mocks and a fake stack.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from fleet.adapters.pulumi_provisioner import PulumiProvisioner
from fleet.domain.model import Role, SlotName, SlotState, Version
from fleet.ports import Layout

ROOT = Path(__file__).resolve().parents[2]


def missing_tools() -> str | None:
    for tool in ("pulumi", "kind", "docker"):
        if shutil.which(tool) is None:
            return f"needs the `{tool}` binary on PATH"
    try:
        subprocess.run(["docker", "info"], check=True, capture_output=True, timeout=20)
    except (subprocess.SubprocessError, OSError):
        return "needs a running Docker engine (`docker info` failed)"
    return None


REASON = missing_tools()

pytestmark = [
    pytest.mark.pulumi_cli,
    pytest.mark.slow,
    pytest.mark.skipif(REASON is not None, reason=REASON or ""),
    pytest.mark.timeout(1800),
]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the project with a throwaway file backend, so the real stacks are untouched."""
    work = tmp_path / "project"
    work.mkdir()
    shutil.copy(ROOT / "Pulumi.yaml", work / "Pulumi.yaml")
    shutil.copytree(ROOT / "stacks", work / "stacks")
    (work / "fleet").symlink_to(ROOT / "fleet")
    (work / ".venv").symlink_to(ROOT / ".venv")
    backend = tmp_path / "backend"
    backend.mkdir()
    monkeypatch.setenv("PULUMI_BACKEND_URL", backend.as_uri())
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", os.environ.get("PULUMI_CONFIG_PASSPHRASE", "fleet-e2e"))
    monkeypatch.setenv("PULUMI_SKIP_UPDATE_CHECK", "true")
    return work


def test_a_kind_slot_is_provisioned_bootstrapped_drained_and_destroyed(project: Path) -> None:
    lines: list[str] = []
    fleet = PulumiProvisioner(project, lines.append)
    layout = Layout("local", {SlotName.BLUE: SlotState(Role.ACTIVE, Version(1, 29))})
    try:
        outputs = fleet.provision(layout, SlotName.BLUE, Version.parse("1.29.2"))
        assert outputs.endpoint.startswith("https://127.0.0.1:")
        fleet.bootstrap(layout, SlotName.BLUE)
        fleet.drain(layout, SlotName.BLUE)
    finally:
        fleet.destroy(layout, SlotName.BLUE)
    assert fleet.outputs("local", SlotName.BLUE) is None
    assert lines, "Pulumi's output should have been streamed"
