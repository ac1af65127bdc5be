"""The commands that plan and run cutovers: plan, cutover, resume, rollback, abort.

They run the engine on the production adapters (:mod:`fleet.wiring`). A
rehearsal's state is handed to the rehearsal's own world through
:mod:`fleet.worlds`; these commands never import :mod:`fleet.rehearsal`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import click

from fleet.cli.drive import drive
from fleet.cli.options import (
    current,
    emit,
    force_unlock_option,
    is_rehearsal,
    output_option,
    parse_version,
    state_option,
    wait_option,
)
from fleet.cli.outcome import finish, nothing_in_flight
from fleet.errors import ConfigError, UsageError

if TYPE_CHECKING:
    from fleet.config import EnvironmentConfig
    from fleet.domain.machine import EnvironmentState
    from fleet.domain.model import RolloutPolicy, Version
    from fleet.domain.plan import Plan
    from fleet.engine import Engine
    from fleet.notify_settings import NotifySettings


def _rollout(config: EnvironmentConfig, steps: str | None) -> RolloutPolicy:
    """The configured rollout, with ``--steps`` instead of its steps when given (a usage error when invalid)."""
    from fleet.config import parse_steps

    if not steps:
        return config.rollout
    try:
        return config.rollout.with_steps(parse_steps(steps))
    except ValueError as err:
        raise UsageError(f"--steps: {err}") from err


def _plan(config: EnvironmentConfig, state: EnvironmentState, target: Version, rollout: RolloutPolicy,
          hooks: NotifySettings) -> Plan:
    from fleet.domain.plan import plan_cutover

    settle = float(config.traffic.get("ttl", 0) or 0) if config.traffic.get("provider") == "route53" else 0.0
    p = plan_cutover(state, target, rollout, config.teardown, settle_s=settle, gates=hooks.gates)
    return replace(p, warnings=(*p.warnings, *hooks.skipped))


def _show_plan(p: Plan, output: str) -> None:
    from fleet.cli import render

    steps: list[dict[str, Any]] = [
        {
            "phase": s.phase.value,
            "action": s.action,
            "weights": {"blue": s.weights.blue, "green": s.weights.green},
            "wait_s": s.wait_s or 0.0,
            "gates": list(s.gates),
            "handoff": s.handoff,
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

    emit(output, data, text)


@click.command()
@click.argument("env")
@click.option("--to", "to", required=True, metavar="VERSION", help="Kubernetes version of the new slot.")
@click.option("--steps", metavar="LIST", help="Weight steps in percent, e.g. 10,50,100.")
@output_option
@state_option
def plan(env: str, to: str, steps: str | None, output: str) -> None:
    """The steps a cutover to VERSION would take and what each changes."""
    from fleet.domain.machine import EnvironmentState

    ctx = current()
    config = ctx.config(env)
    from fleet.notify_settings import notify_settings

    state = ctx.store(config).load(env) or EnvironmentState.seed(env, config.version)
    hooks = notify_settings(config.raw, file=config.file)
    _show_plan(_plan(config, state, parse_version(to), _rollout(config, steps), hooks), output)


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
    from fleet.domain.machine import EnvironmentState
    from fleet.notify_settings import notify_settings

    ctx = current()
    config = ctx.config(env)
    target = parse_version(to)
    state = ctx.store(config).load(env) or EnvironmentState.seed(env, config.version)
    rollout = _rollout(config, steps)
    hooks = notify_settings(config.raw, file=config.file)  # the plan shows the gates the cutover uses
    p = _plan(config, state, target, rollout, hooks)
    if dry_run:
        _show_plan(p, output)
        sys.exit(1 if p.changes else 0)
    gates = hooks.gates
    final = drive(
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
    from fleet.state import open_store

    ctx = current()
    location = ctx.state_option or configured_location(env)
    if is_rehearsal(open_store(location), env):
        from fleet.worlds import rehearsal_worlds

        rehearsal_worlds(location, env).resume(location, env, output, force_unlock, yes)
        return
    config = ctx.config(env)
    state = ctx.store(config).load(env)
    if state is None or not state.in_flight:  # before anything starts: Pulumi, providers
        last = "" if state is None or state.last is None else f" (last cutover: {render.last_result(state)})"
        raise UsageError(f"{env} has no cutover in flight in {location}; nothing to resume{last}")
    from fleet.cli.upgrade import resume_window

    end = resume_window(config, state, now)
    final = drive(config, lambda engine: engine.resume(env, force_unlock=force_unlock, window_end=end), yes=yes)
    finish(final, output)


def configured_location(env: str) -> str:
    ctx = current()
    try:
        return ctx.store_location(ctx.config(env))
    except ConfigError:
        return ctx.store_location()


def _give_back(env: str, output: str, what: str, success: str, act: Callable[[Engine], EnvironmentState]) -> None:
    """``rollback`` and ``abort``: nothing in flight is success; otherwise drive ``act`` and finish."""
    from fleet.domain.machine import Phase

    ctx = current()
    config = ctx.config(env)
    state = ctx.store(config).load(env)
    if state is None or not state.in_flight:
        nothing_in_flight(env, state, output, what)
    finish(drive(config, act), output, success=Phase(success))


def _gives_back(default_reason: str) -> Callable[[Callable[..., None]], click.Command]:
    """The command line ``rollback`` and ``abort`` share: ENV, --reason, --wait, --force-unlock, --output, --state."""

    def command(body: Callable[..., None]) -> click.Command:
        for option in (state_option, output_option, force_unlock_option, wait_option,
                       click.option("--reason", default=default_reason, show_default=True), click.argument("env")):
            body = option(body)
        return click.command()(body)

    return command


@_gives_back("requested by operator")
def rollback(env: str, reason: str, wait: float, force_unlock: bool, output: str) -> None:
    """Give all traffic back to the old slot now (one traffic call; no Pulumi involved)."""
    _give_back(env, output, "roll back", "ROLLED_BACK",
               lambda engine: engine.rollback(env, reason=reason, force_unlock=force_unlock, wait_s=wait))


@_gives_back("aborted by operator")
def abort(env: str, reason: str, wait: float, force_unlock: bool, output: str) -> None:
    """Give up ENV's cutover: traffic back to the old slot, the new slot left for inspection."""
    _give_back(env, output, "abort", "ABORTED",
               lambda engine: engine.abort(env, reason=reason, force_unlock=force_unlock, wait_s=wait))
