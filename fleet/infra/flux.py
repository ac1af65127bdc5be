"""Flux on one slot, installed so that both slots converge on the same Git state.

Blue and green must reconcile the same repository, branch and path, or the
parity check before a cutover compares different things; so the sync target
comes from the environment's config, never from the slot. What does differ
per slot is deliberate and small:

- image-update automation runs on the active slot only (two clusters pushing
  image updates to one repository fight each other);
- external-dns gets a distinct owner id per slot (two clusters writing one
  zone with the same owner id delete each other's records).

Both reach the GitOps repository through the ``fleet-slot`` ConfigMap in
``flux-system``, which the ``flux-system`` Kustomization uses for post-build
substitution: manifests write ``${external_dns_owner_id}`` (for
external-dns's ``txtOwnerId``), ``${fleet_env}``, ``${fleet_slot}``,
``${cluster_version}`` and whatever the cluster driver adds.

Ordering matters on a fresh cluster: the Git credentials, the SOPS age key
(``sops-age``) and that ConfigMap exist before the FluxInstance, so the first
reconciliation can clone, decrypt and substitute instead of stalling.

Every Kubernetes resource goes through an explicit provider built from this
slot's kubeconfig, never the ambient one (fleet talks to two clusters at
once), with ``delete_unreachable`` so destroying a slot whose cluster is
already gone does not stall.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from fleet.domain.hold_patches import born_held, instance_entry
from fleet.domain.model import Role, SlotName, Version
from fleet.infra.settings import GitOpsSettings

NAMESPACE = "flux-system"
OPERATOR_CHART = "oci://ghcr.io/controlplaneio-fluxcd/charts/flux-operator"
GIT_SECRET = "flux-system"
SOPS_SECRET = "sops-age"
SLOT_CONFIGMAP = "fleet-slot"
BASE_COMPONENTS = ("source-controller", "kustomize-controller", "helm-controller", "notification-controller")
IMAGE_COMPONENTS = ("image-reflector-controller", "image-automation-controller")
LOCAL_CLUSTER_TYPE = "local"
"""The ``local`` driver's cluster type: Flux is bootstrapped without the operator (fleet.infra.local_driver)."""
LOCAL_COMPONENTS = ("source-controller", "kustomize-controller")


@dataclass(frozen=True)
class FluxBootstrapArgs:
    env: str
    slot: SlotName
    role: Role
    version: Version
    kubeconfig: pulumi.Input[str]
    gitops: GitOpsSettings
    external_dns_owner_id: str
    git_token: pulumi.Input[str] | None = None
    sops_age_key: pulumi.Input[str] | None = None
    cluster_type: str = "kubernetes"
    substitutions: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    hold_singletons: bool = False
    """Born held: the sync Kustomization is created with fleet's hold entries (docs/singletons.md)."""

    @property
    def image_automation(self) -> bool:
        return self.gitops.image_automation and self.role is Role.ACTIVE

    @property
    def components(self) -> list[str]:
        return [*BASE_COMPONENTS, *(IMAGE_COMPONENTS if self.image_automation else ())]


