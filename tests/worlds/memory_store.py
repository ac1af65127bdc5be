"""A state store in memory: the StateStore protocol without a disk, for fast property-based tests.

It keeps what the durable stores keep (the state as encoded JSON, so that
every commit goes through the codec, the history, a lock with a lease) and
nothing else. Time for leases comes from a clock the test controls.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from fleet.domain.machine import EnvironmentState
from fleet.errors import LockedError
from fleet.ports import LockInfo, Record, Request
from fleet.state.codec import dump_state, load_state


@dataclass
class MemoryLease:
    store: MemoryStateStore
    env: str
    info: LockInfo
    lease_s: float

    def renew(self) -> None:
        with self.store.mutex:
            current = self.store.locks.get(self.env)
            if current is None or current.run_id != self.info.run_id:
                raise LockedError(self.env, "another run (our lease was lost)")
            now = self.store.now()
            self.info = LockInfo(
                self.info.owner,
                self.info.host,
                self.info.pid,
                self.info.acquired_at,
                now + self.lease_s,
                self.info.run_id,
            )
            self.store.locks[self.env] = self.info


@dataclass
class MemoryStateStore:
    now: Callable[[], float]
    location: str = "memory://"
    states: dict[str, str] = field(default_factory=dict)
    records: dict[str, list[Record]] = field(default_factory=dict)
    locks: dict[str, LockInfo] = field(default_factory=dict)
    requests: dict[str, Request] = field(default_factory=dict)
    commits: int = 0
    mutex: threading.Lock = field(default_factory=threading.Lock)

    def load(self, env: str) -> EnvironmentState | None:
        text = self.states.get(env)
        return None if text is None else load_state(text, file=f"{self.location}{env}")

    def commit(self, env: str, state: EnvironmentState, records: Sequence[Record]) -> None:
        self.records.setdefault(env, []).extend(records)
        self.states[env] = dump_state(state)
        self.commits += 1

    def history(self, env: str) -> list[Record]:
        state = self.load(env)
        if state is None:
            return []
        by_seq = {r.seq: r for r in self.records.get(env, []) if r.seq <= state.seq}
        return [by_seq[k] for k in sorted(by_seq)]

    def environments(self) -> list[str]:
        return sorted(self.states)

    def post_request(self, env: str, request: Request) -> None:
        with self.mutex:
            self.requests[env] = request

    def has_request(self, env: str) -> bool:
        return env in self.requests

    def take_request(self, env: str) -> Request | None:
        with self.mutex:
            return self.requests.pop(env, None)

    @contextmanager
    def lock(self, env: str, *, lease_s: float = 300.0, force: bool = False) -> Iterator[MemoryLease]:
        now = self.now()
        with self.mutex:
            holder = self.locks.get(env)
            if holder is not None:
                expired = holder.expires_at < now
                if not (expired and force):
                    raise LockedError(env, holder.describe(), expired=expired)
            info = LockInfo("tester", "memory", 0, now, now + lease_s, uuid.uuid4().hex)
            self.locks[env] = info
        lease = MemoryLease(self, env, info, lease_s)
        try:
            yield lease
        finally:
            with self.mutex:
                current = self.locks.get(env)
                if current is not None and current.run_id == lease.info.run_id:
                    del self.locks[env]
