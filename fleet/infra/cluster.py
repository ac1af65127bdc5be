"""One cluster slot, whatever creates the cluster.

Blue/green replacement needs the same thing from every cloud: a fresh cluster
at a given version, a kubeconfig to reach it, and an address where its
ingress receives traffic. Everything after that (Flux, DNS weights, the
cutover) is the same for kind on a laptop and EKS in production, so the
cloud-specific part sits behind one small interface, :class:`ClusterDriver`,
chosen by name from ``fleet:cluster.driver``. Adding ``aks`` or ``gke`` is a
new driver class registered with :func:`register_driver` and its required
keys in ``fleet.infra.settings.DRIVER_REQUIREMENTS``; nothing else changes.

The kubeconfig always leaves this module as a Pulumi secret: it grants
cluster-admin, and Pulumi would otherwise store and print it in plain text.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import pulumi
import pulumi_aws as aws
import pulumi_eks as eks
import yaml
from pulumi_command import local

from fleet.domain.model import SlotName, Version
from fleet.infra.settings import ClusterSettings


@dataclass(frozen=True)
class ClusterSlotArgs:
    env: str
    slot: SlotName
    version: Version
    settings: ClusterSettings

    @property
    def cluster_name(self) -> str:
        return f"{self.env}-{self.slot.value}"


@dataclass(frozen=True)
class ClusterHandles:
    """What a driver hands back; ClusterSlot turns it into outputs."""

    kubeconfig: pulumi.Output[str]
    ingress: pulumi.Output[str]
    flux_cluster_type: str = "kubernetes"
    """``FluxInstance.spec.cluster.type``: kubernetes, aws, azure, gcp or openshift."""
    substitutions: Mapping[str, pulumi.Output[str]] = field(default_factory=dict)
    """Extra values for Flux post-build substitution (e.g. target group ARNs)."""


class ClusterDriver(Protocol):
    """Creates one cluster for one slot; every resource it makes must use ``parent``."""

    def create(self, args: ClusterSlotArgs, parent: pulumi.Resource) -> ClusterHandles: ...


_DRIVERS: dict[str, Callable[[], ClusterDriver]] = {}


_Factory = TypeVar("_Factory", bound=Callable[[], ClusterDriver])


def register_driver(name: str) -> Callable[[_Factory], _Factory]:
    """Make a driver class (or any factory) available as ``fleet:cluster.driver: <name>``."""

    def register(factory: _Factory) -> _Factory:
        _DRIVERS[name] = factory
        return factory

    return register


def driver_for(name: str) -> ClusterDriver:
    try:
        return _DRIVERS[name]()
    except KeyError:
        raise KeyError(f"no cluster driver named {name!r} (known: {', '.join(sorted(_DRIVERS))})") from None


def driver_names() -> frozenset[str]:
    return frozenset(_DRIVERS)


def api_server(kubeconfig: str) -> str:
    """The API server URL of a kubeconfig's current context (YAML or JSON)."""
    doc: Any = yaml.safe_load(kubeconfig) if kubeconfig else None
    if not isinstance(doc, dict):
        return ""
    clusters = {c.get("name"): c.get("cluster", {}) for c in doc.get("clusters") or []}
    contexts = {c.get("name"): c.get("context", {}) for c in doc.get("contexts") or []}
    current = contexts.get(doc.get("current-context"), {})
    cluster: dict[str, Any] = clusters.get(current.get("cluster")) or next(iter(clusters.values()), {})
    return str(cluster.get("server", ""))


