"""``fleet:upgrade``: an environment's version channel, wave and maintenance windows, as part of the model.

```yaml
fleet:upgrade:
  channel: minor              # pinned (default) | patch | minor
  version: "1.30"             # pinned only: the exact version (default fleet:cluster.version)
  wave: staging               # the wave of `fleet upgrade --wave dev,staging,prod` it belongs to
  windows:                    # none: any time
    - {days: [sat, sun], start: "02:00", duration: 4h, zone: Europe/Berlin}
  versions: ["1.30", "1.31"]  # versions offered when the driver cannot say (fallback)
  fluxKubernetes: ["1.29", "1.33"]   # overrides the known range of fleet:gitops.fluxVersion
```
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from pydantic import BeforeValidator, Field, model_validator

from fleet.domain.model import Version
from fleet.domain.versions import Channel
from fleet.domain.windows import Window
from fleet.settings.durations import parse_duration
from fleet.settings.infra import Section
from fleet.settings.types import labelled, problem

_WINDOW_KEYS = frozenset({"days", "start", "duration", "zone"})


def _one_version(value: object, key: str) -> Version:
    if isinstance(value, float):
        raise problem(f"write the version in quotes: YAML reads it as the number {value!r}", key=key)
    try:
        return Version.parse(value)
    except ValueError as err:
        raise problem(str(err), key=key) from None


@labelled("`pinned` \\| `patch` \\| `minor`")
def _channel(value: object) -> Channel:
    try:
        return Channel(str(value))
    except ValueError:
        raise problem(f"{value!r} is not one of pinned, patch, minor") from None


@labelled("version")
def _pin(value: object) -> Version | None:
    return None if value is None else _one_version(value, "upgrade.version")


@labelled("string")
def _wave(value: object) -> str | None:
    if value is not None and (not isinstance(value, str) or not value or "," in value):
        raise problem("expected a wave name such as staging")
    return value


@labelled("list of versions")
def _versions(value: object) -> tuple[Version, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise problem('expected a list of quoted versions such as ["1.30", "1.31"]')
    return tuple(_one_version(v, f"upgrade.versions[{i}]") for i, v in enumerate(value))


@labelled("`[lowest, highest]`")
def _flux(value: object) -> tuple[Version, Version] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != 2:
        raise problem('expected [lowest, highest] such as ["1.29", "1.33"]')
    return _one_version(value[0], "upgrade.fluxKubernetes[0]"), _one_version(value[1], "upgrade.fluxKubernetes[1]")


@labelled("list of `{days, start, duration, zone}`")
def _windows(value: object) -> tuple[Window, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise problem("expected a list of {days, start, duration, zone}")
    found = []
    for i, item in enumerate(value):
        key = f"upgrade.windows[{i}]"
        if not isinstance(item, Mapping):
            raise problem("expected a mapping {days, start, duration, zone}", key=key)
        unknown = [str(k) for k in item if k not in _WINDOW_KEYS]
        missing = sorted(_WINDOW_KEYS - set(item))
        if unknown or missing:
            raise problem(f"unknown keys {unknown}" if unknown else f"missing {', '.join(missing)}", key=key)
        days = item["days"]
        if isinstance(days, str):
            days = [d for d in days.split(",") if d.strip()]
        try:
            duration = parse_duration(item["duration"])
            found.append(Window.parse(list(days), str(item["start"]), duration, str(item["zone"])))
        except (ValueError, TypeError) as err:
            raise problem(str(err), key=key) from None
    return tuple(found)


class Upgrade(Section):
    """``fleet:upgrade``."""

    channel: Annotated[Channel, BeforeValidator(_channel)] = Channel.PINNED
    version: Annotated[Version | None, BeforeValidator(_pin)] = None
    """``pinned`` only; unset: ``fleet:cluster.version``."""
    wave: Annotated[str | None, BeforeValidator(_wave)] = None
    windows: Annotated[tuple[Window, ...], BeforeValidator(_windows)] = ()
    versions: Annotated[tuple[Version, ...], BeforeValidator(_versions)] = ()
    flux_kubernetes: Annotated[tuple[Version, Version] | None, BeforeValidator(_flux)] = Field(
        None, alias="fluxKubernetes"
    )

    @model_validator(mode="after")
    def _only_pinned_takes_a_version(self) -> Upgrade:
        if self.version is not None and self.channel is not Channel.PINNED:
            raise problem(f"only a pinned channel takes a version (this one is {self.channel})", key="upgrade.version")
        return self
