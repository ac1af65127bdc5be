"""Notifications delivered off the engine's critical path, within bounded time, with a delivery log.

The engine tells its notifier about every record synchronously; a chat
endpoint that hangs or refuses must cost the cutover nothing. So
:class:`WebhookOutbox` only classifies the record (pure,
``fleet.domain.notices``) and puts a payload on a bounded queue per target;
one daemon thread per target delivers its queue in order, retrying
transient failures (refused, timed out, 5xx, 429) under the engine's one
retry policy (``fleet.retry``): a per-attempt timeout, a number of attempts
and a budget in wall time per notification. A full queue drops the new
notification (and says so) rather than grow or block.

Every delivery that finished (delivered, failed, dropped, or given up when
the run ended before it could be sent) becomes an entry of the delivery
log, which the engine takes at its next checkpoint and records in the
history (``NotificationsSent``). At the end of a run the engine waits at
most ``flush_s`` for what is still in flight.
"""

from __future__ import annotations

import contextlib
import queue
import random
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fleet.domain.notices import classify, payload, slack_body, wanted
from fleet.errors import FleetError
from fleet.ports import Notice, Notifier, Target, Webhook
from fleet.retry import RetryPolicy, call_with_retries, timeout


@dataclass(frozen=True)
class DeliveryPolicy:
    """How hard a notification is tried (``fleet:notifications``: timeout, attempts, budget)."""

    timeout_s: float = 5.0
    attempts: int = 3
    budget_s: float = 30.0
    backoff_s: float = 0.5
    queue_size: int = 100
    flush_s: float = 10.0


@dataclass
class _Job:
    target: Target
    document: dict[str, Any]


_STOP = object()


class Tee:
    """One notifier that tells several (the live display and the outbox)."""

    def __init__(self, *notifiers: Notifier) -> None:
        self.notifiers = notifiers

    def notify(self, notice: Notice) -> None:
        for n in self.notifiers:
            n.notify(notice)


STORY = "story"
"""The events of a tenant's ``contact.webhook``: its own story when a run ends, and no environment-wide notice."""


class WebhookOutbox:
    """A ``Notifier`` for webhook targets and the engine's ``Outbox``."""

    def __init__(
        self, targets: Sequence[Target], webhook: Webhook, policy: DeliveryPolicy | None = None,
        *, rng: random.Random | None = None,
    ) -> None:
        self.targets = tuple(targets)
        self.webhook = webhook
        self.policy = policy or DeliveryPolicy()
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self._done: list[dict[str, Any]] = []
        self._queues: dict[int, queue.Queue[object]] = {}
        self._busy: dict[int, _Job | None] = {}
        self._threads: dict[int, threading.Thread] = {}

    # --- Notifier ---------------------------------------------------------------

    def notify(self, notice: Notice) -> None:
        detail = notice.detail or {}
        record, state = detail.get("record"), detail.get("state")
        if record is None or state is None:
            return
        kind = classify(record.event, notice.kind == "phase", state)
        if kind is None:
            return
        for index, target in enumerate(self.targets):
            if wanted(kind, target.events):
                document = payload(kind, state, seq=record.seq, at=record.at, event=record.event,
                                   actor=record.actor, tenant=target.tenant)
                self.send(index, target, document)

    def to_tenant(self, tenant: str, kind: str, document: Mapping[str, Any]) -> int:
        """Queue a message composed for ``tenant`` (its own story of the cutover) to that tenant's contacts.

        ``document`` is sent as it is to webhook contacts (with ``tenant`` set) and as its ``text`` to Slack;
        returns how many contacts it was queued for.
        """
        queued = 0
        for index, target in enumerate(self.targets):
            if target.tenant == tenant and (STORY in target.events or wanted(kind, target.events)):
                self.send(index, target, {**document, "tenant": tenant, "kind": kind})
                queued += 1
        return queued

    def send(self, index: int, target: Target, document: dict[str, Any]) -> None:
        """Queue ``document`` for ``target``, the ``index``-th target (its own queue and thread)."""
        jobs = self._queue(index)
        try:
            jobs.put_nowait(_Job(target, document))
        except queue.Full:
            self._log(target, document, "dropped", 0, f"more than {self.policy.queue_size} notifications queued")

    # --- Outbox -------------------------------------------------------------------

    def take(self) -> list[Mapping[str, Any]]:
        with self._lock:
            done, self._done = self._done, []
        return list(done)

    def flush(self, timeout_s: float) -> None:
        timeout_s = min(timeout_s, self.policy.flush_s)
        deadline = time.monotonic() + timeout_s
        for jobs in list(self._queues.values()):
            while (jobs.unfinished_tasks > 0) and time.monotonic() < deadline:
                time.sleep(0.01)
        for index, jobs in list(self._queues.items()):
            with self._lock:
                busy = self._busy.get(index)
                self._busy[index] = None
            if busy is not None:
                self._log(busy.target, busy.document, "abandoned", 0, f"still being sent after {timeout_s:g}s")
            while True:
                try:
                    job = jobs.get_nowait()
                except queue.Empty:
                    break
                jobs.task_done()
                if isinstance(job, _Job):
                    self._log(job.target, job.document, "abandoned", 0, "the run ended before it was sent")

    # --- delivery -------------------------------------------------------------------

    def _queue(self, index: int) -> queue.Queue[object]:
        with self._lock:
            jobs = self._queues.get(index)
            if jobs is None:
                jobs = self._queues[index] = queue.Queue(maxsize=self.policy.queue_size)
                thread = threading.Thread(target=self._work, args=(index, jobs), daemon=True,
                                          name=f"fleet-notify-{index}")
                self._threads[index] = thread
                thread.start()
        return jobs

    def _work(self, index: int, jobs: queue.Queue[object]) -> None:
        while True:
            job = jobs.get()
            try:
                if job is _STOP:
                    return
                assert isinstance(job, _Job)
                with self._lock:
                    self._busy[index] = job
                status, attempts, error, code = self._deliver(job)
                with self._lock:
                    abandoned = self._busy.get(index) is not job
                    self._busy[index] = None
                if not abandoned:
                    self._log(job.target, job.document, status, attempts, error, code)
            finally:
                jobs.task_done()

    def _deliver(self, job: _Job) -> tuple[str, int, str | None, int | None]:
        p = self.policy
        body = slack_body(job.document) if job.target.kind == "slack" else job.document
        attempts = 0

        def once() -> int:
            nonlocal attempts
            attempts += 1
            return self.webhook.post(job.target.url, body, timeout(p.timeout_s))

        retry = RetryPolicy(attempts=p.attempts, base_s=p.backoff_s, max_s=max(p.backoff_s, 5.0), budget_s=p.budget_s)
        try:
            code = call_with_retries(once, policy=retry, what=f"notify {job.target.describe()}", rng=self._rng)
        except FleetError as err:
            return "failed", attempts, str(err), None
        except Exception as err:
            return "failed", attempts, f"{type(err).__name__}: {err}", None
        return "delivered", attempts, None, code

    def _log(
        self, target: Target, document: Mapping[str, Any], status: str, attempts: int, error: str | None,
        code: int | None = None,
    ) -> None:
        entry = {
            "id": document.get("id"), "kind": document.get("kind"), "target": target.describe(),
            "tenant": target.tenant, "status": status, "attempts": attempts, "http": code, "error": error,
        }
        with self._lock:
            self._done.append(entry)

    def close(self) -> None:
        for jobs in self._queues.values():
            with contextlib.suppress(queue.Full):
                jobs.put_nowait(_STOP)
