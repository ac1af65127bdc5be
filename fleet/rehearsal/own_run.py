"""Running the rehearsal on an environment's own providers: parts up, queries checked, the real engine.

The parts and what they say are in :mod:`fleet.rehearsal.own_providers`;
this is the run itself, shaped like :func:`fleet.rehearsal.real.rehearse_real`
(the lock first, then the seeded state, then every part, all stopped on the
way out, on failure and on Ctrl-C too).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

from fleet.config import EnvironmentConfig
from fleet.domain.machine import EnvironmentState
from fleet.domain.model import Version
from fleet.engine import Engine, Ports, RetryPolicy
from fleet.ports import Confirm, Notifier
from fleet.rehearsal.common import Fanout
from fleet.rehearsal.files import HeldStore, RehearsalFiles, active_and_goal, load_world, started
from fleet.rehearsal.own_providers import (
    WORLD,
    ProviderParts,
    ProviderRun,
    ProviderWaits,
    check_queries,
    describe,
    plan,
    query_warnings,
    refuse_faults,
)
from fleet.rehearsal.parts import FLUX
from fleet.rehearsal.real import _save_marker, _terminate_on_sigterm
from fleet.rehearsal.real_faults import FailInBake, RealFaults
from fleet.rehearsal.sim import REVISION
from fleet.rehearsal.sim_provisioner import RecordingTraffic, RevisionsSeen, SimulatedProvisioner
from fleet.rehearsal.waits import WallClock


def rehearse_providers(
    config: EnvironmentConfig, location: str, faults: RealFaults, notifier: Notifier, *,
    target: Version | None = None, confirm: Confirm | None = None,
    ready: Callable[[list[str]], None] = lambda lines: None,
) -> tuple[EnvironmentState, ProviderRun]:
    """A cutover of ``config`` on its own traffic provider and analysis source (see the module above).

    ``ready`` hears, once every part runs and before the cutover starts, per port what is real and what stands in.
    """
    refuse_faults(faults)
    chosen = plan(config)
    waits = ProviderWaits()
    with started(location, config.name, config.version, contender=faults.lock_held) as (store, lease, live):
        active, current, goal = active_and_goal(live, config, location, target)
        files = RehearsalFiles(store)
        _save_marker(files, config.name, faults, waits, WORLD)
        world = load_world(files)
        if active.value not in world.clusters:
            from fleet.rehearsal.flux_sim import FluxSpec

            world.clusters[active.value] = str(current)
            world.bootstrapped.append(active.value)
            world.weights = {"blue": live.weights.blue, "green": live.weights.green}
            world.save()
            files.save_json(FLUX, {**(files.load_json(FLUX) or {}), active.value: FluxSpec(REVISION).to_json()})
        parts = ProviderParts(config, chosen, files, world, waits, faults, active.other)
        held = HeldStore(store, lease)
        through = "Route53 (moto) and caching resolvers" if chosen.route53 else "HAProxy"
        run = ProviderRun(held, location, world, waits, clock_offset=parts.clock_offset, through=through,
                          kind=chosen.kind)
        with _terminate_on_sigterm(), ExitStack() as stack:
            stack.callback(parts.close)
            parts.start_traffic()
            run.load_started_at = time.monotonic()
            try:
                engine, analysis, gate = _engine(parts, run, held, notifier, confirm)
                stack.callback(gate.close)
                run.lines = describe(config, parts) + query_warnings(parts, analysis)
                ready(run.lines)
                check_queries(parts, analysis)
                parts.cluster(active)
                final = engine.cutover(
                    config, goal, rollout=waits.rollout(config.rollout), teardown=waits.teardown(config.teardown)
                )
            finally:
                time.sleep(0.5)
                run.requests = parts.stop_load()
                run.load_stopped_at = time.monotonic()
            return final, run


def _engine(
    parts: ProviderParts, run: ProviderRun, held: Any, notifier: Notifier, confirm: Confirm | None
) -> tuple[Engine, Any, Any]:
    from fleet.adapters.analysis.window import attach_progress
    from fleet.adapters.kube import Backoff, FluxHealthGate
    from fleet.rehearsal.dns_world import TimedTraffic

    gate = FluxHealthGate(
        backoff=Backoff(initial_s=0.05, factor=2.0, max_s=0.5, attempts=5),
        connect_timeout_s=2.0, read_timeout_s=5.0, missing_poll_s=0.2, join_timeout_s=2.0,
    )
    notifiers: list[Any] = [notifier]
    if parts.faults.flux_fails_in_bake:
        notifiers.append(FailInBake(parts))
    analysis = parts.analysis()
    attach_progress(analysis, notifier, parts.config.name)
    timed = TimedTraffic(parts.traffic())
    run.changes = timed.changes
    ports = Ports(
        provisioner=SimulatedProvisioner(parts),
        health=RevisionsSeen(gate, run.revisions),
        traffic=RecordingTraffic(timed, parts.world),
        analysis=analysis,
        clock=WallClock(),
        notifier=Fanout(*notifiers),
        confirm=confirm or (lambda question: True),
    )
    engine = Engine(held, ports, retry=RetryPolicy(attempts=5, base_s=0.1, max_s=1.0, budget_s=5.0))
    return engine, analysis, gate
