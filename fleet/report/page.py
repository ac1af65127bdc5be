"""The report's page: the title, the outcome and its reason, the charts, the tables; written to one HTML file."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from fleet.ports import Record
from fleet.report.charts import _both, _esc, _fmt, _latency_chart, _phase_lane, _success_chart, _weights_chart
from fleet.report.data import (
    BLUE,
    FAILED_SHOWN,
    GREEN,
    GREY,
    RED,
    Band,
    ReportContext,
    Sample,
    UserFailure,
    Window,
    _last_run,
    _phase_bands,
    _reason,
    _thresholds,
    _windows,
)
from fleet.report.extras import cost_section, deliveries_section
from fleet.report.tenants import tenant_section


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
