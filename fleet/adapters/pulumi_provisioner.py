"""The Provisioner port on Pulumi's Automation API.

Each environment is one Pulumi stack of the project in the repository root
(``Pulumi.yaml``, program ``fleet/infra/``). fleet does not describe the slots
through stack config; it passes the whole slot layout in the ``FLEET_LAYOUT``
environment variable and runs ``up``, so every operation is "converge to this
layout":

- ``provision`` and ``bootstrap`` run ``up`` with the slot present (without
  and with Flux); slots already bootstrapped stay so, and a slot the caller
  gives no version keeps its recorded one, both read from the stack's own
  outputs (``<slot>_bootstrapped``, ``<slot>_version``);
- ``destroy`` runs ``up`` with the slot left out, which deletes that slot's
  resources and nothing else. ``stack.destroy()`` would take the serving slot
  with it, so it is never called;
- ``refresh`` reconciles the stack's state with reality after an interrupted
  run, clearing pending creates (see docs/infrastructure.md). With a local or
  object-store backend an interrupted run leaves a lock file; when its holder
  was a process of this host that is gone, ``refresh`` clears it with ``pulumi
  cancel`` (which deletes those lock files) and goes on (``pulumi_locks``); any
  other lock surfaces as :class:`LockedError`;
- ``refresh`` first kills the Pulumi processes a killed fleet run left
  running (its CLI still holding the lock, its plugins): each carries the
  ``FLEET_CALL`` mark of its owner in its environment (``pulumi_procs``);
- ``drain`` releases what in-cluster controllers created in the cloud (load
  balancers) before ``destroy``, through ``fleet.adapters.kube_teardown``.

Pulumi's output is streamed line by line to ``on_output`` (the CLI shows it)
and the last lines are kept for the error message when an update fails.
Errors leave this module as fleet's own: ``ConcurrentUpdateError`` becomes
:class:`LockedError` (exit 3), a failed update :class:`ProvisioningFailed`
with Pulumi's last lines, a missing ``pulumi`` binary a
:class:`ProvisioningFailed` that says so.

A run that loses its lock while ``pulumi up`` runs must not carry on: the
engine's keep-alive calls :meth:`PulumiProvisioner.cancel`, which sends
SIGINT to the Pulumi CLI processes this provisioner started (found by a
marker in their environment, ``FLEET_CALL``, under ``/proc``; Linux only).
Pulumi then stops starting operations, finishes those in flight and writes
its state, exactly as on Ctrl-C; the call raises the lost lock's
:class:`LockedError` instead of Pulumi's error.

Tests replace the Automation API through ``stack_factory``, a function from
(environment, extra environment variables) to an object with ``up``,
``refresh`` and ``outputs``; nothing here is patched.
"""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from pulumi import automation as auto

from fleet.adapters import kube_teardown, pulumi_locks, pulumi_procs
from fleet.adapters.pulumi_errors import Tail, translate
from fleet.domain.model import Role, SlotName, SlotState, Version
from fleet.domain.reports import Secret, SlotOutputs
from fleet.errors import ConfigError, ProvisioningFailed
from fleet.infra.layout import LAYOUT_ENV, encode_layout, output_key
from fleet.ports import Layout

CALL_ENV = pulumi_procs.CALL_ENV
"""Marks the Pulumi processes of one provisioner, so that ``cancel`` signals those and no others."""


class StackOutput(Protocol):
    value: Any
    secret: bool


class StackLike(Protocol):
    """The part of ``pulumi.automation.Stack`` fleet uses."""

    def up(self, *, on_output: Callable[[str], Any], suppress_outputs: bool) -> Any: ...

    def refresh(self, *, on_output: Callable[[str], Any], clear_pending_creates: bool) -> Any: ...

    def outputs(self) -> Mapping[str, StackOutput]: ...


StackFactory = Callable[[str, Mapping[str, str]], StackLike]
"""(environment, extra environment variables for the Pulumi run) -> the environment's stack."""

Drainer = Callable[[Secret], object]
"""Releases a cluster's cloud load balancers, given its kubeconfig."""


