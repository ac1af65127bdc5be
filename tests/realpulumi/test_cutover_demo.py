"""`fleet cutover demo --to 1.37 --yes` end to end on the real engine, real Flux and a real HAProxy.

The path a user takes: a hand-run ``pulumi up -s demo`` brings the active
slot (blue) with Flux bootstrapped against the local Git repository; then
``fleet cutover`` creates green through the Automation API (a real
kube-apiserver and real Flux controllers on this machine), the health gate
reads the real API server until Flux has applied the same revision, HAProxy's
runtime API moves the weights while real requests flow through it, and blue
is destroyed by Pulumi after the bake. Afterwards ``fleet status`` and
``pulumi stack output`` agree, a hand-run ``pulumi preview`` (from the
project root and from ``fleet/infra/``) plans no change to the live slot,
and with fleet's store missing it refuses to plan at all.

Needs the engine and the peers (``python3 tools/peers/build.py``) and
HAProxy; skips naming them otherwise (fails under FLEET_REQUIRE_PEERS=1).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from fleet.infra.local_slot import process_alive
from fleet.rehearsal.load import failures
from tests.realpulumi.conftest import Pulumi
from tests.realpulumi.demo_world import demo_traffic, run_fleet, slot_host_pids, stack_outputs

pytestmark = [pytest.mark.realpulumi, pytest.mark.slow, pytest.mark.timeout(1800)]


def test_fleet_cutover_demo_end_to_end(demo_project: Path, pulumi_env: dict[str, str], pulumi: Pulumi) -> None:
    project = demo_project
    pulumi(project, "stack", "init", "demo")
    try:
        pulumi(project, "up", "--yes", "--skip-preview", "-s", "demo", timeout_s=600)
        before = stack_outputs(pulumi, project)
        assert before["blue_role"] == "active" and before["blue_bootstrapped"] is True
        assert "green_kubeconfig" not in before
        blue_host = slot_host_pids(project)
        assert len(blue_host) == 1

        with demo_traffic(project) as traffic:
            done = run_fleet(project, pulumi_env, "cutover", "demo", "--to", "1.37", "--yes", "--output", "json",
                             timeout_s=1200)
            records = traffic.load.stop()
        result = json.loads(done.stdout)
        assert result["ok"] is True, done.stdout + done.stderr
        assert records, "the load generator sent nothing"
        assert failures(records) == [], "a healthy cutover must not fail a request"
        last = [r for r in records if r.at >= records[-1].at - 2.0]
        assert last and {r.slot for r in last} == {"green"}, "at the end every request goes to green"
        assert traffic.backends["green"].served > 0 and traffic.backends["blue"].served > 0

        # fleet's record and Pulumi's stack agree: green is the active slot at 1.37, blue is gone.
        status = json.loads(run_fleet(project, pulumi_env, "status", "demo", "--output", "json").stdout)
        state = status[0]["state"]
        assert state["slots"]["green"] == {"role": "active", "version": "1.37", "healthy": True}
        assert state["slots"].get("blue", {"role": "absent"})["role"] == "absent"
        assert state["weights"] == {"blue": 0, "green": 100}
        outputs = stack_outputs(pulumi, project)
        assert outputs["green_role"] == "active" and outputs["green_version"] == "1.37"
        assert outputs["green_bootstrapped"] is True
        assert not any(key.startswith("blue_") for key in outputs), outputs
        assert not process_alive(blue_host[0]), "Pulumi's destroy of blue stops its host"
        assert not (project / ".fleet" / "local" / "demo-blue").exists()
        assert len(slot_host_pids(project)) == 1

        health = json.loads(
            run_fleet(project, pulumi_env, "status", "demo", "--health", "--output", "json").stdout
        )["health"]
        assert health and {row["slot"] for row in health} == {"green"}
        assert all(row["asked"] and row["reconciled"] for row in health), health

        # A hand-run preview, from the root and from the program's directory, plans nothing for the live slot.
        for where in (project, project / "fleet" / "infra"):
            again = pulumi(where, "preview", "--expect-no-changes", "-s", "demo", check=False)
            assert again.returncode == 0, f"from {where}:\n{again.stdout}\n{again.stderr}"

        # Without fleet's store it refuses to plan (seeding blue would delete green), and changes nothing.
        store = project / ".fleet" / "state"
        shutil.move(store, project / ".fleet" / "state-away")
        try:
            refused = pulumi(project, "preview", "-s", "demo", check=False)
            assert refused.returncode != 0
            assert "refusing to seed" in refused.stdout + refused.stderr
        finally:
            shutil.move(project / ".fleet" / "state-away", store)
    finally:
        pulumi(project, "destroy", "--yes", "--skip-preview", "-s", "demo", timeout_s=600)
    assert slot_host_pids(project) == []
    assert not (project / ".fleet" / "local").exists() or not any((project / ".fleet" / "local").iterdir())
    exported = json.loads(pulumi(project, "stack", "export", "-s", "demo").stdout)
    assert (exported["deployment"].get("resources") or []) == []
    assert os.environ.get("FLEET_LAYOUT") is None
