"""How often the traffic judge rolls back a good slot, misses a bad one, and how fast it decides.

A traffic model no one tunes the judge to: Poisson arrivals at 5, 20, 100,
300 and 1,000 requests/s to the new slot (at every weight step), each
request an error with the cell's probability, independently. Slots that
should pass run at 0, 0.1, 0.5 and 0.9 % errors (the threshold is
``successRate: 99``, 1 %); slots that should fail at 2, 5 and 50 %; a
*burst* slot runs at 0.5 % with one 2 s spike of 20 % errors somewhere in its
first four minutes (it should pass, or at least not be rolled back).

Each cell simulates ``CUTOVERS`` four-step cutovers (10, 25, 50, 100 %) with
``AnalysisPolicy()``'s defaults (60 s windows, ``minRequests`` 100,
``failedChecks`` 2, ``maxExtensions`` 3) and applies the state machine's
rule to each window's verdict: a PASS moves to the next step and clears the
counts, ``failedChecks`` FAILs at a step roll back, more than
``maxExtensions`` INCONCLUSIVE windows at a step roll back. The windows are
judged by the real ``fleet.domain.analysis.SequentialJudge`` (imported, not
copied), fed the way the sources feed it:

* ``1s``: fresh cumulative counts every second (HAProxy, probes, a fast
  Prometheus);
* ``15s``: counters that move once per 15 s scrape (Prometheus), at a random
  phase; the polls between scrapes bring nothing new, which the judge
  provably ignores, so only the scrapes are fed;
* ``50ms``: HAProxy's default poll, for the 50 % cells only (the
  decision-time target).

The same draws (per-second counts of the same cutover) are also scored by
two peers: a Flagger-style fixed window (a check per 60 s interval that
fails below the threshold; five failed checks roll back; a passed check
advances the step) and a Kayenta-style end-of-window comparison against the
old slot (a 60 s window fails when the new slot's error rate is above the
old one's by a one-sided two-proportion z-test at 95 %; one failed window
rolls back). The old slot runs at the new slot's rate in the cells that
should pass (the errors are the service's baseline) and at 0.5 % in the cells
that should fail, with the same traffic as the new slot (Kayenta's baseline
cluster).

Counts per tick are drawn from exact Poisson tables (inverse CDF by
bisection) with a fixed seed, so a run is reproducible. ``python -m
bench.analysis`` prints the table and exits 1 when a target is missed;
``run()`` returns the figures for ``bench.run``.
"""

from __future__ import annotations

import bisect
import json
import math
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fleet.domain.analysis import SequentialJudge
from fleet.domain.model import AnalysisPolicy
from fleet.domain.reports import Outcome

CUTOVERS = 2000
RATES = (5, 20, 100, 300, 1000)
PASSING = (0.0, 0.001, 0.005, 0.009)
FAILING = (0.02, 0.05, 0.5)
BURST = "burst"
BURST_BASE, BURST_RATE, BURST_S, BURST_WITHIN_S = 0.005, 0.2, 2, 240
OLD_SLOT_WHEN_FAILING = 0.005
STEPS = 4
POLICY = AnalysisPolicy()
FLAGGER_INTERVAL_S, FLAGGER_THRESHOLD = 60, 5
KAYENTA_Z = 1.645
SEED = 20261130

Condition = float | str


# --- traffic -------------------------------------------------------------------------------------


