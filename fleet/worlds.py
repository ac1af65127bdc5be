"""How a rehearsal's state is finished and described: a registry that the ``rehearse`` command module fills.

A rehearsal's state (its state and records say so) must be finished on the
rehearsal's own world, never on production adapters, yet production commands
must not import :mod:`fleet.rehearsal` (an import-linter contract says so):
``fleet resume`` and ``fleet history --report`` find out from the store that a
state is a rehearsal's and hand it to what is registered here. The
``rehearse`` command module registers it when the CLI is assembled, and picks
the world (in memory, or real parts) by the rehearsal's marker beside its
state; the worlds themselves are imported only when one is used.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from fleet.errors import UsageError


class Worlds(NamedTuple):
    describe: Callable[[str, str], str]
    """``(location, env)``: the world ENV's rehearsal at ``location`` ran in, in words (for reports)."""
    resume: Callable[[str, str, str, bool, bool], None]
    """``(location, env, output, force_unlock, yes)``: finish the rehearsal on its world and render its end."""
    approve: Callable[[str, str, str, bool, int], None]
    """``(location, env, output, force_unlock, step)``: ``fleet approve`` of a rehearsal (0: the step waiting)."""


_registered: Worlds | None = None


def register(worlds: Worlds) -> None:
    global _registered
    _registered = worlds


def rehearsal_worlds(location: str, env: str) -> Worlds:
    """What finishes ENV's rehearsal at ``location``; a usage error when no rehearsal is installed."""
    if _registered is None:
        raise UsageError(f"{env}'s state in {location} is a rehearsal's, and this fleet has no rehearsal worlds")
    return _registered
