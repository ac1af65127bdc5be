"""A tenant's own account of a cutover, from the history: what a team that did not ask for it wants to know.

Tenants did not choose to have their cluster replaced; when it happens they
want, in their own terms: which of their Kustomizations and HelmReleases were
compared on both slots and at which revision, when their traffic started to
move, how their own requests fared at each step (success rate, p99), and, on a
rollback or a halt, whether it was them and which of their objects blocked,
with Flux's own message. :func:`tenant_story` reads that from the last
cutover's history records (which already hold every health report and every
verdict, tenants included); :func:`story_text` and :func:`story_message` are
what ``fleet status --tenant``, ``fleet history`` and the notification channels
show and send. Pure: records in, values out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from fleet.domain.health import HealthSettings
from fleet.domain.model import Weights
from fleet.domain.reports import ObjectRef
from fleet.domain.tenants import TenantContact

SCHEMA_VERSION = 1
"""Of :func:`story_message`'s payload."""


class HistoryRecord(Protocol):
    """What a history record offers (``fleet.ports.Record``)."""

    @property
    def at(self) -> float: ...
    @property
    def event(self) -> str: ...
    @property
    def phase(self) -> str | None: ...
    @property
    def weights(self) -> Weights: ...
    @property
    def detail(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class ObjectCompared:
    ref: str
    old: str | None
    """What it ran on the live slot (revision or chart), None when absent there."""
    new: str | None
    ready_old: bool
    ready_new: bool


@dataclass(frozen=True)
class TenantStep:
    at: float
    weight: int
    """The new slot's share of the traffic while this window was judged."""
    outcome: str
    requests: int
    errors: int
    success_rate: float | None
    p99_ms: float | None
    reason: str
    probes: str | None = None


@dataclass(frozen=True)
class TenantStory:
    tenant: str
    env: str
    cutover: str | None = None
    target: str | None = None
    old_slot: str | None = None
    new_slot: str | None = None
    outcome: str | None = None
    """The cutover's phase (DONE, ROLLED_BACK, FAILED, ...) or the phase it is in."""
    reason: str | None = None
    objects: tuple[ObjectCompared, ...] = ()
    blocking: tuple[str, ...] = ()
    """This tenant's objects that kept the new slot from being healthy, with Flux's message."""
    traffic_moved_at: float | None = None
    steps: tuple[TenantStep, ...] = ()
    caused: bool = False
    """Whether this tenant caused the rollback or halt."""
    contact: TenantContact = field(default_factory=TenantContact)


def _ref(raw: Mapping[str, Any]) -> ObjectRef:
    return ObjectRef(str(raw.get("kind", "")), str(raw.get("namespace", "")), str(raw.get("name", "")))


def _runs(report: Mapping[str, Any]) -> dict[ObjectRef, str]:
    found: dict[ObjectRef, str] = {}
    for running in report.get("running") or []:
        ref = _ref(running.get("ref") or {})
        if running.get("chart") or running.get("chart_version"):
            found[ref] = f"chart {running.get('chart') or '?'}@{running.get('chart_version') or '?'}"
        else:
            found[ref] = str(running.get("revision") or "nothing")
    return found


def _owned(reports: Sequence[Mapping[str, Any]], tenant: str) -> set[ObjectRef]:
    """What the gate counted as the tenant's (by name, root Kustomization, labels or namespace)."""
    owned: set[ObjectRef] = set()
    for report in reports:
        for entry in report.get("tenants") or []:
            if entry.get("tenant") == tenant:
                owned |= {_ref(r) for r in entry.get("refs") or []}
                owned |= {_ref(f.get("ref") or {}) for f in entry.get("failures") or []}
    return owned


def _compare(old: Mapping[str, Any], new: Mapping[str, Any], tenant: str, settings: HealthSettings) -> tuple[
    ObjectCompared, ...
]:
    owned = _owned((old, new), tenant)

    def mine(ref: ObjectRef) -> bool:
        return ref in owned or settings.tenant_of(ref) == tenant

    ready_old = {r for r in (_ref(x) for x in old.get("ready") or []) if mine(r)}
    ready_new = {r for r in (_ref(x) for x in new.get("ready") or []) if mine(r)}
    failing_new = {_ref(f.get("ref") or {}) for f in new.get("failures") or []}
    runs_old, runs_new = _runs(old), _runs(new)
    refs = ready_old | ready_new | {r for r in failing_new if mine(r)}
    refs |= {r for r in runs_old.keys() | runs_new.keys() if mine(r)}
    return tuple(
        ObjectCompared(str(r), runs_old.get(r), runs_new.get(r), r in ready_old, r in ready_new)
        for r in sorted(refs) if r.kind in ("Kustomization", "HelmRelease")
    )


def _blocking(report: Mapping[str, Any], tenant: str) -> tuple[str, ...]:
    for entry in report.get("tenants") or []:
        if entry.get("tenant") == tenant:
            return tuple(
                f"{_ref(f.get('ref') or {})}: {f.get('reason')}: {f.get('message')}"
                for f in entry.get("failures") or [] if not f.get("transient")
            )
    return ()


def tenant_story(
    tenant: str,
    env: str,
    records: Sequence[HistoryRecord],
    settings: HealthSettings,
    *,
    contact: TenantContact | None = None,
    reason: str | None = None,
) -> TenantStory:
    """``tenant``'s account of ``env``'s last cutover, from its history records.

    ``reason``: the cutover's own reason when the state still has it (a halt at WAIT_HEALTHY is recorded as a
    health report, not a sentence); otherwise the verdict that rolled it back.
    """
    starts = [i for i, r in enumerate(records) if r.event == "CutoverRequested"]
    story = TenantStory(tenant, env, contact=contact or TenantContact())
    if not starts:
        return story
    run = records[starts[-1]:]
    first = run[0].detail
    old_slot = new_slot = None
    objects: tuple[ObjectCompared, ...] = ()
    blocking: tuple[str, ...] = ()
    moved_at: float | None = None
    steps: list[TenantStep] = []
    new_share = 0
    for record in run:
        detail = record.detail
        if record.event == "SlotProvisioned":
            new_slot = str(detail.get("slot"))
            old_slot = "blue" if new_slot == "green" else "green"
        elif record.event == "HealthReported" and isinstance(detail.get("report"), Mapping):
            report = detail["report"]
            if new_slot is None or report.get("slot") == new_slot:
                blocking = _blocking(report, tenant)
                if not objects:
                    objects = _compare({}, report, tenant, settings)
        elif record.event == "ParityObserved":
            objects = _compare(detail.get("old") or {}, detail.get("new") or {}, tenant, settings)
            blocking = _blocking(detail.get("new") or {}, tenant)
        elif record.event == "WeightsApplied" and new_slot is not None:
            new_share = record.weights.green if new_slot == "green" else record.weights.blue
            if new_share > 0 and moved_at is None:
                moved_at = record.at
        elif record.event == "AnalysisCompleted":
            verdict = detail.get("verdict") or {}
            mine = next((t for t in verdict.get("tenants") or [] if t.get("tenant") == tenant), None)
            if mine is not None:
                evidence = mine.get("evidence") or {}
                probe = mine.get("probe")
                steps.append(TenantStep(
                    at=record.at, weight=new_share, outcome=str(mine.get("outcome")),
                    requests=int(evidence.get("requests") or 0), errors=int(evidence.get("errors") or 0),
                    success_rate=evidence.get("success_rate"), p99_ms=evidence.get("p99_ms"),
                    reason=str(mine.get("reason") or ""),
                    probes=None if not probe else f"{probe.get('requests', 0)} probes, {probe.get('errors', 0)} failed",
                ))
    last = run[-1]
    halted = last.phase in _HALTED
    why = reason or _last_reason(run)
    blocking = blocking if halted else ()
    caused = halted and (f"tenant {tenant}:" in (why or "") or bool(blocking))
    return TenantStory(
        tenant=tenant, env=env, cutover=str(first.get("id") or "") or None, target=first.get("target"),
        old_slot=old_slot, new_slot=new_slot, outcome=last.phase, reason=why if halted else None,
        objects=objects, blocking=blocking, traffic_moved_at=moved_at, steps=tuple(steps), caused=caused,
        contact=contact or TenantContact(),
    )


_HALTED = frozenset({"FAILED", "ROLLING_BACK", "ROLLED_BACK", "ABORTED"})


def _last_reason(run: Sequence[HistoryRecord]) -> str | None:
    """Why traffic went back, as far as the records say: the verdict that rolled the cutover back."""
    for record in reversed(run):
        verdict = record.detail.get("verdict")
        if record.phase in _HALTED and isinstance(verdict, Mapping) and verdict.get("outcome") == "fail":
            return str(verdict.get("reason") or "") or None
    return None


def story_text(story: TenantStory) -> str:
    """The story in a tenant's terms, a few lines."""
    if story.cutover is None:
        return f"{story.tenant}: no cutover of {story.env} recorded"
    lines = [
        f"{story.tenant}: cutover {story.cutover} of {story.env} to {story.target} "
        f"({story.old_slot} -> {story.new_slot}): {story.outcome}",
    ]
    if story.outcome in _HALTED:
        lines.append(f"  caused by {story.tenant}: {'yes' if story.caused else 'no'}" + (
            f" ({story.reason})" if story.reason else ""))
    for obj in story.objects:
        lines.append(
            f"  {obj.ref}: {story.old_slot} {obj.old or '-'}{'' if obj.ready_old else ' (not Ready)'}, "
            f"{story.new_slot} {obj.new or '-'}{'' if obj.ready_new else ' (not Ready)'}"
        )
    lines.extend(f"  blocking: {b}" for b in story.blocking)
    if story.traffic_moved_at is not None:
        lines.append(f"  traffic started moving at {_utc(story.traffic_moved_at)}")
    for step in story.steps:
        rate = "n/a" if step.success_rate is None else f"{step.success_rate:.2f}%"
        p99 = "" if step.p99_ms is None else f", p99 {step.p99_ms:.0f} ms"
        probes = f"; {step.probes}" if step.probes else ""
        outcome = "too little traffic to judge" if step.outcome == "inconclusive" else step.outcome
        lines.append(f"  at {step.weight}%: {outcome}: {rate} of {step.requests} requests{p99}{probes}")
    return "\n".join(lines)


def story_json(story: TenantStory) -> dict[str, Any]:
    from dataclasses import asdict

    return {"schemaVersion": SCHEMA_VERSION, **asdict(story)}


def story_message(story: TenantStory) -> dict[str, Any]:
    """What a notifier sends the tenant: where to (its contact), a title, the text, and the story as data."""
    title = f"{story.env}: cutover {story.outcome or 'not started'}"
    if story.caused:
        title += f" because of {story.tenant}"
    return {
        "schemaVersion": SCHEMA_VERSION,
        "tenant": story.tenant,
        "webhook": story.contact.webhook,
        "slack": story.contact.slack,
        "title": title,
        "text": story_text(story),
        "story": story_json(story),
    }


def _utc(at: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(at, dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
