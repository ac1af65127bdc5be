"""The executor: carries out one command through the ports and says what happened, as an event.

One command, one call (or a few) through the ports, under the one retry and
deadline policy (:mod:`fleet.retry`): transient errors are retried with
backoff within a budget of wall time, a provider error becomes ``StepFailed``.
Commands that may run for minutes (provisioning, draining, destroying) run
under a lease watch, which cancels them when the lease is lost.

The executor reads the traffic provider back before a weight change and
before the old slot is drained or destroyed; what a reading means (drift,
the old slot still serving) is decided by :mod:`fleet.domain.guards`, and
the machine decides what to do about it. ``None`` means the command gave
way to an operator's request, which the driver takes next.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from fleet.domain import guards
from fleet.domain.commands import (
    Analyse,
    AwaitApproval,
    AwaitHealthy,
    BootstrapFlux,
    CheckHealth,
    CheckParity,
    Command,
    ConfirmTeardown,
    DestroySlot,
    DrainSlot,
    HandoffSingletons,
    ProvisionSlot,
    RefreshSlots,
    RunSmokeTest,
    SetWeights,
    WaitUntil,
)
from fleet.domain.events import (
    AnalysisCompleted,
    ApprovalPending,
    Event,
    FluxBootstrapped,
    HealthReported,
    ParityObserved,
    Refreshed,
    SingletonsHandedOff,
    SlotDestroyed,
    SlotDrained,
    SlotProvisioned,
    SmokeTested,
    StepFailed,
    TeardownConfirmed,
    TeardownDeclined,
    TeardownRefused,
    TimerFired,
    WeightsApplied,
)
from fleet.domain.machine import EnvironmentState, Phase, layout_slots
from fleet.domain.model import ABSENT_SLOT, SlotName, Weights
from fleet.domain.reports import HealthReport, Outcome, SlotOutputs
from fleet.domain.singletons import born_held
from fleet.engine.common import Ports, RunSettings
from fleet.engine.mailbox import Mailbox
from fleet.errors import ProviderError, TransientError
from fleet.lease_watch import LeaseWatch
from fleet.ports import Layout, Lease, Notice
from fleet.retry import RetryPolicy, call_with_retries

SESSIONS_GRACE_S = 10.0
"""How long teardown waits for the old slot's last sessions to close (its weight already 0) before it refuses."""

LONG_COMMANDS = (RefreshSlots, ProvisionSlot, BootstrapFlux, DrainSlot, DestroySlot, HandoffSingletons)
"""Commands that may run for minutes (a singleton hold waits for the API server): a keep-alive renews the
lease meanwhile and cancels them if it is lost."""


