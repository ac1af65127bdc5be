"""The statistics behind the sequential judge: the SPRT statistic, exact binomial tails, quantiles.

Why the judge is built this way, and what its guarantees are, is told in
:mod:`fleet.domain.analysis`; this module holds the arithmetic.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

BAD_POLLS = 2
"""An early FAIL rests on at least this many polls whose own batch points to a bad slot (one can be a spike)."""

MIN_ERROR_RATE = 1e-4
"""The good error rate never goes below this, so that a 100 % success threshold still gives a finite test."""


@dataclass(frozen=True)
class SprtSettings:
    """Where the good and clearly-bad error rates sit relative to the threshold, and the error chances."""

    good_factor: float = 0.5
    """A good slot's error rate relative to the threshold (p0)."""
    worse_factor: float = 10.0
    """A clearly bad slot's error rate relative to the threshold (p1)."""
    alpha: float = 0.001
    """The most a slot at the good error rate is failed early, per window, whatever the batching."""
    restarts: int = 10
    """How often per window the statistic may be raised to the lower boundary (catches a late failure)."""
    confidence: float = 0.95
    """An end-of-window FAIL needs the error rate above the threshold with this confidence."""

    def __post_init__(self) -> None:
        if self.worse_factor <= 1.0:
            raise ValueError("worse_factor must be above 1")
        if not 0.0 < self.good_factor < 1.0:
            raise ValueError("good_factor must be between 0 and 1")
        if not 0 < self.alpha < 0.5:
            raise ValueError("alpha must be between 0 and 0.5")
        if self.restarts < 0:
            raise ValueError("restarts must not be negative")
        if not 0.5 < self.confidence < 1.0:
            raise ValueError("confidence must be between 0.5 and 1")


DEFAULT_SPRT = SprtSettings()


@dataclass(frozen=True)
class Sprt:
    """The per-request increments and the boundaries of the early-FAIL test for one threshold."""

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
        threshold = max(1.0 - success_rate / 100.0, MIN_ERROR_RATE)
        p0 = settings.good_factor * threshold
        p1 = min(settings.worse_factor * threshold, (1.0 + threshold) / 2.0)
        upper = math.log(2.0 / settings.alpha)
        lower = upper - math.log(2.0 * max(1, settings.restarts) / settings.alpha)
        return cls(
            p0=p0,
            p1=p1,
            on_error=math.log(p1 / p0),
            on_success=math.log((1.0 - p1) / (1.0 - p0)),
            upper=upper,
            lower=lower,
        )

    def llr(self, requests: int, errors: int) -> float:
        """The binomial log-likelihood ratio (bad over good) of ``errors`` in ``requests``, as one batch."""
        if errors < 0 or requests < errors:
            raise ValueError(f"{errors} errors out of {requests} requests")
        return errors * self.on_error + (requests - errors) * self.on_success

    def step(self, statistic: float, successes: int, errors: int, *, hold: bool = True) -> float:
        """The statistic after a batch scored as a whole; with ``hold``, raised to the lower boundary."""
        if successes < 0 or errors < 0:
            raise ValueError("counts must not decrease")
        moved = statistic + self.llr(successes + errors, errors)
        return max(self.lower, moved) if hold else moved


def binomial_upper_tail(n: int, k: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), exact (summed from the tail's largest term)."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    if k <= n * p:
        return 1.0 - _binomial_lower_tail(n, k - 1, p)
    return _sum_terms(n, k, p, upward=True)


def _binomial_lower_tail(n: int, k: int, p: float) -> float:
    """P(X <= k), for k below the mean (the terms shrink going down)."""
    if k < 0:
        return 0.0
    if k >= n * p:
        return 1.0 - _sum_terms(n, k + 1, p, upward=True)
    return _sum_terms(n, k, p, upward=False)


def _sum_terms(n: int, k: int, p: float, *, upward: bool) -> float:
    log_term = math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
    log_term += k * math.log(p) + (n - k) * math.log1p(-p)
    term = math.exp(log_term)
    total = 0.0
    ratio_up = p / (1.0 - p)
    i = k
    while term > 0.0 and 0 <= i <= n:
        total += term
        if term < total * 1e-15:
            break
        if upward:
            term *= (n - i) / (i + 1) * ratio_up
            i += 1
        else:
            term *= i / (n - i + 1) / ratio_up
            i -= 1
    return min(1.0, total)


def quantile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank ``q`` quantile (0 < q <= 1) of ``values``, or None when empty."""
    if not values:
        return None
    if not 0.0 < q <= 1.0:
        raise ValueError("q must be in (0, 1]")
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return float(ordered[rank - 1])


@functools.lru_cache(maxsize=256)
def errors_to_fail(requests: int, threshold: float, confidence: float) -> int:
    """The fewest errors in ``requests`` that fail a window at the end (``requests + 1``: none do)."""
    low, high = math.floor(requests * threshold) + 1, requests + 1
    while low < high:  # the tail shrinks as k grows: bisect for the first k it is small enough at
        middle = (low + high) // 2
        if binomial_upper_tail(requests, middle, threshold) < 1.0 - confidence:
            high = middle
        else:
            low = middle + 1
    return low


def success_rate(requests: int, errors: int) -> float | None:
    return None if requests == 0 else 100.0 * (requests - errors) / requests


def percent(part: int, whole: int) -> str:
    return "n/a" if whole == 0 else f"{100.0 * part / whole:.2f}%"
