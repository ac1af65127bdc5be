"""The faults of the rehearsal on real parts: parsed from ``--fault``, and the notifiers that inject them.

Each fault drives a real failure in a real part: the new slot's backend
answers 500s or is slow, Flux stalls or applies an old revision, HAProxy is
reloaded or hand-edited mid-shift, the process is killed after a phase.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from fleet.domain.machine import Phase
from fleet.ports import Notice
from fleet.rehearsal.common import die, parse_specs
from fleet.rehearsal.faults import REAL_FAULTS

if TYPE_CHECKING:
    from fleet.rehearsal.parts import Parts


@dataclass(frozen=True)
class RealFaults:
    green_errors: float = 0.0
    green_slow_ms: float = 0.0
    flux_stuck: bool = False
    stale_revision: bool = False
    flux_flap: bool = False
    flux_fails_in_bake: bool = False
    crash_after: Phase | None = None
    lock_held: bool = False
    tenant_errors: tuple[str, float] | None = None
    """``tenant-errors=NAME:RATE``: that share of the tenant's requests (sent to its path prefix) fail on green."""
    tenants: tuple[str, ...] = ()
    """The environment's tenants, judged on their own when a tenant fault is rehearsed."""
    mid_shift: str | None = None
    """``haproxy-reload`` or ``hand-edit``: done to HAProxy once the first step's analysis is recorded."""
    specs: tuple[str, ...] = ()

    def persistent(self) -> RealFaults:
        """The faults that still hold when the rehearsal is resumed (a crash, a held lock, a reload happened once)."""
        kept = tuple(s for s in self.specs if not s.startswith(("crash-after", "lock-held", "haproxy-reload", "hand-")))
        return replace(self, crash_after=None, lock_held=False, mid_shift=None, specs=kept)


def parse_real_faults(specs: Sequence[str]) -> RealFaults:
    from fleet.rehearsal.tenant_faults import parse_tenant_errors

    own: dict[str, Any] = {name: (lambda v, name=name: {"mid_shift": name}) for name in ("haproxy-reload", "hand-edit")}
    own["tenant-errors"] = lambda v: {"tenant_errors": parse_tenant_errors(v)}
    others = f"(real: {', '.join(REAL_FAULTS)}; the others need --simulated)"
    parsed: RealFaults = parse_specs(
        RealFaults(specs=tuple(specs)), specs, REAL_FAULTS,
        lambda s: f"--fault: {s!r} is not a fault of the real rehearsal {others}", own,
    )
    return parsed


class MidShift:
    """Reloads HAProxy (``-sf``, no server-state file) or edits its weights by hand after the first step's analysis."""

    def __init__(self, fault: str, parts: Parts) -> None:
        self.fault = fault
        self.parts = parts
        self.done = False

    def notify(self, notice: Notice) -> None:
        if self.done or notice.kind != "event" or notice.message != "AnalysisCompleted":
            return
        self.done = True
        if self.fault == "haproxy-reload":
            self.parts.haproxy.reload()
        else:
            self.parts.haproxy.ask(b"set server app/blue weight 50; set server app/green weight 50\n")


class CrashAfter:
    """Kills the process, and HAProxy with it, once ``phase`` has been left (after that commit)."""

    def __init__(self, phase: Phase, hint: str, parts: Parts) -> None:
        self.phase = phase
        self.hint = hint
        self.parts = parts
        self.previous: str | None = None

    def notify(self, notice: Notice) -> None:
        if notice.kind != "phase":
            return
        if self.previous == self.phase.value and notice.phase != self.phase.value:
            self.parts.kill_with_process()
            die(f"rehearsal: killing the process after {self.phase.value} (crash-after); {self.hint}")
        self.previous = notice.phase


class FailInBake:
    """Breaks the new slot's HelmRelease once the bake begins (the flux-fails-in-bake fault)."""

    def __init__(self, parts: Parts) -> None:
        self.parts = parts
        self.done = False

    def notify(self, notice: Notice) -> None:
        if notice.kind == "phase" and notice.phase == Phase.BAKE.value and not self.done:
            self.done = True
            flux = self.parts.fluxes.get(self.parts.new)
            if flux is not None:
                flux.fail()
