"""A picture of a cutover that explains itself: one self-contained HTML page drawn from its history.

The page is plain HTML with inline SVG and CSS: no script, no fonts, no
network, so it can be attached to a ticket or opened from a pipeline's
artifacts years later. Everything a reader needs is visible text, never only
a tooltip: the title says which environment, which versions, whether it was
a rehearsal, when it started and ended (UTC) and who ran it; the outcome and
its reason come first; then the charts (weights, success rate with the
threshold on a zoomed axis, p99 latency with its threshold, and a lane per
phase so that no two phase labels can overlap), a table per analysis window
and the failed requests users saw. Each chart is drawn twice, for a wide and
for a narrow page, and CSS shows the one that fits, so that the text of a
chart stays readable on a phone while the lines fill a wide screen.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fleet.ports import Record
from fleet.report_extras import cost_section, deliveries_section
from fleet.report_tenants import tenant_section

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


# --- drawing --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Geometry:
    """One layout of the charts: the SVG's own units, in which text is ``font`` high."""

    name: str
    width: float
    height: float
    left: float
    right: float
    font: float
    ticks: int


WIDE = Geometry("wide", 1100, 230, 120, 24, 12, 10)
NARROW = Geometry("narrow", 400, 210, 100, 10, 11, 4)


class Axis:
    """Time on x for one geometry; ``t0``..``t1`` in epoch seconds."""

    def __init__(self, g: Geometry, t0: float, t1: float) -> None:
        self.g = g
        self.t0 = t0
        self.t1 = max(t1, t0 + 1e-6)

    def x(self, t: float) -> float:
        span = self.g.width - self.g.left - self.g.right
        return self.g.left + span * (min(max(t, self.t0), self.t1) - self.t0) / (self.t1 - self.t0)


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _text_width(text: str, font: float) -> float:
    return 0.62 * font * len(text)


def _tick_step(span: float, most: int) -> float:
    for step in (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200):
        if span / step <= most:
            return step
    return 86400.0


def _x_axis(axis: Axis, top: float, bottom: float) -> list[str]:
    g = axis.g
    parts = []
    step = _tick_step(axis.t1 - axis.t0, g.ticks)
    k = 0
    while k * step <= axis.t1 - axis.t0 + 1e-9:
        x = axis.x(axis.t0 + k * step)
        parts.append(f"<line x1='{x:.1f}' x2='{x:.1f}' y1='{top}' y2='{bottom}' class=grid />")
        parts.append(f"<text x='{x:.1f}' y='{bottom + g.font + 2:.1f}' class=axis text-anchor=middle>"
                     f"+{_esc(_fmt(k * step))}</text>")
        k += 1
    return parts


def _bands(axis: Axis, bands: Sequence[Band], top: float, bottom: float) -> list[str]:
    parts = []
    for name, start, end in bands:
        colour = PHASE_COLOURS.get(name, "#f4f4f4")
        x0 = axis.x(start)
        x1 = max(axis.x(end), x0 + 1.0)
        parts.append(f"<rect x='{x0:.1f}' y='{top}' width='{x1 - x0:.1f}' height='{bottom - top:.1f}' "
                     f"fill='{colour}' />")
    return parts


def _rollback_line(axis: Axis, rollback: float | None, top: float, bottom: float) -> list[str]:
    if rollback is None:
        return []
    x = axis.x(rollback)
    return [f"<line x1='{x:.1f}' x2='{x:.1f}' y1='{top}' y2='{bottom}' stroke='{RED}' stroke-width='2' />"]


def _svg(g: Geometry, height: float, parts: Iterable[str], label: str) -> str:
    return (f"<svg class='chart {g.name}' xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {g.width} {height:.0f}' "
            f"width='100%' role='img' aria-label='{_esc(label)}' style='font-size:{g.font}px'>"
            + "".join(parts) + "</svg>")


def _y_labels(g: Geometry, values: Sequence[tuple[float, str]], y: Callable[[float], float]) -> list[str]:
    parts = []
    for value, text in values:
        yy = y(value)
        parts.append(f"<line x1='{g.left}' x2='{g.width - g.right}' y1='{yy:.1f}' y2='{yy:.1f}' class=grid />")
        parts.append(f"<text x='{g.left - 6}' y='{yy + g.font / 3:.1f}' class=axis text-anchor=end>"
                     f"{_esc(text)}</text>")
    return parts


