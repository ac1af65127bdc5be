"""``fleet upgrade`` at fleet scale: a wave's parallelism, and the dry run a pipeline plans with.

* A wave of 50 environments with ``--max-parallel 10`` over the in-memory world (the real
  rollout driver, engine and local state store; fake clusters with compressed waits, so each
  cutover sleeps in real time). Its wall time is compared with the critical path: the
  shortest a schedule of those same cutovers on 10 lanes could take, max(longest cutover,
  sum of cutovers / 10). Target: under 1.05.
* ``fleet upgrade --dry-run --output json`` over 500 environments (a fresh process, a
  project of 500 stacks with channels, waves and windows, a local store). Target: < 1 s,
  next to ``fleet status`` over the same store, which reads states but no stacks.
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
WAVE_N = 50
PARALLEL = 10
SCALE = 1 / 600
"""Real seconds per simulated second: a cutover of about half an hour simulated sleeps about 3 s."""


def wave(n: int = WAVE_N, parallel: int = PARALLEL) -> dict[str, float]:
    from fleet.state.local import LocalStateStore
    from fleet.upgrade.rollout import run_rollout
    from tests.upgrade_world import CompressedClock, WorldRunner, env_config

    with tempfile.TemporaryDirectory(prefix="fleet-bench-wave-") as tmp:
        configs = {f"env-{i:02d}": env_config(f"env-{i:02d}", "w", fast=True) for i in range(n)}
        world = WorldRunner(configs, LocalStateStore(Path(tmp)), clock=lambda: CompressedClock(SCALE))
        started = time.monotonic()
        done = run_rollout(lambda: world.read(["w"]), ["w"], world, soak_s=0.0, max_parallel=parallel, now=True)
        wall = time.monotonic() - started
    if len(done.results) != n or done.failed:
        raise RuntimeError(f"the wave did not finish: {len(done.results)} run, {len(done.failed)} failed")
    durations = list(world.durations.values())
    critical = max(*durations, sum(durations) / parallel)
    return {
        "wave_envs": float(n),
        "wave_max_parallel": float(parallel),
        "wave_wall_s": wall,
        "wave_critical_path_s": critical,
        "wave_vs_critical_path": wall / critical,
        "wave_cutover_median_s": statistics.median(durations),
        "wave_serial_s": sum(durations),
    }


def _project(root: Path, count: int) -> None:
    import yaml

    base = yaml.safe_load((REPO / "stacks" / "Pulumi.local.yaml").read_text())
    (root / "stacks").mkdir(parents=True)
    (root / "Pulumi.yaml").write_text((REPO / "Pulumi.yaml").read_text())
    waves = ("dev", "staging", "prod")
    for i in range(count):
        doc = json.loads(json.dumps(base))
        doc["config"]["fleet:upgrade"] = {
            "channel": ("minor", "patch", "pinned")[i % 3], "wave": waves[i % 3],
            "windows": [{"days": ["sat", "sun"], "start": "02:00", "duration": "4h", "zone": "Europe/Berlin"}],
        }
        (root / "stacks" / f"Pulumi.env-{i:03d}.yaml").write_text(yaml.safe_dump(doc))


def _median(argv: list[str], env: dict[str, str], runs: int, ok: tuple[int, ...]) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, env=env, cwd=REPO, check=False)
        times.append(time.perf_counter() - started)
        if proc.returncode not in ok:
            raise RuntimeError(f"{argv}: exit {proc.returncode}: {proc.stderr.decode()[-400:]}")
    return statistics.median(times)


def dry_run(count: int = 500, runs: int = 5) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="fleet-bench-dry-") as tmp:
        root = Path(tmp)
        _project(root, count)
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("FLEET_")}, "FLEET_PROJECT": str(root)}
        state = ["--state", str(root / "state")]
        upgrade = [sys.executable, "-m", "fleet", "upgrade", "--wave", "dev,staging,prod", "--soak", "24h",
                   "--dry-run", "--output", "json", *state]
        dry = _median(upgrade, env, runs, ok=(1,))
        bare = _median([sys.executable, "-c", "pass"], env, runs, ok=(0,))
    return {"dry_run_envs": float(count), "dry_run_s": dry, "python_bare_start_s": bare}


def run() -> dict[str, float]:
    return {**wave(), **dry_run()}


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