class Poisson:
    """Exact Poisson draws by inverse CDF; one table per mean, built once."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self._tables: dict[float, tuple[int, list[float]]] = {}

    def table(self, mean: float) -> tuple[int, list[float]]:
        found = self._tables.get(mean)
        if found is not None:
            return found
        spread = 12.0 * math.sqrt(mean) + 12.0
        low = max(0, int(mean - spread))
        high = int(mean + spread) + 1
        log_p = -mean + low * math.log(mean) - math.lgamma(low + 1) if mean > 0 else 0.0
        cdf: list[float] = []
        total = 0.0
        for k in range(low, high + 1):
            if k > low:
                log_p += math.log(mean) - math.log(k)
            total += math.exp(log_p)
            cdf.append(total)
        cdf = [c / total for c in cdf]
        cdf[-1] = 1.0
        self._tables[mean] = (low, cdf)
        return low, cdf

    def draw(self, mean: float) -> int:
        if mean <= 0.0:
            return 0
        low, cdf = self.table(mean)
        return low + bisect.bisect_left(cdf, self.rng.random())


class Trace:
    """One cutover's traffic on the new slot: (errors, successes) per tick, drawn on first use.

    The error probability is ``base``, or ``burst[2]`` in ticks ``[burst[0], burst[1])``.
    """

    def __init__(
        self, poisson: Poisson, rate: float, base: float, tick_s: float, burst: tuple[int, int, float] | None = None
    ) -> None:
        self.poisson = poisson
        self.per_tick = rate * tick_s
        self.base = base
        self.burst = burst
        self.tick_s = tick_s
        self.errors: list[int] = []
        self.successes: list[int] = []
        self._blocks: dict[tuple[int, int], tuple[int, int]] = {}

    def error_at(self, tick: int) -> float:
        burst = self.burst
        return burst[2] if burst is not None and burst[0] <= tick < burst[1] else self.base

    def upto(self, tick: int) -> None:
        while len(self.errors) < tick:
            at = len(self.errors)
            end = tick
            if self.burst is not None:
                for edge in self.burst[:2]:
                    if at < edge < end:
                        end = int(edge)
            p = self.error_at(at)
            self.errors.extend(self._draws(self.per_tick * p, end - at))
            self.successes.extend(self._draws(self.per_tick * (1.0 - p), end - at))

    def _draws(self, mean: float, count: int) -> list[int]:
        if mean <= 0.0:
            return [0] * count
        low, cdf = self.poisson.table(mean)
        uniform, find = self.poisson.rng.random, bisect.bisect_left
        return [low + find(cdf, uniform()) for _ in range(count)]

    def block(self, start: int, end: int) -> tuple[int, int]:
        """(errors, requests) in ticks [start, end): the drawn ticks summed, the rest drawn as one total."""
        key = (start, end)
        found = self._blocks.get(key)
        if found is not None:
            return found
        drawn = min(end, len(self.errors))
        errors = sum(self.errors[start:drawn]) if drawn > start else 0
        successes = sum(self.successes[start:drawn]) if drawn > start else 0
        for tick in range(max(start, drawn), end):
            p = self.error_at(tick)
            errors += self.poisson.draw(self.per_tick * p)
            successes += self.poisson.draw(self.per_tick * (1.0 - p))
        self._blocks[key] = (errors, errors + successes)
        return errors, errors + successes


# --- judges --------------------------------------------------------------------------------------


@dataclass
class Result:
    rolled_back: bool
    at_s: float


def ours(trace: Trace, every: int, phase: int = 0) -> Result:
    """Our judge through four steps, fed at ticks ``phase + every * j``, with the state machine's rule."""
    window = round(POLICY.window_s / trace.tick_s)
    errors, successes = trace.errors, trace.successes
    now = 0
    for _ in range(STEPS):
        failed = extensions = 0
        while True:
            judge = SequentialJudge(POLICY)
            start, requests, bad, tick = now, 0, 0, now
            poll = start + every - (start - phase) % every
            verdict = None
            end = start + window
            trace.upto(end)
            while poll < end:
                while tick < poll:
                    bad += errors[tick]
                    requests += errors[tick] + successes[tick]
                    tick += 1
                verdict = judge.observe(requests, bad, elapsed_s=(poll - start) * trace.tick_s)
                if verdict is not None:
                    now = poll
                    break
                poll += every
            if verdict is None:
                last = poll if poll == end else poll - every
                while tick < last:
                    bad += errors[tick]
                    requests += errors[tick] + successes[tick]
                    tick += 1
                verdict = judge.conclude(requests, bad, elapsed_s=POLICY.window_s)
                now = end
            if verdict.outcome is Outcome.PASS:
                break
            if verdict.outcome is Outcome.FAIL:
                failed += 1
                if failed >= POLICY.failed_checks:
                    return Result(True, now * trace.tick_s)
                continue
            extensions += 1
            if extensions > POLICY.max_extensions:
                return Result(True, now * trace.tick_s)
    return Result(False, now * trace.tick_s)


def flagger(trace: Trace) -> Result:
    """A check per 60 s interval; below the threshold fails it; five failed checks roll back."""
    ticks = round(FLAGGER_INTERVAL_S / trace.tick_s)
    passed = failed = interval = 0
    while passed < STEPS:
        errors, requests = trace.block(interval * ticks, (interval + 1) * ticks)
        interval += 1
        if requests == 0 or 100.0 * (requests - errors) / requests < POLICY.success_rate:
            failed += 1
            if failed >= FLAGGER_THRESHOLD:
                return Result(True, interval * FLAGGER_INTERVAL_S)
        else:
            passed += 1
    return Result(False, interval * FLAGGER_INTERVAL_S)


