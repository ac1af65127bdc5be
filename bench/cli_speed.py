"""How fast the CLI answers: ``fleet --help`` cold start and ``fleet status`` over 200 environments.

Targets: ``fleet --help`` < 200 ms (pulumi, kubernetes and boto3 stay out of the
start path) and ``fleet status`` over 200 environments from the local store < 0.5 s.
Each is measured as the median of several fresh processes, next to a baseline
measured in the same run: a bare ``python -c pass`` for start-up, and a plain
loop that only ``json.load``s the same 200 state files for status.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _median_run(argv: list[str], runs: int, env: dict[str, str] | None = None) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True, env=env, cwd=REPO)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _populate(root: Path, count: int) -> None:
    from fleet.domain.machine import EnvironmentState
    from fleet.domain.model import Version
    from fleet.ports import Record
    from fleet.state.local import LocalStateStore

    store = LocalStateStore(root)
    for i in range(count):
        env = f"env-{i:03d}"
        state = EnvironmentState.seed(env, Version(1, 29))
        records = [
            Record(seq=n, at=1_767_225_600.0 + n, event="WeightsApplied", phase="SHIFT", weights=state.weights,
                   detail={"weights": {"blue": 100, "green": 0}}, actor={"user": "ci", "host": "runner"})
            for n in range(1, 41)
        ]
        from dataclasses import replace

        store.commit(env, replace(state, seq=len(records)), records)


def run(runs: int = 7) -> dict[str, float]:
    python = sys.executable
    help_s = _median_run([python, "-m", "fleet", "--help"], runs)
    bare_s = _median_run([python, "-c", "pass"], runs)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "state"
        _populate(root, 200)
        env = {**os.environ, "FLEET_PROJECT": str(REPO)}
        status_s = _median_run([python, "-m", "fleet", "status", "--state", str(root)], runs, env)
        loop = (
            "import json, pathlib, sys\n"
            "for p in sorted(pathlib.Path(sys.argv[1]).glob('*/state.json')):\n    json.loads(p.read_text())\n"
        )
        floor_s = _median_run([python, "-c", loop, str(root)], runs)
    return {
        "help_cold_start_s": help_s,
        "python_bare_start_s": bare_s,
        "help_vs_bare_python": help_s / bare_s,
        "status_200_envs_s": status_s,
        "status_floor_json_loop_s": floor_s,
        "status_vs_floor": status_s / floor_s,
    }


def main() -> None:
    figures = run()
    for key, value in figures.items():
        print(f"{key:28} {value:.3f}")
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
