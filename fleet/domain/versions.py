"""Which version an environment moves to next: its channel over the versions its driver offers.

Kubernetes and the managed offerings upgrade one minor at a time, and a workload's
API removals are checked one minor at a time; a replacement could jump, but then
nobody has looked at what the skipped minor removed. So no channel ever skips a
minor: ``minor`` moves to the next one, and a ``pinned`` version two minors ahead
is reached one minor per cutover. ``patch`` stays on the current minor.

A version without a patch level (``1.29``, as EKS names its versions) counts below
every patch of its minor: a ``patch`` channel over a driver that names patches
(kind's image table) moves ``1.29`` to ``1.29.14`` once, and then follows patches.

Flux supports a range of Kubernetes minors per Flux release; a target outside it is
refused before a cutover is planned, because the new slot's Flux would not reconcile
(or would, and behave in ways nobody tested).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from fleet.domain.model import Version


class Channel(StrEnum):
    PINNED = "pinned"
    PATCH = "patch"
    MINOR = "minor"


@dataclass(frozen=True)
class ChannelPolicy:
    channel: Channel = Channel.PINNED
    pin: Version | None = None
    """The exact version of a ``pinned`` channel (None: the configured ``fleet:cluster.version``)."""


@dataclass(frozen=True)
class FluxRange:
    """Kubernetes minors a Flux release supports, both ends included."""

    low: Version
    high: Version
    source: str

    def allows(self, version: Version) -> bool:
        return _minor(self.low) <= _minor(version) <= _minor(self.high)

    def __str__(self) -> str:
        return f"{self.low.major}.{self.low.minor}-{self.high.major}.{self.high.minor} ({self.source})"


FLUX_KUBERNETES: Mapping[str, tuple[str, str]] = {
    "2.3": ("1.25", "1.30"),
    "2.4": ("1.26", "1.32"),
    "2.5": ("1.27", "1.33"),
    "2.7": ("1.29", "1.35"),
    "2.10": ("1.32", "1.37"),
}
"""Supported Kubernetes per Flux minor, from the Flux distribution's release pages
(fluxcd.control-plane.io/releases); ``fleet:upgrade.fluxKubernetes`` overrides it."""


def flux_range(flux_version: str, override: tuple[Version, Version] | None = None) -> FluxRange | None:
    """The range for ``fleet:gitops.fluxVersion`` (``2.5``, ``2.5.1``, ``v2.5``); None when unknown (``2.x``)."""
    if override is not None:
        return FluxRange(override[0], override[1], "fleet:upgrade.fluxKubernetes")
    parts = flux_version.lstrip("v").split(".")
    key = ".".join(parts[:2])
    found = FLUX_KUBERNETES.get(key)
    if found is None:
        return None
    return FluxRange(Version.parse(found[0]), Version.parse(found[1]), f"Flux {key}")


@dataclass(frozen=True)
class Resolution:
    """What the channel asks of one environment."""

    current: Version
    target: Version | None
    """The version to cut over to; None when current or blocked."""
    reason: str
    blocked: bool = False
    """An upgrade is wanted but refused (a skipped minor, Flux's range, a downgrade)."""

    @property
    def due(self) -> bool:
        return self.target is not None


def _minor(v: Version) -> tuple[int, int]:
    return (v.major, v.minor)


def _order(v: Version) -> tuple[int, int, int]:
    return (v.major, v.minor, -1 if v.patch is None else v.patch)


def _newest(versions: Iterable[Version], minor: tuple[int, int]) -> Version | None:
    found = [v for v in versions if _minor(v) == minor]
    return max(found, key=_order) if found else None


def resolve(
    current: Version,
    policy: ChannelPolicy,
    available: Iterable[Version],
    flux: FluxRange | None = None,
) -> Resolution:
    """The next version for an environment at ``current`` on ``policy``, never skipping a minor."""
    offered = sorted(set(available), key=_order)
    here = _minor(current)
    nxt = (current.major, current.minor + 1)
    if policy.channel is Channel.PATCH:
        candidate = _newest(offered, here)
        why = f"newest patch of {current.major}.{current.minor}"
    elif policy.channel is Channel.MINOR:
        candidate = _newest(offered, nxt)
        why = f"next minor {nxt[0]}.{nxt[1]}"
        if candidate is None:
            candidate = _newest(offered, here)
            why = f"{nxt[0]}.{nxt[1]} is not offered yet; newest patch of {current.major}.{current.minor}"
    else:
        pin = policy.pin or current
        if _order(pin) < _order(current) and _minor(pin) < here:
            return Resolution(current, None, f"pinned to {pin}, below the running {current}: "
                              "fleet does not downgrade", blocked=True)
        if _minor(pin) > nxt:
            step = _newest(offered, nxt)
            if step is None:
                return Resolution(current, None, f"pinned to {pin}; {nxt[0]}.{nxt[1]} must come first "
                                  "(never skipping a minor) and the driver does not offer it", blocked=True)
            candidate, why = step, f"pinned to {pin}: one minor at a time, {nxt[0]}.{nxt[1]} first"
        else:
            if offered and pin not in offered and _newest(offered, _minor(pin)) is None:
                return Resolution(current, None, f"pinned to {pin}, which the driver does not offer", blocked=True)
            candidate, why = pin, f"pinned to {pin}"
    if candidate is None or _order(candidate) <= _order(current):
        return Resolution(current, None, f"current ({why})")
    if flux is not None and not flux.allows(candidate):
        return Resolution(current, None, f"{candidate} ({why}) is outside the Kubernetes range {flux}", blocked=True)
    return Resolution(current, candidate, why)