class FluxBootstrap(pulumi.ComponentResource):
    """flux-operator and a FluxInstance syncing the environment's Git source on one slot."""

    provider: k8s.Provider
    instance: k8s.apiextensions.CustomResource

    def __init__(self, name: str, args: FluxBootstrapArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fleet:infra:FluxBootstrap", name, None, opts)
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=args.kubeconfig,
            delete_unreachable=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        on_slot = pulumi.ResourceOptions(parent=self, provider=self.provider)
        if args.cluster_type == LOCAL_CLUSTER_TYPE:
            # A local slot's objects go with its API server (the slot host removes etcd's data); deleting
            # them one by one waits on Flux's finalizers, which a drained, suspended Flux never clears.
            on_slot = pulumi.ResourceOptions.merge(on_slot, pulumi.ResourceOptions(retain_on_delete=True))
        # No kube-controller-manager finalizes namespaces on a local slot: deleting one would wait forever.
        skip_await = {"pulumi.com/skipAwait": "true"} if args.cluster_type == LOCAL_CLUSTER_TYPE else None
        namespace = k8s.core.v1.Namespace(
            f"{name}-ns", metadata={"name": NAMESPACE, "annotations": skip_await}, opts=on_slot
        )
        in_namespace = pulumi.ResourceOptions.merge(on_slot, pulumi.ResourceOptions(depends_on=[namespace]))
        if args.cluster_type == LOCAL_CLUSTER_TYPE:
            self._local(name, args, namespace, in_namespace)
            return
        operator = k8s.helm.v3.Release(
            f"{name}-operator",
            name="flux-operator",
            chart=OPERATOR_CHART,
            version=args.gitops.operator_version,
            namespace=NAMESPACE,
            opts=in_namespace,
        )
        before_sync: list[pulumi.Resource] = [operator]
        if args.git_token is not None:
            before_sync.append(
                k8s.core.v1.Secret(
                    f"{name}-git",
                    metadata={"name": GIT_SECRET, "namespace": NAMESPACE},
                    type="Opaque",
                    string_data={"username": "git", "password": pulumi.Output.secret(args.git_token)},
                    opts=in_namespace,
                )
            )
        if args.sops_age_key is not None:
            before_sync.append(
                k8s.core.v1.Secret(
                    f"{name}-sops",
                    metadata={"name": SOPS_SECRET, "namespace": NAMESPACE},
                    type="Opaque",
                    string_data={"age.agekey": pulumi.Output.secret(args.sops_age_key)},
                    opts=in_namespace,
                )
            )
        self.slot_config = _slot_config(name, args, in_namespace)
        before_sync.append(self.slot_config)
        self.instance = k8s.apiextensions.CustomResource(
            f"{name}-instance",
            api_version="fluxcd.controlplane.io/v1",
            kind="FluxInstance",
            metadata={"name": "flux", "namespace": NAMESPACE},
            spec=flux_instance_spec(args),
            opts=pulumi.ResourceOptions.merge(on_slot, pulumi.ResourceOptions(depends_on=before_sync)),
        )
        self.components = args.components
        self.external_dns_owner_id = args.external_dns_owner_id
        self.register_outputs({"components": self.components, "externalDnsOwnerId": self.external_dns_owner_id})


    def _local(
        self, name: str, args: FluxBootstrapArgs, namespace: k8s.core.v1.Namespace, in_namespace: pulumi.ResourceOptions
    ) -> None:
        """The ``local`` driver's slot: what ``flux bootstrap`` applies, no operator (see fleet.infra.local_driver)."""
        from fleet.infra.local_driver import local_flux

        secrets = (("git_token", GIT_SECRET, "password"), ("sops_age_key", SOPS_SECRET, "age.agekey"))
        for key, secret_name, field_name in secrets:
            value = getattr(args, key)
            if value is not None:
                k8s.core.v1.Secret(
                    f"{name}-{'git' if key == 'git_token' else 'sops'}",
                    metadata={"name": secret_name, "namespace": NAMESPACE},
                    type="Opaque",
                    string_data={field_name: pulumi.Output.secret(value)},
                    opts=in_namespace,
                )
        self.slot_config = _slot_config(name, args, in_namespace)
        self.instance = local_flux(
            name,
            provider=self.provider,
            parent=self,
            namespace=namespace,
            slot_config=self.slot_config,
            url=args.gitops.url,
            branch=args.gitops.branch,
            path=args.gitops.path,
            git_server=args.substitutions.get("local_git_server", ""),
            namespace_name=NAMESPACE,
            slot_configmap=SLOT_CONFIGMAP,
            patches=born_held(NAMESPACE) if args.hold_singletons else [],
        )
        self.components = list(LOCAL_COMPONENTS)
        self.external_dns_owner_id = args.external_dns_owner_id
        self.register_outputs({"components": self.components, "externalDnsOwnerId": self.external_dns_owner_id})


def _slot_config(name: str, args: FluxBootstrapArgs, in_namespace: pulumi.ResourceOptions) -> k8s.core.v1.ConfigMap:
    return k8s.core.v1.ConfigMap(
        f"{name}-slot",
        metadata={
            "name": SLOT_CONFIGMAP,
            "namespace": NAMESPACE,
            "labels": {"app.kubernetes.io/managed-by": "fleet"},
        },
        data={
            "fleet_env": args.env,
            "fleet_slot": args.slot.value,
            "external_dns_owner_id": args.external_dns_owner_id,
            "cluster_version": str(args.version),
            **args.substitutions,
        },
        opts=in_namespace,
    )


def flux_instance_spec(args: FluxBootstrapArgs) -> dict[str, object]:
    """The FluxInstance spec; the sync target is the environment's, identical on both slots."""
    sync: dict[str, object] = {
        "kind": "GitRepository",
        "url": args.gitops.url,
        "ref": args.gitops.ref,
        "path": args.gitops.path,
    }
    if args.git_token is not None:
        sync["pullSecret"] = GIT_SECRET
    patch: list[dict[str, object]] = [
        {
            "op": "add",
            "path": "/spec/postBuild",
            "value": {"substituteFrom": [{"kind": "ConfigMap", "name": SLOT_CONFIGMAP}]},
        }
    ]
    if args.sops_age_key is not None:
        patch.append(
            {
                "op": "add",
                "path": "/spec/decryption",
                "value": {"provider": "sops", "secretRef": {"name": SOPS_SECRET}},
            }
        )
    sync_target = {"kind": "Kustomization", "name": NAMESPACE}
    patches: list[dict[str, object]] = [{"target": sync_target, "patch": json.dumps(patch)}]
    if args.hold_singletons:
        patches.append(instance_entry(NAMESPACE))
    return {
        "distribution": {"version": args.gitops.flux_version, "registry": "ghcr.io/fluxcd"},
        "components": args.components,
        "cluster": {"type": args.cluster_type, "multitenant": False, "networkPolicy": True},
        "sync": sync,
        "kustomize": {"patches": patches},
    }
