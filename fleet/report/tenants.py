"""The HTML report's per-tenant section: each tenant's objects, revisions, steps and share of the blame."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape

from fleet.domain.tenant_story import TenantStory


def tenant_section(stories: Sequence[TenantStory]) -> str:
    if not stories:
        return ""
    parts = ["<h2>Tenants</h2>"]
    for story in stories:
        verdict = ""
        if story.outcome in ("ROLLED_BACK", "FAILED", "ABORTED", "ROLLING_BACK"):
            verdict = (f" <span class=bad>caused the {escape(story.outcome.lower())}</span>" if story.caused
                       else " (not the cause)")
        parts.append(f"<h3>{escape(story.tenant)}{verdict}</h3>")
        contact = ", ".join(x for x in (story.contact.slack, story.contact.webhook) if x)
        if contact:
            parts.append(f"<p class=note>told at {escape(contact)}</p>")
        if story.objects:
            rows = "".join(
                f"<tr><td>{escape(o.ref)}</td><td>{escape(o.old or '-')}{'' if o.ready_old else ' (not Ready)'}</td>"
                f"<td>{escape(o.new or '-')}{'' if o.ready_new else ' (not Ready)'}</td></tr>"
                for o in story.objects
            )
            parts.append(f"<div class=scroll><table><tr><th>object</th><th>{escape(story.old_slot or 'old')}</th>"
                         f"<th>{escape(story.new_slot or 'new')}</th></tr>{rows}</table></div>")
        else:
            parts.append("<p class=note>No Kustomization or HelmRelease of this tenant was compared.</p>")
        if story.traffic_moved_at is not None:
            moved = datetime.fromtimestamp(story.traffic_moved_at, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
            parts.append(f"<p>Traffic started moving to {escape(story.new_slot or 'the new slot')} at {moved}.</p>")
        else:
            parts.append("<p>No traffic moved to the new slot.</p>")
        if story.blocking:
            parts.append("<p>Blocking:</p><ul>" + "".join(f"<li>{escape(b)}</li>" for b in story.blocking) + "</ul>")
        if story.steps:
            rows = "".join(
                f"<tr><td>{s.weight}%</td><td class={'ok' if s.outcome == 'pass' else 'bad'}>{escape(s.outcome)}</td>"
                f"<td>{'n/a' if s.success_rate is None else f'{s.success_rate:.2f}%'} of {s.requests}</td>"
                f"<td>{'-' if s.p99_ms is None else f'{s.p99_ms:.0f} ms'}</td>"
                f"<td class=reason>{escape(s.reason)}{'; ' + escape(s.probes) if s.probes else ''}</td></tr>"
                for s in story.steps
            )
            parts.append("<div class=scroll><table><tr><th>new slot's share</th><th>verdict</th><th>success rate</th>"
                         f"<th>p99</th><th>why</th></tr>{rows}</table></div>")
        else:
            parts.append("<p class=note>This tenant's traffic was not told apart (no traffic settings).</p>")
    return "".join(parts)
