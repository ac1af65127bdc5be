"""Drives the real CLI against the repository's own sample environments."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> object:
        return json.loads(self.out)


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[object]:
    """Runs ``python -m fleet ARGS`` in a fresh process, as a pipeline would."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEET_")}
    env["FLEET_PROJECT"] = str(REPO)

    def run(*args: str, timeout: float = 60, extra_env: dict[str, str] | None = None) -> Result:
        proc = subprocess.run(  # noqa: PLW1510  (the exit code is the result)
            [sys.executable, "-m", "fleet", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=tmp_path,
            env={**env, **(extra_env or {})},
            stdin=subprocess.DEVNULL,
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    yield run
