"""Deciding whether a slot's traffic is healthy: early on clear failure, at the window's end otherwise.

Flagger-style analysis looks at a fixed window (say 60 s) and only then
compares the success rate against a threshold. That is slow exactly when
speed matters: if half of the new slot's requests fail, every second of
waiting is a second of users getting errors. Waiting for the window is only
needed to *pass* a slot, because passing means "no problem showed up for long
enough"; *failing* can be decided as soon as the evidence is clear.

Every real service answers some errors, so the judge is built around three
error rates for a ``successRate`` threshold ``t = 1 - successRate/100``: a
*good* slot runs at ``t/2`` or less, the *threshold* ``t`` itself, and a
*clearly bad* slot at ``10t`` or more. Between them is a zone where a window's
sample may not be able to tell, and the judge says so (INCONCLUSIVE) rather
than guessing.

**Early FAIL.** Each poll's batch of ``n`` new requests with ``k`` errors adds
its binomial log-likelihood ratio between bad and good::

    k * ln(p1/p0) + (n - k) * ln((1-p1)/(1-p0))      p0 = t/2, p1 = 10t

(``p1`` capped halfway between ``t`` and 1) to a statistic; the slot fails early when the statistic reaches
``A = ln(2/alpha)``. The ratio of likelihoods is a martingale under any
error rate at or below ``p0`` whatever the batches are, so by Ville's
inequality a good slot crosses ``A`` with probability at most ``alpha/2``
however its requests are split into polls (one request per poll, 1 s polls,
15 s Prometheus scrapes or one batch). A batch is scored as a whole: a poll
of 1,000 requests with 3 errors lowers the statistic.

A pure sequential test would let a long healthy stretch bank evidence
against a slot that turns bad late in the window. So at most ``restarts``
times per window (at the first poll at or after each ``window/restarts``
seconds, before that poll's batch is added) the statistic is raised to ``B``
if it is below it; each restart starts a new martingale from ``B``, and
with ``A - B = ln(2 * restarts / alpha)`` the restarts together add at most
``alpha/2``. The bound therefore holds per window, for any batching: a slot
at half the allowed error rate is failed early in at most ``alpha`` (0.1 %)
of windows. A poll that brings no new requests changes nothing (a restart it
would make happens identically at the next poll), so a source polling a
15 s Prometheus scrape every second is judged as if it polled every 15 s.

One poll can be one spike (a 2 s burst of errors, a cache warming up), and
the engine's second check starts right after the first FAIL, so a spike
caught by the first could fail the second too. An early FAIL therefore also
needs ``BAD_POLLS`` (2) polls whose own batch points to a bad slot (a
positive log-likelihood ratio): the first check then spans the spike. This
only removes FAILs, so the bound above stands; it costs one poll interval
per check (50 ms on HAProxy, 15 s on a Prometheus scrape). At the window's
end there is nothing left to wait for, and one poll will do.

``minRequests`` is honoured before any early FAIL: on fewer requests, the
evidence must be conclusive even if every request still missing up to
``minRequests`` succeeded, i.e. the end-of-window test below would fail
``minRequests`` requests holding the errors already seen.

**End of the window.** Fewer than ``minRequests`` requests: INCONCLUSIVE.
Otherwise the error rate is compared with the threshold *with stated
confidence*: FAIL only when ``P(X >= k | n, t) < 1 - confidence`` for the
window's ``k`` errors in ``n`` requests (an exact one-sided binomial test: a
slot exactly at the threshold fails at most 5 % of windows, and one below it
less); INCONCLUSIVE when the observed success rate is below the threshold
but the sample cannot tell (the engine extends the step); PASS otherwise.

**Latency.** A p99 over few requests is the slowest one or two of them, so a
p99 above the limit fails (early, or at the end) only over at least
``max(minRequests, p99_min_requests)`` (200) requests; over fewer it makes the
window INCONCLUSIVE. A p99 at or below the limit over few requests is not
held against the slot: the small-sample p99 errs high, not low.

The guarantees in numbers, measured over simulated cutovers by
``bench/analysis.py``, are in ``docs/traffic.md``. This module is pure:
adapters poll their sources and feed it numbers.
"""

from __future__ import annotations

import math

from fleet.domain.model import AnalysisPolicy
from fleet.domain.reports import Evidence, Outcome, Verdict
from fleet.domain.sprt import (
    BAD_POLLS,
    DEFAULT_SPRT,
    MIN_ERROR_RATE,
    Sprt,
    SprtSettings,
    binomial_upper_tail,
    errors_to_fail,
    percent,
    quantile,
    success_rate,
)


