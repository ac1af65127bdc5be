"""The Pulumi processes a provisioner starts, found again by a mark in their environment.

``pulumi up`` is not one process: the CLI starts the language host, which
runs the program, and the engine starts each resource provider, each plugin
in a process group of its own. Killing fleet (kill -9, an OOM kill, a lost
VM) kills none of them: the CLI carries on without anyone reading its
output, holds the stack's lock, and plugins may linger after it. Every one
of them inherits the environment, so the provisioner marks it:
``FLEET_CALL=<owner pid>.<owner start time>.<random>``. With that mark:

- :func:`children_marked` finds the CLI processes of one call (to interrupt
  them with SIGINT when the engine's lock is lost);
- :func:`reclaim_orphans` finds every marked process whose owner is gone (no
  process with that PID and start time) and kills it, so that ``fleet
  resume`` starts from a stack no orphan still writes to and a lock whose
  holder is dead (which ``pulumi cancel`` may then clear).

Processes that must outlive the run that started them (a ``local`` slot's
host) drop the mark when they start (``fleet.infra.local_slot``). Linux
only: without ``/proc`` nothing is found and nothing is killed.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

CALL_ENV = "FLEET_CALL"
"""Marks the Pulumi processes of one provisioner (and the plugins they start)."""
PROC = Path("/proc")


def _stat_fields(pid: int | str) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (state first), or None."""
    try:
        return (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def start_time(pid: int | str) -> str | None:
    """The process's start time in clock ticks since boot (stat field 22), None when it is gone or a zombie."""
    fields = _stat_fields(pid)
    if fields is None or fields[0] == "Z" or len(fields) < 20:
        return None
    return fields[19]


def new_mark() -> str:
    """A mark naming this process as the owner: ``<pid>.<start time>.<random>``."""
    return f"{os.getpid()}.{start_time(os.getpid()) or 0}.{uuid.uuid4().hex}"


def owner_alive(mark: str) -> bool:
    """True while the process that made ``mark`` runs (same PID and start time); unknown marks count as alive."""
    pid, _, rest = mark.partition(".")
    started, _, _ = rest.partition(".")
    if not pid.isdigit() or not started:
        return True
    return start_time(pid) == started


def _marked() -> Iterator[tuple[int, str, str]]:
    """(pid, parent pid, mark) of every live process carrying a ``FLEET_CALL`` mark."""
    if not PROC.is_dir():
        return
    prefix = f"{CALL_ENV}=".encode()
    for entry in PROC.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        marks = [v[len(prefix):].decode(errors="replace") for v in environ if v.startswith(prefix)]
        fields = _stat_fields(entry.name)
        if not marks or fields is None or fields[0] == "Z":
            continue
        yield int(entry.name), fields[1], marks[0]


def children_marked(mark: str) -> list[int]:
    """This process's children marked with ``mark``."""
    me = str(os.getpid())
    return [pid for pid, parent, found in _marked() if parent == me and found == mark]


def orphans() -> list[int]:
    """Marked processes whose owner is gone."""
    return [pid for pid, _, mark in _marked() if not owner_alive(mark)]


def reclaim_orphans(*, timeout_s: float = 10.0) -> list[int]:
    """Kill (SIGKILL) every marked process whose owner is gone; returns their PIDs once they are gone.

    SIGKILL, not SIGTERM: an orphaned CLI would otherwise finish or cancel
    its update half-way through ours. What it leaves (pending operations, a
    lock file) is what ``refresh`` clears after a kill -9 of fleet anyway.
    """
    found = orphans()
    for pid in found:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            continue
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(start_time(pid) is not None for pid in found):
        time.sleep(0.05)
    return found


def without_mark(environ: dict[str, str] | os._Environ[str]) -> dict[str, str]:
    """``environ`` without the mark: for processes that must outlive the Pulumi run that starts them."""
    return {key: value for key, value in environ.items() if key != CALL_ENV}
