"""Choosing an adapter by name from a stack file's block, importing only the one configured.

Traffic providers and analysis sources are both registered as ``name ->
module:Class``; the class has a ``from_settings(env, settings, *, file)``
constructor. One loader serves both, so every block reports a wrong name, a
missing package or a bad key the same way (file and key, exit 2), and no SDK
is imported for an adapter the environment does not use.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from fleet.errors import ConfigError


def load_adapter(
    registry: Mapping[str, str], settings: object, *, env: str, file: str, block: str, selector: str
) -> Any:
    """The adapter that ``settings[selector]`` names in ``registry``, built from ``settings``."""
    if not isinstance(settings, Mapping):
        raise ConfigError(f"must be a mapping with a {selector!r} key", file=file, key=f"fleet:{block}")
    name = settings.get(selector)
    key = f"fleet:{block}.{selector}"
    if not isinstance(name, str) or name not in registry:
        raise ConfigError(f"{selector} {name!r} is not one of {', '.join(sorted(registry))}", file=file, key=key)
    module_name, _, class_name = registry[name].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        extra = "; install fleet[aws] for route53" if name == "route53" else ""
        raise ConfigError(
            f"{selector} {name!r} needs a package that is not installed ({err.name}){extra}", file=file, key=key
        ) from err
    return getattr(module, class_name).from_settings(env, settings, file=file)
