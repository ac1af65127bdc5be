"""The operator's commands, registered on the ``fleet`` group, and ``fleet state repair``.

The commands live by concern: :mod:`fleet.cli.inspection` (validate, status,
history), :mod:`fleet.cli.running` (plan, cutover, resume, rollback, abort);
``fleet rehearse`` registers itself from :mod:`fleet.cli.rehearse`.
"""

from __future__ import annotations

import click

from fleet.cli.inspection import history, status, validate
from fleet.cli.options import current, emit, force_unlock_option, output_option, state_option
from fleet.cli.running import abort, cutover, plan, resume, rollback
from fleet.errors import UsageError


def register(cli: click.Group) -> None:
    for command in (validate, status, plan, cutover, resume, rollback, abort, history, state):
        cli.add_command(command)


@click.group()
def state() -> None:
    """Look after the state store itself."""


@state.command()
@click.argument("env")
@force_unlock_option
@output_option
@state_option
def repair(env: str, force_unlock: bool, output: str) -> None:
    """Keep ENV's damaged history aside and go on from its last good record.

    Every command refuses a history that is torn, edited or has a gap (exit 2,
    naming the file and the last good record). This command, under the
    environment's lock, keeps the damaged file (or S3 records) aside, keeps
    the good records, and writes a HistoryRepaired record naming the lost
    ones; the state itself is not changed. It exits 0 with nothing to do when
    the history is whole.
    """
    from fleet import audit
    from fleet.cli import render

    ctx = current()
    store = ctx.store_for(env)
    fix = getattr(store, "repair", None)
    if fix is None:
        raise UsageError(f"the store at {store.location} cannot repair a history")
    with store.lock(env, lease_s=60.0, force=force_unlock):
        result = fix(env, dict(audit.actor()))

    def text() -> str:
        if not result["repaired"]:
            return f"{env}: the history is whole ({result['records']} records in {result['file']}); nothing to do"
        return (
            f"{env}: {result['damage']}\nkept records 1-{result['kept']}, lost {result['lost']}; "
            f"the damaged history is kept at {result['aside']}\n"
            + render.table([{k: str(v) for k, v in result.items()}])
        )

    emit(output, result, text)
