"""How a run ends on the command line: the final table, the message, the exit code of the README's table."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from fleet.cli.options import emit

if TYPE_CHECKING:
    from fleet.domain.machine import EnvironmentState, Phase
    from fleet.ports import Record
    from fleet.report import ReportContext


def report_context(
    state: EnvironmentState | None, records: Sequence[Record], rehearsal: str | None, location: str | None,
    fallback_version: str | None = None,
) -> ReportContext:
    """What the report needs beyond the history: the old version and the reason, when the state still has them."""
    from fleet.report import ReportContext

    starts = [i for i, r in enumerate(records) if r.event == "CutoverRequested"]
    old, attempted = fallback_version, None
    for r in records[: starts[-1]] if starts else []:  # the version live before the last run: the last DONE target
        if r.event == "CutoverRequested":
            attempted = r.detail.get("target")
        elif r.phase == "DONE" and attempted is not None:
            old = str(attempted)
    c = None if state is None else state.cutover
    if state is None or c is None or not starts or records[starts[-1]].detail.get("id") != c.id:
        return ReportContext(rehearsal=rehearsal, old_version=old, state_location=location)
    kept = state.slot(c.old).version
    return ReportContext(
        rehearsal=rehearsal, old_version=str(kept) if kept is not None else old, reason=c.reason,
        state_location=location,
    )


# --- planning and running ----------------------------------------------------------


def exit_code(state: EnvironmentState, success: Phase) -> int:
    """The contract of the README's exit-code table for a run that ended in ``state``."""
    from fleet.cli.exits import EXIT_HALTED, EXIT_OK, EXIT_WAITING

    c = state.cutover
    if c is not None and c.phase is success:
        return EXIT_OK
    if c is not None and (c.awaiting_confirmation or c.awaiting_approval is not None):
        return EXIT_WAITING
    return EXIT_HALTED


def finish(
    state: EnvironmentState,
    output: str,
    *,
    success: Phase | None = None,
    extra: dict[str, Any] | None = None,
    notes: tuple[str, ...] = (),
    state_hint: str | None = None,
) -> None:
    """Render the final state and exit as the README's table says (0 done, 1 halted, 4 waiting for a person).

    ``state_hint``: the store to name in the commands suggested (a rehearsal's, never the default one).
    """
    from fleet.cli import render
    from fleet.cli.exits import EXIT_OK, EXIT_WAITING
    from fleet.domain.machine import Phase as P

    success = success or P.DONE
    c = state.cutover
    phase = c.phase if c is not None else None
    code = exit_code(state, success)
    ok = code == EXIT_OK
    message = f"{state.env}: {phase.value if phase else 'idle'}"
    if c is not None and c.reason and not ok and code != EXIT_WAITING:
        message += f": {c.reason}"
    where = f" --state {state_hint}" if state_hint else ""
    if c is not None and c.held:
        message += (
            f"\nlook at the traffic provider (fleet status {state.env}{where} shows both accounts); then continue "
            f"with: fleet resume {state.env}{where} (it re-applies the recorded weights)   or: "
            f"fleet rollback {state.env}{where}"
        )
    elif c is not None and c.awaiting_approval is not None:
        message += f": {c.reason}"
    elif c is not None and c.awaiting_confirmation:
        message += f": waiting for a person to confirm destroying the old slot {c.old} (kept for now)"
        message += f"\ndestroy it with: fleet resume {state.env}{where} --yes"
    elif c is not None and c.phase is P.TEARDOWN_OLD:
        message += f"\ntraffic is on {c.new}; retry removing {c.old} with: fleet resume {state.env}{where}"
    elif c is not None and c.phase in (P.FAILED, P.ROLLING_BACK):
        message += (
            f"\ncontinue with: fleet resume {state.env}{where}   or give up with: fleet abort {state.env}{where}"
        )
    for note in notes:
        message += f"\n{note}"
    data = {
        "result": phase.value if phase else None,
        "ok": ok,
        "exit_code": code,
        "message": message,
        "status": render.status_json(state.env, state),
        **(extra or {}),
    }

    def text() -> str:
        parts = []
        if extra and extra.get("timeline"):
            parts.append(render.table(render.timeline_table(extra["timeline"])))
        parts.append(render.table([render.status_row(state.env, state)]))
        parts.append(message)
        return "\n\n".join(parts)

    emit(output, data, text)
    sys.exit(code)


def nothing_in_flight(env: str, state: EnvironmentState | None, output: str, what: str) -> None:
    """``rollback``/``abort`` with no cutover in flight: nothing to do is success (exit 0), with a note."""
    from fleet.cli import render

    last = "" if state is None or state.last is None else f" (last cutover: {render.last_result(state)})"
    message = f"{env}: no cutover in flight, nothing to {what}{last}"
    data = {"result": None, "ok": True, "exit_code": 0, "message": message,
            "status": render.status_json(env, state)}
    emit(output, data, lambda: message)
    sys.exit(0)
