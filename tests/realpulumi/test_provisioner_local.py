"""fleet's Automation API provisioner on the real engine and the `local` driver.

What the kind end-to-end test did with kind and Docker (it never ran here
and is gone, with its ``pulumi_cli`` marker), on a machine with neither:
provision a slot (a real API server), bootstrap Flux, drain it, destroy it,
through :class:`PulumiProvisioner` exactly as ``fleet cutover`` drives it.
Then the crash case: a process running ``provision`` is killed with SIGKILL
while ``pulumi up`` is creating the slot; ``refresh`` (what ``fleet resume``
runs first; it also kills the Pulumi plugins the killed run left, found by
fleet's mark in their environment) and a second ``provision`` end with one
slot, the same stack resources as an uninterrupted run, and no orphan
process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fleet.adapters.pulumi_provisioner import PulumiProvisioner
from fleet.domain.model import Role, SlotName, SlotState, Version
from fleet.ports import Layout
from tests.realpulumi.conftest import Pulumi
from tests.realpulumi.demo_world import pulumi_leftovers, slot_host_pids

pytestmark = [pytest.mark.realpulumi, pytest.mark.slow, pytest.mark.timeout(1200)]

LAYOUT = Layout("demo", {SlotName.BLUE: SlotState(Role.ACTIVE, Version(1, 36))})


@pytest.fixture
def engine(pulumi_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """The Automation API runs `pulumi` from this process's environment."""
    for key in ("PATH", "PULUMI_BACKEND_URL", "PULUMI_HOME", "PULUMI_CONFIG_PASSPHRASE",
                "PULUMI_SKIP_UPDATE_CHECK", "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION",
                "PULUMI_DIY_BACKEND_NO_LEGACY_WARNING"):
        monkeypatch.setenv(key, pulumi_env[key])
    monkeypatch.setenv("FLEET_STATE", str(tmp_path / "store"))
    return pulumi_env


def resource_types(pulumi: Pulumi, project: Path) -> list[str]:
    state = json.loads(pulumi(project, "stack", "export", "-s", "demo").stdout)
    return sorted(r["type"] + "::" + r["urn"].rsplit("::", 1)[1] for r in state["deployment"].get("resources") or [])


def test_provision_bootstrap_drain_destroy_through_the_automation_api(
    demo_project: Path, engine: dict[str, str], pulumi: Pulumi
) -> None:
    project = demo_project
    lines: list[str] = []
    fleet = PulumiProvisioner(project, lines.append)
    fleet.preflight()
    try:
        outputs = fleet.provision(LAYOUT, SlotName.BLUE, Version(1, 36))
        assert outputs.endpoint.startswith("https://127.0.0.1:")
        assert json.loads(outputs.kubeconfig.reveal())["kind"] == "Config"
        assert len(slot_host_pids(project)) == 1
        fleet.bootstrap(LAYOUT, SlotName.BLUE)
        fleet.drain(LAYOUT, SlotName.BLUE)
    finally:
        fleet.destroy(LAYOUT, SlotName.BLUE)
    assert fleet.outputs("demo", SlotName.BLUE) is None
    assert slot_host_pids(project) == []
    assert not (project / ".fleet" / "local" / "demo-blue").exists()
    assert lines, "Pulumi's output should have been streamed"


PROVISION = """
import sys
from pathlib import Path
from fleet.adapters.pulumi_provisioner import PulumiProvisioner
from fleet.domain.model import Role, SlotName, SlotState, Version
from fleet.ports import Layout
layout = Layout("demo", {SlotName.BLUE: SlotState(Role.ACTIVE, Version(1, 36))})
fleet = PulumiProvisioner(Path(sys.argv[1]), lambda line: print(line, flush=True))
fleet.provision(layout, SlotName.BLUE, Version(1, 36))
"""


def test_kill_9_during_pulumi_up_then_refresh_and_provision_converge_to_one_slot(
    demo_project: Path, engine: dict[str, str], pulumi: Pulumi
) -> None:
    project = demo_project
    fleet = PulumiProvisioner(project, lambda line: None)
    runner = subprocess.Popen(
        [sys.executable, "-c", PROVISION, str(project)], env=dict(os.environ), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    try:
        assert runner.stdout is not None
        deadline = time.monotonic() + 300
        for line in runner.stdout:  # kill the whole run (fleet, pulumi, plugins) once the slot is being created
            if "demo-blue-local" in line and "creating" in line:
                break
            assert time.monotonic() < deadline, "pulumi up never started creating the slot"
        time.sleep(2)
        os.killpg(runner.pid, signal.SIGKILL)  # the CLI dies with the group; its plugins, in groups of their own, not
        runner.wait(30)
        pending = json.loads(pulumi(project, "stack", "export", "-s", "demo").stdout)["deployment"]
        assert pending.get("pending_operations"), "the kill should have left a pending create"

        fleet.refresh(LAYOUT)
        assert pulumi_leftovers(engine["PULUMI_HOME"]) == [], "refresh stops the plugins the killed run left"
        fleet.provision(LAYOUT, SlotName.BLUE, Version(1, 36))
        assert len(slot_host_pids(project)) == 1, "the host started before the kill is adopted, not doubled"
        interrupted = resource_types(pulumi, project)
    finally:
        if runner.poll() is None:
            os.killpg(runner.pid, signal.SIGKILL)
            runner.wait(30)
        fleet.destroy(LAYOUT, SlotName.BLUE)
    assert slot_host_pids(project) == []

    fleet.provision(LAYOUT, SlotName.BLUE, Version(1, 36))
    try:
        assert resource_types(pulumi, project) == interrupted
    finally:
        fleet.destroy(LAYOUT, SlotName.BLUE)
    assert slot_host_pids(project) == []
