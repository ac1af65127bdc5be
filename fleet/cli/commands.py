"""The operator's commands: validate, status, plan, cutover, resume, rollback, abort, history."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import click

from fleet.errors import ConfigError, FleetError, UsageError

if TYPE_CHECKING:
    from fleet.cli.context import Context
    from fleet.config import EnvironmentConfig
    from fleet.domain.machine import EnvironmentState, Phase
    from fleet.domain.model import Version
    from fleet.domain.plan import Plan
    from fleet.engine import Engine
    from fleet.ports import Record
    from fleet.report import ReportContext

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


def _ctx() -> Context:
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


def _emit(output: str, data: Any, text: Callable[[], str]) -> None:
    from fleet.cli import render

    click.echo(render.to_json(data) if output == "json" else text())


def register(cli: click.Group) -> None:
    for command in (validate, status, plan, cutover, resume, rollback, abort, history, state):
        cli.add_command(command)


# --- inspection ------------------------------------------------------------------


@click.command()
@click.argument("envs", nargs=-1, metavar="[ENV]...")
@output_option
@state_option
def validate(envs: tuple[str, ...], output: str) -> None:
    """Check the configuration; list every problem with its file and key."""
    from fleet.cli import render
    from fleet.config import list_environments, validate_environment

    ctx = _ctx()
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
    _emit(
        output,
        {"environments": summary, "problems": problems, "warnings": warnings},
        lambda: render.table(problems) if problems else render.table(summary),
    )
    if problems:
        sys.exit(2)


def _rehearsal_state(store: Any, env: str) -> bool:
    """A rehearsal's state: its weights live in the rehearsal's world, so the real provider is not asked."""
    check = getattr(store, "is_rehearsal", None)
    return bool(check(env)) if check is not None else False


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

    ctx = _ctx()
    if tenant is not None:
        _tenant_status(ctx, envs, tenant, output)
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
        if name in configured and states[name] is not None and not _rehearsal_state(ctx.store_for(name), name)
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
        from fleet.cli import EXIT_UNREACHABLE
        from fleet.wiring import health_view

        config = ctx.config(names[0])
        view = health_view(config, ctx.project(), states[names[0]])
        unasked = [slot for slot in view if not slot.get("asked", True)]
        _emit(
            output,
            {"status": as_json(names[0]), "health": view, "could_not_ask": len(unasked)},
            lambda: render.table([row(names[0])]) + "\n\n" + render.health_table(view),
        )
        if unasked:  # asked-and-not-reconciled is an answer (exit 0); not being able to ask is not
            click.echo(f"fleet: could not ask {len(unasked)} slot(s) of {names[0]}: see the 'could not ask' column",
                       err=True)
            sys.exit(EXIT_UNREACHABLE)
        return
    _emit(output, [as_json(n) for n in states], tables)


def _tenant_status(ctx: Context, envs: tuple[str, ...], tenant: str, output: str) -> None:
    from fleet.cli.tenants import stories
    from fleet.domain.tenant_story import story_json, story_text

    if len(envs) != 1:
        raise UsageError("--tenant takes exactly one environment")
    env = envs[0]
    store = ctx.store_for(env)
    found = stories(ctx.config(env), store.history(env), store.load(env), only=tenant)[0]
    _emit(output, story_json(found), lambda: story_text(found))


def _history_stories(env: str, records: Sequence[Record], state: Any) -> list[Any]:
    """Each tenant's story for ``fleet history`` and its report; none when the configuration cannot be read."""
    from fleet.cli.tenants import stories

    try:
        return stories(_ctx().config(env), records, state)
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

    store = _ctx().store_for(env)
    records = store.history(env)
    if not records:  # a name with neither a stack file nor a history is a typo (exit 2)
        from fleet.config import list_environments

        if env not in list_environments(_ctx().project()):
            _ctx().config(env)
    if report:
        from fleet.rehearsal.inmemory import is_rehearsal
        from fleet.report import load_users, write_report

        location = store.location
        kind = None
        if is_rehearsal(location, env):
            from fleet.rehearsal.real import rehearsal_mode

            kind = "real parts" if rehearsal_mode(location, env) == "real" else "in memory, simulated clock"
        samples, failed = load_users(location) if kind else ([], [])
        try:
            configured: str | None = str(_ctx().config(env).version)
        except ConfigError:
            configured = None
        context = report_context(store.load(env), records, kind, location, configured)
        from dataclasses import replace

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

    _emit(output, render.history_json(records), text)  # JSON: the records as before; the cost is in status


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


