"""A bounded load generator that records what every request saw.

Claims such as "the split follows the weights within 5 points" or "a cutover
fails zero requests" need real requests, counted one by one. The generator
sends GET requests over keep-alive connections at a target rate, and always
stops: after ``total`` requests, after ``time_limit_s``, or on ``stop()``.

Users do not wait for each other: a slot that answers slowly must not slow
the arrivals, or a slow green would starve itself of the very traffic that
shows it is slow. Each of ``threads`` workers keeps its own schedule of one
request every ``threads / rate`` seconds, so the rate holds as long as a
worker's answers take less than that interval on average; give enough
workers for the slowest answers expected (rate x latency x that slot's share). Each request is recorded with its start
time (``time.monotonic()``), status (0 when no HTTP answer came back), the
slot that answered (from the backend's ``X-Slot`` header) and its latency.
Only loopback URLs are accepted.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from fleet.rehearsal.backends import SLOT_HEADER

MAX_THREADS = 64


@dataclass(frozen=True)
class RequestRecord:
    at: float
    status: int
    slot: str | None
    latency_s: float
    error: str | None = None
    resolved_at: float | None = None
    """Users behind DNS (:mod:`fleet.rehearsal.resolvers`): when their resolver read the answer used."""

    @property
    def failed(self) -> bool:
        return self.status == 0 or self.status >= 500


def in_range(
    records: Iterable[RequestRecord], start: float | None = None, end: float | None = None
) -> list[RequestRecord]:
    """Requests that started in ``[start, end)``."""
    return [
        r for r in records
        if (start is None or r.at >= start) and (end is None or r.at < end)
    ]


def observed_split(
    records: Iterable[RequestRecord], start: float | None = None, end: float | None = None
) -> dict[str, float]:
    """Share of answered requests per slot, in percent, over ``[start, end)``."""
    answered = [r.slot for r in in_range(records, start, end) if r.slot is not None]
    counts = Counter(answered)
    total = len(answered)
    return {slot: 100.0 * n / total for slot, n in counts.items()} if total else {}


def failures(
    records: Iterable[RequestRecord], start: float | None = None, end: float | None = None
) -> list[RequestRecord]:
    """Requests over ``[start, end)`` that got a 5xx or no answer at all."""
    return [r for r in in_range(records, start, end) if r.failed]


class LoadGenerator:
    """Sends at most ``total`` requests to ``url`` at ``rate`` per second for at most ``time_limit_s``."""

    def __init__(
        self,
        url: str,
        *,
        rate: float = 200.0,
        total: int = 10_000,
        time_limit_s: float = 60.0,
        threads: int = 1,
        timeout_s: float = 2.0,
        paths: Sequence[tuple[str, float]] = (),
    ) -> None:
        parts = urlsplit(url)
        if parts.hostname not in ("127.0.0.1", "localhost") or parts.scheme != "http":
            raise ValueError(f"the load generator only targets http://127.0.0.1, not {url!r}")
        if not 1 <= threads <= MAX_THREADS:
            raise ValueError(f"use 1 to {MAX_THREADS} threads")
        if rate <= 0 or total <= 0 or time_limit_s <= 0:
            raise ValueError("rate, total and time_limit_s must be positive")
        self.host = "127.0.0.1"
        self.port = parts.port or 80
        self.path = parts.path or "/"
        self.paths = tuple(paths)
        """(path, share): that share of the requests goes to that path (tenants' prefixes), the rest to ``path``."""
        self._credits = [0.0] * len(self.paths)
        self.rate = rate
        self.total = total
        self.time_limit_s = time_limit_s
        self.threads = threads
        self.timeout_s = timeout_s
        self._records: list[RequestRecord] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._workers: list[threading.Thread] = []
        self._issued = 0
        self.started_at: float | None = None

    @property
    def records(self) -> list[RequestRecord]:
        with self._lock:
            return sorted(self._records, key=lambda r: r.at)

    @property
    def running(self) -> bool:
        return any(w.is_alive() for w in self._workers)

    def start(self) -> LoadGenerator:
        if self._workers:
            return self
        self.started_at = time.monotonic()
        for index in range(self.threads):
            worker = threading.Thread(target=self._run, args=(index,), name=f"load-{index}", daemon=True)
            self._workers.append(worker)
            worker.start()
        return self

    def stop(self) -> list[RequestRecord]:
        self._stop.set()
        return self.wait()

    def wait(self, timeout_s: float | None = None) -> list[RequestRecord]:
        limit = timeout_s if timeout_s is not None else self.time_limit_s + self.timeout_s + 5
        deadline = time.monotonic() + limit
        for worker in self._workers:
            worker.join(timeout=max(0.0, deadline - time.monotonic()))
        return self.records

    def __enter__(self) -> LoadGenerator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _claim(self) -> bool:
        with self._lock:
            if self._issued >= self.total:
                return False
            self._issued += 1
            return True

    def _turns(self, index: int) -> Iterator[None]:
        """Worker ``index``'s turns: one each time its next request is due, until stopped, done or out of time."""
        assert self.started_at is not None
        interval = self.threads / self.rate
        next_at = self.started_at + index * (1.0 / self.rate)
        deadline = self.started_at + self.time_limit_s
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= deadline:
                return
            if next_at > now:
                self._stop.wait(min(next_at - now, deadline - now))
                continue
            if not self._claim():
                return
            next_at = max(next_at + interval, now - interval)
            yield

    def _run(self, index: int) -> None:
        conn: http.client.HTTPConnection | None = None
        try:
            for _ in self._turns(index):
                if conn is None:
                    conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout_s)
                record, keep = self._one(conn)
                with self._lock:
                    self._records.append(record)
                if not keep:
                    conn.close()
                    conn = None
        finally:
            if conn is not None:
                conn.close()

    def _next_path(self) -> str:
        """Deterministic shares: each path gets its share of the requests, spread evenly."""
        with self._lock:
            for index, (path, share) in enumerate(self.paths):
                self._credits[index] += share
                if self._credits[index] >= 1.0:
                    self._credits[index] -= 1.0
                    return path
        return self.path

    def _one(self, conn: http.client.HTTPConnection) -> tuple[RequestRecord, bool]:
        started = time.monotonic()
        try:
            conn.request("GET", self._next_path() if self.paths else self.path)
            response = conn.getresponse()
            response.read()
            slot = response.getheader(SLOT_HEADER)
            keep = not response.will_close
            return RequestRecord(started, response.status, slot, time.monotonic() - started), keep
        except (OSError, http.client.HTTPException) as err:
            reason = f"{type(err).__name__}: {err}"
            return RequestRecord(started, 0, None, time.monotonic() - started, reason), False


def summarise(records: Sequence[RequestRecord]) -> dict[str, float]:
    """Counts and achieved rate, for logs and benchmark tables."""
    if not records:
        return {"requests": 0.0, "failed": 0.0, "rate": 0.0}
    span = records[-1].at - records[0].at
    return {
        "requests": float(len(records)),
        "failed": float(sum(r.failed for r in records)),
        "rate": (len(records) - 1) / span if span > 0 else 0.0,
    }
