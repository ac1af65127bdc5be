"""A webhook receiver on 127.0.0.1 that answers as a test scripts it: fail once, answer slowly, or succeed."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    """Scripted answers, first come first served; once the script runs out, every request gets 200."""

    def __init__(self, script: list[tuple[str, float]] | None = None) -> None:
        self.script = list(script or [])
        self.bodies: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.lock = threading.Lock()
        self.url = ""

    def next_answer(self) -> tuple[str, float]:
        with self.lock:
            return self.script.pop(0) if self.script else ("ok", 0.0)


class _Handler(BaseHTTPRequestHandler):
    receiver: Receiver

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length) or b"{}")
        what, value = self.receiver.next_answer()
        if what == "slow":
            time.sleep(value)
        with self.receiver.lock:
            self.receiver.bodies.append(body)
            self.receiver.paths.append(self.path)
        status = int(value) if what == "fail" else 200
        try:
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")
        except OSError:
            pass  # the client gave up waiting (a slow answer)

    def log_message(self, format: str, *args: Any) -> None:
        return None


@contextmanager
def receiver(script: list[tuple[str, float]] | None = None) -> Iterator[Receiver]:
    """A receiver on a free port of 127.0.0.1, stopped (and its socket closed) on exit."""
    r = Receiver(script)
    handler = type("Handler", (_Handler,), {"receiver": r})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    r.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield r
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def refused_url() -> str:
    """A 127.0.0.1 URL nothing listens on: a port that was just free, bound and closed again."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"
