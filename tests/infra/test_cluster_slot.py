"""ClusterSlot: one cluster per slot, whichever driver creates it, with its kubeconfig kept secret."""

from __future__ import annotations

import pulumi

from fleet.domain.model import SlotName, Version
from fleet.infra.cluster import ClusterSlot, ClusterSlotArgs, api_server
from tests.infra.conftest import Deployment, eks_settings, kind_settings


def kind_slot(slot: SlotName = SlotName.GREEN, version: str = "1.30.2") -> ClusterSlot:
    return ClusterSlot(
        f"local-{slot.value}", ClusterSlotArgs("local", slot, Version.parse(version), kind_settings().cluster)
    )


def test_the_kind_driver_creates_and_deletes_a_named_cluster_at_the_slots_version(deployment: Deployment) -> None:
    deployment.run(kind_slot)
    create = deployment.one("command:local:Command", "-kind")
    assert create.inputs["create"] == ("kind create cluster --name local-green --image kindest/node:v1.30.2 --wait 5m")
    assert create.inputs["delete"] == "kind delete cluster --name local-green"
    read = deployment.one("command:local:Command", "-kubeconfig")
    assert read.inputs["create"] == "kind get kubeconfig --name local-green"
    assert create.urn in read.dependencies


def test_the_kind_kubeconfig_is_secret_and_never_logged(deployment: Deployment) -> None:
    deployment.run(kind_slot)
    read = deployment.one("command:local:Command", "-kubeconfig")
    assert read.inputs["logging"] == "none"
    request = next(r for r in deployment.monitor.requests if r.name == read.name)
    assert "stdout" in request.additionalSecretOutputs


def test_a_slot_exposes_its_version_endpoint_and_ingress(deployment: Deployment) -> None:
    slot = deployment.run(kind_slot)

    def check(values: list[str]) -> None:
        endpoint, version, ingress = values
        assert endpoint == "https://127.0.0.1:40001"
        assert version == "1.30.2"
        assert ingress == "172.18.0.4"

    deployment.resolve(pulumi.Output.all(slot.endpoint, slot.version, slot.ingress).apply(check))


@pulumi.runtime.test
def test_the_kubeconfig_output_is_a_pulumi_secret_and_the_endpoint_is_not(
    deployment: Deployment,
) -> pulumi.Output[None]:
    slot = kind_slot()

    async def secrecy() -> tuple[bool, bool]:
        return await slot.kubeconfig.is_secret(), await slot.endpoint.is_secret()

    return pulumi.Output.from_input(secrecy()).apply(_assert_flags)


def _assert_flags(flags: tuple[bool, bool]) -> None:
    kubeconfig_secret, endpoint_secret = flags
    assert kubeconfig_secret and not endpoint_secret


def test_the_eks_driver_reuses_the_vpc_with_a_managed_node_group_and_oidc(deployment: Deployment) -> None:
    deployment.run(
        lambda: ClusterSlot(
            "staging-blue", ClusterSlotArgs("staging", SlotName.BLUE, Version(1, 29, 4), eks_settings().cluster)
        )
    )
    cluster = deployment.one("eks:index:Cluster")
    assert cluster.inputs["vpcId"] == "vpc-0123456789abcdef0"
    assert cluster.inputs["subnetIds"] == ["subnet-aaaa", "subnet-bbbb"]
    assert cluster.inputs["version"] == "1.29"
    assert cluster.inputs["createOidcProvider"] is True
    assert cluster.inputs["skipDefaultNodeGroup"] is True
    nodes = deployment.one("eks:index:ManagedNodeGroup")
    assert nodes.inputs["scalingConfig"] == {"desiredSize": 3, "minSize": 2, "maxSize": 6}
    assert nodes.inputs["instanceTypes"] == ["m6i.large"]
    assert nodes.inputs["cluster"] == cluster.urn


def test_the_eks_ingress_is_a_load_balancer_the_program_owns(deployment: Deployment) -> None:
    slot = deployment.run(
        lambda: ClusterSlot(
            "staging-blue", ClusterSlotArgs("staging", SlotName.BLUE, Version(1, 29), eks_settings().cluster)
        )
    )
    assert deployment.one("aws:lb/loadBalancer:LoadBalancer").inputs["loadBalancerType"] == "network"
    assert {r.inputs["port"] for r in deployment.of_type("aws:lb/targetGroup:TargetGroup")} == {80, 443}
    assert deployment.resolve(slot.ingress) == "staging-blue-ingress.elb.eu-west-1.amazonaws.com"
    assert deployment.resolve(slot.endpoint) == "https://staging-blue.eks.example.com"


def test_every_child_of_a_slot_is_parented_to_it(deployment: Deployment) -> None:
    deployment.run(kind_slot)
    component = deployment.one("fleet:infra:ClusterSlot")
    children = [r for r in deployment.registrations if r is not component]
    assert children and all(r.parent == component.urn for r in children)


def test_the_api_server_is_read_from_the_current_context() -> None:
    config = """
current-context: b
clusters: [{name: a, cluster: {server: https://a}}, {name: b, cluster: {server: https://b}}]
contexts: [{name: a, context: {cluster: a}}, {name: b, context: {cluster: b}}]
"""
    assert api_server(config) == "https://b"
    assert api_server("") == ""
