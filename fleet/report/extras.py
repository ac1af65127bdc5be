"""Sections of the HTML report beyond the timeline: what the second slot cost, and the notifications sent.

Both come from the history alone: slot-hours from ``fleet.domain.cost``
(an interval still open is counted until the history's last record, so a
report says the same whenever it is drawn), deliveries from the
``NotificationsSent`` records the engine journals.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import UTC, datetime

from fleet.domain.cost import environment_cost, hours
from fleet.ports import Record

DELIVERIES = "NotificationsSent"


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _wall(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def cost_section(env: str, records: Sequence[Record]) -> str:
    if not records:
        return ""
    cost = environment_cost(env, records, records[-1].at)
    if not cost.cutovers:
        return ""
    rows = "".join(
        f"<tr><td>{_esc(c.id)}</td><td>{_esc(c.target)}</td><td>{_esc(_wall(c.started_at))}</td>"
        f"<td>{_esc(c.outcome or 'in flight')}</td><td>{_esc(hours(c.both_s))}"
        f"{' (still standing)' if c.both_since is not None else ''}</td></tr>"
        for c in cost.cutovers
    )
    return (f"<h2>What blue/green cost: two slots for {_esc(hours(cost.both_s))}</h2>"
            "<p class=note>Hours during which both slots existed (the second cluster's hours), per cutover, "
            "from the start of its provisioning until a slot was destroyed; a slot left after a rollback "
            "counts until the next cutover.</p>"
            "<div class=scroll><table><tr><th>cutover</th><th>to</th><th>started</th><th>outcome</th>"
            f"<th>two slots</th></tr>{rows}</table></div>")


def deliveries_section(run: Sequence[Record]) -> str:
    sent = [d for r in run if r.event == DELIVERIES for d in r.detail.get("deliveries", [])]
    if not sent:
        return ""
    rows = "".join(
        f"<tr><td>{_esc(d.get('kind'))}</td><td>{_esc(d.get('target'))}</td><td>{_esc(d.get('tenant') or '-')}</td>"
        f"<td>{_esc(d.get('status'))}</td><td>{_esc(d.get('attempts'))}</td><td>{_esc(d.get('error') or '')}</td></tr>"
        for d in sent
    )
    return ("<h2>Notifications</h2><div class=scroll><table><tr><th>kind</th><th>target</th><th>tenant</th>"
            f"<th>status</th><th>attempts</th><th>error</th></tr>{rows}</table></div>")
