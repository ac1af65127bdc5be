"""The program as Pulumi runs it: config in, slots built from the layout, flat outputs per slot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pulumi
import pulumi.runtime
import pytest

from fleet.domain.model import Role, SlotName, SlotState, Version
from fleet.errors import ConfigError
from fleet.infra import program
from fleet.infra.layout import resolve_plan
from fleet.ports import Layout
from tests.infra.conftest import Deployment

CONFIG = {
    "fleet:cluster": json.dumps({"driver": "kind", "version": "1.29"}),
    "fleet:gitops": json.dumps({"url": "https://github.com/example/platform-gitops", "path": "clusters/local"}),
    "fleet:hostnames": json.dumps(["shop.example.com"]),
    "fleet:dns": json.dumps({"zoneId": "Z1"}),
    "fleet:traffic": json.dumps({"provider": "haproxy"}),
    "fleet:gitToken": "ghp_token",
    "fleet:sopsAgeKey": "",
}


def configure(**overrides: str) -> None:
    pulumi.runtime.set_all_config({**CONFIG, **overrides}, ["fleet:gitToken"])


def nothing_recorded(env: str, location: str) -> Layout | None:
    return None


def empty_stack(env: str) -> frozenset[SlotName]:
    return frozenset()


def test_config_is_read_from_the_fleet_namespace_with_secrets_kept_secret(deployment: Deployment) -> None:
    configure()

    def read() -> tuple[Any, Any]:
        settings, secrets = program.read_config(pulumi.Config("fleet"), file="stacks/Pulumi.staging.yaml")
        assert settings.has_git_token and not settings.has_sops_age_key
        assert secrets.sops_age_key is None
        assert secrets.git_token is not None
        return settings, secrets.git_token

    settings, token = deployment.run(read)
    assert settings.gitops.path == "clusters/local"
    assert deployment.is_secret(token)


def test_a_bad_config_value_fails_naming_the_stack_file(deployment: Deployment) -> None:
    configure(**{"fleet:cluster": json.dumps({"driver": "nomad", "version": "1.29"})})
    with pytest.raises(ConfigError) as caught:
        deployment.run(lambda: program.run(environ={}, load=nothing_recorded, previous=empty_stack))
    assert caught.value.file == "stacks/Pulumi.staging.yaml"
    assert caught.value.key == "fleet:cluster.driver"


def test_fleet_layout_decides_which_slots_exist(deployment: Deployment) -> None:
    configure()
    layout = {
        "env": "staging",
        "slots": {
            "blue": {"role": "active", "version": "1.29", "bootstrap": True},
            "green": {"role": "standby", "version": "1.30", "bootstrap": False},
        },
    }
    deployment.run(lambda: program.run(environ={"FLEET_LAYOUT": json.dumps(layout)}, load=nothing_recorded))
    assert {r.name for r in deployment.of_type("fleet:infra:ClusterSlot")} == {"staging-blue", "staging-green"}
    assert {r.name for r in deployment.of_type("fleet:infra:FluxBootstrap")} == {"staging-blue-flux"}


def test_a_hand_run_with_nothing_recorded_seeds_blue_active(deployment: Deployment) -> None:
    configure()
    deployment.run(lambda: program.run(environ={}, load=nothing_recorded, previous=empty_stack))
    assert [r.name for r in deployment.of_type("fleet:infra:ClusterSlot")] == ["staging-blue"]
    record = deployment.one("aws:route53/record:Record")
    assert record.inputs["weightedRoutingPolicies"] == [{"weight": 100}]


def test_a_hand_run_builds_what_the_store_recorded_and_nothing_else(deployment: Deployment) -> None:
    configure()
    recorded = Layout(
        "staging", {SlotName.BLUE: SlotState(Role.ABSENT), SlotName.GREEN: SlotState(Role.ACTIVE, Version(1, 30))}
    )
    deployment.run(lambda: program.run(environ={}, load=lambda env, location: recorded))
    assert [r.name for r in deployment.of_type("fleet:infra:ClusterSlot")] == ["staging-green"]
    kind = deployment.one("command:local:Command", "-kind")
    assert "--image kindest/node:v1.30.10 " in kind.inputs["create"], "kind images carry a patch level"


def test_outputs_are_flat_per_slot_with_only_the_kubeconfig_secret(deployment: Deployment) -> None:
    configure()
    settings, secrets = deployment.run(lambda: program.read_config(pulumi.Config("fleet"), file="f"))
    plan = resolve_plan("staging", Version(1, 29), environ={}, load=nothing_recorded, previous=empty_stack)

    def build() -> dict[str, Any]:
        return program.stack_outputs(settings, plan, program.build_environment(settings, plan, secrets))

    outputs = deployment.run(build)
    assert set(outputs) == {"layoutSource"} | {
        f"blue_{name}"
        for name in ("kubeconfig", "endpoint", "version", "ingress", "role", "bootstrapped", "externalDnsOwnerId")
    }
    assert deployment.resolve(outputs["blue_endpoint"]) == "https://127.0.0.1:40000"
    secrecy = {key: deployment.is_secret(value) for key, value in outputs.items() if isinstance(value, pulumi.Output)}
    assert secrecy["blue_kubeconfig"] is True
    assert not any(flag for key, flag in secrecy.items() if key != "blue_kubeconfig")


def test_no_active_slot_with_dns_is_refused_because_route53_would_split_equally(deployment: Deployment) -> None:
    configure()
    layout = {"env": "staging", "slots": {"green": {"role": "standby", "version": "1.30"}}}
    with pytest.raises(ConfigError, match="equal split"):
        deployment.run(lambda: program.run(environ={"FLEET_LAYOUT": json.dumps(layout)}, load=nothing_recorded))


def _project_with_a_cutover_recorded(root: Path) -> None:
    """A project whose fleet store (the default .fleet/state) records green live at 1.30 and blue gone."""
    from fleet.domain.machine import EnvironmentState
    from fleet.state.local import LocalStateStore

    (root / "Pulumi.yaml").write_text("name: fleet\nruntime: python\nmain: fleet/infra/\n")
    (root / "fleet" / "infra").mkdir(parents=True)
    state = EnvironmentState.seed("staging", Version(1, 30), active=SlotName.GREEN)
    LocalStateStore(root / ".fleet" / "state").commit("staging", state, [])


@pytest.mark.parametrize("cwd", [".", "fleet/infra"])
def test_a_hand_run_finds_the_same_store_from_the_project_root_and_from_fleet_infra(
    deployment: Deployment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cwd: str
) -> None:
    _project_with_a_cutover_recorded(tmp_path)
    monkeypatch.chdir(tmp_path / cwd)
    configure()
    deployment.run(lambda: program.run(environ={}, previous=lambda env: frozenset({SlotName.GREEN})))
    assert [r.name for r in deployment.of_type("fleet:infra:ClusterSlot")] == ["staging-green"]


@pytest.mark.parametrize("cwd", [".", "fleet/infra"])
def test_with_the_store_missing_a_hand_run_refuses_instead_of_planning_a_delete(
    deployment: Deployment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cwd: str
) -> None:
    _project_with_a_cutover_recorded(tmp_path)
    configure(**{"fleet:state": "elsewhere/state"})
    monkeypatch.chdir(tmp_path / cwd)
    with pytest.raises(ConfigError, match="refusing to seed 'blue only'"):
        deployment.run(lambda: program.run(environ={}, previous=lambda env: frozenset({SlotName.GREEN})))
    with pytest.raises(ConfigError, match="does not exist"):
        deployment.run(lambda: program.run(environ={}, previous=lambda env: None))
    assert deployment.of_type("fleet:infra:ClusterSlot") == []
