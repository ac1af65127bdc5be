"""Child processes that die with their parent, and temporary directories the next run reclaims.

A rehearsal, a test or a benchmark starts real processes (HAProxy, the
rehearsal host, Prometheus, API servers, controllers). A parent killed with
SIGKILL runs no ``finally``: without help its children are re-parented to
init and keep their ports and directories for ever. Two mechanisms close that:

* :func:`spawn` starts the child with ``prctl(PR_SET_PDEATHSIG, SIGKILL)``
  (through ctypes, in ``preexec_fn``): the kernel kills it the moment its
  parent dies, however it dies. The signal follows the *thread* that forked,
  so call :func:`spawn` from a thread that lives as long as the child should
  (the main thread, in practice). If the parent died before the child set
  the signal up, the child exits at once.
* :func:`owned_temp_dir` creates a temporary directory that names its owner
  (pid and pid start time, so a reused pid is not mistaken for it) and the
  children started for it; :func:`reclaim` removes every such directory whose
  owner is gone and kills any child of it that still runs (one started
  without :func:`spawn`, or on a kernel without PDEATHSIG). Each new
  directory reclaims the old ones first.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from fleet.state.identity import pid_start

PR_SET_PDEATHSIG = 1
OWNER = ".fleet-owner"


def _die_with(parent: int, libc: Any) -> None:
    """In the child, before exec: ask the kernel for SIGKILL when the parent goes."""
    if libc is not None:
        with contextlib.suppress(OSError, AttributeError):
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the line above took effect
        os._exit(1)


_spawner: ThreadPoolExecutor | None = None
_spawner_lock = threading.Lock()


def spawn(args: Sequence[str], *, owner_dir: Path | None = None, **popen: Any) -> subprocess.Popen[Any]:
    """``subprocess.Popen(args, **popen)`` whose process is killed by the kernel when this one dies.

    The kernel's parent-death signal fires when the *thread* that forked the child
    ends, not the process: a child started from a short-lived thread (a reload in
    a background thread) would be killed at once. Children asked for from any thread
    but the main one are therefore started by one spawner thread that lives as long
    as the process.
    """
    global _spawner
    if threading.current_thread() is threading.main_thread():
        return _spawn_here(args, owner_dir=owner_dir, **popen)
    with _spawner_lock:
        if _spawner is None:
            _spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fleet-spawner")
    return _spawner.submit(_spawn_here, args, owner_dir=owner_dir, **popen).result()


def _spawn_here(args: Sequence[str], *, owner_dir: Path | None = None, **popen: Any) -> subprocess.Popen[Any]:
    import ctypes  # loaded here, in the parent: the child only calls into it between fork and exec

    parent = os.getpid()
    extra = popen.pop("preexec_fn", None)
    try:
        libc: Any = ctypes.CDLL(None, use_errno=True)
    except OSError:
        libc = None

    def prepare() -> None:
        _die_with(parent, libc)
        if extra is not None:
            extra()

    proc: subprocess.Popen[Any] = subprocess.Popen(list(args), preexec_fn=prepare, **popen)  # noqa: PLW1509
    if owner_dir is not None:
        record_child(owner_dir, proc.pid)
    return proc


def _owner(pid: int) -> dict[str, Any]:
    return {"pid": pid, "start": pid_start(pid)}


def _alive(entry: object) -> bool:
    if not isinstance(entry, dict) or not isinstance(entry.get("pid"), int):
        return False
    started = pid_start(entry["pid"])
    return started is not None and (entry.get("start") is None or started == entry.get("start"))


def owned_temp_dir(prefix: str) -> Path:
    """A new temporary directory owned by this process; directories of dead owners are reclaimed first."""
    reclaim(prefix)
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    (folder / OWNER).write_text(json.dumps({"owner": _owner(os.getpid()), "children": []}))
    return folder


def record_child(folder: Path, pid: int) -> None:
    """Note ``pid`` as a child started for ``folder``, so that a later :func:`reclaim` can stop it."""
    path = folder / OWNER
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    data.setdefault("children", []).append(_owner(pid))
    with contextlib.suppress(OSError):
        path.write_text(json.dumps(data))


def reclaim(prefix: str, *, root: Path | None = None) -> list[Path]:
    """Remove ``prefix*`` directories whose owner is dead, killing their children that still run."""
    base = root or Path(tempfile.gettempdir())
    removed = []
    try:
        candidates = [p for p in base.iterdir() if p.name.startswith(prefix) and p.is_dir()]
    except OSError:
        return []
    for folder in candidates:
        try:
            data = json.loads((folder / OWNER).read_text())
        except (OSError, ValueError):
            continue  # not ours to judge: made by an older fleet or by hand
        if not isinstance(data, dict) or _alive(data.get("owner")):
            continue
        for child in data.get("children", []):
            if _alive(child):
                with contextlib.suppress(OSError):
                    os.kill(child["pid"], signal.SIGKILL)
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed
