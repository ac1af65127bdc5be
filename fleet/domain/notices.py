"""What a cutover tells the outside world: which moments are worth a message, and the message.

People want to hear about phase changes, rollbacks, halts (a cutover that
stopped for a person: FAILED, held for drift, waiting for a confirmation or
an approval) and completions, not about every event the engine records.
This module decides which history record is such a moment and builds the
payload, so that the choice is a pure function tests and property tests
can see, and the adapters only carry bytes.

The generic webhook payload is documented in ``docs/notifications.md`` and
``docs/notification.schema.json``; ``SCHEMA`` names its version, and a
change that removes or retypes a field gets a new one. A payload addressed
to a tenant (its contact is the target) carries the tenant's name.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from fleet.domain.machine import EnvironmentState, Phase

SCHEMA = "fleet.notification/v1"

KINDS = ("phase", "rollback", "halt", "waiting", "done", "step")
"""``step`` (a weight step applied) is sent only to targets that ask for it: load-test triggers."""
DEFAULT_KINDS = frozenset(KINDS) - {"step"}

_HALTS = frozenset({"DriftObserved", "TeardownRefused"})
_WAITS = frozenset({"TeardownDeclined", "ApprovalPending"})


def classify(event: str, phase_changed: bool, state: EnvironmentState) -> str | None:
    """The kind of notice the record of ``event`` (leaving ``state``) is, or None when it is not one."""
    c = state.cutover
    if c is None:
        return None
    if phase_changed:
        match c.phase:
            case Phase.DONE:
                return "done"
            case Phase.ROLLING_BACK | Phase.ROLLED_BACK | Phase.ABORTED:
                return "rollback"
            case Phase.FAILED:
                return "halt"
        return "phase"
    if event in _HALTS and c.held:
        return "halt"
    if event in _WAITS:
        return "waiting"
    if event == "WeightsApplied" and c.phase is Phase.SHIFT:
        return "step"
    return None


def wanted(kind: str, events: frozenset[str]) -> bool:
    return kind in (events or DEFAULT_KINDS)


def summary(kind: str, state: EnvironmentState) -> str:
    """One line a person reads in chat."""
    c = state.cutover
    assert c is not None
    head = f"fleet {state.env}: cutover {c.old} -> {c.new} ({c.target})"
    match kind:
        case "done":
            return f"{head} is DONE: {c.new} serves all traffic, {c.old} destroyed"
        case "rollback":
            return f"{head} {c.phase}: {c.reason or 'rolled back'}"
        case "halt":
            return f"{head} halted in {c.phase.value if c.phase is not Phase.FAILED else c.resume_phase}: {c.reason}"
        case "waiting":
            return f"{head} waits for a person: {c.reason}"
        case "step":
            return f"{head}: {c.new} now takes {state.weights.of(c.new)}% ({c.step_label()})"
    return f"{head} entered {c.phase}"


def payload(
    kind: str,
    state: EnvironmentState,
    *,
    seq: int,
    at: float,
    event: str,
    actor: Mapping[str, str],
    tenant: str | None = None,
) -> dict[str, Any]:
    """The generic JSON webhook's document (schema ``SCHEMA``)."""
    c = state.cutover
    assert c is not None
    return {
        "schema": SCHEMA,
        "id": f"{state.env}/{c.id}/{seq}",
        "kind": kind,
        "env": state.env,
        "tenant": tenant,
        "at": datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds"),
        "seq": seq,
        "event": event,
        "text": summary(kind, state),
        "cutover": {
            "id": c.id,
            "old": c.old.value,
            "new": c.new.value,
            "target": str(c.target),
            "phase": c.phase.value,
            "step": c.step + 1 if c.phase is Phase.SHIFT else None,
            "steps": list(c.steps),
            "reason": c.reason,
        },
        "weights": {"blue": state.weights.blue, "green": state.weights.green},
        "actor": dict(actor),
    }


def slack_body(document: Mapping[str, Any]) -> dict[str, Any]:
    """A Slack incoming webhook's message for ``document`` (``text`` is all Slack needs)."""
    icon = {"done": ":white_check_mark:", "rollback": ":rewind:", "halt": ":octagonal_sign:",
            "waiting": ":raised_hand:"}.get(str(document["kind"]), ":arrows_counterclockwise:")
    to = f" (for {document['tenant']})" if document.get("tenant") else ""
    return {"text": f"{icon} {document['text']}{to}"}
