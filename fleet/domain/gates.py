"""Hooks and gates of a weight step, in the spirit of Flagger's webhooks: decided here, carried out by ports.

Before the new slot's weight rises to step N (1 is the first step), a
cutover may have to wait for a person or a pipeline to approve step N
(``fleet approve ENV --step N``; the run exits 4 meanwhile, as it does for
the teardown's confirmation), and then run the pre-shift smoke tests (every
one must answer 2xx, else the cutover rolls back with the test's reason).
Approval comes first: an approval may take hours, and the smoke test and
the health check must describe the slot as it is when the weight moves.
Load-test triggers are fire-and-forget and decide nothing, so they are
notifications (kind ``step``) and not gates.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GatePolicy:
    """What stands before each weight increase (``fleet:hooks``)."""

    smoke: bool = False
    """Pre-shift smoke tests are configured: they run before every increase."""
    approve: tuple[int, ...] = ()
    """Steps (from 1) that wait for ``fleet approve`` before their weight is set."""


def gate_due(policy: GatePolicy, step: int, approved: tuple[int, ...], smoke_checked: bool) -> str | None:
    """What the increase to step ``step`` (from 0) still waits on: ``approve``, ``smoke`` or None."""
    if step + 1 in policy.approve and step + 1 not in approved:
        return "approve"
    if policy.smoke and not smoke_checked:
        return "smoke"
    return None
