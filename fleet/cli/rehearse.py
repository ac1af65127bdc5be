"""``fleet rehearse``: the first command a new user runs.

By default the rehearsal runs on real parts (a real HAProxy with real load,
real Kubernetes APIs read by the real health gate; only provisioning is
simulated, and waits are compressed). A machine without HAProxy (or without
the Kubernetes simulator's package) still gets a rehearsal: the in-memory one,
with a one-line notice. ``--simulated`` asks for the in-memory one outright;
its simulated clock also offers the faults real parts cannot produce.

A rehearsal's state is never real state: ``FLEET_STATE`` and the project's
configured store are ignored, only an explicit ``--state`` is used (else a
fresh temporary directory), and a store that holds a real environment's
state is refused (exit 2) before anything is written.

``--world`` chooses what serves the clusters on real parts: ``kmock`` (the
default, quick: kmock APIs whose Flux statuses are simulated) or ``real``
(kube-apiservers over etcd with real Flux controllers reconciling a real Git
repository, built once by ``python3 tools/peers/build.py``). The first lines
of the output say which world runs and how to choose the other.
"""

from __future__ import annotations

import shutil
import tempfile
from typing import Any

import click

from fleet.cli.options import confirm, current, output_option, parse_version
from fleet.cli.outcome import finish
from fleet.cli.rehearse_end import finish_real, kept, tidy, with_state
from fleet.errors import FleetError, LockedError


def register(cli: click.Group) -> None:
    """Add ``fleet rehearse``, and tell ``fleet resume`` and ``fleet history`` how to finish a rehearsal."""
    from fleet import worlds
    from fleet.cli.rehearse_end import approve, describe, resume

    cli.add_command(rehearse)
    worlds.register(worlds.Worlds(describe=describe, resume=resume, approve=approve))


def _fault_help() -> str:
    from fleet.rehearsal.faults import FAULTS

    return "\n".join(f"  {name:<24} {text}" for name, text in FAULTS.items())


@click.command(epilog="\b\nFaults:\n" + _fault_help())
@click.argument("env")
@click.option("--to", "to", metavar="VERSION", help="Version of the new slot (default: the next minor).")
@click.option("--fault", "faults", multiple=True, metavar="FAULT", help="Inject a fault (repeatable; see below).")
@click.option("--report", "report", type=click.Path(dir_okay=False), help="Write a self-contained HTML timeline.")
@click.option(
    "--simulated", is_flag=True,
    help="Use the in-memory fleet (simulated clock, every fault) instead of real HAProxy and Kubernetes APIs.",
)
@click.option(
    "--confirm-teardown", "confirm_teardown", type=click.Choice(["yes", "ask"]), default="yes", show_default=True,
    help="Where the configuration asks to confirm destroying the old slot (teardown.confirm): answer yes, or ask "
    "as a real cutover does (no terminal: exit 4, then fleet resume ENV --state DIR --yes).",
)
@click.option(
    "--world", "kube", type=click.Choice(["kmock", "real"]), default="kmock", show_default=True,
    help="What serves the clusters: kmock with a simulated Flux, or real kube-apiservers with real Flux "
    "(build them first: python3 tools/peers/build.py).",
)
@output_option
@click.option(
    "--state", "state", metavar="LOCATION",
    help="Where the rehearsal's state goes (a directory or s3://bucket/prefix); never FLEET_STATE's store.",
)
def rehearse(env: str, to: str | None, faults: tuple[str, ...], report: str | None, simulated: bool,
             confirm_teardown: str, kube: str, output: str, state: str | None) -> None:
    """Rehearse a full cutover of ENV's real configuration.

    The engine and the state store are always the real ones. By default the
    traffic is real (HAProxy in front of two local backends, ~200 requests/s),
    each cluster is a real Kubernetes API on 127.0.0.1 whose Flux statuses are
    simulated, and only provisioning is simulated; waits are compressed so the
    cutover takes seconds (the waits used are printed). With --simulated, or
    when haproxy is not installed, everything runs in memory with minutes
    passing in milliseconds. An environment that moves traffic with Route53 or
    is judged by Prometheus is rehearsed on those: the real adapters against
    moto and a real Prometheus on 127.0.0.1, users behind TTL-caching
    resolvers (the first lines say per port what is real). The state goes to a fresh temporary directory
    unless --state is given (FLEET_STATE and the project's store are never
    used: a rehearsal must not touch a real environment's state).

    \b
    Exit codes: 0 DONE; 1 rolled back or halted; 2 usage; 3 locked (lock-held);
    4 waiting for a person (--confirm-teardown ask); 137 (SIGKILL) on purpose
    (crash-after, crash-at), finished by fleet resume ENV --state DIR.
    """
    ctx = current()
    config = ctx.config(env)
    target = parse_version(to) if to else None
    if kube == "real":
        from fleet.errors import UsageError
        from fleet.rehearsal.peers import Binaries, PeersNotBuilt

        if simulated:
            raise UsageError("--world real needs real parts; it cannot be combined with --simulated")
        try:
            Binaries.find()
        except PeersNotBuilt as err:
            raise UsageError(f"--world real: {err}") from None
    if not simulated:
        from fleet.rehearsal.real import missing_parts

        missing = missing_parts()
        if missing:
            click.echo(f"rehearse: {', '.join(missing)} not found; rehearsing on the in-memory fleet", err=True)
            simulated = True
    explicit = state or _explicit_root_state()
    temporary = explicit is None
    location = explicit or tempfile.mkdtemp(prefix="fleet-rehearsal-")
    confirm = _teardown_answer(config, confirm_teardown)
    try:
        if simulated:
            _simulated(env, config, location, faults, target, report, output, confirm, temporary)
        else:
            _real(env, config, location, faults, target, report, output, confirm, temporary, kube)
    except LockedError as err:
        raise with_state(err, location) from err
    except KeyboardInterrupt:
        raise Interrupted(
            f"interrupted; the state is saved, continue with: fleet resume {env} --state {location}"
        ) from None
    except FleetError:
        if temporary and _empty(location, env):
            shutil.rmtree(location, ignore_errors=True)
        raise


