"""``fleet approve ENV [--step N]``: a person or a pipeline lets a held weight step go ahead.

Steps named in ``fleet:hooks.approval.steps`` wait before their weight is
set; the run that reaches one ends with exit 4 (waiting for a person), as
the teardown's confirmation does. This command records the approval in the
history (who approved which step) and continues the cutover from there, so
its exit codes are ``fleet resume``'s. ``--step`` approves a later step
ahead of time; without it, the step waiting now is approved.
"""

from __future__ import annotations

import click

from fleet.cli.drive import drive
from fleet.cli.options import current, force_unlock_option, is_rehearsal, output_option, state_option
from fleet.cli.outcome import finish
from fleet.cli.running import configured_location
from fleet.errors import UsageError


@click.command()
@click.argument("env")
@click.option("--step", "step", type=click.IntRange(min=1), metavar="N",
              help="The weight step to approve (1 is the first; default: the step waiting now).")
@click.option("--yes", "-y", is_flag=True, help="Destroy the old slot after its bake without asking.")
@force_unlock_option
@output_option
@state_option
def approve(env: str, step: int | None, yes: bool, force_unlock: bool, output: str) -> None:
    """Approve a held weight step of ENV's cutover and continue it."""
    from fleet.state import open_store

    ctx = current()
    location = ctx.state_option or configured_location(env)
    if is_rehearsal(open_store(location), env):
        from fleet.worlds import rehearsal_worlds

        rehearsal_worlds(location, env).approve(location, env, output, force_unlock, step or 0)
        return
    config = ctx.config(env)
    state = ctx.store(config).load(env)
    if state is None or not state.in_flight:
        raise UsageError(f"{env} has no cutover in flight; nothing to approve")
    final = drive(config, lambda engine: engine.approve(env, step, force_unlock=force_unlock), yes=yes)
    finish(final, output)


def register(cli: click.Group) -> None:
    cli.add_command(approve)
