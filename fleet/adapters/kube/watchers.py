"""The watch threads of the Flux health gate: one per kind, resumed, retried, always stopped.

Each thread keeps one watch open from the last resourceVersion seen and puts
what it reads on the gate's queue (:mod:`fleet.adapters.kube.mirror`). A 410
Gone means the server no longer has that history, so the kind is listed
again; dropped connections and 5xx answers are retried with exponential
backoff; a kind the API does not serve yet (Flux being installed) is listed
again periodically; any other provider error ends the wait through the
queue. Stopping shuts every open stream's socket so that blocked readers
return, and joins every thread before the caller goes on.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import urllib3

from fleet.adapters.kube.client import ClusterClient, Expired, Listing, NotServed, Target, events
from fleet.adapters.kube.mirror import Changes, Event, Fatal, Message, Replace
from fleet.errors import ProviderError, TransientError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Backoff:
    """Delays between retries of a transient failure: ``initial_s`` growing by ``factor`` up to ``max_s``."""

    initial_s: float = 0.1
    factor: float = 2.0
    max_s: float = 5.0
    attempts: int = 5
    """How many times a one-shot ``report()`` tries before giving up."""

    def delays(self) -> Iterator[float]:
        delay = self.initial_s
        while True:
            yield delay
            delay = min(delay * self.factor, self.max_s)


@dataclass(frozen=True)
class WaitStats:
    """What the last ``wait_reconciled`` did, for tests and benchmarks."""

    events: int = 0
    relists: int = 0
    reconnects: int = 0


class Watcher(threading.Thread):
    """Keeps one watch on one kind open until stopped, feeding the gate's queue."""

    def __init__(
        self,
        cluster: ClusterClient,
        target: Target,
        *,
        resource_version: str | None,
        out: queue.Queue[Message],
        stop: threading.Event,
        streams: Streams,
        backoff: Backoff,
        watch_timeout_s: int,
        missing_poll_s: float,
        missing: bool,
    ) -> None:
        super().__init__(name=f"fleet-watch-{cluster.env}-{cluster.slot}-{target.info.plural}", daemon=True)
        self.cluster = cluster
        self.target = target
        self.resource_version = resource_version
        self.out = out
        self.stop = stop
        self.streams = streams
        self.backoff = backoff
        self.watch_timeout_s = watch_timeout_s
        self.missing_poll_s = missing_poll_s
        self.relist = missing
        self.relists = 0
        self.reconnects = 0

    def run(self) -> None:
        delays = self.backoff.delays()
        while not self.stop.is_set():
            try:
                if self.relist and not self._list():
                    self.stop.wait(self.missing_poll_s)
                    continue
                saw_events = self._watch_once()
                if saw_events:
                    delays = self.backoff.delays()
                else:
                    self.stop.wait(next(delays))
            except Expired:
                log.debug("%s: %s expired, listing again", self.cluster.name, self.target.info.plural)
                self.relist = True
            except TransientError as err:
                self._retry_after(err, next(delays))
            except ProviderError as err:
                self.out.put(Fatal(err))
                return
            except (urllib3.exceptions.HTTPError, OSError, ValueError) as err:
                self._retry_after(err, next(delays))

    def _retry_after(self, err: Exception, delay: float) -> None:
        if self.stop.is_set():
            return
        self.reconnects += 1
        log.debug(
            "%s: watch on %s failed (%s); retrying in %.2fs",
            self.cluster.name,
            self.target.info.plural,
            err,
            delay,
        )
        self.stop.wait(delay)

    def _list(self) -> bool:
        self.relists += 1
        try:
            listing: Listing = self.cluster.list(self.target)
        except NotServed:
            self.out.put(Replace(self.target.info.kind, None))
            return False
        self.out.put(Replace(self.target.info.kind, listing.items))
        self.resource_version = listing.resource_version
        self.relist = False
        return True

    def _watch_once(self) -> bool:
        response = self.cluster.watch(self.target, self.resource_version, timeout_s=self.watch_timeout_s)
        if not self.streams.add(response):
            return True
        saw_events = False
        try:
            for event in events(response):
                if self.stop.is_set():
                    break
                type_ = str(event.get("type", ""))
                obj = event.get("object") or {}
                if type_ == "ERROR":
                    code = obj.get("code")
                    if code == 410:
                        raise Expired(f"{self.cluster.name}: watch on {self.target.info.plural}: {obj.get('message')}")
                    raise TransientError(f"{self.cluster.name}: watch error {code}: {obj.get('message')}")
                version = (obj.get("metadata") or {}).get("resourceVersion")
                if version:
                    self.resource_version = str(version)
                if type_ in ("ADDED", "MODIFIED", "DELETED"):
                    saw_events = True
                    self.out.put(Event(self.target.info.kind, type_, obj))
        finally:
            self.streams.discard(response)
            response.release_conn()
        return saw_events


class Streams:
    """The open watch responses, so that stopping can shut their sockets and unblock the readers."""

    def __init__(self, stop: threading.Event) -> None:
        self._stop = stop
        self._lock = threading.Lock()
        self._open: set[urllib3.BaseHTTPResponse] = set()

    def add(self, response: urllib3.BaseHTTPResponse) -> bool:
        with self._lock:
            if self._stop.is_set():
                response.shutdown()
                return False
            self._open.add(response)
            return True

    def discard(self, response: urllib3.BaseHTTPResponse) -> None:
        with self._lock:
            self._open.discard(response)

    def shutdown(self) -> None:
        with self._lock:
            self._stop.set()
            for response in self._open:
                try:
                    response.shutdown()
                except (RuntimeError, OSError):  # the stream ended meanwhile and its connection went back to the pool
                    continue


@contextmanager
def watching(
    cluster: ClusterClient,
    targets: Sequence[Target],
    versions: Mapping[str, str | None],
    *,
    backoff: Backoff,
    watch_timeout_s: int,
    missing_poll_s: float,
    join_timeout_s: float,
    stopped: Callable[[WaitStats], None],
) -> Iterator[Changes]:
    """One watch per kind, feeding a queue, from the listed resourceVersions; all stopped and joined on exit.

    ``stopped`` receives what the watches did once they are all stopped.
    """
    out: queue.Queue[Message] = queue.Queue()
    stop = threading.Event()
    streams = Streams(stop)
    watchers = [
        Watcher(
            cluster,
            target,
            resource_version=versions.get(target.info.kind),
            out=out,
            stop=stop,
            streams=streams,
            backoff=backoff,
            watch_timeout_s=watch_timeout_s,
            missing_poll_s=missing_poll_s,
            missing=target.info.kind not in versions,
        )
        for target in targets
    ]
    changes = Changes(out)
    try:
        for watcher in watchers:
            watcher.start()
        yield changes
    finally:
        streams.shutdown()
        for watcher in watchers:
            if watcher.is_alive():
                watcher.join(join_timeout_s)
        stopped(
            WaitStats(
                events=changes.seen,
                relists=sum(w.relists for w in watchers),
                reconnects=sum(w.reconnects for w in watchers),
            )
        )
