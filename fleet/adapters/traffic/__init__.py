"""Traffic adapters (the ``Traffic`` port), chosen by ``fleet:traffic.provider`` in a stack file.

The registry maps a provider name to ``module:Class`` and imports the module
only when that provider is configured, so that ``fleet --help`` (and any
environment that moves traffic with HAProxy) never imports boto3. Adding a
provider (Azure Traffic Manager, a Cloudflare load balancer) means a module
beside these with a class that implements ``get_weights``/``set_weights`` and
a ``from_settings`` classmethod, plus one line in ``PROVIDERS``; the engine is
not touched. See ``docs/traffic.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fleet.adapters.registry import load_adapter
from fleet.ports import Traffic

PROVIDERS: dict[str, str] = {
    "haproxy": "fleet.adapters.traffic.haproxy:HAProxyTraffic",
    "route53": "fleet.adapters.traffic.route53:Route53Traffic",
}


def traffic_from_settings(env: str, settings: Mapping[str, Any], *, file: str) -> Traffic:
    """The Traffic adapter described by an environment's ``fleet:traffic`` block."""
    adapter: Traffic = load_adapter(PROVIDERS, settings, env=env, file=file, block="traffic", selector="provider")
    return adapter
