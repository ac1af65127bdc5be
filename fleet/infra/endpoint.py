"""A slot's share of the environment's DNS names, weighted from day one.

Route53 refuses to add a weighted record beside a simple record of the same
name, so every record is weighted from its creation, with the slot name as
its SetIdentifier; the second slot then only adds its own record. Pulumi
seeds the weights (100 for the active slot, 0 for the other: never all zero,
which Route53 would read as "split equally") and then ignores them, because
moving weights is the cutover engine's job. A later ``pulumi up``, by fleet or
by hand, therefore never resets a cutover in progress.

Each slot gets one Route53 health check on its ingress, attached to its
records, so an unhealthy slot stops receiving DNS answers even between
cutover steps.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from fleet.domain.model import Role, SlotName
from fleet.infra.settings import DnsSettings

WEIGHTS_OWNED_BY_FLEET = ["weightedRoutingPolicies"]


def is_ip(address: str) -> bool:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return False
    return True


def initial_weight(role: Role) -> int:
    return 100 if role is Role.ACTIVE else 0


@dataclass(frozen=True)
class WeightedEndpointArgs:
    env: str
    slot: SlotName
    role: Role
    ingress: pulumi.Input[str]
    hostnames: Sequence[str]
    dns: DnsSettings


class WeightedEndpoint(pulumi.ComponentResource):
    """Weighted Route53 records for every hostname, pointing at one slot's ingress."""

    def __init__(self, name: str, args: WeightedEndpointArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fleet:infra:WeightedEndpoint", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        ingress = pulumi.Output.from_input(args.ingress)
        self.health_check = aws.route53.HealthCheck(
            f"{name}-health",
            type="HTTP",
            ip_address=ingress.apply(lambda a: a if is_ip(a) else None),
            fqdn=ingress.apply(lambda a: None if is_ip(a) else a),
            port=args.dns.health_check_port,
            resource_path=args.dns.health_check_path,
            failure_threshold=3,
            request_interval=10,
            tags={
                "Name": f"{args.env}-{args.slot.value}",
                "fleet:env": args.env,
                "fleet:slot": args.slot.value,
            },
            opts=child,
        )
        self.records = [
            aws.route53.Record(
                f"{name}-{hostname}",
                zone_id=args.dns.zone_id,
                name=hostname,
                type=ingress.apply(lambda a: "A" if is_ip(a) else "CNAME"),
                ttl=args.dns.ttl,
                records=[ingress],
                set_identifier=args.slot.value,
                weighted_routing_policies=[{"weight": initial_weight(args.role)}],
                health_check_id=self.health_check.id,
                opts=pulumi.ResourceOptions(parent=self, ignore_changes=WEIGHTS_OWNED_BY_FLEET),
            )
            for hostname in args.hostnames
        ]
        self.register_outputs({"healthCheckId": self.health_check.id, "records": [r.fqdn for r in self.records]})
