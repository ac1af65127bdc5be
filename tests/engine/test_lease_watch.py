"""The keep-alive around long calls: a lease taken over, or one that cannot be renewed for a whole lease, is lost."""

from __future__ import annotations

import threading
import time

import pytest

from fleet.errors import LockedError, StateError
from fleet.lease_watch import LeaseWatch
from fleet.ports import LockInfo


class _Lease:
    def __init__(self, fail: Exception | None = None) -> None:
        self.info = LockInfo("me", "here", 1, 0.0, 0.0)
        self.env = "prod"
        self.fail = fail
        self.renewals = 0

    def renew(self) -> None:
        self.renewals += 1
        if self.fail is not None:
            raise self.fail


def _watch(lease: _Lease, lease_s: float) -> tuple[LeaseWatch, threading.Event, list[Exception]]:
    cancelled = threading.Event()
    reasons: list[Exception] = []

    def cancel(why: Exception) -> None:
        reasons.append(why)
        cancelled.set()

    return LeaseWatch(lease, lease_s=lease_s, on_lost=cancel, interval_s=0.02), cancelled, reasons


def test_a_held_lease_is_renewed_and_nothing_is_cancelled() -> None:
    lease = _Lease()
    watch, cancelled, _ = _watch(lease, 0.2)
    with watch:
        time.sleep(0.3)
    assert lease.renewals >= 3 and not cancelled.is_set()
    watch.raise_if_lost()


def test_a_lease_another_run_took_cancels_at_the_next_renewal() -> None:
    lease = _Lease(LockedError("prod", "ci@runner (pid 7) (our lease was lost)"))
    watch, cancelled, reasons = _watch(lease, 10.0)
    with watch:
        assert cancelled.wait(2)
    with pytest.raises(LockedError, match="ci@runner"):
        watch.raise_if_lost()
    assert reasons == [watch.lost]


def test_renewals_that_keep_failing_for_a_whole_lease_count_as_lost() -> None:
    lease = _Lease(StateError("the bucket does not answer"))
    watch, cancelled, _ = _watch(lease, 0.3)
    started = time.monotonic()
    with watch:
        assert cancelled.wait(3)
    assert time.monotonic() - started >= 0.3, "a failed renewal alone is retried while the lease lasts"
    with pytest.raises(LockedError, match=r"could not be renewed for 0\.3s"):
        watch.raise_if_lost()
