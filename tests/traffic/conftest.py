"""Real peers for the traffic tests: HAProxy, slot backends, moto in server mode, a fault-injecting proxy.

Nothing here patches boto3 or sockets. Faults come from a real HTTP peer (a
small proxy in front of moto that answers Route53 error XML or rewrites a
change's status for the first N matching calls), and HAProxy is the real
binary. Everything listens on 127.0.0.1 and is stopped when the test ends.
"""

from __future__ import annotations

import http.client
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from fleet.rehearsal.backends import SlotBackend, slot_backends
from fleet.rehearsal.haproxy_process import HAProxyProcess
from tests.moto_server import moto_server
from tests.traffic.support import FaultProxy, Seen, wait_http


@pytest.fixture
def backends() -> Iterator[dict[str, SlotBackend]]:
    with slot_backends("blue", "green") as started:
        yield started


@pytest.fixture
def haproxy(backends: dict[str, SlotBackend]) -> Iterator[HAProxyProcess]:
    servers = {name: b.address for name, b in backends.items()}
    with HAProxyProcess(servers, weights={"blue": 100, "green": 0}, prometheus=True, tcp_socket=True) as proc:
        yield proc


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    with moto_server() as url:
        wait_http(f"{url}/moto-api/")
        yield url


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Dummy credentials and no shared config, so boto3's normal chain finds only these."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def fault_proxy(moto_url: str) -> Iterator[FaultProxy]:
    upstream = moto_url.removeprefix("http://")
    host, port = upstream.split(":")
    state = FaultProxy(url="")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            with lock:
                fault = next(
                    (
                        f
                        for f in state.faults
                        if f.times > 0 and f.method == self.command and re.search(f.path, self.path)
                    ),
                    None,
                )
                if fault is not None:
                    fault.times -= 1
            if fault is not None and not fault.pending:
                payload = (
                    '<?xml version="1.0"?>\n<ErrorResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/">'
                    f"<Error><Type>Sender</Type><Code>{fault.code}</Code><Message>{fault.message}</Message>"
                    "</Error><RequestId>fault-proxy</RequestId></ErrorResponse>"
                ).encode()
                self._answer(fault.status, payload, body)
                return
            conn = http.client.HTTPConnection(host, int(port), timeout=10)
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                conn.request(self.command, self.path, body=body or None, headers=headers)
                response = conn.getresponse()
                payload = response.read()
                status = response.status
            finally:
                conn.close()
            if fault is not None and fault.pending:
                payload = payload.replace(b"<Status>INSYNC</Status>", b"<Status>PENDING</Status>")
            self._answer(status, payload, body)

        def _answer(self, status: int, payload: bytes, request_body: bytes) -> None:
            with lock:
                state.seen.append(Seen(self.command, self.path, request_body.decode(errors="replace"), status))
            self.send_response(status)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_DELETE = _handle

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