def _empty(location: str, env: str) -> bool:
    from fleet.state import open_store

    try:
        return open_store(location, rehearsal=True).load(env) is None
    except FleetError:
        return False


def _teardown_answer(config: Any, mode: str) -> Any:
    """The rehearsal's answer to "destroy the old slot?": yes, or the question a real cutover asks."""
    if not config.teardown.confirm:
        return None
    if mode == "ask":
        return confirm(False)
    return None


class Interrupted(FleetError):
    """Ctrl-C or SIGTERM stopped a rehearsal; its parts were stopped in order (exit 1)."""


def _explicit_root_state() -> str | None:
    """``fleet --state X rehearse``: given on the command line, not inherited from FLEET_STATE."""
    from click.core import ParameterSource

    root = click.get_current_context().find_root()
    if root.get_parameter_source("state") is ParameterSource.COMMANDLINE:
        value = root.params.get("state")
        return str(value) if value else None
    return None


def _simulated(env: str, config: Any, location: str, faults: tuple[str, ...], target: Any, report: str | None,
               output: str, confirm: Any = None, temporary: bool = False) -> None:
    from fleet.cli import render
    from fleet.rehearsal.inmemory import parse_faults
    from fleet.rehearsal.inmemory import rehearse as run

    parsed = parse_faults(faults)
    from fleet.cli.progress import Progress

    progress = Progress()
    click.echo(f"rehearsing {env} on the in-memory fleet (state: {location})", err=True)
    try:
        final, r = run(config, location, parsed, progress, target=target, confirm=confirm)
    finally:
        progress.close()
    records = r.store.history(env)
    if report:
        from fleet.cli.outcome import report_context
        from fleet.report import write_report

        kind = "in memory, simulated clock"
        context = report_context(final, records, kind, location, str(config.version))
        write_report(report, env, records, context=context)
    world = {
        "clusters": r.world.clusters,
        "created": r.world.created,
        "destroyed": r.world.destroyed,
        "weight_changes": r.world.weight_changes,
    }
    timeline = render.timeline(records)
    notes = tidy(env, location, temporary, final, confirm is None)
    finish(final, output, notes=notes, state_hint=location, extra={"timeline": timeline, "state_location": location,
                                              "state_kept": kept(notes),
                                              "world": world, "mode": "simulated"})


WORLDS = {
    "kmock": "kmock APIs with a simulated Flux (quick)",
    "real": "real kube-apiservers over etcd, real Flux controllers reconciling a real Git repository",
}


def _real(env: str, config: Any, location: str, faults: tuple[str, ...], target: Any, report: str | None,
          output: str, confirm: Any = None, temporary: bool = False, kube: str = "kmock") -> None:
    from fleet.cli import render
    from fleet.rehearsal.real import rehearse_real
    from fleet.rehearsal.real_faults import parse_real_faults
    from fleet.rehearsal.waits import REAL_WORLD_WAITS, Waits

    parsed = parse_real_faults(faults)
    if kube == "kmock":
        from fleet.rehearsal.own_providers import wanted

        if wanted(config):
            from fleet.cli.rehearse_own import rehearse_own

            rehearse_own(env, config, location, parsed, target, report, output, confirm, temporary)
            return
    waits = REAL_WORLD_WAITS if kube == "real" else Waits()
    if parsed.tenant_errors is not None:
        from dataclasses import replace

        from fleet.rehearsal.tenant_faults import TENANT_WINDOW_S

        waits = replace(waits, window_s=max(waits.window_s, TENANT_WINDOW_S))
    other = "real" if kube == "kmock" else "kmock"
    click.echo(f"rehearsing {env} on real HAProxy, load and Kubernetes APIs (state: {location})", err=True)
    click.echo(f"world: {kube}: {WORLDS[kube]}; the other is --world {other}: {WORLDS[other]}", err=True)
    click.echo("waits, compressed for the rehearsal:\n" + render.table(waits.rows(config)), err=True)
    from fleet.cli.progress import Progress

    progress = Progress()
    try:
        final, run = rehearse_real(config, location, parsed, progress, target=target, waits=waits, confirm=confirm,
                                   kube=kube)
    finally:
        progress.close()
    finish_real(env, final, run, report, output, temporary, confirm is None, str(config.version))
