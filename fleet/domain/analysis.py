"""Deciding whether a slot's traffic is healthy: early on clear failure, at the window's end otherwise.

Flagger-style analysis looks at a fixed window (say 60 s) and only then
compares the success rate against a threshold. That is slow exactly when
speed matters: if half of the new slot's requests fail, every second of
waiting is a second of users getting errors. Waiting for the window is only
needed to *pass* a slot, because passing means "no problem showed up for long
enough"; *failing* can be decided as soon as the evidence is clear.

So every poll feeds the cumulative counts into Wald's sequential probability
ratio test on the error rate:

* H0: the error rate is the threshold, ``p0 = 1 - success_rate / 100``;
* H1: the error rate is clearly worse, ``p1 = worse_factor * p0`` (capped at
  halfway between ``p0`` and 1);
* the statistic is the log-likelihood ratio ``sum(log(p1/p0))`` over errors plus
  ``sum(log((1-p1)/(1-p0)))`` over successes; it crossing
  ``A = log((1 - beta) / alpha)`` fails the slot at once.

Two departures from the textbook test, both deliberate. Crossing the lower
boundary ``B = log(beta / (1 - alpha))`` does not pass the slot early: the
statistic is held at B instead (a reflecting barrier, as in CUSUM), so a long
healthy stretch cannot be banked against a slot that turns bad late in the
window, and a PASS still needs the whole window. And the test only ever
decides FAIL early; PASS, INCONCLUSIVE and failures on latency or a slightly
high error rate come from the end-of-window judgement.

With the defaults (``worse_factor`` 10, ``alpha`` 0.001, ``beta`` 0.01) and a
99 % threshold, a slot failing half its requests is failed after about 7 of
its requests (0.35 s at the 20 req/s a 10 % step of 200 req/s gives it),
while a slot at 1.5 % errors is failed early in about 1 % of 1,200-request
windows (it fails at the window's end anyway) and a slot at or below the
threshold practically never. This module is pure: adapters poll their
sources and feed it numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from fleet.domain.model import AnalysisPolicy
from fleet.domain.reports import Evidence, Outcome, Verdict

MIN_ERROR_RATE = 1e-4
"""H0's error rate never goes below this, so that a 100 % success threshold still gives a finite test."""


@dataclass(frozen=True)
class SprtSettings:
    """How eager the early FAIL is: H1's error rate relative to the threshold, and the error chances."""

    worse_factor: float = 10.0
    alpha: float = 0.001
    """Chance of failing early a slot whose error rate sits exactly at the threshold."""
    beta: float = 0.01
    """Chance of not failing early a slot whose error rate is H1's."""

    def __post_init__(self) -> None:
        if self.worse_factor <= 1.0:
            raise ValueError("worse_factor must be above 1")
        if not (0 < self.alpha < 0.5 and 0 < self.beta < 0.5):
            raise ValueError("alpha and beta must be between 0 and 0.5")


@dataclass(frozen=True)
class Sprt:
    """The per-request increments and the boundaries of the test for one threshold."""

    p0: float
    p1: float
    on_error: float
    on_success: float
    upper: float
    lower: float

    @classmethod
    def for_threshold(cls, success_rate: float, settings: SprtSettings = SprtSettings()) -> Sprt:
        if not 0.0 < success_rate <= 100.0:
            raise ValueError(f"success rate {success_rate} is outside (0, 100]")
        p0 = max(1.0 - success_rate / 100.0, MIN_ERROR_RATE)
        p1 = min(settings.worse_factor * p0, (1.0 + p0) / 2.0)
        return cls(
            p0=p0,
            p1=p1,
            on_error=math.log(p1 / p0),
            on_success=math.log((1.0 - p1) / (1.0 - p0)),
            upper=math.log((1.0 - settings.beta) / settings.alpha),
            lower=math.log(settings.beta / (1.0 - settings.alpha)),
        )

    def step(self, statistic: float, successes: int, errors: int) -> float:
        """The statistic after a batch of requests, held at the lower boundary.

        Errors are counted before successes within a batch, which is the
        order most favourable to an early FAIL; batches are one poll long,
        so this only matters at the scale of a poll interval.
        """
        if successes < 0 or errors < 0:
            raise ValueError("counts must not decrease")
        statistic = max(self.lower, statistic + errors * self.on_error)
        if statistic >= self.upper:
            return statistic
        return max(self.lower, statistic + successes * self.on_success)


