"""The commands that look and change nothing: validate, status, history."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import click

from fleet.cli.options import (
    current,
    emit,
    is_rehearsal,
    output_option,
    state_option,
)
from fleet.errors import ConfigError, UsageError

if TYPE_CHECKING:
    from fleet.config import EnvironmentConfig
    from fleet.ports import Record


@click.command()
@click.argument("envs", nargs=-1, metavar="[ENV]...")
@output_option
@state_option
def validate(envs: tuple[str, ...], output: str) -> None:
    """Check the configuration; list every problem with its file and key."""
    from fleet.cli import render
    from fleet.config import list_environments, validate_environment

    ctx = current()
    project = ctx.project()
    names = list(envs) or list_environments(project)
    if not names:
        raise ConfigError("no environments found (expected stacks/Pulumi.<env>.yaml)", file=str(project))
    from fleet.adapters.analysis import check_analysis_online
    from fleet.wiring import analysis_settings, validate_adapters

    warned: dict[str, list[ConfigError]] = {}

    def adapters_and_queries(config: EnvironmentConfig) -> list[ConfigError]:
        found = validate_adapters(config)
        if not found:
            rejected, warnings = check_analysis_online(config.name, analysis_settings(config), file=config.file)
            found.extend(rejected)
            warned[config.name] = warnings
        return found

    results = {name: validate_environment(project, name, adapters_and_queries) for name in names}
    problems = [
        {"environment": name, "file": err.file or "", "key": err.key or "", "problem": err.detail}
        for name, errors in results.items()
        for err in errors
    ]
    warnings = [
        {"environment": name, "file": err.file or "", "key": err.key or "", "warning": err.detail}
        for name, said in warned.items()
        for err in said
    ]
    for warning in warnings if output != "json" else []:
        click.echo(f"warning: {warning['file']}:{warning['key']}: {warning['warning']}", err=True)
    summary = [
        {"environment": n, "problems": len(e), "result": "ok" if not e else "invalid"} for n, e in results.items()
    ]
    emit(
        output,
        {"environments": summary, "problems": problems, "warnings": warnings},
        lambda: render.table(problems) if problems else render.table(summary),
    )
    if problems:
        sys.exit(2)


@click.command()
@click.argument("envs", nargs=-1, metavar="[ENV]...")
@click.option("--health", is_flag=True, help="Also ask each slot's Flux health gate, tenant by tenant.")
@click.option("--tenant", metavar="NAME", help="One tenant's story of the last cutover (one environment).")
@output_option
@state_option
def status(envs: tuple[str, ...], health: bool, tenant: str | None, output: str) -> None:
    """A row per environment: active slot, versions, weights, phase, last result."""
    from fleet.cli import render
    from fleet.config import list_environments

    ctx = current()
    if tenant is not None:
        _tenant_status(envs, tenant, output)
        return
    configured = set(list_environments(ctx.project()))
    names = list(envs) or sorted(configured | set(ctx.store(rehearsal=None).environments()))
    states = {
        name: (ctx.store_for(name) if name in configured else ctx.store(rehearsal=None)).load(name) for name in names
    }
    for name in names:  # a name with neither a stack file nor a state is a typo, not an idle environment (exit 2)
        if name not in configured and states[name] is None:
            ctx.config(name)
    readback: dict[str, dict[str, Any]] = {}
    recorded = {
        name: ctx.config(name) for name in names
        if name in configured and states[name] is not None and not is_rehearsal(ctx.store_for(name), name)
    }
    if recorded:
        from fleet.wiring import traffic_readbacks

        readback = traffic_readbacks(recorded, states)

    from fleet.cli import cost_view

    spent = cost_view.costs(
        states, lambda n: (ctx.store_for(n) if n in configured else ctx.store(rehearsal=None)).history(n)
    )

    def row(name: str) -> dict[str, Any]:
        found = render.status_row(name, states[name], readback.get(name))
        return {**found, "two slots": cost_view.cell(spent.get(name))}

    def as_json(name: str) -> dict[str, Any]:
        found = render.status_json(name, states[name])
        if name in spent:
            found["cost"] = cost_view.as_json(spent[name])
        return {**found, "traffic": readback[name]} if name in readback else found

    standing = cost_view.left_standing(states, spent)

    def tables() -> str:
        text = render.table([row(n) for n in states])
        if standing:
            text += "\n\nleft standing by cutovers that stopped short of DONE (oldest first):\n"
            text += render.table(cost_view.standing_rows(standing))
        return text

    if health:
        if len(names) != 1:
            raise UsageError("--health takes exactly one environment")
        from fleet.cli.exits import EXIT_UNREACHABLE
        from fleet.wiring import health_view

        config = ctx.config(names[0])
        view = health_view(config, ctx.project(), states[names[0]])
        unasked = [slot for slot in view if not slot.get("asked", True)]
        emit(
            output,
            {"status": as_json(names[0]), "health": view, "could_not_ask": len(unasked)},
            lambda: render.table([row(names[0])]) + "\n\n" + render.health_table(view),
        )
        if unasked:  # asked-and-not-reconciled is an answer (exit 0); not being able to ask is not
            click.echo(f"fleet: could not ask {len(unasked)} slot(s) of {names[0]}: see the 'could not ask' column",
                       err=True)
            sys.exit(EXIT_UNREACHABLE)
        return
    emit(output, [as_json(n) for n in states], tables)


def _tenant_status(envs: tuple[str, ...], tenant: str, output: str) -> None:
    from fleet.cli.tenants import stories
    from fleet.domain.tenant_story import story_json, story_text

    if len(envs) != 1:
        raise UsageError("--tenant takes exactly one environment")
    env = envs[0]
    store = current().store_for(env)
    found = stories(current().config(env), store.history(env), store.load(env), only=tenant)[0]
    emit(output, story_json(found), lambda: story_text(found))


def _history_stories(env: str, records: Sequence[Record], state: Any) -> list[Any]:
    """Each tenant's story for ``fleet history`` and its report; none when the configuration cannot be read."""
    from fleet.cli.tenants import stories

    try:
        return stories(current().config(env), records, state)
    except (ConfigError, UsageError):
        return []


