"""The Flux health gate: GitOpsHealth on a real cluster, event-driven.

A cutover waits on this gate for the new slot (minutes of Flux applying a
fresh cluster), and every second between "Flux is done" and "the engine
knows" is pure overhead added to the cutover. Polling every few seconds
would put that overhead at half the interval on average; watching puts it at
one round trip. So :meth:`FluxHealthGate.wait_reconciled` lists every kind
the rules read once, then keeps one watch per kind open (one thread each,
feeding a queue), keeps a local copy of the objects up to date and re-judges
the slot on every event. It returns as soon as the pass rule holds, or when
the timeout passes with the last, failing report.

Watches are resumed from the last resourceVersion seen; a 410 Gone means the
server no longer has that history, so the kind is listed again. Dropped
connections and 5xx answers are retried with exponential backoff; a kind the
API does not serve yet (Flux being installed) is listed again periodically.
401 and 403 end the wait at once with :class:`AccessDenied`: waiting will
not grant a permission. Every watch thread is stopped, its socket shut down,
and joined before the call returns.

Once traffic moves, :meth:`FluxHealthGate.watch` keeps the same watches on
the verified new slot (before each weight increase, and for the whole bake):
Flux's routine reconciles (Ready=Unknown at the same revision, every
interval, on every object) are timed per object on this process's clock, and
the watch ends at the first report ``fleet.domain.health.judge_live`` calls
a regression; the state machine then decides.

The rules themselves are pure and live in ``fleet.domain.health``.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import urllib3

from fleet.adapters.kube.client import (
    ClusterClient,
    Expired,
    Listing,
    NotServed,
    Target,
    events,
    parse_kubeconfig,
)
from fleet.domain.health import DEPLOYMENT, KINDS, HealthSettings, ProgressWatch, Snapshot, evaluate, judge_live
from fleet.domain.model import SlotName
from fleet.domain.reports import HealthReport, Secret, SlotOutputs
from fleet.errors import ProviderError, TransientError
from fleet.ports import Interrupted

log = logging.getLogger(__name__)

INTERRUPT_POLL_S = 1.0
"""How often a watch asks whether to give way to an operator's request."""


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
class _Replace:
    kind: str
    items: list[dict[str, Any]] | None
    """None: the API does not serve the kind."""


@dataclass(frozen=True)
class _Event:
    kind: str
    type: str
    obj: dict[str, Any]


@dataclass(frozen=True)
class _Fatal:
    error: ProviderError


_Message = _Replace | _Event | _Fatal


class _Store:
    """The gate's local copy of one cluster's objects, kept current by lists and watch events."""

    def __init__(self) -> None:
        self._objects: dict[str, dict[tuple[str, str], dict[str, Any]]] = {kind: {} for kind in KINDS}
        self._missing: set[str] = set()

    def replace(self, kind: str, items: list[dict[str, Any]] | None) -> None:
        if items is None:
            self._missing.add(kind)
            self._objects[kind] = {}
            return
        self._missing.discard(kind)
        self._objects[kind] = {_key(obj): obj for obj in items}

    def apply(self, kind: str, type_: str, obj: dict[str, Any]) -> None:
        self._missing.discard(kind)
        if type_ == "DELETED":
            self._objects[kind].pop(_key(obj), None)
        else:
            self._objects[kind][_key(obj)] = obj

    def snapshot(self) -> Snapshot:
        return Snapshot(
            objects={kind: list(objs.values()) for kind, objs in self._objects.items()},
            missing=frozenset(self._missing),
        )


