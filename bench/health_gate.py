"""How long after Flux finishes does the engine learn it? The watch-driven gate against 5 s polling.

Every trial starts from a slot whose Git source has moved to a new revision
that the Kustomizations have not applied yet, opens ``wait_reconciled``, then
makes the status change that satisfies the pass rule (the last Kustomization
reports the new ``lastAppliedRevision``) and measures the time from just
before that change is sent to the API until ``wait_reconciled`` returns. The
API is kmock on 127.0.0.1 (:class:`fleet.rehearsal.kube_sim.KubeSim`), spoken
to over real HTTP by the official client, or (``world="real"``) a real
kube-apiserver with etcd and Flux's CRDs built by ``tools/peers/build.py``
(:class:`tests.worlds.real_kube.RealKube`): the same objects and statuses,
written through the status subresource, so the delay includes the real
server's etcd write and watch cache.

The baseline is a naive loop that calls ``report()`` every 5 seconds. Its
delay depends only on where in the interval the change lands, so a few trials
with the change placed evenly across the interval measure it; the expected
figures for a uniformly random phase (p50 = 2.5 s, p99 = 4.95 s) are printed
beside them. This is a benchmark, not a timed test: run it by hand.

    python bench/health_gate.py [trials] [kmock|real]
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Protocol

from fleet.adapters.kube import FluxHealthGate
from fleet.domain.model import SlotName, Version
from fleet.domain.reports import Secret, SlotOutputs
from fleet.rehearsal import flux_objects as fo
from fleet.rehearsal.kube_sim import KubeSim

POLL_INTERVAL_S = 5.0
POLL_TRIALS = 4
SETTLE_S = 0.15


def percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN without samples."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


class _Api(Protocol):
    url: Any

    def kubeconfig(self) -> dict[str, Any]: ...

    def put(self, obj: dict[str, Any]) -> Any: ...

    def put_all(self, objs: Any) -> None: ...


def world(name: str) -> AbstractContextManager[Any]:
    """The API the trials run against: ``kmock`` or ``real`` (raises PeersNotBuilt when not built)."""
    if name == "real":
        from tests.worlds.real_kube import real_kube

        return real_kube()
    return KubeSim(forget_requests=True)


def _outputs(sim: _Api) -> SlotOutputs:
    config = sim.kubeconfig()
    return SlotOutputs(
        slot=SlotName.GREEN,
        version=Version(1, 31),
        endpoint=sim.url,
        ingress="ingress.invalid",
        kubeconfig=Secret(json.dumps(config)),
    )


def _pending(sim: _Api, trial: int) -> str:
    """Move Git to a new revision; return it. The slot is not reconciled until it is applied."""
    new = fo.revision(f"trial-{trial}")
    sim.put(fo.git_repository(rev=new))
    sim.put(fo.kustomization("flux-system", applied=new))
    return new


def _apply(sim: _Api, rev: str) -> float:
    changed_at = time.monotonic()
    sim.put(fo.kustomization("apps", applied=rev, depends_on=("flux-system",), path="./apps"))
    return changed_at


def _trial(sim: _Api, trial: int, wait: Callable[[], bool], delay_s: float) -> float:
    returned: list[float] = []
    passed: list[bool] = []

    def run() -> None:
        passed.append(wait())
        returned.append(time.monotonic())

    rev = _pending(sim, trial)
    waiter = threading.Thread(target=run)
    waiter.start()
    time.sleep(delay_s)
    changed_at = _apply(sim, rev)
    waiter.join(timeout=30)
    if not (passed and passed[0]):
        raise RuntimeError(f"trial {trial}: the gate did not pass")
    return returned[0] - changed_at


def run(trials: int = 50, world_name: str = "kmock") -> dict[str, float]:
    """Delays from the passing change to the gate returning, watch-driven and 5 s polling, in ms.

    On the real API server only the watch is measured: polling's delay does not depend on the server.
    """
    with world(world_name) as sim, FluxHealthGate() as gate:
        outputs = _outputs(sim)
        sim.put_all(fo.reconciled_cluster(fo.revision("start")))

        # The gate's first contact (client, TLS connections: about a second on the real server over TLS on a
        # loaded machine) is not detection: one report first, as the cutover's earlier reports would have.
        gate.report("bench", SlotName.GREEN, outputs)

        def watch() -> bool:
            return gate.wait_reconciled("bench", SlotName.GREEN, outputs, timeout_s=20).reconciled

        watched = [_trial(sim, n, watch, SETTLE_S) for n in range(trials)]
        if world_name == "real":
            return {
                "trials": float(trials),
                "watch_p50_ms": percentile(watched, 50) * 1000,
                "watch_p99_ms": percentile(watched, 99) * 1000,
                "watch_max_ms": max(watched) * 1000,
            }

        def poll() -> bool:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                if gate.report("bench", SlotName.GREEN, outputs).reconciled:
                    return True
                time.sleep(POLL_INTERVAL_S)
            return False

        phases = [(k + 0.5) / POLL_TRIALS * POLL_INTERVAL_S for k in range(POLL_TRIALS)]
        polled = [_trial(sim, trials + k, poll, phase) for k, phase in enumerate(phases)]

    ms = 1000.0
    return {
        "trials": float(trials),
        "watch_p50_ms": percentile(watched, 50) * ms,
        "watch_p99_ms": percentile(watched, 99) * ms,
        "watch_max_ms": max(watched) * ms,
        "poll_trials": float(POLL_TRIALS),
        "poll_p50_ms": percentile(polled, 50) * ms,
        "poll_p99_ms": percentile(polled, 99) * ms,
        "poll_expected_p50_ms": POLL_INTERVAL_S / 2 * ms,
        "poll_expected_p99_ms": POLL_INTERVAL_S * 0.99 * ms,
    }


def main() -> None:
    trials = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    world_name = sys.argv[2] if len(sys.argv) > 2 else "kmock"
    started = time.monotonic()
    result = run(trials, world_name)
    if world_name == "real":
        print(f"watch on a real kube-apiserver: {trials} trials, p50 {result['watch_p50_ms']:.1f} ms, "
              f"p99 {result['watch_p99_ms']:.1f} ms, max {result['watch_max_ms']:.1f} ms")
        print(json.dumps(result, indent=2))
        return
    print(f"{'gate':<28}{'trials':>8}{'p50 ms':>10}{'p99 ms':>10}")
    print(f"{'watch (wait_reconciled)':<28}{trials:>8}{result['watch_p50_ms']:>10.1f}{result['watch_p99_ms']:>10.1f}")
    print(
        f"{'poll every 5 s (measured)':<28}{POLL_TRIALS:>8}{result['poll_p50_ms']:>10.1f}{result['poll_p99_ms']:>10.1f}"
    )
    print(
        f"{'poll every 5 s (expected)':<28}{'-':>8}"
        f"{result['poll_expected_p50_ms']:>10.1f}{result['poll_expected_p99_ms']:>10.1f}"
    )
    print(f"targets: p50 < 200 ms, p99 < 1000 ms; bench took {time.monotonic() - started:.1f} s")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