def _plan(config: EnvironmentConfig, state: EnvironmentState, target: Version, steps: str | None) -> Plan:
    from fleet.config import parse_steps
    from fleet.domain.plan import plan_cutover

    rollout = config.rollout
    if steps:
        try:
            rollout = rollout.with_steps(parse_steps(steps))
        except ValueError as err:
            raise UsageError(f"--steps: {err}") from err
    settle = float(config.traffic.get("ttl", 0) or 0) if config.traffic.get("provider") == "route53" else 0.0
    return plan_cutover(state, target, rollout, config.teardown, settle_s=settle)


def _show_plan(p: Plan, output: str) -> None:
    from fleet.cli import render

    steps: list[dict[str, Any]] = [
        {
            "phase": s.phase.value,
            "action": s.action,
            "weights": {"blue": s.weights.blue, "green": s.weights.green},
            "wait_s": s.wait_s or 0.0,
        }
        for s in p.steps
    ]
    data = {
        "environment": p.env,
        "from": None if p.old_version is None else str(p.old_version),
        "to": str(p.target),
        "steps": steps,
        "configured_wait_s": p.configured_wait_s,
        "changes": bool(p.changes),
        "warnings": list(p.warnings),
    }

    def text() -> str:
        rows = [
            {"phase": s["phase"], "action": s["action"], "weights": f"{s['weights']['blue']}/{s['weights']['green']}",
             "waits": render.duration(s["wait_s"]) if s["wait_s"] else ""}
            for s in steps
        ]
        head = f"{p.env}: {p.old_version} -> {p.target}  (configured waits {render.duration(p.configured_wait_s)})"
        warn = "".join(f"\nwarning: {w}" for w in p.warnings)
        return head + "\n\n" + render.table(rows) + warn

    _emit(output, data, text)


@click.command()
@click.argument("env")
@click.option("--to", "to", required=True, metavar="VERSION", help="Kubernetes version of the new slot.")
@click.option("--steps", metavar="LIST", help="Weight steps in percent, e.g. 10,50,100.")
@output_option
@state_option
def plan(env: str, to: str, steps: str | None, output: str) -> None:
    """The steps a cutover to VERSION would take and what each changes."""
    from fleet.domain.machine import EnvironmentState

    ctx = _ctx()
    config = ctx.config(env)
    state = ctx.store(config).load(env) or EnvironmentState.seed(env, config.version)
    _show_plan(_plan(config, state, parse_version(to), steps), output)


def _confirm(yes: bool) -> Callable[[str], bool]:
    def ask(question: str) -> bool:
        if yes:
            return True
        if not sys.stdin.isatty():
            return False
        return click.confirm(question, default=False, err=True)

    return ask


def exit_code(state: EnvironmentState, success: Phase) -> int:
    """The contract of the README's exit-code table for a run that ended in ``state``."""
    from fleet.cli import EXIT_HALTED, EXIT_OK, EXIT_WAITING

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
    from fleet.cli import EXIT_OK, EXIT_WAITING, render
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

    _emit(output, data, text)
    sys.exit(code)


def nothing_in_flight(env: str, state: EnvironmentState | None, output: str, what: str) -> None:
    """``rollback``/``abort`` with no cutover in flight: nothing to do is success (exit 0), with a note."""
    from fleet.cli import render

    last = "" if state is None or state.last is None else f" (last cutover: {render.last_result(state)})"
    message = f"{env}: no cutover in flight, nothing to {what}{last}"
    data = {"result": None, "ok": True, "exit_code": 0, "message": message,
            "status": render.status_json(env, state)}
    _emit(output, data, lambda: message)
    sys.exit(0)


def _drive(
    config: EnvironmentConfig, action: Callable[[Engine], EnvironmentState], *, yes: bool = False
) -> EnvironmentState:
    """Run ``action`` on an engine wired to the environment's real adapters, with the live progress line."""
    from fleet.cli import EXIT_LOCKED, render
    from fleet.engine import Engine, RequestPending
    from fleet.errors import CutoverHalted, ProviderError
    from fleet.wiring import production_ports

    ctx = _ctx()
    # Before the lock and before any adapter: a rehearsal's state, or a history that does not match its state,
    # is refused here (exit 2) with nothing touched.
    ctx.store(config).load(config.name)
    progress = render.Progress()
    ports = production_ports(config, ctx.project(), progress, _confirm(yes))
    try:
        return action(Engine(ctx.store(config), ports))
    except RequestPending as err:
        err.exit_code = EXIT_LOCKED
        raise
    except ProviderError as err:
        if progress.changed:  # exit 5 promises nothing changed; this run had already committed a step
            raise CutoverHalted(
                f"{err}; the state is saved at the last checkpoint, continue with: fleet resume {config.name}",
                phase="unknown",
            ) from err
        raise
    finally:
        progress.close()


