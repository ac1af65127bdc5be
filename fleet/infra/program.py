"""The environment's infrastructure: for every present slot, a cluster, Flux, and its DNS share.

``__main__`` calls :func:`run`; tests call :func:`build_environment` with
plain settings under Pulumi's mocks. The program never decides which slots
exist: it converges to the layout it is given (see ``fleet.infra.layout``),
so a hand-run ``pulumi up -s <env>`` and fleet's own runs agree, and neither
destroys a live slot, resurrects a torn-down one, or resets the traffic
weights the cutover engine has moved.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi

from fleet.domain.model import SlotName
from fleet.errors import ConfigError
from fleet.infra.cluster import ClusterSlot, ClusterSlotArgs
from fleet.infra.endpoint import WeightedEndpoint, WeightedEndpointArgs
from fleet.infra.flux import FluxBootstrap, FluxBootstrapArgs
from fleet.infra.layout import (
    EnvironmentPlan,
    LayoutLoader,
    PreviousSlots,
    load_recorded_layout,
    output_key,
    project_root,
    resolve_plan,
    stack_slots,
)
from fleet.infra.settings import SECRET_KEYS, InfraSettings, infra_settings_from_config

_OBJECT_KEYS = ("cluster", "gitops", "dns", "externalDns", "hostnames")


@dataclass(frozen=True)
class FluxSecrets:
    git_token: pulumi.Output[str] | None = None
    sops_age_key: pulumi.Output[str] | None = None


@dataclass(frozen=True)
class SlotResources:
    cluster: ClusterSlot
    flux: FluxBootstrap | None
    endpoint: WeightedEndpoint | None


def read_config(config: pulumi.Config, *, file: str) -> tuple[InfraSettings, FluxSecrets]:
    """Read the ``fleet:`` keys this program owns; other parts' keys are ignored."""
    raw: dict[str, Any] = {}
    for key in _OBJECT_KEYS:
        value = config.get_object(key)
        if value is not None:
            raw[key] = value
    # Pulumi.yaml defaults the secrets to "" so that stacks may leave them out; "" means absent.
    secrets: dict[str, pulumi.Output[str] | None] = {
        key: config.get_secret(key) if config.get(key) else None for key in SECRET_KEYS
    }
    for key, secret in secrets.items():
        if secret is not None:
            raw[key] = {"secure": "(decrypted by pulumi)"}
    settings = infra_settings_from_config(raw, file=file)
    return settings, FluxSecrets(secrets["gitToken"], secrets["sopsAgeKey"])


def build_environment(
    settings: InfraSettings, plan: EnvironmentPlan, secrets: FluxSecrets
) -> dict[SlotName, SlotResources]:
    """Create every present slot of ``plan``; absent slots get nothing, so Pulumi removes what they had."""
    if settings.dns is not None and plan.slots and plan.active is None:
        raise ConfigError(
            "no slot is active: DNS weights would all be 0, which Route53 reads as an equal split",
            key=plan.source,
        )
    env = plan.env
    built: dict[SlotName, SlotResources] = {}
    for slot in plan.slots:
        name = f"{env}-{slot.slot.value}"
        cluster = ClusterSlot(name, ClusterSlotArgs(env, slot.slot, slot.version, settings.cluster))
        flux = None
        if slot.bootstrap:
            flux = FluxBootstrap(
                f"{name}-flux",
                FluxBootstrapArgs(
                    env=env,
                    slot=slot.slot,
                    role=slot.role,
                    version=slot.version,
                    kubeconfig=cluster.kubeconfig,
                    gitops=settings.gitops,
                    external_dns_owner_id=settings.owner_id(env, slot.slot.value),
                    git_token=secrets.git_token,
                    sops_age_key=secrets.sops_age_key,
                    cluster_type=cluster.flux_cluster_type,
                    substitutions=cluster.substitutions,
                    hold_singletons=slot.hold_singletons,
                ),
            )
        endpoint = None
        if settings.dns is not None and settings.hostnames:
            endpoint = WeightedEndpoint(
                f"{name}-dns",
                WeightedEndpointArgs(env, slot.slot, slot.role, cluster.ingress, settings.hostnames, settings.dns),
            )
        built[slot.slot] = SlotResources(cluster, flux, endpoint)
    return built


def stack_outputs(
    settings: InfraSettings, plan: EnvironmentPlan, built: Mapping[SlotName, SlotResources]
) -> dict[str, Any]:
    """Flat outputs per slot (``blue_kubeconfig``...); the Automation adapter reads these."""
    outputs: dict[str, Any] = {"layoutSource": plan.source}
    for slot in plan.slots:
        resources = built[slot.slot]
        values: dict[str, Any] = {
            "kubeconfig": resources.cluster.kubeconfig,
            "endpoint": resources.cluster.endpoint,
            "version": resources.cluster.version,
            "ingress": resources.cluster.ingress,
            "role": slot.role.value,
            "bootstrapped": resources.flux is not None,
            "externalDnsOwnerId": settings.owner_id(plan.env, slot.slot.value),
        }
        outputs.update({output_key(slot.slot, k): v for k, v in values.items()})
    return outputs


def run(
    environ: Mapping[str, str] | None = None,
    load: LayoutLoader = load_recorded_layout,
    previous: PreviousSlots | None = None,
) -> None:
    env = pulumi.get_stack()
    root = project_root()
    config = pulumi.Config("fleet")
    settings, secrets = read_config(config, file=f"stacks/Pulumi.{env}.yaml")
    plan = resolve_plan(
        env,
        settings.cluster.version,
        environ=os.environ if environ is None else environ,
        state_location=config.get("state") or None,
        load=load,
        root=root,
        previous=previous if previous is not None else stack_slots(root),
    )
    if plan.source != "FLEET_LAYOUT":
        pulumi.log.info(
            f"slot layout from {plan.source}: "
            + (", ".join(f"{s.slot.value} {s.role.value} at {s.version}" for s in plan.slots) or "no slots")
        )
    built = build_environment(settings, plan, secrets)
    for key, value in stack_outputs(settings, plan, built).items():
        pulumi.export(key, value)
