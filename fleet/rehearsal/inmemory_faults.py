"""The faults of the in-memory rehearsal: parsed from ``--fault``, and the hooks that kill it on cue.

``fleet rehearse --simulated`` (:mod:`fleet.rehearsal.inmemory`) makes its fakes
fail the way real parts fail; :class:`Faults` is what was asked for, and what
of it still holds when the rehearsal is resumed (a one-shot fault has happened).
``crash-after`` and ``crash-at`` kill the process hard, after a phase or at a
named checkpoint, so that ``fleet resume`` is rehearsed from a real crash.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from fleet.domain.machine import Phase
from fleet.errors import UsageError
from fleet.ports import Notice
from fleet.rehearsal.common import die, fault_number, parse_specs
from fleet.rehearsal.faults import FAULTS
from fleet.rehearsal.tenant_faults import parse_tenant_errors

_ONE_SHOT = ("crash-", "lock-held", "provision-fails", "throttled")


@dataclass(frozen=True)
class Faults:
    flux_stuck: bool = False
    stale_revision: bool = False
    flux_flap: bool = False
    flux_fails_in_bake: bool = False
    missing_objects: int = 0
    provision_fails: bool = False
    green_errors: float = 0.0
    green_slow_ms: float = 0.0
    analysis_fails_at: int | None = None
    weights_fail_at: int | None = None
    throttled: int = 0
    crash_after: Phase | None = None
    crash_at: str | None = None
    lock_held: bool = False
    tenant_errors: tuple[str, float] | None = None
    tenant_stuck: str | None = None
    specs: tuple[str, ...] = field(default_factory=tuple)

    def persistent(self) -> Faults:
        """The faults that still hold when the rehearsal is resumed; one-shot faults have happened."""
        kept = tuple(s for s in self.specs if not s.startswith(_ONE_SHOT))
        return replace(
            self, crash_after=None, crash_at=None, lock_held=False, provision_fails=False, throttled=0, specs=kept
        )


_OWN: dict[str, Callable[[str], dict[str, Any]]] = {
    "missing-objects": lambda v: {"missing_objects": fault_number("missing-objects", v, int, 1, 4)},
    "provision-fails": lambda v: {"provision_fails": True},
    "analysis-fails-at": lambda v: {"analysis_fails_at": fault_number("analysis-fails-at", v, int, 1, 100)},
    "weights-fail-at": lambda v: {"weights_fail_at": fault_number("weights-fail-at", v, int, 1, 100)},
    "throttled": lambda v: {"throttled": fault_number("throttled", v, int, 1, 3)},
    "crash-at": lambda v: {"crash_at": v},
    "tenant-stuck": lambda v: {"tenant_stuck": v},
    "tenant-errors": lambda v: {"tenant_errors": parse_tenant_errors(v)},
}


def _needs_real(name: str) -> Callable[[str], dict[str, Any]]:
    def refuse(value: str) -> dict[str, Any]:
        raise UsageError(f"--fault {name} needs the real rehearsal (haproxy); drop --simulated")

    return refuse


def parse_faults(specs: Sequence[str]) -> Faults:
    own = {**_OWN, "haproxy-reload": _needs_real("haproxy-reload"), "hand-edit": _needs_real("hand-edit")}
    unknown = f"(known: {', '.join(sorted(FAULTS))})"
    parsed: Faults = parse_specs(
        Faults(specs=tuple(specs)), specs, FAULTS, lambda s: f"--fault: unknown fault {s!r} {unknown}", own
    )
    return parsed


class CrashAfterPhase:
    """Kills the process, hard, once ``phase`` has been left (after that commit)."""

    def __init__(self, phase: Phase, hint: str) -> None:
        self.phase = phase
        self.hint = hint
        self.previous: str | None = None

    def notify(self, notice: Notice) -> None:
        if notice.kind == "phase":
            if self.previous == self.phase.value and notice.phase != self.phase.value:
                die(f"rehearsal: killing the process after {self.phase.value} (crash-after); {self.hint}")
            self.previous = notice.phase



def crash_at_checkpoint(spec: str | None, hint: str) -> Callable[[str], None]:
    if spec is None:
        return lambda name: None
    name, _, nth = spec.partition("#")
    wanted = int(nth) if nth.isdigit() else 1
    seen = {"count": 0}

    def hook(checkpoint: str) -> None:
        if checkpoint == name:
            seen["count"] += 1
            if seen["count"] == wanted:
                die(f"rehearsal: killing the process at {checkpoint} (crash-at); {hint}")

    return hook