class SequentialJudge:
    """Judges one analysis window of one slot from cumulative counts since the window began."""

    def __init__(
        self,
        policy: AnalysisPolicy,
        *,
        source: str = "",
        settings: SprtSettings = DEFAULT_SPRT,
        early: bool = True,
    ) -> None:
        self.policy = policy
        self.source = source
        self.early = early
        self.settings = settings
        self.sprt = Sprt.for_threshold(policy.success_rate, settings)
        self.threshold = max(1.0 - policy.success_rate / 100.0, MIN_ERROR_RATE)
        self.statistic = 0.0
        restarts = settings.restarts and policy.window_s > 0
        self._restart_every = policy.window_s / settings.restarts if restarts else math.inf
        self._next_restart = self._restart_every
        self._requests = 0
        self._errors = 0
        self._bad_polls = 0
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
        if errors > requests or errors < 0:
            raise ValueError(f"{errors} errors out of {requests} requests")
        new_requests = requests - self._requests
        new_errors = errors - self._errors
        if new_requests < 0 or new_errors < 0:
            raise ValueError(
                f"cumulative counts went down ({self._requests}/{self._errors} -> {requests}/{errors})"
            )
        statistic = self.statistic
        if elapsed_s >= self._next_restart:
            statistic = max(self.sprt.lower, statistic)
            self._next_restart = (math.floor(elapsed_s / self._restart_every) + 1) * self._restart_every
        batch = new_errors * self.sprt.on_error + (new_requests - new_errors) * self.sprt.on_success
        statistic += batch
        if batch > 0:
            self._bad_polls += 1
        self.statistic = statistic
        self._requests, self._errors = requests, errors
        self._last = (requests, errors, elapsed_s, p50_ms, p99_ms)
        if not self.early:
            return None
        if self._bad_polls >= BAD_POLLS and self._sequential_fail(requests, errors):
            self._failed = self._clearly_bad(requests, errors, early=True)
            return self._failed
        slow = p99_ms is not None and p99_ms > self.policy.p99_latency_ms
        if slow and requests >= self._latency_min_requests:
            self._failed = self._verdict(
                Outcome.FAIL, early=True,
                reason=(
                    f"p99 latency {p99_ms or 0:.0f} ms is above {self.policy.p99_latency_ms:g} ms "
                    f"over {requests} requests"
                ),
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
        if self.early and self._sequential_fail(requests, errors):  # nothing more to wait for: one poll will do
            return self._clearly_bad(requests, errors, early=False)
        policy = self.policy
        if requests < policy.min_requests:
            return self._verdict(
                Outcome.INCONCLUSIVE,
                reason=f"only {requests} requests in {elapsed_s:.1f}s (need {policy.min_requests})",
            )
        rate = success_rate(requests, errors)
        assert rate is not None
        if self.fails_at_end(requests, errors):
            return self._verdict(
                Outcome.FAIL,
                reason=(
                    f"success rate {rate:.2f}% is below {policy.success_rate:g}% "
                    f"with {100 * self.settings.confidence:g}% confidence ({errors} errors in {requests} requests)"
                ),
            )
        slow = p99_ms is not None and p99_ms > policy.p99_latency_ms
        if slow and requests >= self._latency_min_requests:
            return self._verdict(
                Outcome.FAIL,
                reason=(
                    f"p99 latency {p99_ms or 0:.0f} ms is above {policy.p99_latency_ms:g} ms over {requests} requests"
                ),
            )
        if rate < policy.success_rate:
            return self._verdict(
                Outcome.INCONCLUSIVE,
                reason=(
                    f"success rate {rate:.2f}% is below {policy.success_rate:g}% but {errors} errors in "
                    f"{requests} requests cannot tell it from the threshold (a longer window can)"
                ),
            )
        if slow:
            return self._verdict(
                Outcome.INCONCLUSIVE,
                reason=(
                    f"p99 latency {p99_ms or 0:.0f} ms is above {policy.p99_latency_ms:g} ms over only "
                    f"{requests} requests (a p99 needs {self._latency_min_requests})"
                ),
            )
        latency = "no latency figure" if p99_ms is None else f"p99 {p99_ms:.0f} ms"
        rate_text = percent(requests - errors, requests)
        return self._verdict(
            Outcome.PASS,
            reason=f"success rate {rate_text} and {latency} over {elapsed_s:.1f}s",
        )

    def fails_at_end(self, requests: int, errors: int) -> bool:
        """Whether ``errors`` in ``requests`` put the error rate above the threshold with the stated confidence."""
        if errors <= requests * self.threshold:
            return False
        return binomial_upper_tail(requests, errors, self.threshold) < 1.0 - self.settings.confidence

    def cut_short(self, *, elapsed_s: float) -> Verdict:
        """The window was given up before its end (an operator's request is waiting): no verdict on the slot."""
        if self._failed is not None:
            return self._failed
        return self._verdict(Outcome.INCONCLUSIVE, reason=f"window given up after {elapsed_s:.1f}s")

    @property
    def _latency_min_requests(self) -> int:
        return max(self.policy.min_requests, self.policy.p99_min_requests)

    def _sequential_fail(self, requests: int, errors: int) -> bool:
        return self.statistic >= self.sprt.upper and self._clear_despite_missing(requests, errors)

    def _clearly_bad(self, requests: int, errors: int, *, early: bool) -> Verdict:
        return self._verdict(
            Outcome.FAIL, early=early,
            reason=(
                f"error rate {percent(errors, requests)} is clearly above "
                f"{100 - self.policy.success_rate:g}% (sequential test {self.statistic:.2f} "
                f">= {self.sprt.upper:.2f} after {requests} requests)"
            ),
        )

    def _clear_despite_missing(self, requests: int, errors: int) -> bool:
        """Below minRequests: would the window still fail with every missing request a success?"""
        wanted = self.policy.min_requests
        if requests >= wanted:
            return True
        return errors >= errors_to_fail(wanted, self.threshold, self.settings.confidence)

    def _verdict(self, outcome: Outcome, *, reason: str, early: bool = False) -> Verdict:
        requests, errors, elapsed_s, p50_ms, p99_ms = self._last
        evidence = Evidence(
            requests=requests,
            errors=errors,
            duration_s=elapsed_s,
            success_rate=success_rate(requests, errors),
            p50_ms=p50_ms,
            p99_ms=p99_ms,
            statistic=self.statistic,
            decided_early=early,
            source=self.source,
        )
        return Verdict(outcome, evidence, reason)


__all__ = ["BAD_POLLS", "MIN_ERROR_RATE", "SequentialJudge", "Sprt", "SprtSettings", "binomial_upper_tail", "quantile"]
