"""A keep-alive that cancels the call in flight when the lock is lost.

The engine renews its lease before every command, which stops a run that
lost its lock before its next side effect. A single command can last many
minutes, though (``pulumi up`` of an EKS cluster), and another runner may
take the environment over meanwhile (an expired lease taken with
``--force-unlock``, a store that could not be reached). :class:`LeaseWatch`
renews the lease from a thread while such a call runs; when the store says
another run holds the lock, or no renewal has succeeded for a whole lease,
it calls ``on_lost`` (the provisioner's ``cancel``, which interrupts Pulumi)
and the engine raises the :class:`~fleet.errors.LockedError` that names the
new holder: exit 3, nothing recorded, nothing further done.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from types import TracebackType

from fleet.errors import FleetError, LockedError
from fleet.ports import Lease


class LeaseWatch:
    """Renews ``lease`` every ``lease_s / 6`` seconds while a block runs; ``on_lost`` when it cannot."""

    def __init__(
        self,
        lease: Lease,
        *,
        lease_s: float,
        on_lost: Callable[[Exception], None],
        interval_s: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lease = lease
        self.lease_s = lease_s
        self.interval_s = interval_s if interval_s is not None else max(lease_s / 6, 0.02)
        self.on_lost = on_lost
        self.lost: LockedError | None = None
        self._monotonic = monotonic
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fleet-lease-watch", daemon=True)

    def _run(self) -> None:
        last_ok = self._monotonic()
        while not self._stop.wait(self.interval_s):
            try:
                self.lease.renew()
                last_ok = self._monotonic()
                continue
            except LockedError as err:
                self.lost = err
            except (FleetError, OSError) as err:
                if self._monotonic() - last_ok < self.lease_s:
                    continue  # retried at the next interval; the lease still has time left
                env = str(getattr(self.lease, "env", "") or "the environment")
                self.lost = LockedError(
                    env, f"whoever takes it next: the lease could not be renewed for {self.lease_s:g}s ({err})"
                )
            with contextlib.suppress(Exception):  # a failed cancel must not hide the lost lease
                self.on_lost(self.lost)
            return

    def __enter__(self) -> LeaseWatch:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def raise_if_lost(self) -> None:
        if self.lost is not None:
            raise self.lost

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
