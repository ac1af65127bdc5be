"""The Pulumi engine fleet runs: the one built from Go modules by tools/peers/build.py, never a download.

``python3 tools/peers/build.py --only pulumi pulumi-kubernetes`` puts the
``pulumi`` CLI, fleet's Python language host with its launcher, the Python
dynamic-provider plugin and ``pulumi-resource-kubernetes`` into
``~/.cache/fleet-peers/<component>-<version>/bin``. Pulumi finds plugins on
``PATH`` (ambient plugins), so running it with those directories first on
``PATH`` is all the wiring there is. Nothing may be fetched at run time: the
update check is off, automatic plugin acquisition is off, and the backend is
a directory (``pulumi login file://...``) unless the caller chose another.

This module imports nothing from Pulumi: the CLI imports it for ``fleet
--help``-cheap checks, and the tests use it to skip with the build command.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path

COMPONENTS = ("pulumi", "pulumi-kubernetes")
BUILD_COMMAND = "python3 tools/peers/build.py --only pulumi pulumi-kubernetes"
"""What builds the engine (from the repository's root); printed whenever it is missing."""

REPO_ROOT = Path(__file__).resolve().parents[2]
VERSIONS_FILE = REPO_ROOT / "tools" / "peers" / "versions.toml"
REQUIRED_BINARIES = {
    "pulumi": ("pulumi", "pulumi-language-python", "pulumi-language-python-exec", "pulumi-resource-pulumi-python"),
    "pulumi-kubernetes": ("pulumi-resource-kubernetes",),
}


class EngineNotBuilt(RuntimeError):
    """The engine is not in the peers' cache; the message says how to build it."""


def cache_dir() -> Path:
    return Path(os.environ.get("FLEET_PEERS_CACHE", str(Path.home() / ".cache" / "fleet-peers")))


def _pinned(cache: Path) -> dict[str, str]:
    if VERSIONS_FILE.exists():
        components = tomllib.loads(VERSIONS_FILE.read_text())["components"]
        return {name: str(components[name]["version"]) for name in COMPONENTS if name in components}
    pinned = {}
    for name in COMPONENTS:  # an installed fleet without the repository: take whatever was built
        stamps = sorted(cache.glob(f"{name}-v*/build.json"))
        if stamps:
            pinned[name] = stamps[-1].parent.name[len(name) + 1 :]
    return pinned


def engine_bin_dirs(cache: Path | None = None, components: tuple[str, ...] = COMPONENTS) -> list[Path]:
    """The bin/ directories of the built engine, or :class:`EngineNotBuilt` naming what is missing."""
    cache = cache or cache_dir()
    pinned = _pinned(cache)
    dirs: list[Path] = []
    missing: list[str] = []
    for name in components:
        out = cache / f"{name}-{pinned.get(name, '?')}"
        absent = [b for b in REQUIRED_BINARIES[name] if not (out / "bin" / b).exists()]
        if not (out / "build.json").exists() or absent:
            missing.append(f"{name} {pinned.get(name, '')}".strip())
            continue
        dirs.append(out / "bin")
    if missing:
        raise EngineNotBuilt(
            f"the Pulumi engine is not built ({', '.join(missing)} missing in {cache}); build it with "
            f"`{BUILD_COMMAND}` (about 30 minutes cold on 2 cores, seconds when cached)"
        )
    return dirs


def engine_environment(
    bin_dirs: list[Path], *, backend_dir: Path | None = None, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Variables that make ``pulumi`` the built engine, offline: PATH first, no update check, no downloads.

    ``backend_dir`` becomes ``PULUMI_BACKEND_URL=file://...`` unless ``base`` already names a backend.
    """
    env = dict(os.environ if base is None else base)
    env["PATH"] = os.pathsep.join([*(str(d) for d in bin_dirs), env.get("PATH", "")])
    env["PULUMI_SKIP_UPDATE_CHECK"] = "true"
    env["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] = "true"
    if backend_dir is not None and not env.get("PULUMI_BACKEND_URL"):
        backend_dir.mkdir(parents=True, exist_ok=True)
        env["PULUMI_BACKEND_URL"] = backend_dir.resolve().as_uri()
    return env


def use_built_engine(project: Path, environ: dict[str, str] | None = None) -> bool:
    """Put the built engine on this process's PATH when no ``pulumi`` is installed; True if it did.

    A ``pulumi`` already on PATH is the user's choice and is left alone. With
    the built engine, a user who never logged in gets a file backend in the
    project (``.fleet/pulumi``) instead of Pulumi Cloud's interactive login.
    """
    import shutil

    env = os.environ if environ is None else environ
    if shutil.which("pulumi", path=env.get("PATH")) is not None:
        return False
    try:
        dirs = engine_bin_dirs()
    except EngineNotBuilt:
        return False
    credentials = Path(env.get("PULUMI_HOME", str(Path.home() / ".pulumi"))) / "credentials.json"
    backend = None if credentials.exists() else project / ".fleet" / "pulumi"
    env.update(engine_environment(dirs, backend_dir=backend, base=env))
    return True
