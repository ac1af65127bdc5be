"""Who holds a lock, in terms that survive containers: machine, boot, pid namespace, pid and its start time.

A hostname and a pid are not an identity: containers on one CI host share
the hostname, and each PID namespace has its own pid 1, 2, 3... A lock
holder is therefore described by what the kernel itself tells apart:

* ``machine_id`` (``/etc/machine-id``) and ``boot_id``
  (``/proc/sys/kernel/random/boot_id``): the same machine, since the same
  boot. A holder on the same machine but an earlier boot is dead.
* ``pidns``, the inode of ``/proc/self/ns/pid``: only in the same PID
  namespace does a pid name the same process.
* ``pid`` and ``pid_start`` (field 22 of ``/proc/<pid>/stat``, clock ticks
  since boot): a pid that exists but started at another time was reused.

:func:`holder_is_dead` answers only when it can be sure; anywhere else
(another machine, another PID namespace) the lease's expiry decides.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

MACHINE_ID_FILES = ("/etc/machine-id", "/var/lib/dbus/machine-id")
BOOT_ID_FILE = "/proc/sys/kernel/random/boot_id"


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return ""


def machine_id() -> str:
    for path in MACHINE_ID_FILES:
        found = _read(path)
        if found:
            return found
    return ""


def boot_id() -> str:
    return _read(BOOT_ID_FILE)


def pid_namespace() -> str:
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return ""


def pid_start(pid: int) -> int | None:
    """When ``pid`` started (clock ticks since boot), or None when no such process is visible."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    fields = text[text.rfind(")") + 2 :].split()
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


@dataclass(frozen=True)
class Identity:
    """One process, as the kernel tells it apart from every other."""

    machine_id: str
    boot_id: str
    pidns: str
    pid: int
    pid_start: int | None

    def to_json(self) -> dict[str, object]:
        return {
            "machine_id": self.machine_id,
            "boot_id": self.boot_id,
            "pidns": self.pidns,
            "pid": self.pid,
            "pid_start": self.pid_start,
        }

    @classmethod
    def from_json(cls, raw: object, pid: int) -> Identity | None:
        if not isinstance(raw, dict):
            return None
        start = raw.get("pid_start")
        return cls(
            machine_id=str(raw.get("machine_id", "")),
            boot_id=str(raw.get("boot_id", "")),
            pidns=str(raw.get("pidns", "")),
            pid=int(raw.get("pid", pid)),
            pid_start=start if isinstance(start, int) and not isinstance(start, bool) else None,
        )


def current() -> Identity:
    pid = os.getpid()
    return Identity(machine_id(), boot_id(), pid_namespace(), pid, pid_start(pid))


def holder_is_dead(holder: Identity | None, here: Identity | None = None) -> bool:
    """True only when ``holder`` is certainly gone; False when alive or when this process cannot tell."""
    if holder is None or not holder.machine_id or not holder.boot_id:
        return False
    here = here or current()
    if holder.machine_id != here.machine_id or not here.boot_id:
        return False  # another machine (or a container with its own machine id): the lease decides
    if holder.boot_id != here.boot_id:
        return True  # the machine rebooted since the holder took the lock
    if not holder.pidns or holder.pidns != here.pidns or holder.pid <= 0:
        return False  # another PID namespace: its pids mean other processes
    started = pid_start(holder.pid)
    if started is None:
        return True
    return holder.pid_start is not None and started != holder.pid_start


def holder_is_alive(holder: Identity | None, here: Identity | None = None) -> bool:
    """True only when ``holder`` is certainly running: same machine, boot and PID namespace, same process."""
    if holder is None or not holder.machine_id or not holder.boot_id or not holder.pidns:
        return False
    here = here or current()
    same_place = (holder.machine_id, holder.boot_id, holder.pidns) == (here.machine_id, here.boot_id, here.pidns)
    if not same_place or holder.pid <= 0 or holder.pid_start is None:
        return False
    return pid_start(holder.pid) == holder.pid_start
