"""State stores: where each environment's state, history and lock live.

``open_store`` picks the backend from a location: a directory path (the
default, ``.fleet/state``) or ``s3://bucket/prefix`` for pipelines that share
state across runners. The S3 backend is imported only when asked for, so
that the CLI never loads boto3 for a local store.

A store is opened for production (``rehearsal=False``: a rehearsal's state
is refused), for a rehearsal (``True``: a real environment's state is
refused) or to read either (``None``); every state and history record says
which kind it is.
"""

from __future__ import annotations

import os

from fleet.ports import Layout, StateStore

DEFAULT_LOCATION = ".fleet/state"


def default_location() -> str:
    return os.environ.get("FLEET_STATE") or DEFAULT_LOCATION


def open_store(location: str | None = None, *, rehearsal: bool | None = None) -> StateStore:
    """The store at ``location``; ``rehearsal`` True or False refuses the other kind's states, None reads both."""
    where = location or default_location()
    if where.startswith("s3://"):
        from fleet.state.s3 import S3StateStore

        return S3StateStore.from_url(where, rehearsal=rehearsal)
    from fleet.state.local import LocalStateStore

    return LocalStateStore(where, rehearsal=rehearsal)


def load_layout(env: str, location: str | None = None) -> Layout | None:
    """The slots fleet's store records for ``env``, for a hand-run ``pulumi up``; None if unknown."""
    from fleet.domain.machine import layout_slots
    from fleet.domain.singletons import born_held

    state = open_store(location).load(env)
    if state is None:
        return None
    return Layout(env=env, slots=layout_slots(state), held=born_held(state))
