"""Which slots the program creates, and how that travels from fleet to Pulumi.

The infrastructure program is a pure function of the configuration and the
environment's slot layout. fleet's Automation adapter passes the layout in
the ``FLEET_LAYOUT`` environment variable as JSON::

    {"env": "staging",
     "slots": {"blue":  {"role": "active",  "version": "1.29", "bootstrap": true},
               "green": {"role": "standby", "version": "1.30", "bootstrap": false, "holdSingletons": true}}}

``holdSingletons`` (absent: false) makes the slot's Flux born holding the
workloads that must not run twice (docs/singletons.md); it is
:func:`fleet.domain.singletons.born_held` of fleet's state, whichever way the
layout travels, so a hand-run ``pulumi preview`` plans what fleet's run did.

A hand-run ``pulumi up -s <env>`` has no such variable, so the program reads
the layout fleet recorded in its state store instead; only when nothing is
recorded (a brand-new environment) does it seed ``blue`` as the active slot
at ``fleet:cluster.version``. Slots that are absent are left out: the program
never resurrects a slot that fleet tore down.

The store's location (``fleet:state``, ``$FLEET_STATE``, default
``.fleet/state``) is resolved against the project root, the directory
holding ``Pulumi.yaml``, not the working directory: Pulumi runs the program
in ``fleet/infra/`` (``main``), where a relative path would find nothing.
Seeding is refused (nothing planned, nothing deleted) when the stack already
has slots (its previous outputs, asked of the Pulumi CLI) or, where that
cannot be told, when the store directory does not exist: a store that was
not found must never read as "a brand-new environment".

This module is pure (no pulumi import) because both sides of that handshake
use it: the adapter encodes, the program decodes. The names of the stack
outputs live here for the same reason.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fleet.domain.model import Role, SlotName, Version
from fleet.errors import ConfigError
from fleet.ports import Layout

LAYOUT_ENV = "FLEET_LAYOUT"
STATE_ENV = "FLEET_STATE"
DEFAULT_STATE_LOCATION = ".fleet/state"

OUTPUT_FIELDS = ("kubeconfig", "endpoint", "version", "ingress", "role", "bootstrapped", "externalDnsOwnerId")


def output_key(slot: SlotName, name: str) -> str:
    """Stack output names are flat (``blue_kubeconfig``) so that only the kubeconfig is secret."""
    return f"{slot.value}_{name}"


@dataclass(frozen=True)
class SlotPlan:
    slot: SlotName
    role: Role
    version: Version
    bootstrap: bool = True
    hold_singletons: bool = False


@dataclass(frozen=True)
class EnvironmentPlan:
    env: str
    slots: tuple[SlotPlan, ...]
    source: str
    """Where the layout came from: ``FLEET_LAYOUT``, ``store`` or ``seed``."""

    @property
    def active(self) -> SlotPlan | None:
        return next((s for s in self.slots if s.role is Role.ACTIVE), None)

    def get(self, slot: SlotName) -> SlotPlan | None:
        return next((s for s in self.slots if s.slot is slot), None)


def encode_layout(layout: Layout, bootstrap: Mapping[SlotName, bool]) -> str:
    """The ``FLEET_LAYOUT`` value for ``layout``; absent slots are left out."""
    slots: dict[str, dict[str, Any]] = {}
    for name, state in sorted(layout.slots.items()):
        if state.role is Role.ABSENT:
            continue
        entry: dict[str, Any] = {"role": state.role.value, "bootstrap": bool(bootstrap.get(name, False))}
        if state.version is not None:
            entry["version"] = str(state.version)
        if name in layout.held:
            entry["holdSingletons"] = True
        slots[name.value] = entry
    return json.dumps({"env": layout.env, "slots": slots}, sort_keys=True)


def decode_layout(text: str, *, env: str, default_version: Version) -> EnvironmentPlan:
    """Parse ``FLEET_LAYOUT``; ConfigError when it is malformed or names another environment."""
    where = f"${LAYOUT_ENV}"
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"is not JSON: {err}", key=where) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("slots"), dict):
        raise ConfigError('must be an object like {"env": ..., "slots": {...}}', key=where)
    if doc.get("env") != env:
        raise ConfigError(f"describes environment {doc.get('env')!r}, but this is stack {env!r}", key=where)
    plans: list[SlotPlan] = []
    for raw_name, raw in sorted(doc["slots"].items()):
        try:
            slot = SlotName(raw_name)
            if not isinstance(raw, dict):
                raise ValueError("must be an object")
            role = Role(raw.get("role", ""))
            version = Version.parse(raw["version"]) if raw.get("version") is not None else default_version
        except (ValueError, KeyError) as err:
            raise ConfigError(f"slot {raw_name!r}: {err}", key=where) from None
        bootstrap = raw.get("bootstrap", True)
        hold = raw.get("holdSingletons", False)
        if not isinstance(bootstrap, bool) or not isinstance(hold, bool):
            raise ConfigError(f"slot {raw_name!r}: bootstrap and holdSingletons must be true or false", key=where)
        if role is not Role.ABSENT:
            plans.append(SlotPlan(slot, role, version, bootstrap, hold))
    return _checked(EnvironmentPlan(env, tuple(plans), LAYOUT_ENV))


def plan_from_layout(layout: Layout, *, default_version: Version, source: str) -> EnvironmentPlan:
    """A recorded layout as a plan; every present slot is bootstrapped (a hand-run up never un-bootstraps)."""
    plans = tuple(
        SlotPlan(name, state.role, state.version or default_version, True, name in layout.held)
        for name, state in sorted(layout.slots.items())
        if state.role is not Role.ABSENT
    )
    return _checked(EnvironmentPlan(layout.env, plans, source))


def seed_plan(env: str, version: Version) -> EnvironmentPlan:
    return EnvironmentPlan(env, (SlotPlan(SlotName.BLUE, Role.ACTIVE, version, True),), "seed")


LayoutLoader = Callable[[str, str], Layout | None]

PreviousSlots = Callable[[str], frozenset[SlotName] | None]
"""The slots the stack's last update left (from its outputs); None when that cannot be told."""


