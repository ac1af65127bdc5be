"""``fleet rehearse ENV`` for an environment with providers of its own (Route53, Prometheus).

The rendering side of :mod:`fleet.rehearsal.own_run`: the first lines say per
port what runs for real and what stands in, then the compressed waits; the
end says what the resolvers did after each weight change.
"""

from __future__ import annotations

from typing import Any

import click


def rehearse_own(env: str, config: Any, location: str, faults: Any, target: Any, report: str | None, output: str,
                 confirm: Any, temporary: bool) -> None:
    from fleet.cli import render
    from fleet.cli.progress import Progress
    from fleet.cli.rehearse_end import finish_real
    from fleet.rehearsal.own_providers import ProviderWaits, settle_line, settles
    from fleet.rehearsal.own_run import rehearse_providers

    waits = ProviderWaits()

    def ready(lines: list[str]) -> None:
        for line in lines:
            click.echo(line, err=True)
        click.echo("waits, compressed for the rehearsal:\n" + render.table(waits.rows(config)), err=True)

    click.echo(f"rehearsing {env} on its own providers (state: {location}):", err=True)
    progress = Progress()
    try:
        final, run = rehearse_providers(config, location, faults, progress, target=target, confirm=confirm,
                                        ready=ready)
    except KeyboardInterrupt:
        from fleet.cli.rehearse import Interrupted

        raise Interrupted(
            f"interrupted; every part was stopped. moto's zone ended with it, so this rehearsal cannot be resumed: "
            f"start anew (its state: {location})"
        ) from None
    finally:
        progress.close()
    found = settles(run)
    line = settle_line(found, waits.ttl_s)
    if line:
        click.echo(line, err=True)
    extra = {"providers": {
        "ports": run.lines, "through": run.through, "waits": waits.to_json(),
        "dns_settle": [{"stale_for_s": round(s.stale_for_s, 3), "stale_requests": s.stale_requests} for s in found],
    }}
    finish_real(env, final, run, report, output, temporary, confirm is None, str(config.version), extra=extra)
