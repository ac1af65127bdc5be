"""Builds the real adapters for an environment from its configuration.

This is the one place that knows which adapter serves which port; every
import of an adapter (and so of pulumi, kubernetes or boto3) happens inside a
function here, so that commands which do not need them never load them.
"""

from __future__ import annotations

from typing import Any

from fleet.config import EnvironmentConfig
from fleet.domain.machine import EnvironmentState
from fleet.errors import ConfigError
from fleet.ports import Confirm, Notifier


class _SystemClock:
    def now(self) -> float:
        import time

        return time.time()

    def sleep(self, seconds: float) -> None:
        import time

        time.sleep(max(0.0, seconds))


def production_ports(config: EnvironmentConfig, notifier: Notifier, confirm: Confirm) -> Any:
    from fleet.engine import Ports

    raise ConfigError("real adapters are not wired yet", file=config.file)
    return Ports  # pragma: no cover


def validate_adapters(config: EnvironmentConfig) -> list[ConfigError]:
    """Problems the adapters find in their own sections of the configuration."""
    return []


def health_view(config: EnvironmentConfig, state: EnvironmentState | None) -> list[dict[str, Any]]:
    raise ConfigError("the health gate is not wired yet", file=config.file)
