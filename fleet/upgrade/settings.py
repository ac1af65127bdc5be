"""``fleet:upgrade`` as ``fleet upgrade`` uses it: an environment's channel, wave and maintenance windows.

The keys, their types and messages are the model's (:mod:`fleet.settings.upgrade`, which shows them in
YAML); every problem names its file and key. This module turns what the model read into the domain's
channel policy and windows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fleet.config import EnvironmentConfig
from fleet.domain.model import Version
from fleet.domain.versions import ChannelPolicy
from fleet.domain.windows import Window
from fleet.errors import ConfigError


@dataclass(frozen=True)
class UpgradeSettings:
    policy: ChannelPolicy = field(default_factory=ChannelPolicy)
    wave: str | None = None
    windows: tuple[Window, ...] = ()
    versions: tuple[Version, ...] = ()
    flux_kubernetes: tuple[Version, Version] | None = None


def upgrade_settings(config: EnvironmentConfig) -> UpgradeSettings:
    """The environment's ``fleet:upgrade``; ConfigError (file and key) for the first problem."""
    from fleet.settings.errors import read_all
    from fleet.settings.model import UpgradeModel

    raw = config.raw.get("upgrade")
    model, problems = read_all(UpgradeModel, {"upgrade": raw} if raw is not None else {}, file=config.file)
    if problems:
        raise problems[0]
    assert model is not None
    u = model.upgrade
    return UpgradeSettings(ChannelPolicy(u.channel, u.version), u.wave, u.windows, u.versions, u.flux_kubernetes)


def upgrade_problems(config: EnvironmentConfig) -> list[ConfigError]:
    """Kept for callers that check ``fleet:upgrade`` alone; ``fleet validate`` reads it with the whole model."""
    try:
        upgrade_settings(config)
    except ConfigError as err:
        return [err]
    return []
