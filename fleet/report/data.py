"""What the report is drawn from: a rehearsal's users, and the last run read out of the history."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fleet.ports import Record

BLUE = "#2b6cb0"
GREEN = "#2f855a"
RED = "#c53030"
GREY = "#4a5568"
PHASE_COLOURS = {
    "PROVISION": "#eef2f7",
    "BOOTSTRAP": "#e6eef8",
    "WAIT_HEALTHY": "#e3f0ea",
    "VERIFY_PARITY": "#ecf5e4",
    "SHIFT": "#fdf6e3",
    "BAKE": "#f3ecf8",
    "TEARDOWN_OLD": "#f7e9e9",
    "ROLLING_BACK": "#fbe0e0",
    "ROLLED_BACK": "#f6d5d5",
    "FAILED": "#f6d5d5",
    "ABORTED": "#f6d5d5",
    "DONE": "#e6f4ea",
}
USERS_FILE = "users.json"
"""What a rehearsal's users saw, kept in its state dir so that ``fleet history --report`` draws it too."""
FAILED_SHOWN = 50


@dataclass(frozen=True)
class Sample:
    """Traffic observed by a load generator: share of requests the green slot answered, and success."""

    at: float
    green_share: float
    success_rate: float


@dataclass(frozen=True)
class UserFailure:
    """One request a user sent that failed: when (epoch), which slot answered, status (0: no answer)."""

    at: float
    slot: str | None
    status: int
    latency_ms: float
    error: str | None = None


@dataclass(frozen=True)
class ReportContext:
    """What the history alone does not say: where the run came from and how it ended."""

    rehearsal: str | None = None
    """None for a real cutover; else how it was rehearsed ("real parts", "in memory")."""
    old_version: str | None = None
    reason: str | None = None
    state_location: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)
    tenants: Sequence[Any] = ()
    """Each tenant's story (``fleet.domain.tenant_story.TenantStory``): the report's per-tenant section."""


# --- what a rehearsal leaves for history reports -------------------------------------------------


def save_users(folder: str | Path, samples: Sequence[Sample], failed: Sequence[UserFailure]) -> None:
    """Add what a run's users saw to what earlier runs in ``folder`` saw (a resumed run adds its part).

    Only a local state dir keeps them: an S3 rehearsal writes nothing on the local disk.
    """
    if str(folder).startswith("s3://"):
        return
    old_samples, old_failed = load_users(folder)
    cut = min((s.at for s in samples), default=math.inf)  # a run measured again replaces its own span
    kept_samples = [s for s in old_samples if s.at < cut]
    kept_failed = [f for f in old_failed if f.at < cut]
    data = {"samples": [asdict(s) for s in [*kept_samples, *samples]],
            "failed": [asdict(f) for f in [*kept_failed, *failed]]}
    path = Path(folder) / USERS_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    tmp.replace(path)


def load_users(folder: str | Path) -> tuple[list[Sample], list[UserFailure]]:
    """The samples and failures a rehearsal saved in ``folder``; empty for anything else."""
    if str(folder).startswith("s3://"):
        return [], []
    path = Path(folder) / USERS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        samples = [Sample(**s) for s in data.get("samples", [])]
        failed = [UserFailure(**f) for f in data.get("failed", [])]
    except (OSError, ValueError, TypeError):
        return [], []
    return samples, failed


# --- reading the history --------------------------------------------------------------------------


def _last_run(records: Sequence[Record]) -> Sequence[Record]:
    starts = [i for i, r in enumerate(records) if r.event == "CutoverRequested"]
    return records[starts[-1] :] if starts else records


Band = tuple[str, float, float]


def _phase_bands(run: Sequence[Record]) -> list[Band]:
    bands: list[Band] = []
    for r in run:
        phase = r.phase or "-"
        if bands and bands[-1][0] == phase:
            continue
        if bands:
            name, start, _ = bands[-1]
            bands[-1] = (name, start, r.at)
        bands.append((phase, r.at, r.at))
    if bands:
        name, start, _ = bands[-1]
        bands[-1] = (name, start, run[-1].at)
    return bands


@dataclass(frozen=True)
class Window:
    """One analysis window as recorded: the weights it ran at and what it saw."""

    start: float
    end: float
    blue: int
    green: int
    requests: int | None
    errors: int | None
    success_rate: float | None
    p99_ms: float | None
    outcome: str
    reason: str


def _windows(run: Sequence[Record]) -> list[Window]:
    out: list[Window] = []
    since = run[0].at if run else 0.0
    for r in run:
        if r.event in ("WeightsApplied", "Resumed"):
            since = r.at
        if r.event != "AnalysisCompleted":
            continue
        verdict = r.detail.get("verdict", {})
        e = verdict.get("evidence", {})
        duration = e.get("duration_s")
        start = r.at - float(duration) if isinstance(duration, (int, float)) else since
        out.append(Window(
            start=max(start, since), end=r.at, blue=r.weights.blue, green=r.weights.green,
            requests=e.get("requests"), errors=e.get("errors"), success_rate=e.get("success_rate"),
            p99_ms=e.get("p99_ms"), outcome=str(verdict.get("outcome", "")), reason=str(verdict.get("reason", "")),
        ))
        since = r.at
    return out


def _thresholds(run: Sequence[Record]) -> tuple[float, float, tuple[int, ...]]:
    request = run[0].detail if run and run[0].event == "CutoverRequested" else {}
    rollout = request.get("rollout", {})
    analysis = rollout.get("analysis", {})
    steps = tuple(int(s) for s in rollout.get("steps", ()))
    return float(analysis.get("success_rate", 99.0)), float(analysis.get("p99_latency_ms", 500.0)), steps


def _reason(run: Sequence[Record], context: ReportContext) -> str:
    if context.reason:
        return context.reason
    for r in reversed(run):
        if r.event in ("RollbackRequested", "AbortRequested") and r.detail.get("reason"):
            return str(r.detail["reason"])
        if r.event == "StepFailed":
            return f"{r.detail.get('command')}: {r.detail.get('reason')}"
        if r.event == "AnalysisCompleted" and r.detail.get("verdict", {}).get("outcome") == "fail":
            return str(r.detail["verdict"].get("reason", ""))
        if r.event == "HealthChanged" and r.detail.get("reason"):
            return str(r.detail["reason"])
    return ""
