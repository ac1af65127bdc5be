"""The report's charts: inline SVG for weights, success rate, latency and the phases, on one time axis."""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from fleet.ports import Record
from fleet.report.data import BLUE, GREEN, PHASE_COLOURS, RED, Band, Sample, Window


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


def _fmt(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
