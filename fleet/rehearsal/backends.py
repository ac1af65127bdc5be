"""Tiny HTTP servers that stand for the slots' ingresses.

Each answers every request itself and says which slot answered (the
``X-Slot`` header and the body), so a load generator in front of a load
balancer can measure the real split. Faults are adjustable while it runs:
``error_rate`` answers 500 for that share of requests (deterministically, every
1/rate-th request, so a test sees the same sequence every time) and
``latency_s`` delays each answer. ``/metrics`` answers the slot's counters in
Prometheus' format (:mod:`fleet.rehearsal.exporter`), for a real Prometheus. HTTP/1.1 keep-alive is supported so that a
single client thread can push hundreds of requests per second.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from fleet.rehearsal.exporter import METRICS_PATH, SlotMetrics

SLOT_HEADER = "X-Slot"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    backend: SlotBackend

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client (HAProxy stopping) dropping a keep-alive connection is not worth a traceback."""
        import sys

        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        backend = self.server.backend
        if self.path == METRICS_PATH:
            self._answer(200, backend.metrics.render().encode(), "text/plain; version=0.0.4")
            return
        started = time.monotonic()
        status, delay = backend._next(self.path)
        if delay > 0:
            time.sleep(delay)
        backend.metrics.observe(status, time.monotonic() - started)
        self._answer(status, f"{backend.name} {status}\n".encode(), "text/plain")

    def _answer(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header(SLOT_HEADER, self.server.backend.name)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_HEAD = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass


class SlotBackend:
    """One slot's stand-in ingress on 127.0.0.1; use as a context manager."""

    def __init__(self, name: str, *, error_rate: float = 0.0, latency_s: float = 0.0, port: int = 0) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._error_rate = 0.0
        self._latency_s = 0.0
        self._served = 0
        self._errors = 0
        self._credit = 0.0
        self.metrics = SlotMetrics(name)
        """What the slot's exporter says at ``/metrics`` (not counted as a request)."""
        self._path_errors: dict[str, float] = {}
        self._path_credit: dict[str, float] = {}
        self.set_faults(error_rate=error_rate, latency_s=latency_s)
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.backend = self
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def served(self) -> int:
        with self._lock:
            return self._served

    @property
    def errors(self) -> int:
        with self._lock:
            return self._errors

    def set_faults(self, *, error_rate: float | None = None, latency_s: float | None = None) -> None:
        """Change the share of 500 answers and the added latency from now on."""
        with self._lock:
            if error_rate is not None:
                if not 0.0 <= error_rate <= 1.0:
                    raise ValueError(f"error_rate {error_rate} is outside 0..1")
                self._error_rate = error_rate
                self._credit = 0.0
            if latency_s is not None:
                if latency_s < 0:
                    raise ValueError("latency_s must not be negative")
                self._latency_s = latency_s

    def set_path_errors(self, rates: dict[str, float]) -> None:
        """Answer 500 for that share of the requests under each path prefix (one tenant's errors)."""
        with self._lock:
            self._path_errors = dict(rates)
            self._path_credit = dict.fromkeys(rates, 0.0)

    def _next(self, path: str = "/") -> tuple[int, float]:
        with self._lock:
            self._served += 1
            prefix = next((p for p in self._path_errors if path.startswith(p)), None)
            if prefix is not None:
                self._path_credit[prefix] += self._path_errors[prefix]
                failed = self._path_credit[prefix] >= 1.0 - 1e-9
                if failed:
                    self._path_credit[prefix] -= 1.0
            else:
                self._credit += self._error_rate
                failed = self._credit >= 1.0 - 1e-9
                if failed:
                    self._credit -= 1.0
            if failed:
                self._errors += 1
            return (500 if failed else 200), self._latency_s

    def start(self) -> SlotBackend:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                name=f"backend-{self.name}", daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> SlotBackend:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def slot_backends(*names: str) -> Iterator[dict[str, SlotBackend]]:
    """Start one backend per slot name (default blue and green); stop them all on exit."""
    started: dict[str, SlotBackend] = {}
    try:
        for name in names or ("blue", "green"):
            started[name] = SlotBackend(name).start()
        yield started
    finally:
        for backend in started.values():
            backend.stop()