class ClusterSlot(pulumi.ComponentResource):
    """A Kubernetes cluster for one slot of one environment."""

    kubeconfig: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    version: pulumi.Output[str]
    ingress: pulumi.Output[str]

    def __init__(self, name: str, args: ClusterSlotArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fleet:infra:ClusterSlot", name, None, opts)
        handles = driver_for(args.settings.driver).create(args, self)
        self.kubeconfig = pulumi.Output.secret(handles.kubeconfig)
        self.endpoint = pulumi.Output.unsecret(self.kubeconfig.apply(api_server))
        self.version = pulumi.Output.from_input(str(args.version))
        self.ingress = handles.ingress
        self.flux_cluster_type = handles.flux_cluster_type
        self.substitutions = handles.substitutions
        self.register_outputs(
            {
                "kubeconfig": self.kubeconfig,
                "endpoint": self.endpoint,
                "version": self.version,
                "ingress": self.ingress,
            }
        )


@register_driver("kind")
class KindDriver:
    """A kind cluster on the local Docker engine, for rehearsals on a laptop or in CI.

    The ingress address is the control-plane container's IP on the ``kind``
    Docker network, reachable from the host on Linux; two slots cannot both
    bind host ports 80/443, so fleet's local traffic switch points at these.
    """

    def create(self, args: ClusterSlotArgs, parent: pulumi.Resource) -> ClusterHandles:
        name = shlex.quote(args.cluster_name)
        image = shlex.quote(args.settings.node_image_for(args.version))
        cluster = local.Command(
            f"{args.cluster_name}-kind",
            create=f"kind create cluster --name {name} --image {image} --wait 5m",
            delete=f"kind delete cluster --name {name}",
            opts=pulumi.ResourceOptions(
                parent=parent,
                # A slot never changes version in place: a stray edit must not re-run or replace a cluster.
                ignore_changes=["create"],
            ),
        )
        kubeconfig = local.Command(
            f"{args.cluster_name}-kubeconfig",
            create=f"kind get kubeconfig --name {name}",
            triggers=[cluster.id],
            logging=local.Logging.NONE,
            opts=pulumi.ResourceOptions(parent=parent, depends_on=[cluster], additional_secret_outputs=["stdout"]),
        )
        address = local.Command(
            f"{args.cluster_name}-ingress",
            create=(
                "docker inspect --format "
                + shlex.quote("{{ .NetworkSettings.Networks.kind.IPAddress }}")
                + f" {shlex.quote(args.cluster_name + '-control-plane')}"
            ),
            triggers=[cluster.id],
            opts=pulumi.ResourceOptions(parent=parent, depends_on=[cluster]),
        )
        return ClusterHandles(
            kubeconfig=pulumi.Output.secret(kubeconfig.stdout),
            ingress=address.stdout.apply(lambda s: s.strip()),
        )


_NODE_POLICIES = (
    "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
    "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
    "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
)


@register_driver("eks")
class EksDriver:
    """An EKS cluster in an existing VPC, with a managed node group and an OIDC provider.

    The ingress is a network load balancer owned by this program, not one that
    an in-cluster controller creates on demand: its address is known before
    Flux runs (so DNS can be seeded), and it cannot leak at teardown. The
    GitOps repository binds its ingress controller to the target groups with
    TargetGroupBinding objects, using the ARNs substituted from the
    ``fleet-slot`` ConfigMap (``ingress_target_group_http``/``_https``).
    """

    def create(self, args: ClusterSlotArgs, parent: pulumi.Resource) -> ClusterHandles:
        settings = args.settings
        name = args.cluster_name
        provider = aws.Provider(f"{name}-aws", region=settings.region, opts=pulumi.ResourceOptions(parent=parent))
        child = pulumi.ResourceOptions(parent=parent, provider=provider)
        tags = {"fleet:env": args.env, "fleet:slot": args.slot.value}
        role = aws.iam.Role(
            f"{name}-nodes",
            assume_role_policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "ec2.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
            tags=tags,
            opts=child,
        )
        attachments = [
            aws.iam.RolePolicyAttachment(
                f"{name}-nodes-{arn.rsplit('/', 1)[1]}", role=role.name, policy_arn=arn, opts=child
            )
            for arn in _NODE_POLICIES
        ]
        cluster = eks.Cluster(
            name,
            vpc_id=settings.vpc_id,
            subnet_ids=list(settings.subnet_ids),
            version=f"{args.version.major}.{args.version.minor}",
            skip_default_node_group=True,
            create_oidc_provider=True,
            authentication_mode=eks.AuthenticationMode.API_AND_CONFIG_MAP,
            instance_roles=[role],
            tags=tags,
            opts=pulumi.ResourceOptions(parent=parent, providers={"aws": provider}),
        )
        eks.ManagedNodeGroup(
            f"{name}-nodes",
            cluster=cluster,
            node_role=role,
            instance_types=[settings.instance_type],
            subnet_ids=list(settings.subnet_ids),
            scaling_config={
                "desired_size": settings.desired_size,
                "min_size": settings.min_size,
                "max_size": settings.max_size,
            },
            tags=tags,
            opts=pulumi.ResourceOptions(parent=parent, providers={"aws": provider}, depends_on=attachments),
        )
        lb = aws.lb.LoadBalancer(
            f"{name}-ingress",
            load_balancer_type="network",
            internal=False,
            subnets=list(settings.subnet_ids),
            tags=tags,
            opts=child,
        )
        substitutions: dict[str, pulumi.Output[str]] = {"oidc_provider_arn": cluster.oidc_provider_arn}
        for label, port in (("http", 80), ("https", 443)):
            group = aws.lb.TargetGroup(
                f"{name}-{label}",
                port=port,
                protocol="TCP",
                target_type="ip",
                vpc_id=settings.vpc_id,
                tags=tags,
                opts=child,
            )
            aws.lb.Listener(
                f"{name}-{label}",
                load_balancer_arn=lb.arn,
                port=port,
                protocol="TCP",
                default_actions=[{"type": "forward", "target_group_arn": group.arn}],
                opts=child,
            )
            substitutions[f"ingress_target_group_{label}"] = group.arn
        return ClusterHandles(
            kubeconfig=pulumi.Output.secret(cluster.kubeconfig_json),
            ingress=lb.dns_name,
            flux_cluster_type="aws",
            substitutions=substitutions,
        )


# The `local` driver lives in its own module (it needs the real-peers binaries, not Docker or AWS).
from fleet.infra import local_driver as _local_driver  # noqa: E402,F401 - registers "local"
