"""kill -9 of `fleet cutover` during `pulumi up`, and of `fleet resume` during the destroy, then `fleet resume`.

Only fleet's own process is killed, as an OOM kill or a lost terminal would:
the Pulumi CLI it started, the language host and the providers (each in a
process group of its own) are not told. ``fleet resume`` must then stop
those orphans (they carry fleet's ``FLEET_CALL`` mark; the slot hosts do
not), clear the lock and the pending operations they left, adopt the green
slot whose host was already starting, and finish: the stack then holds
exactly the resources an uninterrupted run leaves (the seeded stack's, with
green in blue's place: type and name of each, no ids or timestamps), one slot
host runs, no Pulumi process is left, and no request failed through it all
(traffic is on blue while green is created and on green while blue is
destroyed).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from fleet.rehearsal.load import failures
from tests.realpulumi.conftest import Pulumi
from tests.realpulumi.demo_world import (
    Running,
    demo_traffic,
    pulumi_leftovers,
    resource_keys,
    run_fleet,
    slot_host_pids,
    stack_outputs,
)

pytestmark = [pytest.mark.realpulumi, pytest.mark.slow, pytest.mark.timeout(2400)]


def test_kill_9_during_up_and_during_destroy_then_resume_finishes_the_same(
    demo_project: Path, pulumi_env: dict[str, str], pulumi: Pulumi
) -> None:
    project = demo_project
    home = pulumi_env["PULUMI_HOME"]
    pulumi(project, "stack", "init", "demo")
    try:
        pulumi(project, "up", "--yes", "--skip-preview", "-s", "demo", timeout_s=600)
        seeded = resource_keys(pulumi, project)
        uninterrupted = sorted(key.replace("blue", "green") for key in seeded)

        with demo_traffic(project) as traffic:
            cutover = Running(project, pulumi_env, "cutover", "demo", "--to", "1.37", "--yes")
            cutover.wait_for("demo-green-local", "creating", timeout_s=600)
            time.sleep(2)
            cutover.kill()
            left_by_up = len(pulumi_leftovers(home))
            pending = json.loads(pulumi(project, "stack", "export", "-s", "demo", check=False).stdout or "{}")
            status = run_fleet(project, pulumi_env, "status", "demo", "--output", "json")
            assert json.loads(status.stdout)[0]["state"]["cutover"]["phase"] == "PROVISION", "killed in PROVISION"

            resume = Running(project, pulumi_env, "resume", "demo", "--yes")
            resume.wait_for("demo-blue-local", "deleting", timeout_s=1200)
            time.sleep(1)
            resume.kill()
            left_by_destroy = len(pulumi_leftovers(home))

            done = run_fleet(project, pulumi_env, "resume", "demo", "--yes", "--output", "json", timeout_s=900)
            records = traffic.load.stop()
        assert json.loads(done.stdout)["ok"] is True, done.stdout + done.stderr
        pending_ops = len(pending.get("deployment", {}).get("pending_operations") or [])
        print(f"Pulumi processes orphaned: {left_by_up} by the kill during up, {left_by_destroy} during destroy; "
              f"pending operations after the first kill: {pending_ops}")

        assert pulumi_leftovers(home) == [], "fleet resume stops the Pulumi processes a killed run left"
        assert len(slot_host_pids(project)) == 1, "green's host, adopted, not doubled; blue's stopped"
        assert resource_keys(pulumi, project) == uninterrupted
        outputs = stack_outputs(pulumi, project)
        assert outputs["green_role"] == "active" and outputs["green_version"] == "1.37"
        assert not any(key.startswith("blue_") for key in outputs), outputs
        state = json.loads(run_fleet(project, pulumi_env, "status", "demo", "--output", "json").stdout)[0]["state"]
        assert state["slots"]["green"]["role"] == "active" and state["weights"] == {"blue": 0, "green": 100}
        assert state["cutover"]["phase"] == "DONE"
        assert records and failures(records) == [], "no request may fail through the kills"
    finally:
        pulumi(project, "destroy", "--yes", "--skip-preview", "-s", "demo", timeout_s=600)
    assert slot_host_pids(project) == []
    assert pulumi_leftovers(home) == []
