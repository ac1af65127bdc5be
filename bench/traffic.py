"""How fast a bad green is rolled back on a real HAProxy, and what a healthy cutover costs users.

Three scenarios, each on a fresh HAProxy with two local slot backends and
200 requests/s of real load:

1. Green fails half its requests from the moment it gets its first 10 %.
   Measured: seconds from the first 500 a user saw to green's weight being 0
   (sequential analysis), against the same with a fixed-window judge (which
   decides only at the end of each window, like Flagger), and how many
   requests failed in each case.
2. Green fails 2 % of requests, just above the 1 % allowed: seconds from the
   step to the first verdict (the sequential test should *not* fire; the
   5 s window decides) and to the rollback (two failed windows, or, as the
   100 requests of a 5 s window rarely tell 2 % from 1 % with confidence,
   the step's INCONCLUSIVE windows running out).
3. A healthy cutover 10, 25, 50, 100 %: requests failed (target 0).

Each cutover is run by the real engine (``fleet.engine.Engine``: driver,
executor, transition function, in-memory store) through the HAProxy traffic
and analysis adapters; only provisioning and Flux are stand-ins
(``tests/traffic/engine_run.py``, shared with the traffic tests). This is a
benchmark, not a test: run ``python -m bench.traffic`` (about 40 s);
``run()`` returns the figures.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable

from fleet.adapters.analysis.haproxy import HAProxyAnalysis
from fleet.adapters.traffic.haproxy import HAProxyTraffic
from fleet.domain.model import AnalysisPolicy
from fleet.rehearsal.backends import SlotBackend, slot_backends
from fleet.rehearsal.haproxy_process import HAProxyProcess, find_haproxy
from fleet.rehearsal.load import LoadGenerator, RequestRecord, failures, in_range, observed_split, summarise
from tests.traffic.engine_run import DriveResult, engine_cutover

RATE = 200.0
STEPS = (10, 25, 50, 100)


Scenario = Callable[[HAProxyProcess, dict[str, SlotBackend]], tuple[DriveResult, list[RequestRecord]]]


def on_haproxy(scenario: Scenario) -> tuple[DriveResult, list[RequestRecord]]:
    with slot_backends("blue", "green") as backends:
        servers = {name: b.address for name, b in backends.items()}
        with HAProxyProcess(servers, weights={"blue": 100, "green": 0}) as proxy:
            return scenario(proxy, backends)


def failing_green(
    error_rate: float, *, early: bool, window_s: float, duration_s: float
) -> Scenario:
    def scenario(proxy: HAProxyProcess, backends: dict[str, SlotBackend]) -> tuple[DriveResult, list[RequestRecord]]:
        backends["green"].set_faults(error_rate=error_rate)
        traffic = HAProxyTraffic(proxy.socket_path)
        analysis = HAProxyAnalysis(proxy.socket_path, early=early)
        policy = AnalysisPolicy(success_rate=99.0, failed_checks=2, window_s=window_s, min_requests=10)
        total = int(RATE * duration_s)
        with LoadGenerator(proxy.url, rate=RATE, total=total, time_limit_s=duration_s) as load:
            time.sleep(0.3)
            run = engine_cutover(proxy, traffic, analysis, env="bench", steps=STEPS, policy=policy)
            time.sleep(0.5)
        return run, load.records

    return scenario


def healthy(proxy: HAProxyProcess, backends: dict[str, SlotBackend]) -> tuple[DriveResult, list[RequestRecord]]:
    traffic = HAProxyTraffic(proxy.socket_path)
    analysis = HAProxyAnalysis(proxy.socket_path)
    policy = AnalysisPolicy(success_rate=99.0, failed_checks=2, window_s=2.0, min_requests=20)
    with LoadGenerator(proxy.url, rate=RATE, total=int(RATE * 12), time_limit_s=12) as load:
        time.sleep(0.3)
        run = engine_cutover(proxy, traffic, analysis, env="bench", steps=STEPS, policy=policy)
        time.sleep(0.3)
        load.stop()
    return run, load.records


def rollback_figures(run: DriveResult, records: list[RequestRecord]) -> dict[str, float]:
    if run.rolled_back_at is None:
        raise RuntimeError("green was not rolled back")
    first_500 = min(r.at + r.latency_s for r in records if r.failed)
    after = in_range(records, run.rolled_back_at + 0.01)
    return {
        "rollback_s": run.rolled_back_at - first_500,
        "failed_requests": float(len(failures(records))),
        "green_share_after_rollback_pct": observed_split(after).get("green", 0.0),
        "first_verdict_after_step_s": run.verdicts[0][0] - run.steps[0].set_at,
        "first_verdict_early": 1.0 if run.verdicts[0][1].evidence.decided_early else 0.0,
        "rollback_after_step_s": run.rolled_back_at - run.steps[0].set_at,
    }


def run() -> dict[str, float]:
    if find_haproxy() is None:
        raise RuntimeError("haproxy is not installed")
    results: dict[str, float] = {}
    early = rollback_figures(*on_haproxy(failing_green(0.5, early=True, window_s=5.0, duration_s=4.0)))
    fixed = rollback_figures(*on_haproxy(failing_green(0.5, early=False, window_s=5.0, duration_s=13.0)))
    results["half_failing_rollback_s"] = early["rollback_s"]
    results["half_failing_failed_requests"] = early["failed_requests"]
    results["half_failing_green_share_after_rollback_pct"] = early["green_share_after_rollback_pct"]
    results["fixed_window_rollback_s"] = fixed["rollback_s"]
    results["fixed_window_failed_requests"] = fixed["failed_requests"]
    results["speedup_vs_fixed_window"] = fixed["rollback_s"] / early["rollback_s"]
    borderline = rollback_figures(*on_haproxy(failing_green(0.02, early=True, window_s=5.0, duration_s=13.0)))
    results["borderline_2pct_first_verdict_after_step_s"] = borderline["first_verdict_after_step_s"]
    results["borderline_2pct_decided_early"] = borderline["first_verdict_early"]
    results["borderline_2pct_rollback_after_step_s"] = borderline["rollback_after_step_s"]
    run_, records = on_haproxy(healthy)
    stats = summarise(records)
    results["healthy_completed"] = 1.0 if run_.completed else 0.0
    results["healthy_requests"] = stats["requests"]
    results["healthy_failed_requests"] = stats["failed"]
    results["healthy_rate_rps"] = stats["rate"]
    return results


def main() -> None:
    started = time.monotonic()
    results = run()
    width = max(len(k) for k in results)
    for key, value in results.items():
        print(f"{key:<{width}}  {value:10.3f}")
    print(f"{'(benchmark wall time s)':<{width}}  {time.monotonic() - started:10.1f}")
    json.dump(results, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
