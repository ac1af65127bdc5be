"""What every command shares: its options, the context object, and small helpers for answers.

Every command module imports this one and nothing of its peers, so the
command modules never import each other (the rehearse command and the
production commands used to, in a cycle).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from fleet.errors import UsageError

if TYPE_CHECKING:
    from fleet.cli.context import Context
    from fleet.domain.model import Version
    from fleet.ports import StateStore

# Commands import the engine, the domain and tabulate inside their bodies: ``fleet --help``
# must start in well under 200 ms, and those imports alone cost more than that.

output_option = click.option(
    "--output",
    "-o",
    "output",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="Render for people (table) or machines (json).",
)


def _set_state(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value:
        root = ctx.find_root()
        if root.obj is not None:
            root.obj.state_option = value


state_option = click.option(
    "--state",
    metavar="LOCATION",
    expose_value=False,
    callback=_set_state,
    is_eager=True,
    help="State store: a directory (default .fleet/state) or s3://bucket/prefix.",
)
wait_option = click.option(
    "--wait",
    type=click.FloatRange(min=0),
    default=120.0,
    show_default=True,
    metavar="SECONDS",
    help="When another run holds the lock, how long to wait for it to carry out the request.",
)
force_unlock_option = click.option(
    "--force-unlock", is_flag=True, help="Take over the environment's lock if its lease has expired."
)


def current() -> Context:
    """The :class:`~fleet.cli.context.Context` the ``fleet`` group made for this invocation."""
    from fleet.cli.context import Context

    obj = click.get_current_context().obj
    assert isinstance(obj, Context)
    return obj


def parse_version(text: str) -> Version:
    from fleet.domain.model import Version

    try:
        return Version.parse(text)
    except ValueError as err:
        raise UsageError(f"--to: {err}") from err


def emit(output: str, data: Any, text: Callable[[], str]) -> None:
    """One answer, as JSON for machines or as the text ``text()`` draws for people."""
    from fleet.cli import render

    click.echo(render.to_json(data) if output == "json" else text())


def confirm(yes: bool) -> Callable[[str], bool]:
    """The answer to a question: yes with ``--yes``, else ask on a terminal, else no."""

    def ask(question: str) -> bool:
        if yes:
            return True
        if not sys.stdin.isatty():
            return False
        return click.confirm(question, default=False, err=True)

    return ask


def is_rehearsal(store: StateStore, env: str) -> bool:
    """Whether ENV's state in ``store`` is a rehearsal's (its state says so, wherever it lives)."""
    check = getattr(store, "is_rehearsal", None)
    return bool(check(env)) if check is not None else False
