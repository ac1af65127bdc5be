"""The real Pulumi engine, built from Go modules, with a throwaway file backend per test.

Skips, naming the build command, when the engine is not built (see
fleet.adapters.pulumi_engine). Nothing is downloaded: plugins come from the
build's bin/ directories on PATH and the backend is a directory under tmp_path.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from fleet.adapters.pulumi_engine import COMPONENTS, EngineNotBuilt, cache_dir, engine_bin_dirs, engine_environment
from fleet.rehearsal.peers import REQUIRE_ENV

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
        if os.environ.get(REQUIRE_ENV):
            pytest.fail(f"{REQUIRE_ENV} is set: {err}")
        pytest.skip(str(err))


@pytest.fixture
def pulumi_env(bin_dirs: list[Path], tmp_path: Path) -> dict[str, str]:
    env = engine_environment(bin_dirs, backend_dir=tmp_path / "backend", base={"PATH": "/usr/bin:/bin"})
    env.update(
        FLEET_PEERS_CACHE=str(cache_dir()),  # before HOME moves: the local driver's slot hosts need the peers
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


APP = """\
apiVersion: v1
kind: Namespace
metadata:
  name: demo-app
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: slot-info
  namespace: demo-app
data:
  slot: ${fleet_slot}
  env: ${fleet_env}
"""


@pytest.fixture
def peers_built() -> None:
    from fleet.rehearsal.peers import Binaries, PeersNotBuilt

    try:
        Binaries.find()
    except PeersNotBuilt as err:
        if os.environ.get(REQUIRE_ENV):
            pytest.fail(f"{REQUIRE_ENV} is set: {err}")
        pytest.skip(str(err))


def git(*args: str, cwd: Path | None = None) -> str:
    env = dict(os.environ, GIT_AUTHOR_NAME="fleet", GIT_AUTHOR_EMAIL="fleet@example.invalid",
               GIT_COMMITTER_NAME="fleet", GIT_COMMITTER_EMAIL="fleet@example.invalid", GIT_CONFIG_NOSYSTEM="1")
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def demo_project(tmp_path: Path, peers_built: None) -> Path:
    """A copy of the project whose `demo` stack has a local GitOps repository with one app."""
    work = tmp_path / "project"
    work.mkdir()
    shutil.copy(ROOT / "Pulumi.yaml", work / "Pulumi.yaml")
    shutil.copytree(ROOT / "stacks", work / "stacks")
    # fleet/infra/ is a real directory holding the entry point (the package itself comes from the venv):
    # Pulumi runs the program there, and a relative store must resolve to this copy, not the repository.
    (work / "fleet" / "infra").mkdir(parents=True)
    shutil.copy(ROOT / "fleet" / "infra" / "__main__.py", work / "fleet" / "infra" / "__main__.py")
    (work / ".venv").symlink_to(ROOT / ".venv")
    bare = work / ".fleet" / "gitops" / "demo.git"
    git("init", "--bare", "-q", "-b", "main", str(bare))
    tree = tmp_path / "gitops-tree"
    git("clone", "-q", str(bare), str(tree))
    (tree / "clusters" / "demo").mkdir(parents=True)
    (tree / "clusters" / "demo" / "app.yaml").write_text(APP)
    git("add", "-A", cwd=tree)
    git("commit", "-q", "-m", "demo app", cwd=tree)
    git("push", "-q", "origin", "HEAD:main", cwd=tree)
    return work