def kayenta(trace: Trace, poisson: Poisson, old_rate: float, rate: float) -> Result:
    """Each 60 s window compared with the old slot's (same traffic); one significantly worse window rolls back."""
    ticks = round(POLICY.window_s / trace.tick_s)
    for step in range(STEPS):
        errors, requests = trace.block(step * ticks, (step + 1) * ticks)
        old_errors = poisson.draw(rate * POLICY.window_s * old_rate)
        old_requests = old_errors + poisson.draw(rate * POLICY.window_s * (1.0 - old_rate))
        if _worse(errors, requests, old_errors, old_requests):
            return Result(True, (step + 1) * POLICY.window_s)
    return Result(False, STEPS * POLICY.window_s)


def _worse(errors: int, requests: int, old_errors: int, old_requests: int) -> bool:
    if requests == 0 or old_requests == 0:
        return False
    pooled = (errors + old_errors) / (requests + old_requests)
    if pooled in (0.0, 1.0):
        return False
    spread = math.sqrt(pooled * (1 - pooled) * (1 / requests + 1 / old_requests))
    return (errors / requests - old_errors / old_requests) / spread > KAYENTA_Z


# --- cells ---------------------------------------------------------------------------------------


@dataclass
class Scores:
    rolled_back: int = 0
    times: list[float] = field(default_factory=list)

    def add(self, result: Result) -> None:
        if result.rolled_back:
            self.rolled_back += 1
            self.times.append(result.at_s)

    def rate(self, should_fail: bool) -> float:
        """The error rate of the judge in this cell, in percent: false rollbacks or missed failures."""
        share = self.rolled_back / CUTOVERS
        return 100.0 * ((1.0 - share) if should_fail else share)

    def median(self) -> float | None:
        return statistics.median(self.times) if self.times else None

    def p99(self) -> float | None:
        if not self.times:
            return None
        ordered = sorted(self.times)
        return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


def new_trace(poisson: Poisson, rate: int, condition: Condition, rng: random.Random, tick_s: float) -> Trace:
    if condition == BURST:
        start = rng.randrange(0, round((BURST_WITHIN_S - BURST_S) / tick_s))
        return Trace(poisson, rate, BURST_BASE, tick_s, (start, start + round(BURST_S / tick_s), BURST_RATE))
    assert isinstance(condition, float)
    return Trace(poisson, rate, condition, tick_s)


def should_fail(condition: Condition) -> bool:
    return condition != BURST and isinstance(condition, float) and condition > 0.01


def old_slot_rate(condition: Condition) -> float:
    if condition == BURST:
        return BURST_BASE
    assert isinstance(condition, float)
    return OLD_SLOT_WHEN_FAILING if should_fail(condition) else condition


def cell(rate: int, condition: Condition, rng: random.Random) -> dict[str, Scores]:
    poisson = Poisson(rng)
    scores = {name: Scores() for name in ("1s", "15s", "flagger", "kayenta")}
    for _ in range(CUTOVERS):
        trace = new_trace(poisson, rate, condition, rng, 1.0)
        scores["1s"].add(ours(trace, 1))
        scores["15s"].add(ours(trace, 15, rng.randrange(15)))
        scores["flagger"].add(flagger(trace))
        scores["kayenta"].add(kayenta(trace, poisson, old_slot_rate(condition), rate))
    if condition == 0.5:
        scores["50ms"] = Scores()
        for _ in range(CUTOVERS):
            fine = new_trace(poisson, rate, condition, rng, 0.05)
            scores["50ms"].add(ours(fine, 1))
    return scores


def _label(condition: Condition) -> str:
    if condition == BURST:
        return f"{100 * BURST_BASE:g}% + {BURST_S}s of {100 * BURST_RATE:g}%"
    assert isinstance(condition, float)
    return f"{100 * condition:g}%"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}" if value < 10 else f"{value:.0f}"


def summary(figures: dict[str, float]) -> dict[str, float]:
    """The figures ``bench.run`` reports (the per-cell ones stay in this benchmark's own output)."""
    return {k: v for k, v in figures.items() if not k.startswith(("1s_", "15s_", "50ms_", "flagger_", "kayenta_"))}