def _phase_lane(axis: Axis, bands: Sequence[Band], rollback: float | None) -> str:
    """One row per phase, its label in the left margin: labels cannot overlap, however short a phase."""
    g = axis.g
    order: list[str] = []
    for name, _, _ in bands:
        if name not in order:
            order.append(name)
    row_h = g.font + 8
    top = 6.0
    height = top + row_h * len(order) + g.font + 10
    bottom = top + row_h * len(order)
    parts = _x_axis(axis, top, bottom)
    for index, name in enumerate(order):
        y = top + index * row_h
        label = name if _text_width(name, g.font) <= g.left - 8 else name[: max(3, int((g.left - 8) / (0.62 * g.font)))]
        parts.append(f"<text x='{g.left - 6}' y='{y + row_h / 2 + g.font / 3:.1f}' class=axis text-anchor=end>"
                     f"{_esc(label)}</text>")
        for band, start, end in bands:
            if band != name:
                continue
            x0 = axis.x(start)
            x1 = max(axis.x(end), x0 + 2.0)
            colour = RED if name in ("ROLLING_BACK", "ROLLED_BACK", "FAILED", "ABORTED") else BLUE
            parts.append(f"<rect x='{x0:.1f}' y='{y + 3:.1f}' width='{x1 - x0:.1f}' height='{row_h - 6:.1f}' "
                         f"fill='{colour}' opacity='0.75' />")
    parts += _rollback_line(axis, rollback, top, bottom)
    return _svg(g, height, parts, "phases over time")


def _weights_chart(axis: Axis, run: Sequence[Record], samples: Sequence[Sample], bands: Sequence[Band],
                   rollback: float | None) -> str:
    g = axis.g
    top, bottom = 8.0, g.height - g.font - 10

    def y(pct: float) -> float:
        return bottom - (bottom - top) * max(0.0, min(100.0, pct)) / 100

    parts = _bands(axis, bands, top, bottom) + _x_axis(axis, top, bottom)
    parts += _y_labels(g, [(p, f"{p}%") for p in (0, 25, 50, 75, 100)], y)
    picks: tuple[tuple[str, Callable[[Record], int]], ...] = (
        (BLUE, lambda r: r.weights.blue), (GREEN, lambda r: r.weights.green)
    )
    for colour, pick in picks:
        points: list[str] = []
        previous: float | None = None
        for r in run:
            value = float(pick(r))
            if previous is not None and value != previous:
                points.append(f"{axis.x(r.at):.1f},{y(previous):.1f}")
            points.append(f"{axis.x(r.at):.1f},{y(value):.1f}")
            previous = value
        if previous is not None:
            points.append(f"{axis.x(axis.t1):.1f},{y(previous):.1f}")
        parts.append(f"<polyline points='{' '.join(points)}' fill='none' stroke='{colour}' stroke-width='2.5' />")
    for s in samples:
        parts.append(f"<circle cx='{axis.x(s.at):.1f}' cy='{y(100 * s.green_share):.1f}' r='1.6' fill='#555' />")
    parts += _rollback_line(axis, rollback, top, bottom)
    return _svg(g, g.height, parts, "traffic weights over time")


def success_floor(threshold: float, lowest: float | None) -> float:
    """The success-rate axis' bottom: zoomed on the threshold (a 99 % threshold gives 96-100 %)."""
    floor = max(0.0, 100.0 - 4 * (100.0 - threshold))
    if lowest is not None and lowest >= floor:
        floor = max(floor, min(threshold - (100 - threshold), lowest - 0.5))
    return max(0.0, math.floor(floor * 2) / 2)


