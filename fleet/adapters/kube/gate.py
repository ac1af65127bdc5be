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

The watch threads (:mod:`fleet.adapters.kube.watchers`) resume from the last
resourceVersion seen, list a kind again after a 410 Gone, retry dropped
connections and 5xx answers with exponential backoff and poll for kinds the
API does not serve yet (Flux being installed); the local copy they feed is
:mod:`fleet.adapters.kube.mirror`. 401 and 403 end the wait at once with
:class:`AccessDenied`: waiting will not grant a permission. Every watch
thread is stopped, its socket shut down, and joined before the call returns.

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
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from typing import Any

from fleet.adapters.kube.client import ClusterClient, Listing, NotServed, Target, parse_kubeconfig
from fleet.adapters.kube.mirror import Changes, Store
from fleet.adapters.kube.watchers import Backoff, WaitStats, watching
from fleet.domain.health import DEPLOYMENT, KINDS, HealthSettings, ProgressWatch, evaluate, judge_live
from fleet.domain.model import SlotName
from fleet.domain.reports import HealthReport, Secret, SlotOutputs
from fleet.errors import TransientError
from fleet.ports import Interrupted

__all__ = ["INTERRUPT_POLL_S", "Backoff", "FluxHealthGate", "WaitStats"]

log = logging.getLogger(__name__)

INTERRUPT_POLL_S = 1.0
"""How often a watch asks whether to give way to an operator's request."""


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
        store = Store()
        self._list_all(cluster, store, deadline=None)
        return evaluate(slot, store.snapshot(), self.settings)

    def wait_reconciled(self, env: str, slot: SlotName, outputs: SlotOutputs, timeout_s: float) -> HealthReport:
        deadline = time.monotonic() + timeout_s
        cluster = self._cluster(env, slot, outputs)
        store = Store()
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
        store = Store()
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
    def _watching(self, cluster: ClusterClient, versions: Mapping[str, str | None]) -> Iterator[Changes]:
        with watching(
            cluster,
            self._targets(),
            versions,
            backoff=self.backoff,
            watch_timeout_s=self.watch_timeout_s,
            missing_poll_s=self.missing_poll_s,
            join_timeout_s=self.join_timeout_s,
            stopped=self._stopped,
        ) as changes:
            yield changes

    def _stopped(self, stats: WaitStats) -> None:
        self.last_wait = stats

    # --- plumbing ------------------------------------------------------------------------------

    def _targets(self) -> Sequence[Target]:
        return [
            Target(info, namespace=self.settings.flux_namespace if info.kind == DEPLOYMENT else None)
            for info in KINDS.values()
        ]

    def _list_all(self, cluster: ClusterClient, store: Store, *, deadline: float | None) -> dict[str, str | None]:
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
