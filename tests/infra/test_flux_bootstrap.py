"""FluxBootstrap: the same Git source on both slots, secrets first, slot-specific bits kept apart."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import yaml

from fleet.domain.hold_patches import born_held, is_ours
from fleet.domain.model import Role, SlotName, Version
from fleet.infra.flux import FluxBootstrap, FluxBootstrapArgs
from fleet.infra.layout import EnvironmentPlan, SlotPlan
from fleet.infra.program import FluxSecrets, build_environment
from tests.infra.conftest import Deployment, Registration, kind_settings, plain
from tests.realpeers.conftest import binaries_or_skip

K8S_PREFIX = "kubernetes:"


def both_slots(deployment: Deployment, **settings: Any) -> None:
    plan = EnvironmentPlan(
        "local",
        (
            SlotPlan(SlotName.BLUE, Role.ACTIVE, Version(1, 29)),
            SlotPlan(SlotName.GREEN, Role.STANDBY, Version(1, 30)),
        ),
        "test",
    )
    secrets = FluxSecrets(pulumi.Output.secret("ghp_token"), pulumi.Output.secret("AGE-SECRET-KEY-1"))
    deployment.run(lambda: build_environment(kind_settings(**settings), plan, secrets))


def of_slot(deployment: Deployment, typ: str, slot: str) -> Registration:
    return deployment.one(typ, f"local-{slot}-flux")


def test_every_kubernetes_resource_goes_through_its_own_slots_provider(deployment: Deployment) -> None:
    both_slots(deployment)
    providers = {r.name: r for r in deployment.of_type("pulumi:providers:kubernetes")}
    assert set(providers) == {"local-blue-flux-k8s", "local-green-flux-k8s"}
    kube = [r for r in deployment.registrations if r.type.startswith(K8S_PREFIX)]
    assert len(kube) >= 10
    for resource in kube:
        slot = "blue" if "-blue-" in resource.name else "green"
        provider = providers[f"local-{slot}-flux-k8s"]
        assert resource.provider.startswith(provider.urn + "::"), f"{resource.name} uses {resource.provider}"


def test_the_provider_is_built_from_the_slots_kubeconfig_and_tolerates_a_dead_cluster(deployment: Deployment) -> None:
    both_slots(deployment)
    provider = deployment.one("pulumi:providers:kubernetes", "green")
    assert provider.secret_paths() == ["kubeconfig"]
    assert "127.0.0.1:40001" in plain(provider.inputs)["kubeconfig"]
    assert plain(provider.inputs)["deleteUnreachable"] in (True, "true")


def test_git_credentials_and_the_sops_key_exist_before_the_flux_instance(deployment: Deployment) -> None:
    both_slots(deployment)
    for slot in ("blue", "green"):
        instance = of_slot(deployment, "kubernetes:fluxcd.controlplane.io/v1:FluxInstance", slot)
        git = deployment.one("kubernetes:core/v1:Secret", f"local-{slot}-flux-git")
        sops = deployment.one("kubernetes:core/v1:Secret", f"local-{slot}-flux-sops")
        config = of_slot(deployment, "kubernetes:core/v1:ConfigMap", slot)
        operator = of_slot(deployment, "kubernetes:helm.sh/v3:Release", slot)
        assert {git.urn, sops.urn, config.urn, operator.urn} <= set(instance.dependencies)
        assert plain(sops.inputs)["metadata"] == {"name": "sops-age", "namespace": "flux-system"}


def test_secret_values_are_marked_secret(deployment: Deployment) -> None:
    both_slots(deployment)
    for secret in deployment.of_type("kubernetes:core/v1:Secret"):
        assert secret.secret_paths(), f"{secret.name} sends its data in plain text"
    git = deployment.one("kubernetes:core/v1:Secret", "local-blue-flux-git")
    assert plain(git.inputs)["stringData"] == {"username": "git", "password": "ghp_token"}


def test_both_slots_sync_the_same_url_branch_and_path(deployment: Deployment) -> None:
    both_slots(deployment)
    syncs = [
        plain(r.inputs)["spec"]["sync"] for r in deployment.of_type("kubernetes:fluxcd.controlplane.io/v1:FluxInstance")
    ]
    assert len(syncs) == 2 and syncs[0] == syncs[1]
    assert syncs[0] == {
        "kind": "GitRepository",
        "url": "https://github.com/example/platform-gitops",
        "ref": "refs/heads/main",
        "path": "clusters/local",
        "pullSecret": "flux-system",
    }


def test_the_flux_instance_is_the_single_flux_in_flux_system(deployment: Deployment) -> None:
    both_slots(deployment)
    instance = of_slot(deployment, "kubernetes:fluxcd.controlplane.io/v1:FluxInstance", "blue")
    assert plain(instance.inputs)["metadata"] == {"name": "flux", "namespace": "flux-system"}
    release = of_slot(deployment, "kubernetes:helm.sh/v3:Release", "blue")
    assert release.inputs["chart"] == "oci://ghcr.io/controlplaneio-fluxcd/charts/flux-operator"
    assert release.inputs["namespace"] == "flux-system"


def test_image_automation_runs_on_the_active_slot_only(deployment: Deployment) -> None:
    both_slots(deployment)
    components = {
        slot: plain(of_slot(deployment, "kubernetes:fluxcd.controlplane.io/v1:FluxInstance", slot).inputs)["spec"][
            "components"
        ]
        for slot in ("blue", "green")
    }
    assert "image-automation-controller" in components["blue"]
    assert "image-reflector-controller" in components["blue"]
    assert not any(c.startswith("image-") for c in components["green"])


def test_each_slot_gets_its_own_external_dns_owner_id(deployment: Deployment) -> None:
    both_slots(deployment)
    data = {
        slot: plain(of_slot(deployment, "kubernetes:core/v1:ConfigMap", slot).inputs)["data"]
        for slot in ("blue", "green")
    }
    assert data["blue"]["external_dns_owner_id"] == "local-blue"
    assert data["green"]["external_dns_owner_id"] == "local-green"
    assert data["green"]["fleet_slot"] == "green" and data["green"]["cluster_version"] == "1.30"


def test_flux_substitutes_the_slot_values_and_decrypts_with_the_sops_key(deployment: Deployment) -> None:
    both_slots(deployment)
    spec = plain(of_slot(deployment, "kubernetes:fluxcd.controlplane.io/v1:FluxInstance", "green").inputs)["spec"]
    (patch,) = spec["kustomize"]["patches"]
    assert patch["target"] == {"kind": "Kustomization", "name": "flux-system"}
    ops = {op["path"]: op["value"] for op in json.loads(patch["patch"])}
    assert ops["/spec/decryption"] == {"provider": "sops", "secretRef": {"name": "sops-age"}}
    assert ops["/spec/postBuild"] == {"substituteFrom": [{"kind": "ConfigMap", "name": "fleet-slot"}]}


def test_without_a_token_there_is_no_git_secret_and_no_pull_secret(deployment: Deployment) -> None:
    args = FluxBootstrapArgs(
        env="local",
        slot=SlotName.BLUE,
        role=Role.ACTIVE,
        version=Version(1, 29),
        kubeconfig=pulumi.Output.secret("apiVersion: v1"),
        gitops=kind_settings().gitops,
        external_dns_owner_id="local-blue",
    )
    deployment.run(lambda: FluxBootstrap("local-blue-flux", args))
    assert deployment.of_type("kubernetes:core/v1:Secret") == []
    sync = plain(deployment.one("kubernetes:fluxcd.controlplane.io/v1:FluxInstance").inputs)["spec"]["sync"]
    assert "pullSecret" not in sync


def test_a_slot_born_held_gets_fleets_entries_through_the_flux_instance(deployment: Deployment) -> None:
    plan = EnvironmentPlan("local", (SlotPlan(SlotName.BLUE, Role.ACTIVE, Version(1, 29)),
                                     SlotPlan(SlotName.GREEN, Role.STANDBY, Version(1, 30), True, True)), "test")
    deployment.run(lambda: build_environment(kind_settings(), plan, FluxSecrets(None, None)))
    kind = "kubernetes:fluxcd.controlplane.io/v1:FluxInstance"
    blue = plain(of_slot(deployment, kind, "blue").inputs)["spec"]["kustomize"]["patches"]
    green = plain(of_slot(deployment, kind, "green").inputs)["spec"]["kustomize"]["patches"]
    assert len(blue) == 1 and green[0] == blue[0], "the slot's own patch is kept, first"
    (ours,) = green[1:]
    assert ours["target"] == {"kind": "Kustomization", "name": "flux-system"} and is_ours(ours)
    (op,) = yaml.safe_load(ours["patch"])
    assert (op["op"], op["path"]) == ("add", "/spec/patches") and op["value"] == born_held("flux-system")


def test_a_local_slot_born_held_creates_its_sync_kustomization_with_fleets_entries(deployment: Deployment) -> None:
    binaries_or_skip()  # the local driver applies Flux's CRDs from the built controllers
    args = FluxBootstrapArgs(
        env="local", slot=SlotName.GREEN, role=Role.STANDBY, version=Version(1, 30),
        kubeconfig=pulumi.Output.secret("apiVersion: v1"), gitops=kind_settings().gitops,
        external_dns_owner_id="local-green", cluster_type="local", hold_singletons=True,
    )
    deployment.run(lambda: FluxBootstrap("local-green-flux", args))
    sync = plain(deployment.one("kubernetes:kustomize.toolkit.fluxcd.io/v1:Kustomization").inputs)
    assert sync["metadata"]["name"] == "flux-system" and sync["spec"]["patches"] == born_held("flux-system")