def _success_chart(axis: Axis, windows: Sequence[Window], samples: Sequence[Sample], bands: Sequence[Band],
                   rollback: float | None, threshold: float) -> str:
    g = axis.g
    top, bottom = 8.0, g.height - g.font - 10
    rates = [w.success_rate for w in windows if w.success_rate is not None] + [s.success_rate for s in samples]
    floor = success_floor(threshold, min(rates) if rates else None)

    def y(pct: float) -> float:
        return bottom - (bottom - top) * (max(floor, min(100.0, pct)) - floor) / (100.0 - floor)

    parts = _bands(axis, bands, top, bottom) + _x_axis(axis, top, bottom)
    step = 0.5 if 100 - floor <= 5 else (1.0 if 100 - floor <= 10 else (5.0 if 100 - floor <= 40 else 10.0))
    ticks = [floor + k * step for k in range(int((100 - floor) / step) + 1)]
    parts += _y_labels(g, [(t, f"{t:g}%") for t in ticks], y)
    ty = y(threshold)
    parts.append(f"<line x1='{g.left}' x2='{g.width - g.right}' y1='{ty:.1f}' y2='{ty:.1f}' stroke='{RED}' "
                 f"stroke-dasharray='6 4' stroke-width='1.5' />")
    parts.append(f"<text x='{g.left + 4}' y='{ty - 4:.1f}' fill='{RED}' class=axis>threshold {threshold:g}%</text>")
    if samples:
        points = " ".join(f"{axis.x(s.at):.1f},{y(s.success_rate):.1f}" for s in samples)
        parts.append(f"<polyline points='{points}' fill='none' stroke='#718096' stroke-width='1.2' />")
    for w in windows:
        if w.success_rate is None:
            continue
        colour = GREEN if w.outcome == "pass" else RED
        cx, cy = axis.x(w.end), y(w.success_rate)
        parts.append(f"<circle cx='{cx:.1f}' cy='{cy:.1f}' r='5' fill='{colour}' />")
        if w.success_rate < floor:
            label = f"&#9660; {w.success_rate:.1f}%"
            right = cx + 7 + _text_width(label, g.font) > g.width
            tx, anchor = (cx - 7, "end") if right else (cx + 7, "start")
            parts.append(f"<text x='{tx:.1f}' y='{cy - 4:.1f}' fill='{RED}' class=axis text-anchor={anchor}>"
                         f"{label}</text>")
    parts += _rollback_line(axis, rollback, top, bottom)
    return _svg(g, g.height, parts, "success rate over time")


def _latency_chart(axis: Axis, windows: Sequence[Window], bands: Sequence[Band], rollback: float | None,
                   threshold: float) -> str:
    g = axis.g
    top, bottom = 8.0, g.height - g.font - 10
    seen = [w.p99_ms for w in windows if w.p99_ms is not None]
    ceiling = max([threshold * 1.25, *(v * 1.1 for v in seen)])
    step = _nice(ceiling / 4)
    ceiling = step * math.ceil(ceiling / step)

    def y(ms: float) -> float:
        return bottom - (bottom - top) * max(0.0, min(ceiling, ms)) / ceiling

    parts = _bands(axis, bands, top, bottom) + _x_axis(axis, top, bottom)
    parts += _y_labels(g, [(k * step, f"{k * step:g} ms") for k in range(int(ceiling / step) + 1)], y)
    ty = y(threshold)
    parts.append(f"<line x1='{g.left}' x2='{g.width - g.right}' y1='{ty:.1f}' y2='{ty:.1f}' stroke='{RED}' "
                 f"stroke-dasharray='6 4' stroke-width='1.5' />")
    parts.append(f"<text x='{g.left + 4}' y='{ty - 4:.1f}' fill='{RED}' class=axis>threshold {threshold:g} ms</text>")
    for w in windows:
        if w.p99_ms is None:
            continue
        colour = GREEN if w.outcome == "pass" else RED
        parts.append(f"<circle cx='{axis.x(w.end):.1f}' cy='{y(w.p99_ms):.1f}' r='5' fill='{colour}' />")
    parts += _rollback_line(axis, rollback, top, bottom)
    return _svg(g, g.height, parts, "p99 latency over time")


def _nice(value: float) -> float:
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    for m in (1.0, 2.0, 2.5, 5.0, 10.0):
        if value <= m * power:
            return m * power
    return 10.0 * power


def _both(draw: Callable[[Axis], str], t0: float, t1: float) -> str:
    return draw(Axis(WIDE, t0, t1)) + draw(Axis(NARROW, t0, t1))


# --- the page ---------------------------------------------------------------------------------------


