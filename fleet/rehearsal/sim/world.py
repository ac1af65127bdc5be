"""The simulated world outside fleet: which clusters exist, the weights, simulated time.

The world (which clusters exist, how often each was created or destroyed, the
current weights) can be saved after every change, so that a rehearsal killed
half-way is resumed by another process and the tests can check that nothing
was done twice. Time is simulated by :class:`FakeClock`, so a one-hour
cutover runs in milliseconds.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleet.ports import Notice

REVISION = "main@sha1:7f3c2a9e41b0d5c8a6e2f1b3d4c5a6b7c8d9e0f1"
OLD_REVISION = "main@sha1:1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d"


class FakeClock:
    """Simulated time: ``sleep`` advances it at once."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self._now += max(0.0, seconds)


@dataclass
class World:
    """What exists outside fleet, as the fakes see it; optionally saved to a file."""

    clusters: dict[str, str] = field(default_factory=dict)
    """slot -> version of each cluster that exists."""
    bootstrapped: list[str] = field(default_factory=list)
    weights: dict[str, int] = field(default_factory=lambda: {"blue": 100, "green": 0})
    created: dict[str, int] = field(default_factory=dict)
    destroyed: dict[str, int] = field(default_factory=dict)
    weight_changes: list[dict[str, int]] = field(default_factory=list)
    singletons: list[str] = field(default_factory=lambda: ["blue"])
    """The slots that run the workloads that must not run twice (fleet.rehearsal.singletons)."""
    singleton_overlaps: list[str] = field(default_factory=list)
    path: Path | None = None

    def save(self) -> None:
        if self.path is None:
            return
        data = {k: v for k, v in self.__dict__.items() if k != "path"}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
        tmp.replace(self.path)

    def seed_live(self, slot: str, version: str, weights: dict[str, int]) -> bool:
        """A rehearsal's first run: the live slot's cluster exists, bootstrapped, with the recorded weights.

        Returns whether it was seeded now (False: the world already knows the slot).
        """
        if slot in self.clusters:
            return False
        self.clusters[slot] = version
        self.bootstrapped.append(slot)
        self.weights = dict(weights)
        self.save()
        return True

    def record_created(self, slot: str, version: str) -> None:
        self.clusters[slot] = version
        self.created[slot] = self.created.get(slot, 0) + 1
        self.save()

    def record_bootstrapped(self, slot: str) -> None:
        if slot not in self.bootstrapped:
            self.bootstrapped.append(slot)
        self.save()

    def record_flux_started(self, slot: str, *, held: bool) -> None:
        """A slot's Flux applies Git for the first time: it runs the singletons at once unless born held."""
        if held or slot in self.singletons:
            return
        others = [s for s in self.singletons if s != slot]
        if others:
            self.singleton_overlaps.append(f"{slot}'s Flux started them unheld while {', '.join(others)} ran them")
        self.singletons.append(slot)
        self.save()

    def record_destroyed(self, slot: str) -> None:
        self.clusters.pop(slot, None)
        if slot in self.bootstrapped:
            self.bootstrapped.remove(slot)
        if slot in self.singletons:
            self.singletons.remove(slot)
        self.destroyed[slot] = self.destroyed.get(slot, 0) + 1
        self.save()

    @classmethod
    def load(cls, path: Path) -> World:
        if not path.exists():
            world = cls(path=path)
            world.save()
            return world
        data: dict[str, Any] = json.loads(path.read_text())
        return cls(path=path, **data)




@dataclass
class RecordingNotifier:
    notices: list[Notice] = field(default_factory=list)

    def notify(self, notice: Notice) -> None:
        self.notices.append(notice)
