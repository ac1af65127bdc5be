"""The real Pulumi engine, built from Go modules, with a throwaway file backend per test.

Skips, naming the build command, when the engine is not built (see
fleet.adapters.pulumi_engine). Nothing is downloaded: plugins come from the
build's bin/ directories on PATH and the backend is a directory under tmp_path.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from fleet.adapters.pulumi_engine import COMPONENTS, EngineNotBuilt, engine_bin_dirs, engine_environment

ROOT = Path(__file__).resolve().parents[2]
PASSPHRASE = "fleet-tests-only"

Pulumi = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def engine_components() -> tuple[str, ...]:
    """What a test module needs of the engine; a module overrides it to need less."""
    return COMPONENTS


@pytest.fixture
def bin_dirs(engine_components: tuple[str, ...]) -> list[Path]:
    try:
        return engine_bin_dirs(components=engine_components)
    except EngineNotBuilt as err:
        pytest.skip(str(err))


@pytest.fixture
def pulumi_env(bin_dirs: list[Path], tmp_path: Path) -> dict[str, str]:
    env = engine_environment(bin_dirs, backend_dir=tmp_path / "backend", base={"PATH": "/usr/bin:/bin"})
    env.update(
        HOME=str(tmp_path / "home"),
        PULUMI_HOME=str(tmp_path / "pulumi-home"),
        PULUMI_CONFIG_PASSPHRASE=PASSPHRASE,
        PULUMI_DIY_BACKEND_NO_LEGACY_WARNING="true",
    )
    return env


def run_pulumi(env: Mapping[str, str], cwd: Path, *args: str, timeout_s: float = 300,
               check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        ["pulumi", *args, "--non-interactive"], cwd=cwd, env=dict(env), capture_output=True, text=True, check=False,
        timeout=timeout_s,
    )
    if check and done.returncode != 0:
        raise AssertionError(f"pulumi {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done


@pytest.fixture
def pulumi(pulumi_env: dict[str, str]) -> Pulumi:
    def call(cwd: Path, *args: str, **options: object) -> subprocess.CompletedProcess[str]:
        return run_pulumi(pulumi_env, cwd, *args, **options)  # type: ignore[arg-type]

    return call