@click.command()
@click.argument("env")
@click.option("--to", "to", required=True, metavar="VERSION", help="Kubernetes version of the new slot.")
@click.option("--steps", metavar="LIST", help="Weight steps in percent, e.g. 10,50,100 (default: the config's).")
@click.option("--yes", "-y", is_flag=True, help="Destroy the old slot after its bake without asking.")
@click.option(
    "--dry-run", is_flag=True,
    help="Show the plan only and exit like terraform plan -detailed-exitcode: 0 nothing to do, 1 a cutover would "
    "run, 2 a usage or configuration error.",
)
@force_unlock_option
@output_option
@state_option
def cutover(env: str, to: str, steps: str | None, yes: bool, dry_run: bool, force_unlock: bool, output: str) -> None:
    """Replace ENV's active slot with a new one at VERSION."""
    from fleet.config import parse_steps
    from fleet.domain.machine import EnvironmentState

    ctx = _ctx()
    config = ctx.config(env)
    target = parse_version(to)
    state = ctx.store(config).load(env) or EnvironmentState.seed(env, config.version)
    p = _plan(config, state, target, steps)
    if dry_run:
        _show_plan(p, output)
        sys.exit(1 if p.changes else 0)
    from fleet.notify_settings import notify_settings

    rollout = config.rollout.with_steps(parse_steps(steps)) if steps else config.rollout
    gates = notify_settings(config.raw, file=config.file).gates
    final = _drive(
        config, lambda e: e.cutover(config, target, rollout=rollout, force_unlock=force_unlock, gates=gates), yes=yes
    )
    finish(final, output)


@click.command()
@click.argument("env")
@click.option("--yes", "-y", is_flag=True, help="Destroy the old slot after its bake without asking.")
@click.option("--now", is_flag=True, help="Continue a cutover held by its maintenance window outside one.")
@force_unlock_option
@output_option
@state_option
def resume(env: str, yes: bool, now: bool, force_unlock: bool, output: str) -> None:
    """Continue ENV's interrupted or halted cutover from its last checkpoint.

    A rehearsal's state (its state says so, in a directory or in S3) is
    finished on the rehearsal's own simulated world, never on production adapters.
    """
    from fleet.cli import render
    from fleet.rehearsal.inmemory import is_rehearsal

    ctx = _ctx()
    location = ctx.state_option or _configured_location(env)
    if is_rehearsal(location, env):
        from fleet.cli.rehearse import resume_rehearsal
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
        resume_rehearsal(location, env, output, force_unlock=force_unlock, confirm=_confirm(yes) if asked else None)
        return
    config = ctx.config(env)
    state = ctx.store(config).load(env)
    if state is None or not state.in_flight:  # before anything starts: Pulumi, providers
        last = "" if state is None or state.last is None else f" (last cutover: {render.last_result(state)})"
        raise UsageError(f"{env} has no cutover in flight in {location}; nothing to resume{last}")
    from fleet.cli.upgrade import resume_window

    end = resume_window(config, state, now)
    final = _drive(config, lambda engine: engine.resume(env, force_unlock=force_unlock, window_end=end), yes=yes)
    finish(final, output)


def _configured_location(env: str) -> str:
    ctx = _ctx()
    try:
        return ctx.store_location(ctx.config(env))
    except ConfigError:
        return ctx.store_location()


@click.command()
@click.argument("env")
@click.option("--reason", default="requested by operator", show_default=True)
@wait_option
@force_unlock_option
@output_option
@state_option
def rollback(env: str, reason: str, wait: float, force_unlock: bool, output: str) -> None:
    """Give all traffic back to the old slot now (one traffic call; no Pulumi involved)."""
    from fleet.domain.machine import Phase

    ctx = _ctx()
    config = ctx.config(env)
    state = ctx.store(config).load(env)
    if state is None or not state.in_flight:
        nothing_in_flight(env, state, output, "roll back")
    final = _drive(
        config, lambda engine: engine.rollback(env, reason=reason, force_unlock=force_unlock, wait_s=wait)
    )
    finish(final, output, success=Phase.ROLLED_BACK)


@click.command()
@click.argument("env")
@click.option("--reason", default="aborted by operator", show_default=True)
@wait_option
@force_unlock_option
@output_option
@state_option
def abort(env: str, reason: str, wait: float, force_unlock: bool, output: str) -> None:
    """Give up ENV's cutover: traffic back to the old slot, the new slot left for inspection."""
    from fleet.domain.machine import Phase

    ctx = _ctx()
    config = ctx.config(env)
    state = ctx.store(config).load(env)
    if state is None or not state.in_flight:
        nothing_in_flight(env, state, output, "abort")
    final = _drive(
        config, lambda engine: engine.abort(env, reason=reason, force_unlock=force_unlock, wait_s=wait)
    )
    finish(final, output, success=Phase.ABORTED)


# --- the state store itself --------------------------------------------------------------------


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

    ctx = _ctx()
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

    _emit(output, result, text)