def run(cutovers: int = CUTOVERS) -> tuple[dict[str, float], list[dict[str, str]], list[str]]:
    """Every cell; returns (figures, table rows, missed targets)."""
    global CUTOVERS
    CUTOVERS = cutovers
    rng = random.Random(SEED)
    rows: list[dict[str, str]] = []
    figures: dict[str, float] = {}
    misses: list[str] = []
    worst: dict[tuple[int, str, str], float] = {}
    for rate in RATES:
        for condition in (*PASSING, BURST, *FAILING):
            failing = should_fail(condition)
            scores = cell(rate, condition, rng)
            kind = "missed" if failing else "false rollback"
            row = {"req/s": str(rate), "new slot errors": _label(condition), "judged by": kind}
            for name, s in scores.items():
                row[f"{name} %"] = f"{s.rate(failing):.2f}"
                row[f"{name} median/p99 s"] = f"{_seconds(s.median())}/{_seconds(s.p99())}"
                figures[f"{name}_{rate}rps_{_label(condition)}_{'missed' if failing else 'false'}_pct"] = s.rate(
                    failing
                )
                for judge in ("1s", "15s", "flagger"):
                    if name == judge:
                        key = (rate, judge, kind)
                        worst[key] = max(worst.get(key, 0.0), s.rate(failing))
            if "50ms" not in scores:
                row["50ms %"] = row["50ms median/p99 s"] = ""
            rows.append(row)
            for batching in ("1s", "15s"):
                s = scores[batching]
                if condition == 0.005 and s.rate(False) >= 1.0:
                    misses.append(f"{batching} {rate} req/s at 0.5 %: {s.rate(False):.2f} % false rollbacks (>= 1 %)")
                if condition == 0.05 and rate >= 20 and s.rolled_back < CUTOVERS:
                    misses.append(f"{batching} {rate} req/s at 5 %: {s.rate(True):.2f} % missed (want 0)")
            if condition == 0.5 and rate == 20:
                median = scores["50ms"].median()
                figures["median_rollback_50pct_20rps_50ms_s"] = median or math.inf
                figures["median_rollback_50pct_20rps_1s_s"] = scores["1s"].median() or math.inf
                figures["median_rollback_50pct_20rps_flagger_s"] = scores["flagger"].median() or math.inf
                if median is None or median >= 1.0:
                    misses.append(f"50 % errors at 20 req/s: median decision {_seconds(median)} s (want < 1 s)")
    worse_than_flagger = 0
    for rate in RATES:
        for batching in ("1s", "15s"):
            ours_false, ours_missed = worst[(rate, batching, "false rollback")], worst[(rate, batching, "missed")]
            f_false, f_missed = worst[(rate, "flagger", "false rollback")], worst[(rate, "flagger", "missed")]
            if ours_false > f_false and ours_missed > f_missed:
                worse_than_flagger += 1
                misses.append(
                    f"{batching} {rate} req/s worse than Flagger-style on both: false rollbacks {ours_false:.2f} % "
                    f"vs {f_false:.2f} %, missed {ours_missed:.2f} % vs {f_missed:.2f} %"
                )
    figures["worst_false_rollback_at_0.5pct"] = max(
        figures[f"{b}_{r}rps_0.5%_false_pct"] for b in ("1s", "15s") for r in RATES
    )
    figures["worst_missed_at_5pct_20rps_up"] = max(
        figures[f"{b}_{r}rps_5%_missed_pct"] for b in ("1s", "15s") for r in RATES if r >= 20
    )
    figures["columns_worse_than_flagger_on_both"] = float(worse_than_flagger)
    figures["targets_missed"] = float(len(misses))
    return figures, rows, misses


def main() -> None:
    from tabulate import tabulate

    started = time.monotonic()
    cutovers = int(sys.argv[1]) if len(sys.argv) > 1 else CUTOVERS
    figures, rows, misses = run(cutovers)
    print(tabulate([list(r.values()) for r in rows], headers=list(rows[0]), tablefmt="github"))
    print(f"\n{cutovers} cutovers per cell; benchmark wall time {time.monotonic() - started:.0f} s")
    for miss in misses:
        print(f"TARGET MISSED: {miss}")
    print(json.dumps(summary(figures), indent=2))
    if misses:
        sys.exit(1)


if __name__ == "__main__":
    main()
