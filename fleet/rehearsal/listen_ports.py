"""Ports on 127.0.0.1 for the processes a rehearsal or a test starts, which no one else will take meanwhile.

A port has to be chosen before the process that listens on it starts (it is
in its flags), so there is a window between choosing and listening. Asking the
kernel for port 0 and closing the socket leaves that window open twice over:
the kernel hands the same range to every outgoing connection (each client of
an API server takes one), and to every other process asking for port 0. CI
lost a run that way: a source-controller's health port was taken by a
connection opened in the meantime ("bind: address already in use").

So ports are chosen outside the kernel's ephemeral range
(``/proc/sys/net/ipv4/ip_local_port_range``), where no outgoing connection
ever lands, and each is reserved across processes by a file created with
``O_EXCL`` under a per-user directory, so two allocators (the test run and the
``fleet`` it started, or two rehearsals) never hand out the same one. A
reservation lapses after :data:`RESERVATION_S`; by then the process it was
for listens on it, and the bind check below refuses a port somebody listens on.
"""

from __future__ import annotations

import contextlib
import errno
import os
import random
import socket
import tempfile
import threading
import time
from pathlib import Path

RESERVATION_S = 600.0
"""How long a handed-out port stays reserved for the process it was chosen for."""

LOWEST = 10000
"""Below this are ports that services on a developer's machine tend to use."""

_lock = threading.Lock()


def ephemeral_range() -> tuple[int, int]:
    """The kernel's range for outgoing connections' local ports (Linux's default when unreadable)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def candidates() -> list[int]:
    """Ports outside the ephemeral range, from :data:`LOWEST` up."""
    low, high = ephemeral_range()
    return [p for p in range(LOWEST, 65536) if not low <= p <= high]


def reservations_dir() -> Path:
    where = Path(tempfile.gettempdir()) / f"fleet-ports-{os.getuid()}"
    where.mkdir(mode=0o700, exist_ok=True)
    return where


def _reserve(where: Path, port: int, now: float) -> bool:
    path = where / str(port)
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            with contextlib.suppress(FileNotFoundError):
                if now - path.stat().st_mtime > RESERVATION_S:
                    path.unlink()
                    continue
            return False
        os.write(fd, f"{os.getpid()}\n".encode())
        os.close(fd)
        return True
    return False


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as e:
            if e.errno in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL):
                return False
            raise
    return True


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now, no outgoing connection can take, and no one else gets."""
    ports = candidates()
    if len(ports) < 1000:  # a kernel configured to use nearly every port for outgoing connections
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])
    where = reservations_dir()
    rng = random.SystemRandom()
    with _lock:
        for _ in range(200):
            port = rng.choice(ports)
            if _reserve(where, port, time.time()) and _bindable(port):
                return port
    raise OSError(errno.EADDRINUSE, f"no free port on 127.0.0.1 outside {ephemeral_range()} after 200 tries")
