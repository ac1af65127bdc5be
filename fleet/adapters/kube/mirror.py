"""The gate's local copy of one cluster's Flux objects, and the changes that keep it current.

Watch threads never touch the copy: they put lists and events on a queue,
and the thread that judges the slot applies them a batch at a time, so every
judgement sees one consistent copy without locks. A fatal error travels the
same queue, so the judging thread raises it where the caller can see it.
"""

from __future__ import annotations

import queue
from dataclasses import dataclass
from typing import Any

from fleet.domain.health import KINDS, Snapshot
from fleet.errors import ProviderError


@dataclass(frozen=True)
class Replace:
    """A fresh list of one kind: the copy of that kind is replaced."""

    kind: str
    items: list[dict[str, Any]] | None
    """None: the API does not serve the kind."""


@dataclass(frozen=True)
class Event:
    """One watch event (ADDED, MODIFIED or DELETED) on one object."""

    kind: str
    type: str
    obj: dict[str, Any]


@dataclass(frozen=True)
class Fatal:
    """A watch ended on an error that waiting will not cure."""

    error: ProviderError


Message = Replace | Event | Fatal


class Store:
    """The gate's local copy of one cluster's objects, kept current by lists and watch events."""

    def __init__(self) -> None:
        self._objects: dict[str, dict[tuple[str, str], dict[str, Any]]] = {kind: {} for kind in KINDS}
        self._missing: set[str] = set()

    def replace(self, kind: str, items: list[dict[str, Any]] | None) -> None:
        if items is None:
            self._missing.add(kind)
            self._objects[kind] = {}
            return
        self._missing.discard(kind)
        self._objects[kind] = {_key(obj): obj for obj in items}

    def apply(self, kind: str, type_: str, obj: dict[str, Any]) -> None:
        self._missing.discard(kind)
        if type_ == "DELETED":
            self._objects[kind].pop(_key(obj), None)
        else:
            self._objects[kind][_key(obj)] = obj

    def snapshot(self) -> Snapshot:
        return Snapshot(
            objects={kind: list(objs.values()) for kind, objs in self._objects.items()},
            missing=frozenset(self._missing),
        )


def _key(obj: dict[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


class Changes:
    """The watchers' queue, applied to the gate's local copy a batch at a time."""

    def __init__(self, out: queue.Queue[Message]) -> None:
        self.out = out
        self.seen = 0

    def apply(self, store: Store, *, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for a change, then apply every change queued; False when none came."""
        try:
            batch = [self.out.get(timeout=timeout_s) if timeout_s > 0 else self.out.get_nowait()]
        except queue.Empty:
            return False
        while True:
            try:
                batch.append(self.out.get_nowait())
            except queue.Empty:
                break
        for message in batch:
            if isinstance(message, Fatal):
                raise message.error
            if isinstance(message, Replace):
                store.replace(message.kind, message.items)
            else:
                self.seen += 1
                store.apply(message.kind, message.type, message.obj)
        return True
