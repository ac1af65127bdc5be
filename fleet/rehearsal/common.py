"""What both rehearsals (in memory and on real parts) share: fault values, hard crashes, notifier fan-out."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
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
