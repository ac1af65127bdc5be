"""The ``fleet`` command line: a thin shell over the engine.

Commands parse their arguments, call the engine or a store, and render the
result. This module is the single error boundary: fleet's exceptions become
one line on stderr and an exit code, never a traceback. The exit codes are a
contract pipelines branch on (``EXIT_CODES``, printed by ``--help`` and
tabled in the README; ``tests/cli/test_exit_codes.py`` checks them command by
command). Start-up stays fast because
nothing here imports pulumi, kubernetes or boto3; adapters are imported only
by the commands that need them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

import click

from fleet import __version__
from fleet.cli.exits import (
    EXIT_CODES,
    EXIT_HALTED,
    EXIT_KILLED,
    EXIT_LOCKED,
    EXIT_OK,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    EXIT_WAITING,
)
from fleet.errors import FleetError

__all__ = [
    "EXIT_CODES",
    "EXIT_HALTED",
    "EXIT_KILLED",
    "EXIT_LOCKED",
    "EXIT_OK",
    "EXIT_UNREACHABLE",
    "EXIT_USAGE",
    "EXIT_WAITING",
    "cli",
    "main",
]


def _message(err: Exception) -> str:
    text = str(err)
    return text if text.startswith("fleet") else f"fleet: {text}"


class FleetGroup(click.Group):
    """Turns fleet's errors into exit codes in one place."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.Exit as done:
            sys.exit(done.exit_code)
        except click.ClickException as err:
            err.show()
            sys.exit(EXIT_USAGE)
        except click.Abort:
            click.echo("interrupted", err=True)
            sys.exit(EXIT_HALTED)
        except FleetError as err:
            click.echo(_message(err), err=True)
            sys.exit(err.exit_code)
        except KeyboardInterrupt:
            click.echo("\nfleet: interrupted; the state is saved, continue with `fleet resume ENV`", err=True)
            sys.exit(EXIT_HALTED)
        except Exception as err:
            if os.environ.get("FLEET_DEBUG"):
                raise
            click.echo(
                f"fleet: internal error ({type(err).__name__}: {err}); the state is saved at the last "
                "checkpoint; set FLEET_DEBUG=1 for the traceback and please report it",
                err=True,
            )
            sys.exit(EXIT_HALTED)


def _epilog() -> str:
    rows = "\n".join(f"  {code:<4} {meaning}" for code, meaning in EXIT_CODES)
    return "\b\nExit codes:\n" + rows


@click.group(
    cls=FleetGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=_epilog(),
)
@click.version_option(__version__, prog_name="fleet")
@click.option(
    "--project",
    "project",
    type=click.Path(file_okay=False),
    envvar="FLEET_PROJECT",
    help="Directory holding Pulumi.yaml and stacks/ (default: this directory or a parent).",
)
@click.option(
    "--state",
    "state",
    metavar="LOCATION",
    envvar="FLEET_STATE",
    help="State store: a directory (default .fleet/state) or s3://bucket/prefix.",
)
@click.pass_context
def cli(ctx: click.Context, project: str | None, state: str | None) -> None:
    """Replace Kubernetes clusters blue/green instead of upgrading them in place."""
    from fleet.cli.context import Context

    ctx.obj = Context(project_option=project, state_option=state)


def main() -> None:
    cli.main(prog_name="fleet")


from fleet.cli import approve, commands, rehearse  # noqa: E402  (commands attach themselves to ``cli``)
from fleet.cli import upgrade as _upgrade  # noqa: E402

commands.register(cli)
rehearse.register(cli)
_upgrade.register(cli)
approve.register(cli)