@click.command()
@click.argument("env")
@output_option
@click.option("--report", "report", type=click.Path(dir_okay=False), help="Write a self-contained HTML timeline.")
@state_option
def history(env: str, output: str, report: str | None) -> None:
    """Every event of ENV's cutovers: when, who, what changed."""
    from fleet.cli import render

    store = current().store_for(env)
    records = store.history(env)
    if not records:  # a name with neither a stack file nor a history is a typo (exit 2)
        from fleet.config import list_environments

        if env not in list_environments(current().project()):
            current().config(env)
    if report:
        from fleet.cli.outcome import report_context
        from fleet.report import load_users, write_report

        location = store.location
        kind = None
        if is_rehearsal(store, env):
            from fleet.worlds import rehearsal_worlds

            kind = rehearsal_worlds(location, env).describe(location, env)
        samples, failed = load_users(location) if kind else ([], [])
        try:
            configured: str | None = str(current().config(env).version)
        except ConfigError:
            configured = None
        context = report_context(store.load(env), records, kind, location, configured)
        context = replace(context, tenants=_history_stories(env, records, store.load(env)))
        write_report(report, env, records, samples, failed=failed, context=context)
    from fleet.cli import cost_view
    from fleet.domain.cost import environment_cost, hours

    spent = environment_cost(env, records, time.time())

    def text() -> str:
        from fleet.cli.tenants import section

        out = render.table(render.history_rows(records))
        if spent.cutovers:
            out += f"\n\ntwo slots (the second cluster's hours), {hours(spent.both_s)} in all:\n"
            out += render.table(cost_view.cutover_rows(spent))
        return out + section(_history_stories(env, records, store.load(env)))

    emit(output, render.history_json(records), text)  # JSON: the records as before; the cost is in status
