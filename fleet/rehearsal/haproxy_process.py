"""A real HAProxy on 127.0.0.1, started for a test, a benchmark or a rehearsal, and always stopped.

Using the real binary rather than a fake keeps the interesting behaviour real:
how quickly ``set server ... weight`` moves requests, what ``show stat``
counts, what the Prometheus exporter exposes. The configuration is written to
a private temporary directory, every port is a free one on 127.0.0.1, the
runtime API is exposed at admin level on a unix socket (and optionally on a
TCP port), and the process runs in the foreground (``-db``) so that it can be
killed reliably: the context manager terminates it on exit, kills it if it
does not stop, and removes the directory, even when the body raised. When the
parent itself is killed (SIGKILL runs no cleanup), the kernel kills HAProxy
with it and the next HAProxyProcess removes the directory
(:mod:`fleet.rehearsal.procs`).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from fleet.rehearsal.common import wait_or_kill
from fleet.rehearsal.listen_ports import free_port
from fleet.rehearsal.procs import owned_temp_dir, spawn

HAPROXY_BINARY = "/usr/sbin/haproxy"


def find_haproxy() -> str | None:
    """The haproxy binary to use, or None when it is not installed."""
    if Path(HAPROXY_BINARY).exists():
        return HAPROXY_BINARY
    return shutil.which("haproxy")


@dataclass(frozen=True)
class ServerSpec:
    """One ``server`` line of the backend: the slot's name, where it listens, its initial weight."""

    name: str
    address: tuple[str, int]
    weight: int = 0


class HAProxyProcess:
    """A running haproxy with one traffic frontend and one backend holding the slots' servers."""

    def __init__(
        self,
        servers: Mapping[str, tuple[str, int]],
        *,
        weights: Mapping[str, int] | None = None,
        backend: str = "app",
        prometheus: bool = False,
        tcp_socket: bool = False,
        nbthread: int = 1,
        server_state_file: bool = False,
        checks: bool = False,
        binary: str | None = None,
        start_timeout_s: float = 10.0,
        tenant_lines: tuple[list[str], list[str], list[str]] | None = None,
    ) -> None:
        if not servers:
            raise ValueError("HAProxyProcess needs at least one server")
        first = next(iter(servers))
        initial = dict(weights) if weights is not None else {first: 100}
        self.servers = tuple(ServerSpec(name, addr, initial.get(name, 0)) for name, addr in servers.items())
        self.backend = backend
        self.binary = binary or find_haproxy() or HAPROXY_BINARY
        self.start_timeout_s = start_timeout_s
        self.nbthread = nbthread
        self.server_state_file = server_state_file
        self.checks = checks
        self.tenant_lines = tenant_lines
        """(frontend, backend, table section) lines counting tenants (``fleet.domain.tenants.haproxy_lines``)."""
        self.port = free_port()
        self.metrics_port: int | None = free_port() if prometheus else None
        self.stats_port: int | None = free_port() if tcp_socket else None
        self._dir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The traffic frontend, as users would reach it."""
        return f"http://127.0.0.1:{self.port}/"

    @property
    def metrics_url(self) -> str | None:
        return None if self.metrics_port is None else f"http://127.0.0.1:{self.metrics_port}/metrics"

    @property
    def socket_path(self) -> str:
        if self._dir is None:
            raise RuntimeError("haproxy is not started")
        return str(self._dir / "admin.sock")

    @property
    def tcp_socket(self) -> str | None:
        """The runtime API as ``127.0.0.1:port`` when ``tcp_socket=True`` was asked for."""
        return None if self.stats_port is None else f"127.0.0.1:{self.stats_port}"

    def config_text(self, socket_path: str) -> str:
        lines = [
            "global",
            f"    stats socket {socket_path} mode 600 level admin",
            f"    nbthread {self.nbthread}",
            "    maxconn 2000",
        ]
        if self.stats_port is not None:
            lines.append(f"    stats socket ipv4@127.0.0.1:{self.stats_port} level admin")
        if self.server_state_file:
            lines.append(f"    server-state-file {Path(socket_path).parent / 'server-state'}")
        lines += [
            "    hard-stop-after 3s",
            "defaults",
            "    mode http",
            "    timeout connect 2s",
            "    timeout client 30s",
            "    timeout server 30s",
            "    timeout http-keep-alive 30s",
            *(["    load-server-state-from-file global"] if self.server_state_file else []),
            "frontend traffic",
            f"    bind 127.0.0.1:{self.port}",
            *(self.tenant_lines[0] if self.tenant_lines else []),
            f"    default_backend {self.backend}",
        ]
        if self.metrics_port is not None:
            lines += [
                "frontend metrics",
                f"    bind 127.0.0.1:{self.metrics_port}",
                "    http-request use-service prometheus-exporter if { path /metrics }",
                "    http-request return status 404",
            ]
        if self.tenant_lines:
            lines += self.tenant_lines[2]
        lines += [f"backend {self.backend}", "    balance roundrobin"]
        lines += self.tenant_lines[1] if self.tenant_lines else []
        for spec in self.servers:
            host, port = spec.address
            check = " check inter 100ms fall 1 rise 1" if self.checks else ""
            lines.append(f"    server {spec.name} {host}:{port} weight {spec.weight}{check}")
        return "\n".join(lines) + "\n"

    def start(self) -> HAProxyProcess:
        if self._proc is not None:
            return self
        self._dir = owned_temp_dir("fleet-haproxy-")
        config = self._dir / "haproxy.cfg"
        config.write_text(self.config_text(self.socket_path))
        log = (self._dir / "haproxy.log").open("wb")
        try:
            self._proc = spawn(
                [self.binary, "-db", "-f", str(config)],
                owner_dir=self._dir, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            )
        finally:
            log.close()
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def reload(self) -> None:
        """Reload as an init system does: a new process with ``-sf <old pid>`` takes over from the old one.

        With ``server_state_file`` the servers' runtime state is saved first (``show servers
        state``), as a reload script does, so that the new process loads it.
        """
        if self._proc is None or self._dir is None:
            raise RuntimeError("haproxy is not started")
        if self.server_state_file:
            (self._dir / "server-state").write_bytes(self.ask(b"show servers state\n"))
        old = self._proc
        log = (self._dir / "haproxy.log").open("ab")
        try:
            self._proc = spawn(
                [self.binary, "-db", "-f", str(self._dir / "haproxy.cfg"), "-sf", str(old.pid)],
                owner_dir=self._dir, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            )
        finally:
            log.close()
        wait_or_kill(old, 5)
        self._wait_ready()

    def ask(self, command: bytes) -> bytes:
        """One runtime API command on the admin socket; the whole answer."""
        chunks = []
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(2.0)
            sock.connect(self.socket_path)
            sock.sendall(command)
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks)

    def _wait_ready(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"haproxy exited with {self._proc.returncode}: {self.log_tail()}")
            if self._answers() and _listening(self.port):
                return
            time.sleep(0.02)
        raise RuntimeError(f"haproxy did not become ready within {self.start_timeout_s}s: {self.log_tail()}")

    def _answers(self) -> bool:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(1.0)
                sock.connect(self.socket_path)
                sock.sendall(b"show info\n")
                return b"Pid:" in sock.recv(65536)
        except OSError:
            return False

    def log_tail(self, lines: int = 20) -> str:
        if self._dir is None:
            return ""
        try:
            text = (self._dir / "haproxy.log").read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            wait_or_kill(proc, 5)
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> HAProxyProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False
