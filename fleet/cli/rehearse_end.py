"""How a rehearsal ends on the command line, and how ``fleet resume`` finishes one left in flight.

What the rehearse command registers in :mod:`fleet.worlds`: ``fleet resume``
of a rehearsal's state comes here (never to production adapters), and picks
the world (real parts or the in-memory fleet) by the rehearsal's marker.
"""

from __future__ import annotations

import re
import shutil
from typing import Any

import click

from fleet.cli.options import confirm
from fleet.cli.outcome import finish
from fleet.errors import FleetError, LockedError, UsageError


def with_state(err: LockedError, location: str) -> LockedError:
    """The same error, its suggested command naming the rehearsal's store."""
    holder = re.sub(rf"`fleet (\w+) {re.escape(err.env)}\b", rf"`fleet \1 {err.env} --state {location}", err.holder)
    return LockedError(err.env, holder, expired=err.expired)


def tidy(env: str, location: str, temporary: bool, final: Any, answered_itself: bool) -> tuple[str, ...]:
    """Remove a temporary state dir nobody needs (the run ended DONE); otherwise keep it and say so."""
    c = None if final is None else final.cutover
    answered: tuple[str, ...] = ()
    if c is not None and c.confirmed and c.teardown.confirm and answered_itself:
        answered = ("the configuration asks to confirm destroying the old slot; the rehearsal answered yes "
                    "(--confirm-teardown ask rehearses the question)",)
    return answered + _tidy_dir(env, location, temporary, c)


def _tidy_dir(env: str, location: str, temporary: bool, c: Any) -> tuple[str, ...]:
    if not temporary:
        return ()
    if c is not None and c.phase.value == "DONE":
        shutil.rmtree(location, ignore_errors=True)
        return (f"removed the rehearsal's state dir {location} (--state DIR keeps it)",)
    if c is not None and c.awaiting_confirmation:
        return (f"state kept in {location}; destroy the old slot with: fleet resume {env} --state {location} --yes",)
    if c is not None and c.in_flight:
        return (f"state kept in {location}; continue with: fleet resume {env} --state {location}",)
    return (f"state kept in {location}; look at it with: fleet history {env} --state {location}",)


def kept(notes: tuple[str, ...]) -> bool:
    return not any(note.startswith("removed the rehearsal's state dir") for note in notes)


def finish_real(env: str, final: Any, run: Any, report: str | None, output: str, temporary: bool = False,
                 answered_itself: bool = True, configured: str | None = None,
                 extra: dict[str, Any] | None = None) -> None:
    from fleet.cli import render
    from fleet.cli.outcome import report_context
    from fleet.rehearsal.summary import observed, samples, traffic_summary
    from fleet.report import UserFailure, save_users, write_report

    records = run.store.history(env)
    seen = samples(run)
    failed = [UserFailure(at=q.at + run.clock_offset, slot=q.slot, status=q.status, latency_ms=1000 * q.latency_s,
                          error=q.error) for q in run.requests if q.failed]
    save_users(run.location, seen, failed)  # for fleet history --report
    if report:
        context = report_context(final, records, getattr(run, "kind", "real parts"), run.location, configured)
        write_report(report, env, records, seen, failed=failed, context=context)
    world = {
        "clusters": run.world.clusters,
        "created": run.world.created,
        "destroyed": run.world.destroyed,
        "weight_changes": run.world.weight_changes,
    }
    traffic = traffic_summary(run, records)
    if run.kube == "real":
        for slot, revisions in sorted(run.revisions.items()):
            applied = ", ".join(f"{source} {rev}" for source, rev in sorted(revisions.items()))
            click.echo(f"Flux applied on {slot}: {applied}", err=True)
    click.echo(
        f"load: {traffic['requests']} requests at {traffic['rate_rps']} req/s through "
        f"{getattr(run, 'through', 'HAProxy')}, "
        f"{traffic['failed']} failed",
        err=True,
    )
    timeline = render.timeline(records, observed(run))
    notes = tidy(env, run.location, temporary, final, answered_itself)
    finish(final, output, notes=notes, state_hint=run.location, extra={
        "timeline": timeline,
        "state_location": run.location,
        "state_kept": kept(notes),
        "world": world,
        "waits": run.waits.to_json(),
        "traffic": traffic,
        "mode": "real",
        "cluster_world": run.kube,
        "revisions": run.revisions,
        **(extra or {}),
    })


def describe(location: str, env: str) -> str:
    from fleet.rehearsal.real import rehearsal_mode

    return "real parts" if rehearsal_mode(location, env) == "real" else "in memory, simulated clock"


def resume(location: str, env: str, output: str, force_unlock: bool, yes: bool) -> None:
    """``fleet resume`` of a rehearsal's state: refuse one with nothing in flight, else finish it on its world."""
    from fleet.cli import render
    from fleet.state import open_store

    try:
        state = open_store(location, rehearsal=True).load(env)
    except FleetError:  # resume_rehearsal names the damaged file, in its own order (the lock first)
        state = None
    else:
        if state is None or not state.in_flight:  # before anything starts: a rehearsal's HAProxy and APIs
            last = "" if state is None or state.last is None else f" (last cutover: {render.last_result(state)})"
            raise UsageError(f"{env} has no cutover in flight in {location}; nothing to resume{last}")
    # A rehearsal answers its own teardown question, unless it was rehearsing the question (then --yes).
    asked = state is not None and state.cutover is not None and state.cutover.awaiting_confirmation
    resume_rehearsal(location, env, output, force_unlock=force_unlock, confirm=confirm(yes) if asked else None)


def approve(location: str, env: str, output: str, force_unlock: bool, step: int) -> None:
    """``fleet approve`` of a rehearsal's step: recorded, then the rehearsal goes on on its own world."""
    resume_rehearsal(location, env, output, force_unlock=force_unlock, approve=step)


def resume_rehearsal(
    location: str, env: str, output: str, *, force_unlock: bool, confirm: Any = None, approve: int | None = None
) -> None:
    """``fleet resume`` of a rehearsal's state (local or S3): finish it the way it was started.

    ``approve``: ``fleet approve`` of that step (0: the step waiting) instead of a plain resume.
    """
    from fleet.cli import render
    from fleet.rehearsal.real import rehearsal_mode

    if rehearsal_mode(location, env) == "real":
        from fleet.rehearsal.own_providers import refuse_resume

        refuse_resume(location, env)
        if approve is not None:
            raise UsageError("fleet approve continues simulated rehearsals only; a real-parts rehearsal has no gates")
        from fleet.rehearsal.real import resume_real

        click.echo(f"resuming the rehearsal of {env}: restarting its HAProxy, load and Kubernetes APIs", err=True)
        from fleet.cli.progress import Progress

        progress = Progress()
        try:
            final, run = resume_real(location, env, progress, force_unlock=force_unlock, confirm=confirm)
        except LockedError as err:
            raise with_state(err, location) from err
        finally:
            progress.close()
        finish_real(env, final, run, None, output, answered_itself=confirm is None)
        return
    from fleet.cli.progress import Progress
    from fleet.rehearsal.inmemory import resume_rehearsal as resume_simulated
    from fleet.state import open_store

    progress = Progress()
    try:
        final = resume_simulated(location, env, progress, force_unlock=force_unlock, confirm=confirm,
                                 approve=approve)
    except LockedError as err:
        raise with_state(err, location) from err
    finally:
        progress.close()
    finish(final, output, state_hint=location,
           extra={"timeline": render.timeline(open_store(location, rehearsal=True).history(env))})