def render(
    env: str,
    records: Sequence[Record],
    samples: Sequence[Sample] = (),
    *,
    failed: Sequence[UserFailure] = (),
    context: ReportContext | None = None,
) -> str:
    context = context or ReportContext()
    run = _last_run(records)
    kind = "real cutover" if context.rehearsal is None else f"rehearsal ({context.rehearsal})"
    if not run:
        return _page(f"fleet {kind} of {env}", f"<p>No cutover of {_esc(env)} is recorded yet.</p>")
    t0 = run[0].at
    samples = [s for s in samples if s.at >= t0]
    failed = [f for f in failed if f.at >= t0]
    t1 = max(run[-1].at, max((s.at for s in samples), default=t0), t0 + 1e-6)
    bands = _phase_bands(run)
    windows = _windows(run)
    rate_threshold, latency_threshold, steps = _thresholds(run)
    rollback = next((r.at for r in run if r.phase == "ROLLING_BACK" or r.event == "RollbackRequested"), None)
    if rollback is None:
        rollback = next((r.at for r in run if r.phase == "ROLLED_BACK"), None)
    final = run[-1]
    outcome = final.phase or "-"
    target = run[0].detail.get("target", "?") if run[0].event == "CutoverRequested" else "?"
    versions = f"{context.old_version or '?'} \u2192 {target}"
    title = f"fleet {kind} of {env}: {versions}, {outcome}"
    reason = _reason(run, context) if outcome != "DONE" else ""

    head = [f"<h1>{_esc(title)}</h1>"]
    good = outcome == "DONE"
    verdict_text = {
        "DONE": "Done: all traffic moved to the new slot, and the old slot was removed.",
        "ROLLED_BACK": "Rolled back: all traffic is back on the old slot.",
        "ABORTED": "Aborted: traffic is back on the old slot; the new slot is kept for inspection.",
        "FAILED": "Failed: the cutover stopped; fleet resume continues it, fleet abort gives it up.",
    }.get(outcome, f"Stopped in {outcome}: the cutover is still in flight.")
    head.append(f"<p class='outcome {'ok' if good else 'bad'}'><b>{_esc(verdict_text)}</b>"
                + (f"<br>Reason: {_esc(reason)}" if reason else "") + "</p>")
    facts = [
        ("environment", env),
        ("versions", versions),
        ("kind", kind),
        ("started", _wall(t0)),
        ("ended", f"{_wall(run[-1].at)} ({_fmt(run[-1].at - t0)} later)"),
        ("run by", _actors(run)),
        ("thresholds", f"success rate \u2265 {rate_threshold:g}%, p99 \u2264 {latency_threshold:g} ms"
                       + (f"; steps {', '.join(f'{s}%' for s in steps)}" if steps else "")),
        ("final weights", f"blue {final.weights.blue}% / green {final.weights.green}%"),
    ]
    if context.state_location:
        facts.append(("state", context.state_location))
    facts += list(context.extra.items())
    head.append("<table class=facts>" + "".join(
        f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in facts) + "</table>")

    legend = (f"<p class=legend><span style='color:{BLUE}'>&#9632; blue weight</span> "
              f"<span style='color:{GREEN}'>&#9632; green weight</span> "
              + ("<span style='color:#555'>&#9679; share of users' requests green answered</span> " if samples else "")
              + f"<span style='color:{RED}'>&#9474; rollback</span></p>")
    users_note = ("grey line: all users' requests (load generator); dots: the new slot's analysis windows"
                  if samples else "dots: the new slot's analysis windows (no users' requests were recorded: only "
                  "rehearsals on real parts measure them)")
    body = [
        *head,
        "<h2>Phases</h2>", _both(lambda a: _phase_lane(a, bands, rollback), t0, t1),
        "<h2>Traffic weights</h2>", legend,
        _both(lambda a: _weights_chart(a, run, samples, bands, rollback), t0, t1),
        "<h2>Success rate</h2>", f"<p class=note>{_esc(users_note)}; red dashed line: the threshold</p>",
        _both(lambda a: _success_chart(a, windows, samples, bands, rollback, rate_threshold), t0, t1),
        "<h2>p99 latency</h2>",
        _both(lambda a: _latency_chart(a, windows, bands, rollback, latency_threshold), t0, t1),
        _window_table(windows, samples, steps, t0),
        _phase_table(bands, t0),
        _failed_table(failed, t0, bool(samples)),
        deliveries_section(run),
        cost_section(env, records),
        tenant_section(context.tenants),
    ]
    return _page(title, "".join(body))


def _actors(run: Sequence[Record]) -> str:
    seen: list[str] = []
    for r in run:
        a = r.actor
        who = f"{a.get('user', '?')}@{a.get('host', '?')}" + (f" ({a['ci_run']})" if a.get("ci_run") else "")
        if who not in seen:
            seen.append(who)
    return ", ".join(seen) or "-"


def _observed_green(samples: Sequence[Sample], start: float, end: float) -> float | None:
    inside = [s.green_share for s in samples if start <= s.at <= end]
    return None if not inside else 100 * sum(inside) / len(inside)


