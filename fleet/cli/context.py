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

    def store(self, config: EnvironmentConfig | None = None) -> StateStore:
        location = self.store_location(config)
        if location not in self._stores:
            self._stores[location] = open_store(location)
        return self._stores[location]

    def store_for(self, env: str) -> StateStore:
        """The store ENV's configuration names (``fleet:state``), or the default one."""
        if self.state_option:
            return self.store()
        try:
            return self.store(self.config(env))
        except ConfigError:
            return self.store()