def unknown_previous(env: str) -> frozenset[SlotName] | None:
    return None


def project_root(start: str | os.PathLike[str] | None = None) -> Path:
    """The directory holding ``Pulumi.yaml``, looking up from ``start`` (the working directory)."""
    here = Path(start if start is not None else Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "Pulumi.yaml").is_file():
            return folder
    return here


def store_location(location: str, root: Path) -> str:
    """``location`` with a relative directory resolved against the project root; URLs as they are."""
    if "://" in location or Path(location).is_absolute():
        return location
    return str(root / location)


def stack_slots(root: Path) -> PreviousSlots:
    """Asks the Pulumi CLI for the stack's outputs (``pulumi stack output --json``) and names the slots in them."""

    def previous(env: str) -> frozenset[SlotName] | None:
        try:
            done = subprocess.run(
                ["pulumi", "stack", "output", "--json", "--stack", env, "--non-interactive"],
                cwd=root, capture_output=True, text=True, timeout=60, check=False,
            )
            outputs = json.loads(done.stdout) if done.returncode == 0 else None
        except (OSError, subprocess.SubprocessError, json.JSONDecodeError):
            return None
        if not isinstance(outputs, dict):
            return None
        return frozenset(slot for slot in SlotName if outputs.get(output_key(slot, "kubeconfig")) is not None)

    return previous


def load_recorded_layout(env: str, location: str) -> Layout | None:
    """The layout fleet's state store recorded for ``env`` (the store is imported lazily)."""
    from fleet import state

    loader: LayoutLoader | None = getattr(state, "load_layout", None)
    if loader is None:
        raise ConfigError(
            f"fleet.state has no load_layout: cannot read the slot layout of {env!r}; "
            f"run through fleet, or set {LAYOUT_ENV}"
        )
    return loader(env, location)


def resolve_plan(
    env: str,
    default_version: Version,
    *,
    environ: Mapping[str, str],
    state_location: str | None = None,
    load: LayoutLoader = load_recorded_layout,
    root: Path | None = None,
    previous: PreviousSlots = unknown_previous,
) -> EnvironmentPlan:
    """The slots to converge to: FLEET_LAYOUT, else fleet's store, else a seeded blue slot.

    A relative store location is taken from the project root (``root``, else the directory
    holding Pulumi.yaml above the working directory). With nothing recorded, seeding is
    refused when ``previous`` says the stack has a slot the seed lacks (seeding would delete
    it; a stack holding just the seeded slot, as a hand-run ``pulumi up`` leaves it, is fine),
    or cannot tell and the store directory does not exist.
    """
    text = environ.get(LAYOUT_ENV)
    if text:
        return decode_layout(text, env=env, default_version=default_version)
    configured = state_location or environ.get(STATE_ENV) or DEFAULT_STATE_LOCATION
    location = store_location(configured, root if root is not None else project_root())
    recorded = load(env, location)
    if recorded is not None:
        return plan_from_layout(recorded, default_version=default_version, source="store")
    slots = previous(env)
    seeded = seed_plan(env, default_version)
    if slots and not slots <= {s.slot for s in seeded.slots}:  # seeding would delete a slot the stack has
        raise ConfigError(
            f"fleet's store at {location} has no record of {env!r}, but the stack has slots "
            f"({', '.join(sorted(s.value for s in slots))}); refusing to seed 'blue only', which would delete "
            f"them. Point fleet:state (or ${STATE_ENV}) at the store fleet uses, or run through fleet",
            key="fleet:state",
        )
    if slots is None and "://" not in location and not Path(location).is_dir():
        raise ConfigError(
            f"fleet's store {location} does not exist, and whether the stack already has slots cannot be told "
            f"(the Pulumi CLI did not answer); refusing to seed 'blue only'. For a brand-new environment "
            f"create the directory (mkdir -p {location}); otherwise point fleet:state at fleet's store",
            key="fleet:state",
        )
    return seeded


def _checked(plan: EnvironmentPlan) -> EnvironmentPlan:
    active = [s.slot.value for s in plan.slots if s.role is Role.ACTIVE]
    if len(active) > 1:
        raise ConfigError(f"slots {' and '.join(active)} are both active; exactly one slot serves", key=plan.source)
    return plan