def _window_table(windows: Sequence[Window], samples: Sequence[Sample], steps: Sequence[int], t0: float) -> str:
    if not windows:
        return "<h2>Analysis windows</h2><p>No analysis window was recorded.</p>"
    rows = []
    for w in windows:
        step = f"{steps.index(w.green) + 1}/{len(steps)}" if w.green in steps else "-"
        seen = _observed_green(samples, w.start, w.end)
        observed = "-" if seen is None else f"{100 - seen:.0f}/{seen:.0f}"
        rate = "-" if w.success_rate is None else f"{w.success_rate:.2f}%"
        p99 = "-" if w.p99_ms is None else f"{w.p99_ms:.0f} ms"
        cls = "ok" if w.outcome == "pass" else "bad"
        rows.append(
            f"<tr><td>{step}</td><td>+{_fmt(w.start - t0)}</td><td>{w.blue}/{w.green}</td><td>{observed}</td>"
            f"<td>{_esc(w.requests if w.requests is not None else '-')}</td>"
            f"<td>{_esc(w.errors if w.errors is not None else '-')}</td><td>{rate}</td><td>{p99}</td>"
            f"<td class={cls}>{_esc(w.outcome.upper())}</td><td class=reason>{_esc(w.reason)}</td></tr>"
        )
    return ("<h2>Analysis windows</h2><div class=scroll><table><tr><th>step</th><th>start</th>"
            "<th>weights set (blue/green)</th><th>observed</th><th>requests</th><th>errors</th><th>success</th>"
            "<th>p99</th><th>verdict</th><th>reason</th></tr>" + "".join(rows) + "</table></div>")


def _phase_table(bands: Sequence[Band], t0: float) -> str:
    rows = "".join(
        f"<tr><td>{_esc(name)}</td><td>+{_fmt(start - t0)}</td><td>{_esc(_wall(start, short=True))}</td>"
        f"<td>{_fmt(end - start)}</td></tr>"
        for name, start, end in bands
    )
    return ("<h2>Phase by phase</h2><div class=scroll><table><tr><th>phase</th><th>start</th><th>at (UTC)</th>"
            f"<th>duration</th></tr>{rows}</table></div>")


def _failed_table(failed: Sequence[UserFailure], t0: float, measured: bool) -> str:
    if not measured:
        return ""
    if not failed:
        return "<h2>Failed requests users saw</h2><p>None: every user's request was answered.</p>"
    rows = "".join(
        f"<tr><td>+{_fmt(f.at - t0)}</td><td>{_esc(f.slot or '-')}</td>"
        f"<td>{_esc(f.status or 'no answer')}</td><td>{f.latency_ms:.0f} ms</td><td>{_esc(f.error or '')}</td></tr>"
        for f in failed[:FAILED_SHOWN]
    )
    more = f"<p>and {len(failed) - FAILED_SHOWN} more.</p>" if len(failed) > FAILED_SHOWN else ""
    return (f"<h2>Failed requests users saw ({len(failed)})</h2><div class=scroll><table><tr><th>at</th>"
            f"<th>slot</th><th>status</th><th>latency</th><th>error</th></tr>{rows}</table></div>{more}")


def write_report(
    path: str | Path,
    env: str,
    records: Sequence[Record],
    samples: Sequence[Sample] = (),
    *,
    failed: Sequence[UserFailure] = (),
    context: ReportContext | None = None,
) -> None:
    Path(path).write_text(render(env, records, samples, failed=failed, context=context), encoding="utf-8")


def _wall(at: float, *, short: bool = False) -> str:
    moment = datetime.fromtimestamp(at, tz=UTC)
    return moment.strftime("%H:%M:%S") if short else moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _fmt(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _page(title: str, body: str) -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_esc(title)}</title>
<style>
body {{ font: 15px/1.45 system-ui, sans-serif; margin: 16px 24px; color: #1a202c; }}
h1 {{ font-size: 21px; margin: 0 0 8px; }} h2 {{ font-size: 16px; margin: 22px 0 4px; }}
.outcome {{ padding: 10px 14px; border-radius: 6px; font-size: 16px; }}
.outcome.ok {{ background: #e6f4ea; }} .outcome.bad {{ background: #fde8e8; }}
.facts th {{ font-weight: 600; padding-right: 16px; vertical-align: top; }}
.chart {{ display: block; width: 100%; height: auto; }}
.chart.narrow {{ display: none; }}
@media (max-width: 700px) {{
  body {{ margin: 10px; font-size: 14px; }}
  .chart.wide {{ display: none; }} .chart.narrow {{ display: block; }}
}}
.axis {{ fill: {GREY}; }} .grid {{ stroke: #e2e8f0; stroke-width: 1; }}
.scroll {{ overflow-x: auto; }}
table {{ border-collapse: collapse; }} td, th {{ padding: 3px 12px 3px 0; text-align: left; vertical-align: top; }}
.scroll td {{ white-space: nowrap; }} .scroll td.reason {{ white-space: normal; min-width: 18em; }}
td.ok {{ color: {GREEN}; font-weight: 600; }} td.bad {{ color: {RED}; font-weight: 600; }}
.legend span {{ margin-right: 16px; }} .note {{ color: {GREY}; margin: 0; }}
</style></head>
<body>{body}</body></html>
"""
