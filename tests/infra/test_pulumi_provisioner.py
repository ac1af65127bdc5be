"""PulumiProvisioner: what it asks Pulumi to converge to, and how Pulumi's failures reach fleet."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from pulumi.automation import errors as auto_errors
from pulumi.automation._cmd import CommandResult

from fleet.adapters.pulumi_provisioner import PulumiProvisioner
from fleet.domain.model import Role, SlotName, SlotState, Version
from fleet.domain.reports import Secret
from fleet.errors import LockedError, ProvisioningFailed
from fleet.ports import Layout


@dataclass
class Out:
    value: Any
    secret: bool = False


@dataclass
class FakeStack:
    """Stands in for ``pulumi.automation.Stack``; ``up`` applies the layout it was opened with."""

    world: FakePulumi
    env_vars: Mapping[str, str]

    def up(self, *, on_output: Callable[[str], Any], suppress_outputs: bool) -> None:
        self.world.calls.append(("up", dict(self.env_vars)))
        for line in self.world.lines:
            on_output(line)
        if self.world.fail is not None:
            raise self.world.fail
        layout = json.loads(self.env_vars["FLEET_LAYOUT"])
        self.world.outputs = {}
        for slot, entry in layout["slots"].items():
            self.world.outputs.update(
                {
                    f"{slot}_kubeconfig": Out(f"kubeconfig-of-{slot}", secret=True),
                    f"{slot}_endpoint": Out(f"https://{slot}.example"),
                    f"{slot}_version": Out(entry.get("version", "1.29")),
                    f"{slot}_ingress": Out(f"{slot}.lb.example"),
                    f"{slot}_bootstrapped": Out(entry["bootstrap"]),
                }
            )

    def refresh(self, *, on_output: Callable[[str], Any], clear_pending_creates: bool) -> None:
        self.world.calls.append(("refresh", {"clear_pending_creates": clear_pending_creates, **self.env_vars}))
        if self.world.fail is not None:
            raise self.world.fail

    def outputs(self) -> dict[str, Out]:
        return dict(self.world.outputs)

    def destroy(self, **_: Any) -> None:
        raise AssertionError("fleet must never destroy the whole stack")


@dataclass
class FakePulumi:
    outputs: dict[str, Out] = field(default_factory=dict)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    fail: Exception | None = None
    opened: list[str] = field(default_factory=list)

    def open(self, env: str, env_vars: Mapping[str, str]) -> FakeStack:
        self.opened.append(env)
        return FakeStack(self, env_vars)

    def layouts(self) -> list[dict[str, Any]]:
        return [json.loads(env["FLEET_LAYOUT"]) for op, env in self.calls if op == "up"]


def provisioner(
    world: FakePulumi, shown: list[str] | None = None, drained: list[Secret] | None = None
) -> PulumiProvisioner:
    return PulumiProvisioner(
        "/repo",
        (shown if shown is not None else []).append,
        stack_factory=world.open,
        drainer=(drained if drained is not None else []).append,
    )


BLUE_LIVE = Layout(
    "staging", {SlotName.BLUE: SlotState(Role.ACTIVE, Version(1, 29)), SlotName.GREEN: SlotState(Role.ABSENT)}
)


def live_blue() -> FakePulumi:
    world = FakePulumi()
    world.outputs = {
        "blue_kubeconfig": Out("kubeconfig-of-blue", secret=True),
        "blue_endpoint": Out("https://blue.example"),
        "blue_version": Out("1.29"),
        "blue_ingress": Out("blue.lb.example"),
        "blue_bootstrapped": Out(True),
    }
    return world


def test_provisioning_passes_the_whole_layout_with_the_new_slot_not_yet_bootstrapped() -> None:
    world = live_blue()
    outputs = provisioner(world).provision(BLUE_LIVE, SlotName.GREEN, Version(1, 30))
    (layout,) = world.layouts()
    assert layout == {
        "env": "staging",
        "slots": {
            "blue": {"role": "active", "version": "1.29", "bootstrap": True},
            "green": {"role": "standby", "version": "1.30", "bootstrap": False},
        },
    }
    assert outputs.slot is SlotName.GREEN and outputs.version == Version(1, 30)
    assert outputs.kubeconfig == Secret("kubeconfig-of-green")
    assert outputs.endpoint == "https://green.example" and outputs.ingress == "green.lb.example"


def test_the_stack_is_the_environment() -> None:
    world = live_blue()
    provisioner(world).provision(BLUE_LIVE, SlotName.GREEN, Version(1, 30))
    assert set(world.opened) == {"staging"}


def test_bootstrapping_installs_flux_on_the_slot_and_keeps_it_on_the_other() -> None:
    world = live_blue()
    fleet = provisioner(world)
    fleet.provision(BLUE_LIVE, SlotName.GREEN, Version(1, 30))
    both = Layout("staging", {**BLUE_LIVE.slots, SlotName.GREEN: SlotState(Role.STANDBY, Version(1, 30))})
    fleet.bootstrap(both, SlotName.GREEN)
    assert world.layouts()[-1]["slots"]["green"]["bootstrap"] is True
    assert world.layouts()[-1]["slots"]["blue"]["bootstrap"] is True


def test_a_slot_given_without_a_version_keeps_its_recorded_one() -> None:
    world = live_blue()
    provisioner(world).bootstrap(Layout("staging", {SlotName.BLUE: SlotState(Role.ACTIVE)}), SlotName.BLUE)
    assert world.layouts()[-1]["slots"]["blue"]["version"] == "1.29"


def test_destroying_a_slot_converges_to_a_layout_without_it_and_never_destroys_the_stack() -> None:
    world = live_blue()
    fleet = provisioner(world)
    fleet.provision(BLUE_LIVE, SlotName.GREEN, Version(1, 30))
    after = Layout(
        "staging",
        {
            SlotName.GREEN: SlotState(Role.ACTIVE, Version(1, 30)),
            SlotName.BLUE: SlotState(Role.STANDBY, Version(1, 29)),
        },
    )
    fleet.destroy(after, SlotName.BLUE)
    assert set(world.layouts()[-1]["slots"]) == {"green"}
    assert [op for op, _ in world.calls] == ["up", "up"]


def test_outputs_of_a_slot_that_is_not_there_are_none() -> None:
    assert provisioner(live_blue()).outputs("staging", SlotName.GREEN) is None


def test_pulumi_output_is_streamed_line_by_line() -> None:
    world = live_blue()
    world.lines = ["Updating (staging)\n", "  + kind create\n  + flux\n"]
    shown: list[str] = []
    provisioner(world, shown).provision(BLUE_LIVE, SlotName.GREEN, Version(1, 30))
    assert shown == ["Updating (staging)", "  + kind create", "  + flux"]


def command_error(kind: type[auto_errors.CommandError], stderr: str = "") -> auto_errors.CommandError:
    return kind(CommandResult(stdout="", stderr=stderr, code=255))


def test_a_concurrent_update_is_a_lock_held_by_someone_else() -> None:
    world = live_blue()
    world.fail = command_error(auto_errors.ConcurrentUpdateError, "error: the stack is currently locked by 1 lock(s)")
    with pytest.raises(LockedError) as caught:
        provisioner(world).provision(BLUE_LIVE, SlotName.GREEN, Version(1, 30))
    assert caught.value.exit_code == 3 and caught.value.env == "staging"


def test_a_failed_update_carries_the_last_twenty_lines_of_pulumis_output() -> None:
    world = live_blue()
    world.lines = [f"line {n}" for n in range(1, 41)]
    world.fail = command_error(auto_errors.CommandError, "error: update failed")
    with pytest.raises(ProvisioningFailed) as caught:
        provisioner(world).provision(BLUE_LIVE, SlotName.GREEN, Version(1, 30))
    message = str(caught.value)
    assert "line 22" in message and "line 40" in message and "error: update failed" in message
    assert "line 21" not in message and "line 1\n" not in message


def test_a_missing_pulumi_cli_says_so_and_points_at_rehearse() -> None:
    def no_cli(env: str, env_vars: Mapping[str, str]) -> Any:
        raise FileNotFoundError(2, "No such file or directory", "pulumi")

    fleet = PulumiProvisioner("/repo", print, stack_factory=no_cli)
    with pytest.raises(ProvisioningFailed) as caught:
        fleet.provision(BLUE_LIVE, SlotName.GREEN, Version(1, 30))
    assert "Pulumi CLI is needed" in str(caught.value) and "fleet rehearse" in str(caught.value)


def test_refresh_clears_pending_operations_of_an_interrupted_run() -> None:
    world = live_blue()
    provisioner(world).refresh(BLUE_LIVE)
    ((op, detail),) = world.calls
    assert op == "refresh" and detail["clear_pending_creates"] is True
    assert json.loads(detail["FLEET_LAYOUT"])["slots"]["blue"]["bootstrap"] is True


def test_draining_hands_the_slots_kubeconfig_to_the_teardown() -> None:
    drained: list[Secret] = []
    provisioner(live_blue(), drained=drained).drain(BLUE_LIVE, SlotName.BLUE)
    assert drained == [Secret("kubeconfig-of-blue")]


def test_draining_a_slot_that_was_never_provisioned_does_nothing() -> None:
    drained: list[Secret] = []
    provisioner(live_blue(), drained=drained).drain(BLUE_LIVE, SlotName.GREEN)
    assert drained == []


def test_cancel_interrupts_the_pulumi_process_in_flight_and_the_call_raises_the_lost_lock() -> None:
    import os
    import subprocess
    import sys
    import threading
    import time

    started = threading.Event()
    seen: list[int] = []

    class SlowStack:
        """Runs a real child process with the stack's environment, as the Automation API runs the CLI."""

        def __init__(self, env_vars: Mapping[str, str]) -> None:
            self.env_vars = env_vars

        def up(self, *, on_output: Callable[[str], Any], suppress_outputs: bool) -> None:
            child = subprocess.Popen(
                [sys.executable, "-c", "import time; time.sleep(30)"], env={**os.environ, **self.env_vars}
            )
            started.set()
            code = child.wait(timeout=20)
            seen.append(code)
            raise auto_errors.CommandError(CommandResult(stdout="", stderr="interrupted", code=code))

        def refresh(self, *, on_output: Callable[[str], Any], clear_pending_creates: bool) -> None:
            raise AssertionError

        def outputs(self) -> dict[str, Out]:
            return {}

    provisioner = PulumiProvisioner(".", lambda line: None, stack_factory=lambda env, env_vars: SlowStack(env_vars))
    lost = LockedError("staging", "ci@runner-7 (pid 42)")

    def cancel_soon() -> None:
        assert started.wait(10)
        time.sleep(0.3)  # the child has installed Python's SIGINT handler by now
        provisioner.cancel(lost)

    canceller = threading.Thread(target=cancel_soon)
    canceller.start()
    began = time.monotonic()
    with pytest.raises(LockedError, match="ci@runner-7"):
        provisioner.provision(
            Layout("staging", {SlotName.BLUE: SlotState(Role.ACTIVE, Version(1, 29))}), SlotName.GREEN, Version(1, 30)
        )
    canceller.join()
    assert seen and seen[0] != 0, "the child was interrupted"
    assert time.monotonic() - began < 10
