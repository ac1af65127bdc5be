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

import importlib
from collections.abc import Mapping
from typing import Any

from fleet.errors import ConfigError
from fleet.ports import Traffic

PROVIDERS: dict[str, str] = {
    "haproxy": "fleet.adapters.traffic.haproxy:HAProxyTraffic",
    "route53": "fleet.adapters.traffic.route53:Route53Traffic",
}


def traffic_from_settings(env: str, settings: Mapping[str, Any], *, file: str) -> Traffic:
    """The Traffic adapter described by an environment's ``fleet:traffic`` block."""
    if not isinstance(settings, Mapping):
        raise ConfigError("must be a mapping with a 'provider' key", file=file, key="fleet:traffic")
    provider = settings.get("provider")
    if not isinstance(provider, str) or provider not in PROVIDERS:
        raise ConfigError(
            f"provider {provider!r} is not one of {', '.join(sorted(PROVIDERS))}",
            file=file, key="fleet:traffic.provider",
        )
    module_name, _, class_name = PROVIDERS[provider].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ConfigError(
            f"provider {provider!r} needs a package that is not installed ({err.name}); "
            "install fleet[aws] for route53",
            file=file, key="fleet:traffic.provider",
        ) from err
    adapter: Traffic = getattr(module, class_name).from_settings(env, settings, file=file)
    return adapter
