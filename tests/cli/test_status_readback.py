"""``fleet status`` shows what the traffic provider itself says next to the record, on a real HAProxy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fleet.rehearsal.backends import slot_backends
from fleet.rehearsal.haproxy_process import HAProxyProcess
from fleet.state.local import LocalStateStore
from tests.cli.test_commands import copy_project
from tests.fleetkit import NEW_VERSION, Fleet, environment
from tests.traffic.support import needs_haproxy

pytestmark = needs_haproxy


def test_status_reports_drift_with_both_values_and_agreement(fleet: Any, tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    state = str(tmp_path / "s")
    # A real environment's finished cutover records blue 0 / green 100 (a rehearsal's state is not read back).
    Fleet().engine(LocalStateStore(Path(state), rehearsal=False)).cutover(environment(), NEW_VERSION)
    with slot_backends("blue", "green") as backends, HAProxyProcess(
        {name: b.address for name, b in backends.items()}, weights={"blue": 100, "green": 0}
    ) as haproxy:
        stack = project / "stacks" / "Pulumi.local.yaml"
        stack.write_text(stack.read_text().replace("/run/haproxy/admin.sock", haproxy.socket_path))
        env = {"FLEET_PROJECT": str(project)}

        drifted = fleet("status", "local", "--state", state, "--output", "json", extra_env=env)
        haproxy.ask(b"set server app/blue weight 0; set server app/green weight 100\n")
        agreed = fleet("status", "local", "--state", state, extra_env=env)

    assert drifted.code == 0, drifted.err
    [entry] = drifted.json()
    assert entry["traffic"]["weights"] == "blue 100% / green 0%"
    assert entry["traffic"]["drift"] == "fleet recorded blue 0% / green 100%, haproxy has blue 100% / green 0%"
    assert entry["traffic"]["slots"]["green"]["state"] == "UP"
    assert agreed.code == 0 and "agrees" in agreed.out, agreed.out