def quantile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank ``q`` quantile (0 < q <= 1) of ``values``, or None when empty."""
    if not values:
        return None
    if not 0.0 < q <= 1.0:
        raise ValueError("q must be in (0, 1]")
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return float(ordered[rank - 1])


class SequentialJudge:
    """Judges one analysis window of one slot from cumulative counts since the window began."""

    def __init__(
        self,
        policy: AnalysisPolicy,
        *,
        source: str = "",
        settings: SprtSettings = SprtSettings(),
        early: bool = True,
    ) -> None:
        self.policy = policy
        self.source = source
        self.early = early
        self.sprt = Sprt.for_threshold(policy.success_rate, settings)
        self.statistic = 0.0
        self._requests = 0
        self._errors = 0
        self._failed: Verdict | None = None
        self._last: tuple[int, int, float, float | None, float | None] = (0, 0, 0.0, None, None)

    @property
    def failed(self) -> Verdict | None:
        """The early FAIL once decided; it stands for the rest of the window."""
        return self._failed

    def observe(
        self,
        requests: int,
        errors: int,
        *,
        elapsed_s: float,
        p50_ms: float | None = None,
        p99_ms: float | None = None,
    ) -> Verdict | None:
        """Feed cumulative counts; a FAIL verdict when the evidence is already clear, else None."""
        if self._failed is not None:
            return self._failed
        if errors > requests:
            raise ValueError(f"{errors} errors out of {requests} requests")
        new_requests = requests - self._requests
        new_errors = errors - self._errors
        if new_requests < 0 or new_errors < 0:
            raise ValueError(
                f"cumulative counts went down ({self._requests}/{self._errors} -> {requests}/{errors})"
            )
        self.statistic = self.sprt.step(self.statistic, new_requests - new_errors, new_errors)
        self._requests, self._errors = requests, errors
        self._last = (requests, errors, elapsed_s, p50_ms, p99_ms)
        if not self.early:
            return None
        if self.statistic >= self.sprt.upper:
            self._failed = self._verdict(
                Outcome.FAIL, early=True,
                reason=(
                    f"error rate {_percent(errors, requests)} is clearly above "
                    f"{100 - self.policy.success_rate:g}% (sequential test {self.statistic:.2f} "
                    f">= {self.sprt.upper:.2f} after {requests} requests)"
                ),
            )
            return self._failed
        slow = p99_ms is not None and p99_ms > self.policy.p99_latency_ms
        if slow and requests >= self.policy.min_requests:
            self._failed = self._verdict(
                Outcome.FAIL, early=True,
                reason=f"p99 latency {p99_ms or 0:.0f} ms is above {self.policy.p99_latency_ms:g} ms",
            )
            return self._failed
        return None

    def conclude(
        self,
        requests: int,
        errors: int,
        *,
        elapsed_s: float,
        p50_ms: float | None = None,
        p99_ms: float | None = None,
    ) -> Verdict:
        """The verdict at the end of the window (an early FAIL stands)."""
        early = self.observe(requests, errors, elapsed_s=elapsed_s, p50_ms=p50_ms, p99_ms=p99_ms)
        if early is not None:
            return early
        policy = self.policy
        if requests < policy.min_requests:
            return self._verdict(
                Outcome.INCONCLUSIVE,
                reason=f"only {requests} requests in {elapsed_s:.1f}s (need {policy.min_requests})",
            )
        rate = _success_rate(requests, errors)
        if rate is not None and rate < policy.success_rate:
            return self._verdict(
                Outcome.FAIL,
                reason=f"success rate {rate:.2f}% is below {policy.success_rate:g}%",
            )
        if p99_ms is not None and p99_ms > policy.p99_latency_ms:
            return self._verdict(
                Outcome.FAIL,
                reason=f"p99 latency {p99_ms:.0f} ms is above {policy.p99_latency_ms:g} ms",
            )
        latency = "no latency figure" if p99_ms is None else f"p99 {p99_ms:.0f} ms"
        rate_text = _percent(requests - errors, requests)
        return self._verdict(
            Outcome.PASS,
            reason=f"success rate {rate_text} and {latency} over {elapsed_s:.1f}s",
        )

    def cut_short(self, *, elapsed_s: float) -> Verdict:
        """The window was given up before its end (an operator's request is waiting): no verdict on the slot."""
        if self._failed is not None:
            return self._failed
        return self._verdict(Outcome.INCONCLUSIVE, reason=f"window given up after {elapsed_s:.1f}s")

    def _verdict(self, outcome: Outcome, *, reason: str, early: bool = False) -> Verdict:
        requests, errors, elapsed_s, p50_ms, p99_ms = self._last
        evidence = Evidence(
            requests=requests,
            errors=errors,
            duration_s=elapsed_s,
            success_rate=_success_rate(requests, errors),
            p50_ms=p50_ms,
            p99_ms=p99_ms,
            statistic=self.statistic,
            decided_early=early,
            source=self.source,
        )
        return Verdict(outcome, evidence, reason)


def _success_rate(requests: int, errors: int) -> float | None:
    return None if requests == 0 else 100.0 * (requests - errors) / requests


def _percent(part: int, whole: int) -> str:
    return "n/a" if whole == 0 else f"{100.0 * part / whole:.2f}%"
