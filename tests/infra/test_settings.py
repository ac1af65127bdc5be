"""The infrastructure keys of a stack file parse into plain settings, or fail naming the file and key."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
import yaml

from fleet.domain.model import Version
from fleet.errors import ConfigError
from fleet.infra.settings import DRIVER_REQUIREMENTS, infra_settings_from_config

ROOT = Path(__file__).resolve().parents[2]


def stack_file(env: str) -> dict[str, Any]:
    doc = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{env}.yaml").read_text())
    return {key.removeprefix("fleet:"): value for key, value in doc["config"].items() if key.startswith("fleet:")}


def minimal(**cluster: Any) -> dict[str, Any]:
    return {
        "cluster": {"driver": "kind", "version": "1.29", **cluster},
        "gitops": {"url": "https://github.com/example/platform-gitops"},
    }


def error_for(raw: dict[str, Any]) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        infra_settings_from_config(raw, file="stacks/Pulumi.test.yaml")
    return caught.value


def test_the_sample_local_stack_is_a_kind_environment_without_dns() -> None:
    settings = infra_settings_from_config(stack_file("local"), file="stacks/Pulumi.local.yaml")
    assert settings.cluster.driver == "kind"
    assert settings.cluster.version == Version(1, 29)
    assert settings.gitops.url == "https://github.com/example/platform-gitops"
    assert settings.gitops.ref == "refs/heads/main"
    assert settings.gitops.path == "clusters/local"
    assert settings.dns is None


def test_the_sample_staging_stack_is_an_eks_environment_with_route53() -> None:
    settings = infra_settings_from_config(stack_file("staging"), file="stacks/Pulumi.staging.yaml")
    assert settings.cluster.driver == "eks"
    assert settings.cluster.region == "eu-west-1"
    assert settings.cluster.vpc_id and settings.cluster.subnet_ids
    assert settings.dns is not None and settings.dns.zone_id
    assert settings.owner_id("staging", "green") == "staging-green"


def test_the_sample_demo_stack_runs_local_slots_from_a_local_repository() -> None:
    settings = infra_settings_from_config(stack_file("demo"), file="stacks/Pulumi.demo.yaml")
    assert settings.cluster.driver == "local"
    assert settings.gitops.url == "file://.fleet/gitops/demo.git"
    assert settings.gitops.path == "clusters/demo"


def test_only_the_local_driver_takes_a_local_repository() -> None:
    raw = minimal()
    raw["gitops"] = {"url": "file:///srv/gitops.git"}
    assert "fleet:gitops.url" in str(error_for(raw))
    raw["cluster"]["driver"] = "local"
    assert infra_settings_from_config(raw, file="stacks/Pulumi.test.yaml").gitops.url == "file:///srv/gitops.git"


def test_sample_stack_files_hold_no_secrets() -> None:
    for env in ("local", "staging"):
        raw = stack_file(env)
        assert "gitToken" not in raw and "sopsAgeKey" not in raw


def test_an_unknown_driver_names_the_key_and_the_file() -> None:
    err = error_for(minimal(driver="aks"))
    assert err.key == "fleet:cluster.driver"
    assert err.file == "stacks/Pulumi.test.yaml"
    assert "aks" in str(err) and "eks" in str(err)


def test_eks_needs_an_existing_vpc_and_subnets() -> None:
    err = error_for(minimal(driver="eks", region="eu-west-1", subnetIds=["subnet-a"]))
    assert err.key == "fleet:cluster.vpcId"


def test_an_unquoted_version_is_refused_because_yaml_reads_1_30_as_1_3() -> None:
    err = error_for(minimal(version=1.3))
    assert err.key == "fleet:cluster.version"
    assert "quoted" in str(err)


def test_a_misspelt_key_inside_an_owned_section_is_an_error() -> None:
    err = error_for(minimal(vpcID="vpc-1"))
    assert err.key == "fleet:cluster.vpcID"


def test_node_counts_must_be_consistent() -> None:
    assert error_for(minimal(desiredSize=9, maxSize=4)).key == "fleet:cluster.desiredSize"


def test_encrypted_secrets_are_accepted_without_being_decoded() -> None:
    raw = {**minimal(), "gitToken": {"secure": "AAABAJ+not+decoded"}, "sopsAgeKey": {"secure": "v1:abc"}}
    settings = infra_settings_from_config(raw, file="f")
    assert settings.has_git_token and settings.has_sops_age_key


def test_a_secret_in_plain_text_is_refused_with_the_command_that_fixes_it() -> None:
    err = error_for({**minimal(), "gitToken": "ghp_plaintext"})
    assert err.key == "fleet:gitToken"
    assert "pulumi config set --secret fleet:gitToken" in str(err)


def test_keys_owned_by_other_parts_of_fleet_are_ignored() -> None:
    raw = {**minimal(), "traffic": {"provider": "haproxy"}, "rollout": {"steps": [10, 100]}, "tenants": ["a"]}
    assert infra_settings_from_config(raw, file="f").cluster.driver == "kind"


def test_the_empty_defaults_of_pulumi_yaml_mean_absent() -> None:
    settings = infra_settings_from_config({**minimal(), "dns": {}, "externalDns": {}, "gitToken": ""}, file="f")
    assert settings.dns is None and settings.external_dns_owner_prefix is None and not settings.has_git_token


def test_dns_without_hostnames_is_an_error() -> None:
    assert error_for({**minimal(), "dns": {"zoneId": "Z1"}}).key == "fleet:dns"


def test_every_driver_the_settings_accept_has_an_implementation() -> None:
    from fleet.infra.cluster import driver_names

    assert driver_names() == frozenset(DRIVER_REQUIREMENTS)


def test_the_settings_module_does_not_import_pulumi() -> None:
    tree = ast.parse((ROOT / "fleet" / "infra" / "settings.py").read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not {name for name in imported if name.split(".")[0] in {"pulumi", "pulumi_aws", "pulumi_kubernetes"}}


def test_kind_node_images_carry_a_patch_level() -> None:
    cluster = infra_settings_from_config(minimal(), file="f").cluster
    assert cluster.node_image_for(Version(1, 29)) == "kindest/node:v1.29.14"
    assert cluster.node_image_for(Version(1, 30, 2)) == "kindest/node:v1.30.2"
    pinned = minimal(nodeImages={"1.29": "kindest/node:v1.29.8@sha256:abc"})
    assert infra_settings_from_config(pinned, file="f").cluster.node_image_for(Version(1, 29)).endswith("@sha256:abc")


def test_a_minor_without_a_known_kind_image_is_refused_naming_the_key() -> None:
    error = error_for(minimal(version="1.19"))
    assert error.key == "fleet:cluster.nodeImages" and "no known kindest/node tag for Kubernetes 1.19" in str(error)
    assert error_for(minimal(nodeImages={1.29: "x"})).key == "fleet:cluster.nodeImages"