def _key(obj: dict[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


class _Watcher(threading.Thread):
    """Keeps one watch on one kind open until stopped, feeding the gate's queue."""

    def __init__(
        self,
        cluster: ClusterClient,
        target: Target,
        *,
        resource_version: str | None,
        out: queue.Queue[_Message],
        stop: threading.Event,
        streams: _Streams,
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
                self.out.put(_Fatal(err))
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
            self.out.put(_Replace(self.target.info.kind, None))
            return False
        self.out.put(_Replace(self.target.info.kind, listing.items))
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
                    self.out.put(_Event(self.target.info.kind, type_, obj))
        finally:
            self.streams.discard(response)
            response.release_conn()
        return saw_events


class _Streams:
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


class _Changes:
    """The watchers' queue, applied to the gate's local copy a batch at a time."""

    def __init__(self, out: queue.Queue[_Message]) -> None:
        self.out = out
        self.seen = 0

    def apply(self, store: _Store, *, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for a change, then apply every change queued; False when none came."""
        try:
            batch = [self.out.get(timeout=timeout_s) if timeout_s > 0 else self.out.get_nowait()]
        except queue.Empty:
            return False
        while True:
            try:
                batch.append(self.out.get_nowait())
            except queue.Empty:
                break
        for message in batch:
            if isinstance(message, _Fatal):
                raise message.error
            if isinstance(message, _Replace):
                store.replace(message.kind, message.items)
            else:
                self.seen += 1
                store.apply(message.kind, message.type, message.obj)
        return True


@dataclass(frozen=True)
class WaitStats:
    """What the last ``wait_reconciled`` did, for tests and benchmarks."""

    events: int = 0
    relists: int = 0
    reconnects: int = 0


class FluxHealthGate:
    """GitOpsHealth over the Kubernetes API of each slot, judged by ``fleet.domain.health``."""

    def __init__(
        self,
        settings: HealthSettings | None = None,
        *,
        backoff: Backoff | None = None,
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 30.0,
        watch_timeout_s: int = 300,
        missing_poll_s: float = 2.0,
        join_timeout_s: float = 5.0,
    ) -> None:
        self.settings = settings or HealthSettings()
        self.backoff = backoff or Backoff()
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s
        self.watch_timeout_s = watch_timeout_s
        self.missing_poll_s = missing_poll_s
        self.join_timeout_s = join_timeout_s
        self.last_wait = WaitStats()
        self._clients: dict[tuple[str, SlotName], tuple[Secret, ClusterClient]] = {}
        self._lister: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: HealthSettings, **options: Any) -> FluxHealthGate:
        """A gate for an environment's ``fleet:health`` and ``fleet:tenants``.

        ``options`` are the constructor's keyword arguments (timeouts, backoff).
        """
        return cls(settings, **options)

    def close(self) -> None:
        with self._lock:
            clients, self._clients = self._clients, {}
            lister, self._lister = self._lister, None
        if lister is not None:
            lister.shutdown(wait=True)
        for _, cluster in clients.values():
            cluster.close()

    def __enter__(self) -> FluxHealthGate:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- GitOpsHealth --------------------------------------------------------------------------

    def report(self, env: str, slot: SlotName, outputs: SlotOutputs) -> HealthReport:
        cluster = self._cluster(env, slot, outputs)
        store = _Store()
        self._list_all(cluster, store, deadline=None)
        return evaluate(slot, store.snapshot(), self.settings)

    def wait_reconciled(self, env: str, slot: SlotName, outputs: SlotOutputs, timeout_s: float) -> HealthReport:
        deadline = time.monotonic() + timeout_s
        cluster = self._cluster(env, slot, outputs)
        store = _Store()
        versions = self._list_all(cluster, store, deadline=deadline)
        report = evaluate(slot, store.snapshot(), self.settings)
        self.last_wait = WaitStats()
        if report.reconciled or time.monotonic() >= deadline:
            return report
        with self._watching(cluster, versions) as changes:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not changes.apply(store, timeout_s=remaining):
                    return report
                report = evaluate(slot, store.snapshot(), self.settings)
                if report.reconciled:
                    return report

    def watch(
        self,
        env: str,
        slot: SlotName,
        outputs: SlotOutputs,
        *,
        verified: Mapping[str, str],
        grace_s: float,
        until_s: float,
        interrupted: Interrupted | None = None,
    ) -> HealthReport:
        """Watch a verified slot (BAKE, or a check before a weight increase with ``until_s=0``).

        The same watches as ``wait_reconciled``; every batch of events is
        judged by ``fleet.domain.health.judge_live``, and the loop also wakes
        when the longest reconcile in progress reaches the grace, and every
        second to ask ``interrupted``.
        """
        until = time.monotonic() + until_s
        cluster = self._cluster(env, slot, outputs)
        store = _Store()
        versions = self._list_all(cluster, store, deadline=None)
        progress = ProgressWatch()

        def judge() -> tuple[HealthReport, bool]:
            now = time.monotonic()
            report = progress.observe(evaluate(slot, store.snapshot(), self.settings), now)
            return report, progress.done(judge_live(report, verified, grace_s), now, until)

        report, done = judge()
        self.last_wait = WaitStats()
        if done:
            return report
        with self._watching(cluster, versions) as changes:
            while True:
                now = time.monotonic()
                wake = now + INTERRUPT_POLL_S
                if now < until:
                    wake = min(wake, until)
                expiry = progress.next_expiry(grace_s)
                if expiry is not None and expiry > now:
                    wake = min(wake, expiry)
                changes.apply(store, timeout_s=max(0.0, wake - now))
                report, done = judge()
                if done or (interrupted is not None and interrupted()):
                    return report

    @contextmanager
    def _watching(self, cluster: ClusterClient, versions: Mapping[str, str | None]) -> Iterator[_Changes]:
        """One watch per kind, feeding a queue, from the listed resourceVersions; all stopped and joined on exit."""
        out: queue.Queue[_Message] = queue.Queue()
        stop = threading.Event()
        streams = _Streams(stop)
        watchers = [
            _Watcher(
                cluster,
                target,
                resource_version=versions.get(target.info.kind),
                out=out,
                stop=stop,
                streams=streams,
                backoff=self.backoff,
                watch_timeout_s=self.watch_timeout_s,
                missing_poll_s=self.missing_poll_s,
                missing=target.info.kind not in versions,
            )
            for target in self._targets()
        ]
        changes = _Changes(out)
        try:
            for watcher in watchers:
                watcher.start()
            yield changes
        finally:
            streams.shutdown()
            for watcher in watchers:
                if watcher.is_alive():
                    watcher.join(self.join_timeout_s)
            self.last_wait = WaitStats(
                events=changes.seen,
                relists=sum(w.relists for w in watchers),
                reconnects=sum(w.reconnects for w in watchers),
            )

    # --- plumbing ------------------------------------------------------------------------------

    def _targets(self) -> Sequence[Target]:
        return [
            Target(info, namespace=self.settings.flux_namespace if info.kind == DEPLOYMENT else None)
            for info in KINDS.values()
        ]

    def _list_all(self, cluster: ClusterClient, store: _Store, *, deadline: float | None) -> dict[str, str | None]:
        """List every kind into ``store``; the resourceVersion of each kind the API serves.

        The kinds are listed in parallel: a report costs one round trip to the
        API server rather than seven, which is what the re-check before every
        weight increase adds to a cutover.
        """
        targets = self._targets()
        futures = [self._pool().submit(self._list_retrying, cluster, target, deadline) for target in targets]
        try:
            wait(futures)  # every list ends with the call, also when one of them fails
        except BaseException:  # Ctrl-C: lists not yet started are not started
            for future in futures:
                future.cancel()
            raise
        versions: dict[str, str | None] = {}
        for target, future in zip(targets, futures, strict=True):
            try:
                listing = future.result()
            except NotServed:
                store.replace(target.info.kind, None)
                continue
            store.replace(target.info.kind, listing.items)
            versions[target.info.kind] = listing.resource_version
        return versions

    def _pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._lister is None:
                self._lister = ThreadPoolExecutor(len(KINDS), thread_name_prefix="fleet-list")
            return self._lister

    def _list_retrying(self, cluster: ClusterClient, target: Target, deadline: float | None) -> Listing:
        delays = self.backoff.delays()
        attempt = 0
        while True:
            attempt += 1
            try:
                return cluster.list(target)
            except TransientError as err:
                delay = next(delays)
                out_of_time = deadline is not None and time.monotonic() + delay >= deadline
                if (deadline is None and attempt >= self.backoff.attempts) or out_of_time:
                    raise
                log.debug("%s: %s; retrying in %.2fs", cluster.name, err, delay)
                time.sleep(delay)

    def _cluster(self, env: str, slot: SlotName, outputs: SlotOutputs) -> ClusterClient:
        with self._lock:
            cached = self._clients.get((env, slot))
            if cached is not None and cached[0] == outputs.kubeconfig:
                return cached[1]
            cluster = ClusterClient(
                env,
                slot,
                parse_kubeconfig(outputs.kubeconfig, env=env, slot=slot),
                connect_timeout_s=self.connect_timeout_s,
                read_timeout_s=self.read_timeout_s,
            )
            self._clients[(env, slot)] = (outputs.kubeconfig, cluster)
        if cached is not None:
            cached[1].close()
        return cluster
