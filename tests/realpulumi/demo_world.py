"""What a `fleet cutover demo` needs around the product, for the realpulumi tests.

The demo stack (stacks/Pulumi.demo.yaml) names a HAProxy runtime socket,
``.fleet/demo/haproxy.sock`` relative to the project root, with servers
``blue`` and ``green`` in backend ``app``. The tests start it as a user does
(``fleet.rehearsal.demo_traffic``): a real HAProxy in front of two HTTP
backends standing for the slots' ingresses, with real load through it.
Processes are stopped by their PIDs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fleet.rehearsal.backends import SlotBackend
from fleet.rehearsal.demo_traffic import demo_traffic as product_demo_traffic
from fleet.rehearsal.haproxy_process import HAProxyProcess, find_haproxy
from fleet.rehearsal.load import LoadGenerator

SOCKET = Path(".fleet") / "demo" / "haproxy.sock"
LOAD_RATE = 40.0


@dataclass
class Traffic:
    haproxy: HAProxyProcess
    backends: dict[str, SlotBackend]
    load: LoadGenerator


@contextmanager
def demo_traffic(project: Path, *, time_limit_s: float = 1500.0) -> Iterator[Traffic]:
    """The demo's HAProxy (``python -m fleet.rehearsal.demo_traffic``), blue at 100 %, with steady load."""
    if find_haproxy() is None:
        import pytest

        pytest.skip("needs haproxy (Debian package haproxy)")
    with product_demo_traffic(project, "demo", rate=LOAD_RATE, time_limit_s=time_limit_s) as world:
        assert world.load is not None
        assert world.socket_link == project / SOCKET
        yield Traffic(world.haproxy, world.backends, world.load)


def fleet_command(project: Path, env: Mapping[str, str], *args: str) -> list[str]:
    """The installed ``fleet`` script, as a user runs it (``python -m fleet`` would put the project on sys.path)."""
    return [str(Path(sys.executable).parent / "fleet"), *args]


def run_fleet(project: Path, env: Mapping[str, str], *args: str, timeout_s: float = 900,
              check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(fleet_command(project, env, *args), cwd=project, env=dict(env), capture_output=True,
                          text=True, timeout=timeout_s, check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"fleet {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done


def stack_outputs(pulumi: Any, project: Path) -> dict[str, Any]:
    done = pulumi(project, "stack", "output", "--json", "--show-secrets", "-s", "demo")
    value: dict[str, Any] = json.loads(done.stdout)
    return value


def slot_host_pids(project: Path) -> list[int]:
    """PIDs of local slot hosts serving a slot directory of ``project``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            words = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"fleet.infra.local_slot" in words and any(str(project).encode() in w for w in words):
            found.append(int(proc.name))
    return found


def processes_with_env(marker: str) -> list[int]:
    """PIDs whose environment holds ``marker`` (``NAME=value``), this process excepted."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            environ = (proc / "environ").read_bytes().split(b"\0")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z" and marker.encode() in environ:
            found.append(int(proc.name))
    return found


def pulumi_leftovers(pulumi_home: str) -> list[int]:
    """Pulumi processes (marked with a FLEET_CALL) of the test whose PULUMI_HOME is ``pulumi_home``."""
    return [pid for pid in processes_with_env(f"PULUMI_HOME={pulumi_home}") if _has_mark(pid)]


def _has_mark(pid: int) -> bool:
    try:
        return any(v.startswith(b"FLEET_CALL=") for v in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"))
    except OSError:
        return False


def resource_keys(pulumi: Any, project: Path) -> list[str]:
    """``type::name`` of every resource of the demo stack, sorted; no ids, no timestamps."""
    state = json.loads(pulumi(project, "stack", "export", "-s", "demo").stdout)["deployment"]
    return sorted(r["type"] + "::" + r["urn"].rsplit("::", 1)[1] for r in state.get("resources") or [])


class Running:
    """A ``fleet`` command in the background whose stderr (where Pulumi's output goes) is read line by line."""

    def __init__(self, project: Path, env: Mapping[str, str], *args: str) -> None:
        import queue
        import threading

        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self.proc = subprocess.Popen(fleet_command(project, env, *args), cwd=project, env=dict(env),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, *words: str, timeout_s: float) -> str:
        """The first line holding every one of ``words``; fails on a timeout or when the command ends first."""
        import queue
        import time

        deadline = time.monotonic() + timeout_s
        while True:
            try:
                line = self._queue.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                line = ""
            if line is None:
                raise AssertionError(f"the command ended ({self.proc.wait()}) before printing {words}:\n"
                                     + "".join(self.lines[-40:]))
            self.lines.append(line)
            if line and all(w in line for w in words):
                return line
            if time.monotonic() > deadline:
                raise AssertionError(f"no line with {words} within {timeout_s:g}s:\n" + "".join(self.lines[-40:]))

    def kill(self) -> None:
        """kill -9 of fleet alone, as an OOM kill or a lost terminal would: its children are not told."""
        import signal

        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)