def automation_stacks(work_dir: str | os.PathLike[str]) -> StackFactory:
    """Stacks of the local Pulumi project in ``work_dir`` (the directory holding Pulumi.yaml)."""
    folder = str(Path(work_dir).resolve())

    def open_stack(env: str, env_vars: Mapping[str, str]) -> StackLike:
        options = auto.LocalWorkspaceOptions(work_dir=folder, env_vars=dict(env_vars))
        stack: StackLike = auto.create_or_select_stack(stack_name=env, work_dir=folder, opts=options)
        return stack

    return open_stack


@dataclass(frozen=True)
class _Recorded:
    """What the stack's outputs say about the slots it has: Flux installed, version."""

    bootstrapped: Mapping[SlotName, bool]
    versions: Mapping[SlotName, Version]

    def complete(self, layout: Layout) -> Layout:
        """``layout`` with the recorded version filled in where the caller gave none.

        Without it the program would fall back to ``fleet:cluster.version`` and
        try to move a live slot to another version.
        """
        slots = {
            name: replace(state, version=self.versions[name])
            if state.version is None and state.role is not Role.ABSENT and name in self.versions
            else state
            for name, state in layout.slots.items()
        }
        return Layout(layout.env, slots, layout.held)


class PulumiProvisioner:
    """Provisioner on Pulumi's Automation API; one stack per environment."""

    def __init__(
        self,
        work_dir: str | os.PathLike[str],
        on_output: Callable[[str], None],
        *,
        stack_factory: StackFactory | None = None,
        drainer: Drainer | None = None,
        drain_timeout_s: float = 600.0,
    ) -> None:
        self.work_dir = Path(work_dir)
        self.on_output = on_output
        self._stacks = stack_factory or automation_stacks(self.work_dir)
        self._needs_cli = stack_factory is None
        self._call_token = pulumi_procs.new_mark()
        self._cancelled: Exception | None = None
        self._drainer: Drainer = drainer or (
            lambda kubeconfig: kube_teardown.drain_cluster(kubeconfig, timeout_s=drain_timeout_s)
        )

    def cancel(self, why: Exception) -> None:
        """Interrupt the Pulumi run in flight (SIGINT, as Ctrl-C); it then raises ``why``."""
        self._cancelled = why
        for pid in pulumi_procs.children_marked(self._call_token):
            try:
                os.kill(pid, signal.SIGINT)
            except ProcessLookupError:
                continue

    def reclaim(self) -> list[int]:
        """Kill the Pulumi processes (CLI, language host, providers) a killed fleet run left behind."""
        killed = pulumi_procs.reclaim_orphans()
        if killed:
            self.on_output(f"stopped {len(killed)} Pulumi process(es) left by a killed fleet run: "
                           f"{', '.join(map(str, killed))}")
        return killed

    def preflight(self) -> None:
        if self._needs_cli and shutil.which("pulumi") is None:
            raise ConfigError(
                "fleet cutover provisions slots with the Pulumi CLI, and `pulumi` is not on PATH "
                "(install it: https://www.pulumi.com/docs/install/, or build it: "
                "`python3 tools/peers/build.py --only pulumi pulumi-kubernetes`); `fleet rehearse` works without it"
            )

    def provision(self, layout: Layout, slot: SlotName, version: Version) -> SlotOutputs:
        current = _present(layout, slot)
        role = current.role if current is not None else Role.STANDBY
        recorded = self._recorded(layout.env)
        target = recorded.complete(_with_slot(layout, slot, SlotState(role, version)))
        self._up(target, recorded.bootstrapped, "provision")
        outputs = self.outputs(layout.env, slot)
        if outputs is None:
            raise ProvisioningFailed(
                f"pulumi up of {layout.env!r} finished but the stack has no outputs for slot {slot}"
            )
        return outputs

    def bootstrap(self, layout: Layout, slot: SlotName) -> None:
        if _present(layout, slot) is None:
            raise ProvisioningFailed(f"cannot bootstrap {slot} of {layout.env!r}: the layout does not contain it")
        recorded = self._recorded(layout.env)
        self._up(recorded.complete(layout), {**recorded.bootstrapped, slot: True}, "bootstrap")

    def refresh(self, layout: Layout) -> None:
        self.reclaim()
        recorded = self._recorded(layout.env)
        stack = self._stack(layout.env, recorded.complete(layout), recorded.bootstrapped)
        tail = Tail(self.on_output)
        try:
            stack.refresh(on_output=tail.feed, clear_pending_creates=True)
        except auto.errors.ConcurrentUpdateError as err:
            # A run killed mid-update (what `fleet resume` follows) leaves its lock; see pulumi_locks.
            cancel = getattr(stack, "cancel", None)
            if cancel is None or not pulumi_locks.all_stale(str(err)):
                raise translate(err, layout.env, "refresh", tail) from err
            self.on_output(f"{layout.env}: removing the Pulumi lock left by a killed run (pulumi cancel)")
            try:
                cancel()
                stack.refresh(on_output=tail.feed, clear_pending_creates=True)
            except Exception as again:
                raise translate(again, layout.env, "refresh", tail) from again
        except Exception as err:
            self._raise_if_cancelled(err)
            raise translate(err, layout.env, "refresh", tail) from err
        self._raise_if_cancelled(None)

    def outputs(self, env: str, slot: SlotName) -> SlotOutputs | None:
        values = self._outputs(env)
        kubeconfig = values.get(output_key(slot, "kubeconfig"))
        if not kubeconfig:
            return None
        try:
            version = Version.parse(values.get(output_key(slot, "version")))
        except ValueError as err:
            raise ProvisioningFailed(f"stack {env!r} reports a bad version for {slot}: {err}") from None
        return SlotOutputs(
            slot=slot,
            version=version,
            endpoint=str(values.get(output_key(slot, "endpoint"), "")),
            ingress=str(values.get(output_key(slot, "ingress"), "")),
            kubeconfig=Secret(str(kubeconfig)),
        )

    def drain(self, layout: Layout, slot: SlotName) -> None:
        outputs = self.outputs(layout.env, slot)
        if outputs is None:
            self.on_output(f"{layout.env}/{slot}: not provisioned, nothing to drain")
            return
        self.on_output(f"{layout.env}/{slot}: suspending Flux and releasing load balancers")
        self._drainer(outputs.kubeconfig)

    def destroy(self, layout: Layout, slot: SlotName) -> None:
        recorded = self._recorded(layout.env)
        remaining = Layout(layout.env, {name: s for name, s in layout.slots.items() if name is not slot}, layout.held)
        self._up(recorded.complete(remaining), recorded.bootstrapped, "destroy")

    def _up(self, layout: Layout, bootstrapped: Mapping[SlotName, bool], operation: str) -> None:
        stack = self._stack(layout.env, layout, bootstrapped)
        tail = Tail(self.on_output)
        try:
            stack.up(on_output=tail.feed, suppress_outputs=True)
        except Exception as err:
            self._raise_if_cancelled(err)
            raise translate(err, layout.env, operation, tail) from err
        self._raise_if_cancelled(None)

    def _raise_if_cancelled(self, err: Exception | None) -> None:
        why, self._cancelled = self._cancelled, None
        if why is not None:
            raise why from err

    def _stack(
        self, env: str, layout: Layout | None = None, bootstrapped: Mapping[SlotName, bool] | None = None
    ) -> StackLike:
        env_vars = {CALL_ENV: self._call_token}
        if layout is not None:
            env_vars[LAYOUT_ENV] = encode_layout(layout, bootstrapped or {})
        try:
            return self._stacks(env, env_vars)
        except Exception as err:
            raise translate(err, env, "select the stack of", Tail(self.on_output)) from err

    def _outputs(self, env: str) -> dict[str, Any]:
        stack = self._stack(env)
        try:
            return {key: out.value for key, out in stack.outputs().items()}
        except Exception as err:
            raise translate(err, env, "read the outputs of", Tail(self.on_output)) from err

    def _recorded(self, env: str) -> _Recorded:
        values = self._outputs(env)
        versions: dict[SlotName, Version] = {}
        for slot in SlotName:
            try:
                versions[slot] = Version.parse(values.get(output_key(slot, "version")))
            except ValueError:
                continue
        bootstrapped = {slot: values.get(output_key(slot, "bootstrapped")) is True for slot in SlotName}
        return _Recorded(bootstrapped, versions)


def _present(layout: Layout, slot: SlotName) -> SlotState | None:
    state = layout.slots.get(slot)
    return state if state is not None and state.role is not Role.ABSENT else None


def _with_slot(layout: Layout, slot: SlotName, state: SlotState) -> Layout:
    return Layout(layout.env, {**layout.slots, slot: state}, layout.held)
