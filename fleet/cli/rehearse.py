"""``fleet rehearse``: the first command a new user runs."""

from __future__ import annotations

import tempfile

import click

from fleet.cli import render
from fleet.cli.commands import _ctx, finish, output_option, parse_version, state_option


def register(cli: click.Group) -> None:
    cli.add_command(rehearse)


def _fault_help() -> str:
    from fleet.rehearsal.inmemory import FAULTS

    return "\n".join(f"  {name:<24} {text}" for name, text in FAULTS.items())


@click.command(epilog="\b\nFaults:\n" + _fault_help())
@click.argument("env")
@click.option("--to", "to", metavar="VERSION", help="Version of the new slot (default: the next minor).")
@click.option("--fault", "faults", multiple=True, metavar="FAULT", help="Inject a fault (repeatable; see below).")
@click.option("--report", "report", type=click.Path(dir_okay=False), help="Write a self-contained HTML timeline.")
@output_option
@state_option
def rehearse(env: str, to: str | None, faults: tuple[str, ...], report: str | None, output: str) -> None:
    """Rehearse a full cutover of ENV's real configuration on a simulated fleet.

    Provisioning, Flux, traffic and analysis are simulated (minutes pass in
    milliseconds); the engine and the state store are the real ones. The
    state goes to a fresh temporary directory unless --state is given.
    """
    from fleet.rehearsal.inmemory import parse_faults
    from fleet.rehearsal.inmemory import rehearse as run

    ctx = _ctx()
    config = ctx.config(env)
    parsed = parse_faults(faults)
    target = parse_version(to) if to else None
    location = ctx.state_option or tempfile.mkdtemp(prefix="fleet-rehearsal-")
    progress = render.Progress()
    click.echo(f"rehearsing {env} (state: {location})", err=True)
    try:
        final, r = run(config, location, parsed, progress, target=target)
    finally:
        progress.close()
    records = r.store.history(env)
    if report:
        from fleet.report import write_report

        write_report(report, env, records)
    world = {
        "clusters": r.world.clusters,
        "created": r.world.created,
        "destroyed": r.world.destroyed,
        "weight_changes": r.world.weight_changes,
    }
    finish(final, output, extra={"timeline": render.timeline(records), "state_location": location, "world": world})
