"""A rehearsal's own files beside its state, and the lock it holds while it runs.

Kept apart from :mod:`fleet.rehearsal.common` so that the rehearsal host's
process, which imports that module, does not load the fakes at start-up.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from fleet.config import EnvironmentConfig
from fleet.domain.machine import EnvironmentState
from fleet.domain.model import SlotName, Version
from fleet.errors import StateError, UsageError
from fleet.ports import Lease, Record, Request, StateStore
from fleet.rehearsal.sim.world import World


class RehearsalFiles:
    """The rehearsal's marker, world and Flux record: in the state directory, or beside the state in S3.

    A local store keeps them as files in its directory (``rehearsal.json``,
    ``world.json``, ...); an S3 store as objects under ``<prefix>/.rehearsal/``,
    so that ``fleet resume`` on any machine finds the rehearsal's world and no
    local folder named after the bucket is ever created. A file that cannot be
    read is refused naming it (exit 2), never rewritten.
    """

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self.folder: Path | None = Path(store.location) if not store.location.startswith("s3://") else None

    def where(self, name: str) -> str:
        if self.folder is not None:
            return str(self.folder / name)
        return str(self.store.aside_url(name))  # type: ignore[attr-defined]

    def read(self, name: str) -> str | None:
        if self.folder is None:
            text: str | None = self.store.read_aside(name)  # type: ignore[attr-defined]
            return text
        try:
            return (self.folder / name).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as err:
            raise StateError(f"cannot read it ({err})", file=self.where(name)) from err

    def write(self, name: str, text: str) -> None:
        if self.folder is None:
            self.store.write_aside(name, text)  # type: ignore[attr-defined]
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp = self.folder / f".{name}.tmp"
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(self.folder / name)
        except OSError as err:
            raise StateError(f"cannot write it ({err.strerror or err})", file=self.where(name)) from err

    def load_json(self, name: str) -> dict[str, Any] | None:
        text = self.read(name)
        if text is None:
            return None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise StateError(f"not valid JSON ({err.msg} at line {err.lineno})", file=self.where(name)) from err
        if not isinstance(data, dict):
            raise StateError(f"expected a JSON object, found {type(data).__name__}", file=self.where(name))
        return data

    def save_json(self, name: str, data: Mapping[str, Any]) -> None:
        self.write(name, json.dumps(data, indent=2, sort_keys=True) + "\n")

    def work_dir(self) -> Path:
        """A local directory for logs: the state directory, or (S3) one reclaimed by the next run."""
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
            return self.folder
        from fleet.rehearsal.procs import owned_temp_dir

        return owned_temp_dir("fleet-rehearsal-")


class StoredWorld(World):
    """The fakes' world, saved through :class:`RehearsalFiles` after every change."""

    files: RehearsalFiles | None = None

    def save(self) -> None:
        if self.files is None:
            return
        data = {k: v for k, v in self.__dict__.items() if k not in ("path", "files")}
        self.files.save_json(WORLD, data)


WORLD = "world.json"
MARKER = "rehearsal.json"


def load_world(files: RehearsalFiles) -> StoredWorld:
    data = files.load_json(WORLD)
    try:
        world = StoredWorld(**(data or {}))
    except TypeError as err:
        raise StateError(f"not a rehearsal's world ({err})", file=files.where(WORLD)) from err
    for key, kind in (("clusters", dict), ("bootstrapped", list), ("weights", dict), ("created", dict),
                      ("destroyed", dict), ("weight_changes", list)):
        if not isinstance(getattr(world, key), kind):
            raise StateError(f"expected {kind.__name__}", file=files.where(WORLD), key=key)
    world.files = files
    if data is None:
        world.save()
    return world