class Executor:
    def __init__(
        self, ports: Ports, mailbox: Mailbox, settings: RunSettings, retry: RetryPolicy, rng: random.Random
    ) -> None:
        self.ports = ports
        self.mailbox = mailbox
        self.settings = settings
        self.retry = retry
        self.rng = rng

    def execute(self, lease: Lease, state: EnvironmentState, command: Command) -> Event | None:
        name = type(command).__name__
        self.settings.checkpoint(f"before:{name}")

        def run() -> Event | None:
            return self._with_retries(
                lambda: self._run(state, command), name, state.env, bound_calls=isinstance(command, SetWeights)
            )

        try:
            if isinstance(command, LONG_COMMANDS):
                # A lost lease cancels the call (Pulumi is interrupted) and LockedError ends the run.
                with LeaseWatch(lease, lease_s=self.settings.lease_s, on_lost=self.ports.provisioner.cancel) as watch:
                    try:
                        event = run()
                    finally:
                        watch.stop()
                        watch.raise_if_lost()  # also instead of the error of a cancelled call
            else:
                event = run()
        except ProviderError as err:
            event = StepFailed(at=self.ports.clock.now(), command=name, reason=str(err))
        self.settings.checkpoint(f"after:{name}")
        return event

    def _with_retries(
        self, call: Callable[[], Event | None], name: str, env: str, *, bound_calls: bool = False
    ) -> Event | None:
        """``call`` under the one retry policy; ``bound_calls`` also cuts each call's timeouts to the budget."""

        def tell(err: TransientError, delay: float) -> None:
            self.ports.notifier.notify(Notice(env, "retry", f"{name}: {err}; retrying in {delay:.1f}s"))

        return call_with_retries(
            call, policy=self.retry, what=name, now=self.ports.clock.now, sleep=self.ports.clock.sleep,
            rng=self.rng, on_retry=tell, bound_calls=bound_calls,
        )

    # --- reading the world -------------------------------------------------------------

    def _watch(self, state: EnvironmentState, slot: SlotName, *, until: float) -> HealthReport:
        """The health gate's watch of the verified ``slot`` until ``until`` (0: a check now)."""
        c = state.cutover
        assert c is not None
        return self.ports.health.watch(
            state.env, slot, self._outputs(state.env, slot), verified=c.revisions,
            grace_s=c.rollout.health.regression_grace_s, until_s=max(0.0, until - self.ports.clock.now()),
            interrupted=self.mailbox.poll(state.env),
        )

    def _layout(self, state: EnvironmentState, *, without: SlotName | None = None) -> Layout:
        slots = layout_slots(state)
        if without is not None:
            slots[without] = ABSENT_SLOT
        return Layout(env=state.env, slots=slots, held=born_held(state))

    def _outputs(self, env: str, slot: SlotName) -> SlotOutputs:
        outputs = self.ports.provisioner.outputs(env, slot)
        if outputs is None:
            raise ProviderError(f"{slot} has no outputs: it is not provisioned")
        return outputs

    def _point(self, env: str, slot: SlotName, outputs: SlotOutputs) -> None:
        """Send ``slot``'s share to its ingress where the provider routes by address (HAProxy)."""
        if outputs.ingress and self.ports.traffic.address_of(outputs.ingress) is not None:
            self.ports.traffic.point(env, slot, outputs.ingress)

    def _drift(self, state: EnvironmentState, new_outputs: SlotOutputs, *, also: Weights | None = None) -> Event | None:
        traffic = self.ports.traffic
        view = traffic.observe(state.env)
        expected = traffic.address_of(new_outputs.ingress) if new_outputs.ingress else None
        return guards.drift(state, view, expected, at=self.ports.clock.now(), about_to_set=also)

    def _teardown_check(self, state: EnvironmentState, slot: SlotName) -> Event | None:
        """Drift, or the old slot still taking traffic by the provider's own account, stops the teardown."""
        c = state.cutover
        assert c is not None
        clock = self.ports.clock
        drift = self._drift(state, self._outputs(state.env, c.new))
        if drift is not None:
            return drift
        grace_ends = clock.now() + SESSIONS_GRACE_S
        while True:
            view = self.ports.traffic.observe(state.env)
            now = clock.now()
            verdict = guards.teardown(view, slot, at=now, grace_over=now >= grace_ends)
            if isinstance(verdict, TeardownRefused):
                return verdict
            if verdict is guards.Teardown.PROCEED:
                return None
            clock.sleep(1.0)

    # --- the commands ---------------------------------------------------------------

    def _run(self, state: EnvironmentState, command: Command) -> Event | None:
        p = self.ports
        env = state.env
        c = state.cutover
        assert c is not None
        match command:
            case RefreshSlots():
                p.provisioner.refresh(self._layout(state))
                return Refreshed(at=p.clock.now())
            case ProvisionSlot(slot=slot, version=version):
                outputs = p.provisioner.provision(self._layout(state), slot, version)
                self._point(env, slot, outputs)
                return SlotProvisioned(at=p.clock.now(), slot=slot, version=version)
            case BootstrapFlux(slot=slot):
                p.provisioner.bootstrap(self._layout(state), slot)
                if p.singletons is not None and c.rollout.handoff_at is not None:
                    p.singletons.hold(env, slot, self._outputs(env, slot))
                return FluxBootstrapped(at=p.clock.now(), slot=slot)
            case HandoffSingletons(slot=slot, running=running):
                if p.singletons is not None:
                    outputs = self._outputs(env, slot)
                    (p.singletons.release if running else p.singletons.hold)(env, slot, outputs)
                return SingletonsHandedOff(at=p.clock.now(), slot=slot, running=running)
            case AwaitHealthy(slot=slot, timeout_s=timeout):
                report = p.health.wait_reconciled(env, slot, self._outputs(env, slot), timeout)
                return HealthReported(at=p.clock.now(), report=report)
            case CheckParity(old=old, new=new, not_before=not_before):
                if self.mailbox.sleep_until(env, not_before):
                    return None  # gave way to an operator's request
                old_report = p.health.report(env, old, self._outputs(env, old))
                new_report = p.health.report(env, new, self._outputs(env, new))
                return ParityObserved(at=p.clock.now(), old=old_report, new=new_report)
            case SetWeights(weights=weights, reapply=reapply):
                return self._set_weights(state, weights, reapply)
            case Analyse(slot=slot):
                poll = self.mailbox.poll(env)
                verdict = p.analysis.analyse(env, slot, c.rollout.analysis, interrupted=poll)
                if verdict.outcome is not Outcome.FAIL and (poll.fired or self.mailbox.waiting(env)):
                    return None  # the window was given up for the request: nothing to record
                return AnalysisCompleted(at=p.clock.now(), verdict=verdict)
            case AwaitApproval(step=step):
                return ApprovalPending(at=p.clock.now(), step=step)
            case RunSmokeTest(slot=slot, step=step, percent=percent):
                result = p.hooks.smoke(env, slot, step, percent) if p.hooks is not None else None
                ok = result is None or result.ok
                return SmokeTested(at=p.clock.now(), step=step, ok=ok, reason="" if result is None else result.reason)
            case CheckHealth(slot=slot):
                return HealthReported(at=p.clock.now(), report=self._watch(state, slot, until=0.0))
            case WaitUntil(at=due, watch=None):
                self.mailbox.sleep_until(env, due)
                return TimerFired(at=p.clock.now())
            case WaitUntil(at=due, watch=SlotName() as slot):
                report = self._watch(state, slot, until=due)
                if p.clock.now() < due:  # a regression, or an operator's request, ended the watch early
                    return HealthReported(at=p.clock.now(), report=report)
                return TimerFired(at=p.clock.now(), report=report)
            case ConfirmTeardown(slot=slot):
                question = f"Destroy the old slot {slot} of {env} ({state.slot(slot).version})?"
                if not c.teardown.confirm or p.confirm(question):
                    return TeardownConfirmed(at=p.clock.now())
                return TeardownDeclined(at=p.clock.now())
            case DrainSlot(slot=slot):
                refused = self._teardown_check(state, slot)
                if refused is not None:
                    return refused
                p.provisioner.drain(self._layout(state), slot)
                return SlotDrained(at=p.clock.now(), slot=slot)
            case DestroySlot(slot=slot):
                refused = self._teardown_check(state, slot)
                if refused is not None:
                    return refused
                p.provisioner.destroy(self._layout(state, without=slot), slot)
                return SlotDestroyed(at=p.clock.now(), slot=slot)
        raise AssertionError(f"no handler for {command}")

    def _set_weights(self, state: EnvironmentState, weights: Weights, reapply: bool) -> Event:
        p = self.ports
        c = state.cutover
        assert c is not None
        rolling_back = c.phase is Phase.ROLLING_BACK
        new_outputs = None if rolling_back else self._outputs(state.env, c.new)
        if reapply and new_outputs is not None:
            self._point(state.env, c.new, new_outputs)
        elif new_outputs is not None:
            drift = self._drift(state, new_outputs, also=weights)
            if drift is not None:
                return drift
        applied = p.traffic.set_weights(state.env, weights)
        if applied.weights != weights:
            raise ProviderError(f"asked the traffic provider for {weights}, it applied {applied.weights}")
        if applied.settle_s > 0 and c.phase is Phase.SHIFT:
            p.clock.sleep(applied.settle_s)
        return WeightsApplied(at=p.clock.now(), weights=applied.weights)
