"""The durable state port: an environment's state, its history records, its lock (a lease)
and the operators' requests left for the run that holds it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from fleet.domain.model import Weights


@dataclass(frozen=True)
class LockInfo:
    owner: str
    host: str
    pid: int
    acquired_at: float
    expires_at: float
    run_id: str = ""

    def describe(self) -> str:
        return f"{self.owner}@{self.host} (pid {self.pid})"


class Lease(Protocol):
    """A held lock; ``renew`` extends it, raising LockedError if it was lost."""

    info: LockInfo

    def renew(self) -> None: ...


@dataclass(frozen=True)
class Record:
    """One entry of an environment's history."""

    seq: int
    at: float
    event: str
    phase: str | None
    weights: Weights
    detail: Mapping[str, Any]
    actor: Mapping[str, str]


@dataclass(frozen=True)
class Request:
    """An operator's request to the run that holds an environment's lock: ``rollback`` or ``abort``."""

    kind: str
    reason: str
    by: str
    at: float


class StateStore(Protocol):
    """Durable per-environment state, its history, and a lock per environment."""

    location: str

    def load(self, env: str) -> Any | None:
        """The environment's state (``fleet.domain.machine.EnvironmentState``) or None."""
        ...

    def commit(self, env: str, state: Any, records: Sequence[Record]) -> None:
        """Atomically store ``state`` and append ``records`` to the history."""
        ...

    def history(self, env: str) -> list[Record]: ...

    def environments(self) -> list[str]: ...

    def lock(self, env: str, *, lease_s: float, force: bool = False) -> AbstractContextManager[Lease]:
        """Hold the environment's lock; LockedError (exit 3) when another run has it."""
        ...

    def post_request(self, env: str, request: Request) -> None:
        """Leave a request for the run that holds the lock (it checks before every command)."""
        ...

    def has_request(self, env: str) -> bool: ...

    def take_request(self, env: str) -> Request | None:
        """The pending request, removed from the store; None when there is none."""
        ...
