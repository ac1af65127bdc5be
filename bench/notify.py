"""What notifications cost the engine: a cutover on the in-memory fleet with and without webhook targets.

The targets are real sockets on 127.0.0.1: one that refuses connections and
one that answers only after 2 s (longer than the 0.5 s timeout). The engine
runs with the fake clock, so its wall time is its own work: the figure is
the slowest of its calls to the notifier (the outbox only queues) and how
much longer the whole cutover took than without targets (the delivery log's
journal records), with the end-of-run wait for deliveries set to 0.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from fleet.adapters.notify.outbox import DeliveryPolicy, Tee, WebhookOutbox  # noqa: E402
from fleet.adapters.notify.webhook import UrllibWebhook  # noqa: E402
from fleet.engine import Engine, RetryPolicy  # noqa: E402
from fleet.ports import Notice, Target  # noqa: E402
from fleet.state.local import LocalStateStore  # noqa: E402
from tests.fleetkit import ACTOR, NEW_VERSION, Fleet, environment  # noqa: E402
from tests.notify.receiver import receiver, refused_url  # noqa: E402

POLICY = DeliveryPolicy(timeout_s=0.5, attempts=3, budget_s=2.0, backoff_s=0.05, flush_s=0.0)


class _Timed:
    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: list[float] = []

    def notify(self, notice: Notice) -> None:
        started = time.perf_counter()
        self.inner.notify(notice)
        self.calls.append(time.perf_counter() - started)


def _cutover(targets: list[Target] | None) -> tuple[float, float]:
    """Wall time of one cutover, and the slowest notify call (0 without targets)."""
    fleet = Fleet()
    ports = fleet.ports()
    timed = None
    outbox = None
    if targets is not None:
        outbox = WebhookOutbox(targets, UrllibWebhook(), POLICY)
        timed = _Timed(outbox)
        ports.notifier = Tee(fleet.notifier, timed)
        ports.outbox = outbox
    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine(LocalStateStore(Path(tmp)), ports, retry=RetryPolicy(attempts=2, base_s=0.1, budget_s=5.0),
                        actor=ACTOR)
        started = time.perf_counter()
        engine.cutover(environment(), NEW_VERSION)
        wall = time.perf_counter() - started
    if outbox is not None:
        outbox.close()
    return wall, max(timed.calls) if timed else 0.0


def run(runs: int = 5) -> dict[str, float]:
    _cutover(None)  # warm imports and caches
    bare = statistics.median(_cutover(None)[0] for _ in range(runs))
    refused = [_cutover([Target("webhook", refused_url())]) for _ in range(runs)]
    with receiver([("slow", 2.0)] * 200) as r:
        slow = [_cutover([Target("webhook", r.url)]) for _ in range(runs)]
    return {
        "cutover_no_targets_ms": bare * 1000,
        "cutover_refusing_target_ms": statistics.median(w for w, _ in refused) * 1000,
        "cutover_slow_target_ms": statistics.median(w for w, _ in slow) * 1000,
        "slowest_notify_call_ms": max(m for _, m in refused + slow) * 1000,
    }


def main() -> None:
    for key, value in run().items():
        print(f"{key:32} {value:.1f}")


if __name__ == "__main__":
    main()
