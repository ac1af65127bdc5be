"""What a cutover would do, step by step, before anything is done.

``fleet plan`` and ``fleet cutover --dry-run`` show this. The plan is derived
from the same policies the engine will use, so its waits are the cutover's
real waits, and it carries the warnings a careful operator would want first
(DNS caching, a downgrade, an old slot that will be destroyed). Each weight
step names what stands before it (an approval, the smoke tests, the check of
the new slot's health) and the one at which the singletons are handed over.
"""

from __future__ import annotations

from dataclasses import dataclass

from fleet.domain.gates import GatePolicy
from fleet.domain.machine import EnvironmentState, Phase
from fleet.domain.model import RolloutPolicy, TeardownPolicy, Version, Weights


@dataclass(frozen=True)
class PlanStep:
    phase: Phase
    action: str
    weights: Weights
    wait_s: float
    """The shortest time this step takes (configured waits only)."""
    gates: tuple[str, ...] = ()
    """What the weight increase waits on first, in order: ``approve``, ``health``, ``smoke``."""
    handoff: bool = False
    """The singletons are handed over once this step's weight is set (``fleet:singletons.handoffAt``)."""


@dataclass(frozen=True)
class Plan:
    env: str
    old_version: Version | None
    target: Version
    steps: tuple[PlanStep, ...]
    warnings: tuple[str, ...]

    @property
    def configured_wait_s(self) -> float:
        return sum(step.wait_s for step in self.steps)

    @property
    def changes(self) -> bool:
        return bool(self.steps)


def plan_cutover(
    state: EnvironmentState,
    target: Version,
    rollout: RolloutPolicy,
    teardown: TeardownPolicy,
    *,
    settle_s: float = 0.0,
    gates: GatePolicy | None = None,
) -> Plan:
    old = state.active
    if old is None:
        return Plan(state.env, None, target, (), (f"{state.env} has no single active slot",))
    new = old.other
    old_version = state.slot(old).version
    warnings: list[str] = []
    if state.in_flight:
        assert state.cutover is not None
        warnings.append(f"a cutover is already in flight ({state.cutover.phase}): resume, roll back or abort it first")
    if old_version is not None and target < old_version:
        warnings.append(f"{target} is older than the live {old_version}: this is a downgrade")
    if old_version is not None and target.minor - old_version.minor > 1 and target.major == old_version.major:
        warnings.append(f"{old_version} -> {target} skips minor versions; check your workloads' API versions")
    if settle_s > 0:
        warnings.append(f"each step waits {settle_s:g}s (the DNS TTL) before analysis; resolvers may cache longer")
    a = rollout.analysis
    gates = gates or GatePolicy()
    keep = Weights.all_to(old)
    steps = [
        PlanStep(Phase.PROVISION, f"bring up {new} at Kubernetes {target}", keep, 0.0),
        PlanStep(
            Phase.BOOTSTRAP, f"install Flux on {new}, syncing the same repository, branch and path as {old}", keep, 0.0
        ),
        PlanStep(
            Phase.WAIT_HEALTHY,
            f"wait until every Kustomization and HelmRelease on {new} is Ready (at most {rollout.health_timeout_s:g}s)",
            keep,
            0.0,
        ),
        PlanStep(Phase.VERIFY_PARITY, f"check {new} applied the same revision and Flux objects as {old}", keep, 0.0),
    ]
    at = rollout.handoff_at  # the singletons move once the new slot's weight reaches it (fleet.domain.singletons)
    handoff_step = None if at is None else next((i for i, p in enumerate(rollout.steps, 1) if p >= at), None)
    for index, percent in enumerate(rollout.steps, start=1):
        before = (*(["approve"] if index in gates.approve else []), "health", *(["smoke"] if gates.smoke else []))
        first = "; ".join(
            {
                "approve": f"wait for `fleet approve {state.env} --step {index}` (exit 4 until then)",
                "health": f"check {new}'s Flux health",
                "smoke": "run the smoke tests (each must answer 2xx)",
            }[gate]
            for gate in before
        )
        handoff = f"; then stop the singletons on {old} and start them on {new}" if index == handoff_step else ""
        steps.append(
            PlanStep(
                Phase.SHIFT,
                f"step {index}/{len(rollout.steps)}: {first}; set {percent}% to {new}{handoff}; "
                f"analyse {a.window_s:g}s (success >= {a.success_rate:g}%, p99 <= {a.p99_latency_ms:g}ms, "
                f"roll back after {a.failed_checks} failed checks)",
                Weights.split(new, percent),
                settle_s + a.window_s,
                gates=before,
                handoff=index == handoff_step,
            )
        )
    confirm = " (asks for confirmation unless --yes)" if teardown.confirm else ""
    steps.append(
        PlanStep(
            Phase.BAKE, f"keep {old} with no traffic for {teardown.bake_s:g}s", Weights.all_to(new), teardown.bake_s
        )
    )
    steps.append(
        PlanStep(
            Phase.TEARDOWN_OLD,
            f"suspend Flux on {old}, release its load balancers, destroy it{confirm}",
            Weights.all_to(new),
            0.0,
        )
    )
    return Plan(state.env, old_version, target, tuple(steps), tuple(warnings))
