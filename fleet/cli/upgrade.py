"""``fleet upgrade``: every environment behind its version channel, wave by wave, inside its windows.

With one environment (named, or the only one) the cutover runs in this process; with
several, each runs as its own ``fleet upgrade ENV`` process, ``--max-parallel`` at a
time. ``--dry-run --output json`` prints per wave the environments due in the form a
CI matrix takes, and exits 1 when an upgrade is due, 0 when everything is current.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any

import click

from fleet.cli.options import current, emit, output_option, state_option
from fleet.errors import CutoverHalted, FleetError, UsageError

if TYPE_CHECKING:
    from fleet.config import EnvironmentConfig
    from fleet.domain.machine import EnvironmentState
    from fleet.domain.waves import EnvPlan
    from fleet.upgrade.rollout import Rollout, RunResult


def _duration(ctx: click.Context, param: click.Parameter, value: str) -> float:
    from fleet.config import parse_duration

    try:
        return parse_duration(value)
    except ValueError as err:
        raise click.BadParameter(str(err)) from err


@click.command()
@click.argument("envs", nargs=-1, metavar="[ENV]...")
@click.option("--wave", "wave", metavar="LIST", help="Waves in order, e.g. dev,staging,prod (fleet:upgrade.wave).")
@click.option("--soak", default="0s", show_default=True, callback=_duration, metavar="DURATION",
              help="How long a wave's last cutover must have been DONE before the next wave starts.")
@click.option("--max-parallel", type=click.IntRange(min=1), default=4, show_default=True,
              help="Environments of one wave cut over at the same time (one process each).")
@click.option("--dry-run", is_flag=True, help="Show what is due; exit 1 when an upgrade is due, 0 when current.")
@click.option("--now", is_flag=True, help="Start even outside the environments' maintenance windows.")
@click.option("--yes", "-y", is_flag=True, help="Destroy old slots after their bake without asking.")
@output_option
@state_option
def upgrade(envs: tuple[str, ...], wave: str | None, soak: float, max_parallel: int, dry_run: bool, now: bool,
            yes: bool, output: str) -> None:
    """Cut over every environment behind its version channel, wave by wave."""
    from fleet.config import list_environments
    from fleet.domain.waves import upgrade_due
    from fleet.upgrade.rollout import ALL, ProcessRunner, matrix, run_rollout, view

    ctx = current()
    project = ctx.project()
    known = list_environments(project)
    names = list(envs) or known
    if not names:
        raise UsageError("no environments found (expected stacks/Pulumi.<env>.yaml)")
    waves = [w.strip() for w in wave.split(",") if w.strip()] if wave else []
    configs = {name: ctx.config(name) for name in names}
    single = len(names) == 1

    def read() -> tuple[list[Any], float]:
        at = time.time()
        return [view(c, ctx.store(c).load(c.name), at=at, waves=waves) for c in configs.values()], at

    views, at = read()
    rollout_waves = waves or [ALL]
    excluded = {v.env: f"its wave {v.wave or '(none)'} is not in --wave" for v in views if v.wave not in rollout_waves}
    if excluded:
        configs = {n: c for n, c in configs.items() if n not in excluded}
    if dry_run:
        from fleet.domain.waves import plan_rollout
        from fleet.upgrade.rollout import Rollout

        views = [v for v in views if v.env not in excluded]
        plans = plan_rollout(rollout_waves, views, at=at, soak_s=soak, now=now, retry_failed=bool(envs))
        due = upgrade_due(plans)
        _report(Rollout(plans=plans, excluded=excluded), output, {"due": due, "waves": matrix(plans)})
        sys.exit(1 if due else 0)
    if single:
        runner: Any = _EngineRunner(configs, yes)
    else:
        runner = ProcessRunner(state=ctx.state_option, now=now, yes=yes, project=ctx.project_option)
    try:
        done = run_rollout(read, rollout_waves, runner, soak_s=soak, max_parallel=max_parallel, now=now,
                           retry_failed=bool(envs))
    finally:
        if isinstance(runner, ProcessRunner):
            runner.stop()
    done.excluded = excluded
    _finish(done, output, single)


class _EngineRunner:
    """The cutover of one environment in this process, with the live progress line."""

    def __init__(self, configs: dict[str, EnvironmentConfig], yes: bool) -> None:
        self.configs = configs
        self.yes = yes
        self.final: EnvironmentState | None = None

    def run(self, plan: EnvPlan) -> RunResult:
        from fleet.cli.drive import drive
        from fleet.cli.outcome import exit_code
        from fleet.domain.machine import Phase
        from fleet.domain.waves import Action
        from fleet.upgrade.rollout import RunResult

        config = self.configs[plan.env]
        end = plan.window_end
        try:
            if plan.action is Action.RESUME:
                final = drive(config, lambda e: e.resume(config.name, window_end=end), yes=self.yes)
            else:
                assert plan.target is not None
                from fleet.notify_settings import notify_settings

                gates = notify_settings(config.raw, file=config.file).gates
                final = drive(config, lambda e: e.cutover(config, plan.target, window_end=end,  # type: ignore[arg-type]
                                                          gates=gates), yes=self.yes)
        except FleetError as err:
            return RunResult(plan.env, None, False, str(err), err.exit_code)
        self.final = final
        c = final.cutover
        code = exit_code(final, Phase.DONE)
        message = "" if c is None or c.reason is None else c.reason
        return RunResult(plan.env, None if c is None else c.phase.value, code == 0, message, code)


def _report(done: Rollout, output: str, extra: dict[str, Any]) -> None:
    from fleet.cli import render
    from fleet.upgrade.rollout import env_rows

    rows = env_rows(done)
    waves = [{"wave": p.name, "state": str(p.state), "reason": p.reason} for p in done.plans]
    data = {**extra, "environments": rows, "wave_states": waves}
    emit(output, data, lambda: render.table(waves) + "\n\n" + render.table(rows) if rows else "nothing to upgrade")


def _finish(done: Rollout, output: str, single: bool) -> None:
    from fleet.upgrade.rollout import matrix

    failed = done.failed
    code = max((r.exit_code for r in failed), default=0) if single else (1 if failed else 0)
    outside = [e for p in done.plans for e in p.envs if str(e.action) == "outside-window"]
    if not done.results and outside:
        code = 1
    _report(done, output, {"ok": code == 0, "exit_code": code, "waves": matrix(done.plans)})
    for r in failed:
        click.echo(f"fleet: {r.env}: {r.message.splitlines()[0] if r.message else 'failed'}", err=True)
    if not done.results and outside:
        click.echo("fleet: outside the maintenance windows of " + "; ".join(
            f"{e.env} (next: {e.reason.split('next: ')[-1]})" for e in outside) + "; --now starts anyway", err=True)
    sys.exit(code)


def resume_window(config: EnvironmentConfig, state: EnvironmentState, now: bool) -> float | None:
    """The window a resumed cutover may run until: none unless it was started under one."""
    from fleet.domain.windows import current_opening, next_opening
    from fleet.upgrade.settings import upgrade_settings

    c = state.cutover
    if now or c is None or c.window_end is None:
        return None
    windows = upgrade_settings(config).windows
    if not windows:
        return None
    at = time.time()
    opening = current_opening(windows, at)
    if opening is not None:
        return opening.end
    upcoming = next_opening(windows, at)
    raise CutoverHalted(
        f"{config.name} is outside its maintenance windows; next: "
        f"{upcoming.local() if upcoming else 'none'}; resume then, or now with --now",
        phase=c.phase.value,
    )


def register(cli: click.Group) -> None:
    cli.add_command(upgrade)


__all__ = ["register", "resume_window", "upgrade"]
