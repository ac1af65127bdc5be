"""A Pulumi stack lock left by a run that was killed, told apart from one held by a live run.

With a file (or object-store) backend, ``pulumi up`` writes a lock file and
removes it when it ends; a run killed with SIGKILL leaves it, and every later
``pulumi`` command on the stack then fails with "the stack is currently
locked by 1 lock(s): ...: created by user@host (pid N) at ...". ``fleet
resume`` runs only under fleet's own environment lease, so no other fleet
run can hold the stack; a lock whose holder was a process on this host that
no longer exists is stale, and ``pulumi cancel`` (which, with these backends,
deletes the lock files) clears it. A lock held by a live process, or by
another host, is never touched: that surfaces as fleet's LockedError.
"""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path

_HOLDER = re.compile(r"created by (?P<user>[^@\s]+)@(?P<host>\S+) \(pid (?P<pid>\d+)\)")


def lock_holders(message: str) -> list[tuple[str, int]]:
    """(host, pid) of every lock a Pulumi "currently locked" error names."""
    return [(m.group("host"), int(m.group("pid"))) for m in _HOLDER.finditer(message)]


def _alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie (a killed CLI its parent has not reaped) holds nothing."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def all_stale(message: str, hostname: str | None = None) -> bool:
    """True when the error names locks and every holder was a process of this host that is gone."""
    holders = lock_holders(message)
    here = hostname or socket.gethostname()
    return bool(holders) and all(host == here and not _alive(pid) for host, pid in holders)
