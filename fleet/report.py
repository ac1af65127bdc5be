"""A picture of a cutover: one self-contained HTML page drawn from its history.

The page is plain HTML with inline SVG and CSS: no script, no fonts, no
network, so it can be attached to a ticket or opened from a pipeline's
artifacts years later. It draws the weight per slot over time, the traffic
split actually observed (when the run measured it) and the success rate the
analysis saw, with each phase as a band and the rollback marked.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from fleet.ports import Record

WIDTH = 960
CHART_H = 220
LEFT = 56
RIGHT = 16
PHASE_COLOURS = {
    "PROVISION": "#eef2f7",
    "BOOTSTRAP": "#e6eef8",
    "WAIT_HEALTHY": "#e3f0ea",
    "VERIFY_PARITY": "#ecf5e4",
    "SHIFT": "#fdf6e3",
    "BAKE": "#f3ecf8",
    "TEARDOWN_OLD": "#f7e9e9",
    "ROLLING_BACK": "#fbe0e0",
    "FAILED": "#f6d5d5",
}
BLUE = "#2b6cb0"
GREEN = "#2f855a"
RED = "#c53030"


@dataclass(frozen=True)
class Sample:
    """Traffic observed by a load generator: share of requests the green slot answered, and success."""

    at: float
    green_share: float
    success_rate: float


def _last_run(records: Sequence[Record]) -> Sequence[Record]:
    starts = [i for i, r in enumerate(records) if r.event == "CutoverRequested"]
    return records[starts[-1] :] if starts else records


def render(env: str, records: Sequence[Record], samples: Sequence[Sample] = ()) -> str:
    run = _last_run(records)
    if not run:
        body = "<p>No cutover recorded for this environment yet.</p>"
        return _page(env, body)
    t0 = run[0].at
    samples = [s for s in samples if s.at >= t0]
    t1 = max(run[-1].at, max((s.at for s in samples), default=t0), t0 + 1e-6)
    span = t1 - t0

    def x(t: float) -> float:
        return LEFT + (WIDTH - LEFT - RIGHT) * (t - t0) / span

    bands = _phase_bands(run)
    rollback = next((r.at for r in run if r.phase == "ROLLING_BACK" or r.event == "RollbackRequested"), None)
    if rollback is None:
        rollback = next((r.at for r in run if r.phase == "ROLLED_BACK"), None)

    weights = _weights_chart(run, samples, bands, rollback, x, t1)
    success = _success_chart(run, samples, bands, rollback, x, t1)
    final = run[-1]
    summary = (
        f"<p class=summary>{html.escape(env)}: {len(run)} events over {_fmt(span)}; "
        f"ended in <b>{html.escape(final.phase or '-')}</b> with weights blue {final.weights.blue}% / "
        f"green {final.weights.green}%.</p>"
    )
    legend = (
        f"<p class=legend><span style='color:{BLUE}'>&#9632; blue weight</span> "
        f"<span style='color:{GREEN}'>&#9632; green weight</span> "
        f"<span style='color:#555'>&#9679; observed green share</span> "
        f"<span style='color:{RED}'>| rollback</span></p>"
    )
    table = _phase_table(bands, t0)
    body = summary + legend + "<h2>Traffic weights</h2>" + weights + "<h2>Success rate</h2>" + success + table
    return _page(env, body)


def write_report(path: str | Path, env: str, records: Sequence[Record], samples: Sequence[Sample] = ()) -> None:
    Path(path).write_text(render(env, records, samples), encoding="utf-8")


def _phase_bands(run: Sequence[Record]) -> list[tuple[str, float, float]]:
    bands: list[tuple[str, float, float]] = []
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


def _frame(
    bands: list[tuple[str, float, float]], rollback: float | None, x: object, label: str, t1: float
) -> list[str]:
    assert callable(x)
    parts = []
    for name, start, end in bands:
        colour = PHASE_COLOURS.get(name)
        if colour is None:
            continue
        x0, x1 = x(start), max(x(end), x(start) + 1.5)
        parts.append(f"<rect x='{x0:.1f}' y='10' width='{x1 - x0:.1f}' height='{CHART_H - 30}' fill='{colour}'>"
                     f"<title>{name}</title></rect>")
        if x1 - x0 > 40:
            parts.append(f"<text x='{x0 + 3:.1f}' y='22' class=band>{name}</text>")
    bottom = CHART_H - 20
    for pct in (0, 25, 50, 75, 100):
        y = bottom - (bottom - 10) * pct / 100
        parts.append(f"<line x1='{LEFT}' x2='{WIDTH - RIGHT}' y1='{y:.1f}' y2='{y:.1f}' class=grid />")
        parts.append(f"<text x='{LEFT - 6}' y='{y + 4:.1f}' class=axis text-anchor=end>{pct}%</text>")
    if rollback is not None:
        rx = x(rollback)
        parts.append(f"<line x1='{rx:.1f}' x2='{rx:.1f}' y1='10' y2='{bottom}' stroke='{RED}' stroke-width='2' />")
        anchor, tx = ("end", rx - 4) if rx > WIDTH - 90 else ("start", rx + 4)
        parts.append(
            f"<text x='{tx:.1f}' y='{bottom - 6}' fill='{RED}' class=axis text-anchor={anchor}>rollback</text>"
        )
    parts.append(f"<text x='{LEFT}' y='{CHART_H - 4}' class=axis>{label}</text>")
    if bands:
        total = max(bands[-1][2], t1) - bands[0][1]
        parts.append(
            f"<text x='{WIDTH - RIGHT}' y='{CHART_H - 4}' class=axis text-anchor=end>+{_fmt(total)}</text>"
        )
    return parts


def _y(pct: float) -> float:
    bottom = CHART_H - 20
    return bottom - (bottom - 10) * max(0.0, min(100.0, pct)) / 100


def _weights_chart(run: Sequence[Record], samples: Sequence[Sample], bands: list[tuple[str, float, float]],
                   rollback: float | None, x: object, t1: float) -> str:
    assert callable(x)
    parts = _frame(bands, rollback, x, "time since the cutover started", t1)
    picks: tuple[tuple[str, Callable[[Record], int]], ...] = (
        (BLUE, lambda r: r.weights.blue), (GREEN, lambda r: r.weights.green)
    )
    for colour, pick in picks:
        points: list[str] = []
        previous: float | None = None
        for r in run:
            value = float(pick(r))
            if previous is not None and value != previous:
                points.append(f"{x(r.at):.1f},{_y(previous):.1f}")
            points.append(f"{x(r.at):.1f},{_y(value):.1f}")
            previous = value
        if previous is not None:
            points.append(f"{x(t1):.1f},{_y(previous):.1f}")
        parts.append(f"<polyline points='{' '.join(points)}' fill='none' stroke='{colour}' stroke-width='2.5' />")
    for s in samples:
        parts.append(f"<circle cx='{x(s.at):.1f}' cy='{_y(100 * s.green_share):.1f}' r='1.8' fill='#555' />")
    return _svg(parts)


def _success_chart(run: Sequence[Record], samples: Sequence[Sample], bands: list[tuple[str, float, float]],
                   rollback: float | None, x: object, t1: float) -> str:
    assert callable(x)
    label = "dots: the new slot's success rate per analysis window"
    if samples:
        label += "; grey line: every user request (load generator)"
    parts = _frame(bands, rollback, x, label, t1)
    for r in run:
        if r.event != "AnalysisCompleted":
            continue
        verdict = r.detail.get("verdict", {})
        evidence = verdict.get("evidence", {})
        rate = evidence.get("success_rate")
        if rate is None:
            continue
        colour = GREEN if verdict.get("outcome") == "pass" else RED
        title = html.escape(f"{verdict.get('outcome')}: {evidence.get('requests')} requests, "
                            f"{evidence.get('errors')} errors; {verdict.get('reason', '')}")
        parts.append(f"<circle cx='{x(r.at):.1f}' cy='{_y(rate):.1f}' r='4' fill='{colour}'><title>{title}"
                     f"</title></circle>")
    if samples:
        points = " ".join(f"{x(s.at):.1f},{_y(s.success_rate):.1f}" for s in samples)
        parts.append(f"<polyline points='{points}' fill='none' stroke='#555' stroke-width='1' />")
    return _svg(parts)


def _svg(parts: list[str]) -> str:
    return (f"<svg xmlns='http://www.w3.org/2000/svg' width='{WIDTH}' height='{CHART_H}' "
            f"viewBox='0 0 {WIDTH} {CHART_H}' role='img'>" + "".join(parts) + "</svg>")


def _phase_table(bands: list[tuple[str, float, float]], t0: float) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td><td>+{_fmt(start - t0)}</td><td>{_fmt(end - start)}</td></tr>"
        for name, start, end in bands
    )
    return f"<h2>Phases</h2><table><tr><th>phase</th><th>start</th><th>duration</th></tr>{rows}</table>"


def _fmt(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _page(env: str, body: str) -> str:
    title = html.escape(f"fleet cutover: {env}")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #1a202c; }}
h1 {{ font-size: 20px; }} h2 {{ font-size: 15px; margin: 18px 0 4px; }}
.band {{ font-size: 10px; fill: #4a5568; }} .axis {{ font-size: 11px; fill: #4a5568; }}
.grid {{ stroke: #e2e8f0; stroke-width: 1; }}
table {{ border-collapse: collapse; }} td, th {{ padding: 2px 12px 2px 0; text-align: left; }}
.legend span {{ margin-right: 16px; }}
</style></head>
<body><h1>{title}</h1>{body}</body></html>
"""