def load_marker(files: RehearsalFiles, env: str) -> dict[str, Any]:
    marker = files.load_json(MARKER)
    if marker is None:
        raise StateError("missing: this is not a rehearsal's state", file=files.where(MARKER))
    if marker.get("env") != env:
        raise UsageError(f"{files.where(MARKER)}: a rehearsal of {marker.get('env')!r}, not {env!r}")
    if not isinstance(marker.get("faults", []), list):
        raise StateError("expected a list", file=files.where(MARKER), key="faults")
    return marker


def check_files(files: RehearsalFiles, env: str) -> dict[str, Any]:
    """Read every file of the rehearsal (before its lock is taken): a damaged one is refused, nothing touched."""
    marker = load_marker(files, env)
    check_readable(files)
    return marker


def check_readable(files: RehearsalFiles) -> None:
    """Refuse (exit 2, naming it) a rehearsal file that exists but cannot be read: it is never overwritten."""
    for name in (MARKER, WORLD, "flux.json"):
        files.load_json(name)


class HeldStore:
    """A store whose lock this run already holds: the engine's ``lock`` hands it the held lease.

    A rehearsal takes the lock before it starts anything (so that a contender
    leaves at once, touching nothing); the engine, which always locks, then
    gets the same lease instead of contending with its own run.
    """

    def __init__(self, store: StateStore, lease: Lease) -> None:
        self._store = store
        self._lease = lease
        self.location = store.location

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def load(self, env: str) -> Any | None:
        return self._store.load(env)

    def commit(self, env: str, state: Any, records: Sequence[Record]) -> None:
        self._store.commit(env, state, records)

    def history(self, env: str) -> list[Record]:
        return self._store.history(env)

    def environments(self) -> list[str]:
        return self._store.environments()

    @contextmanager
    def lock(self, env: str, *, lease_s: float, force: bool = False) -> Iterator[Lease]:
        yield self._lease

    def post_request(self, env: str, request: Request) -> None:
        self._store.post_request(env, request)

    def has_request(self, env: str) -> bool:
        return self._store.has_request(env)

    def take_request(self, env: str) -> Request | None:
        return self._store.take_request(env)


def refuse_real_state(store: StateStore) -> None:
    """A rehearsal never runs in a store that holds a real environment's state (StateError, exit 2)."""
    for env in store.environments():
        store.load(env)  # a rehearsal-mode store refuses a real environment's state


LEASE_S = 300.0
"""How long a rehearsal's lease lasts between renewals (it renews at every command)."""


@contextmanager
def started(
    location: str, env: str, version: Version, *, contender: bool
) -> Iterator[tuple[StateStore, Lease, EnvironmentState]]:
    """A new rehearsal at ``location``: its lock taken first, then its live state (seeded when new).

    A store holding a real environment's state, an unreadable rehearsal file, a
    lock held by another run or a cutover already in flight all refuse here,
    before any process is started or any file of another run is written.
    ``contender`` (the lock-held fault) takes the lock first as another run would.
    """
    from fleet.state import open_store

    store = open_store(location, rehearsal=True)
    refuse_real_state(store)
    check_readable(RehearsalFiles(store))
    with ExitStack() as stack:
        if contender:
            stack.enter_context(open_store(location, rehearsal=True).lock(env, lease_s=600))
        lease = stack.enter_context(store.lock(env, lease_s=LEASE_S))
        existing = store.load(env)
        if existing is not None and existing.in_flight:
            raise UsageError(
                f"{location} holds a cutover in flight; finish it with fleet resume {env} --state {location}"
            )
        yield store, lease, existing or EnvironmentState.seed(env, version)


def active_and_goal(
    live: EnvironmentState, config: EnvironmentConfig, location: str, target: Version | None
) -> tuple[SlotName, Version, Version]:
    """The live state's active slot, its version, and where the cutover goes (the next minor unless asked)."""
    active = live.active
    if active is None:
        raise UsageError(f"{config.name} has no single active slot in {location}")
    current = live.slot(active).version or config.version
    return active, current, target or Version(current.major, current.minor + 1)
