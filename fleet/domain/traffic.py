"""What the traffic provider itself says, and how that is compared with fleet's record.

fleet's record of the weights is what fleet last applied; the world can move
under it: a hand edit, an HAProxy reload (runtime weights and addresses are
lost and the configuration file's values come back), a server put in
maintenance. So the engine reads the provider back before every weight
change and before the old slot is torn down, and ``fleet status`` shows both.
This module is the pure part: the provider's view as data, and the rules that
say when it disagrees with the record (drift) or when a slot still takes
traffic by the provider's own account (teardown must wait).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from fleet.domain.model import SlotName, Weights


class ServerState(StrEnum):
    """A slot's server as the provider's own checks see it (HAProxy); UNKNOWN where the provider has none."""

    UP = "UP"
    MAINT = "MAINT"
    DRAIN = "DRAIN"
    DOWN = "DOWN"
    UNKNOWN = "UNKNOWN"


@dataclass(frozen=True)
class SlotTraffic:
    """One slot's entry at the provider."""

    weight: int
    """In the provider's own units (HAProxy 0..256, Route53 0..255)."""
    state: ServerState = ServerState.UNKNOWN
    sessions: int | None = None
    """Connections the provider currently holds to the slot (HAProxy ``scur``); None where unknown."""
    address: str | None = None
    """Where the provider sends the slot's share (HAProxy ``addr:port``, a record's value)."""


@dataclass(frozen=True)
class TrafficView:
    """The provider's own account of both slots, read in one go."""

    provider: str
    slots: Mapping[SlotName, SlotTraffic] = field(default_factory=dict)

    @property
    def weights(self) -> Weights | None:
        """The shares as percentages; None when every weight is 0 (HAProxy then serves nothing)."""
        raw = {slot: self.slots[slot].weight if slot in self.slots else 0 for slot in SlotName}
        total = sum(raw.values())
        if total <= 0:
            return None
        blue = round(100 * raw[SlotName.BLUE] / total)
        return Weights(blue=blue, green=100 - blue)

    def describe(self) -> str:
        weights = self.weights
        share = "no weight on either slot" if weights is None else str(weights)
        states = [
            f"{slot} {entry.state}" for slot, entry in sorted(self.slots.items()) if entry.state is not ServerState.UP
            and entry.state is not ServerState.UNKNOWN
        ]
        return share + (f" ({', '.join(states)})" if states else "")


def weight_drift(recorded: Weights, view: TrafficView) -> str | None:
    """Why the provider's weights are not the recorded ones, naming both; None when they agree."""
    observed = view.weights
    if observed == recorded:
        return None
    said = "weight 0 on both slots" if observed is None else str(observed)
    return f"fleet recorded {recorded}, {view.provider} has {said}"


def address_drift(view: TrafficView, expected: Mapping[SlotName, str]) -> str | None:
    """Why a slot's address at the provider is not the one fleet put there; None when all agree or are unknown."""
    wrong = []
    for slot, address in sorted(expected.items()):
        seen = view.slots[slot].address if slot in view.slots else None
        if seen is not None and not same_address(seen, address):
            wrong.append(f"{view.provider} sends {slot}'s share to {seen}, fleet set {address}")
    return "; ".join(wrong) if wrong else None


def same_address(seen: str, expected: str) -> bool:
    """``seen`` (``ip:port``) is ``expected``, which may leave the port out (the server's own port is kept)."""
    return seen == expected or seen.rsplit(":", 1)[0] == expected


def still_serving(view: TrafficView, slot: SlotName) -> str | None:
    """Why ``slot`` still takes traffic by the provider's own account (weight, open sessions); None if it does not."""
    entry = view.slots.get(slot)
    if entry is None:
        return None
    if entry.weight > 0:
        return f"{view.provider} still gives {slot} weight {entry.weight}"
    if entry.sessions:
        return f"{view.provider} still holds {entry.sessions} session(s) to {slot}"
    return None


def cannot_take(view: TrafficView, slot: SlotName) -> str | None:
    """Why weight must not move onto ``slot`` by the provider's own checks (MAINT, DRAIN, DOWN); None if it can."""
    entry = view.slots.get(slot)
    if entry is None or entry.state in (ServerState.UP, ServerState.UNKNOWN):
        return None
    meaning = {
        ServerState.MAINT: "in maintenance",
        ServerState.DRAIN: "draining",
        ServerState.DOWN: "DOWN by its health checks",
    }[entry.state]
    return f"{view.provider} has {slot}'s server {meaning} ({entry.state})"
