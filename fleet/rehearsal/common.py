"""What both rehearsals (in memory and on real parts) share: fault values, hard crashes, notifier fan-out."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from fleet.domain.machine import Phase
from fleet.errors import UsageError
from fleet.ports import Notice, Notifier


def fault_number(name: str, value: str, kind: Callable[[str], Any], lo: float, hi: float) -> Any:
    """The number a fault takes (``green-errors=0.5``), or a usage error naming the fault."""
    try:
        parsed = kind(value)
    except ValueError:
        raise UsageError(f"--fault {name}: {value!r} is not a number") from None
    if not lo <= parsed <= hi:
        raise UsageError(f"--fault {name}: {value} is outside {lo:g}..{hi:g}")
    return parsed


GREEN_SLOW_MAX_MS = 1500
"""Below the load generator's 2 s request timeout: slower answers would be failures, not latency."""


def checked_fault(spec: str, takes_value: Mapping[str, bool], unknown: Callable[[str], str]) -> tuple[str, str]:
    """``NAME`` or ``NAME=VALUE`` of a known fault, the value given exactly when the fault takes one."""
    name, has_value, value = spec.partition("=")
    if name not in takes_value:
        raise UsageError(unknown(spec))
    if takes_value[name] and not has_value:
        raise UsageError(f"--fault {name} needs a value: {name}=...")
    if not takes_value[name] and has_value:
        raise UsageError(f"--fault {name} takes no value")
    return name, value


def takes_value(faults: Iterable[str]) -> dict[str, bool]:
    """Each fault's name, and whether it takes a value, from its listing (``green-errors=RATE``)."""
    return {f.partition("=")[0]: "=" in f for f in faults}


SHARED_FAULTS: dict[str, Callable[[str], dict[str, Any]]] = {
    "green-errors": lambda v: {"green_errors": fault_number("green-errors", v, float, 0.0001, 1.0)},
    "green-slow": lambda v: {"green_slow_ms": fault_number("green-slow", v, float, 1, GREEN_SLOW_MAX_MS)},
    "flux-stuck": lambda v: {"flux_stuck": True},
    "stale-revision": lambda v: {"stale_revision": True},
    "flux-flap": lambda v: {"flux_flap": True},
    "flux-fails-in-bake": lambda v: {"flux_fails_in_bake": True},
    "crash-after": lambda v: {"crash_after": crash_phase(v)},
    "lock-held": lambda v: {"lock_held": True},
}
"""The faults both rehearsals offer, as the fields each sets on the rehearsal's faults."""


def parse_specs(
    faults: Any, specs: Sequence[str], catalogue: Iterable[str], unknown: Callable[[str], str],
    own: Mapping[str, Callable[[str], dict[str, Any]]],
) -> Any:
    """``faults`` (a frozen dataclass) with every ``--fault`` spec applied: its own faults first, then the shared."""
    known = takes_value(tuple(catalogue))
    for spec in specs:
        name, value = checked_fault(spec, known, unknown)
        faults = replace(faults, **(own.get(name) or SHARED_FAULTS[name])(value))
    return faults


def crash_phase(value: str) -> Phase:
    """The phase of ``crash-after=PHASE``."""
    try:
        return Phase(value.upper())
    except ValueError:
        phases = ", ".join(p.value for p in Phase if not p.terminal)
        raise UsageError(f"--fault crash-after: unknown phase {value!r} (one of {phases})") from None


def die(message: str) -> None:
    """Kill this process the hard way (SIGKILL): what a crashed runner looks like to ``fleet resume``."""
    sys.stderr.write(message + "\n")
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


class Fanout:
    """One notifier that tells several."""

    def __init__(self, *notifiers: Notifier) -> None:
        self.notifiers = notifiers

    def notify(self, notice: Notice) -> None:
        for n in self.notifiers:
            n.notify(notice)


def wait_or_kill(proc: subprocess.Popen[Any], timeout_s: float) -> None:
    """Give a process that was asked to stop ``timeout_s`` to do so, then kill it."""
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
