"""What every command needs: where the project is and which state store to use."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from fleet.config import EnvironmentConfig, find_project, load_environment
from fleet.errors import ConfigError
from fleet.ports import StateStore
from fleet.state import DEFAULT_LOCATION, open_store


@dataclass
class Context:
    project_option: str | None
    state_option: str | None
    _stores: dict[str, StateStore] = field(default_factory=dict)

    def project(self) -> Path:
        return Path(self.project_option) if self.project_option else find_project()

    def config(self, env: str) -> EnvironmentConfig:
        return load_environment(self.project(), env)

    def store_location(self, config: EnvironmentConfig | None = None) -> str:
        if self.state_option:
            return self.state_option
        where = config.state if config is not None and config.state else DEFAULT_LOCATION
        if where.startswith("s3://") or Path(where).is_absolute():
            return where
        return str(self.project() / where)

    def store(self, config: EnvironmentConfig | None = None, *, rehearsal: bool | None = False) -> StateStore:
        """The store to act on; production commands (the default) refuse a rehearsal's state, None reads both."""
        location = self.store_location(config)
        key = f"{rehearsal}:{location}"
        if key not in self._stores:
            self._stores[key] = open_store(location, rehearsal=rehearsal)
        return self._stores[key]

    def store_for(self, env: str) -> StateStore:
        """The store ENV's configuration names (``fleet:state``), or the default one, to read (either kind)."""
        if self.state_option:
            return self.store(rehearsal=None)
        try:
            return self.store(self.config(env), rehearsal=None)
        except ConfigError:
            return self.store(rehearsal=None)

