"""The health gate against real kube-apiservers with real Flux reconciling a real Git repository.

What kmock cannot show: Flux's own status transitions at every reconcile
interval, resourceVersions kept by etcd across an API server restart, a
commit landing while the gate waits, and the revisions Flux really applies.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

from fleet.adapters.kube import FluxHealthGate
from fleet.domain.health import applied_revisions, judge_live
from fleet.domain.model import SlotName
from fleet.domain.outcomes import PARITY_RETRY_S
from fleet.domain.reports import HealthReport, check_parity, compare_parity
from fleet.rehearsal.peers import ALL_KUSTOMIZATIONS, RealPeers, tenant_manifests

from .conftest import INTERVAL_S, outputs_of

pytestmark = [pytest.mark.realpeers, pytest.mark.timeout(400)]

SLOTS = (SlotName.BLUE, SlotName.GREEN)
WIDGET = "tenants/team-a/widget.yaml"


def report(gate: FluxHealthGate, peers: RealPeers, slot: SlotName) -> HealthReport:
    return gate.report("prod", slot, outputs_of(peers.slot(slot.value)))


def wait(gate: FluxHealthGate, peers: RealPeers, slot: SlotName, timeout_s: float) -> HealthReport:
    return gate.wait_reconciled("prod", slot, outputs_of(peers.slot(slot.value)), timeout_s)


def broken_widget() -> str:
    """team-a's Widget with a size the CRD's schema refuses: the apply fails, team-a turns Ready=False."""
    doc = yaml.safe_load(tenant_manifests("team-a")[WIDGET])
    doc["spec"]["size"] = 0
    return yaml.safe_dump(doc)


def until(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not {what} within {timeout_s:g}s")
        time.sleep(0.25)


def team_a_failing(gate: FluxHealthGate, peers: RealPeers, slot: SlotName, revision: str) -> bool:
    """The gate sees team-a failing on ``slot`` after Flux tried ``revision``."""
    kustomization = next(k for k in peers.slot(slot.value).kustomizations() if k["metadata"]["name"] == "team-a")
    attempted = (kustomization.get("status") or {}).get("lastAttemptedRevision")
    failing = {f.ref.name for f in report(gate, peers, slot).failures}
    return attempted == revision and "team-a" in failing


@pytest.fixture()
def broken(converged: RealPeers, make_gate: Callable[..., FluxHealthGate]) -> Iterator[str]:
    """team-a broken on both slots (Ready=False at the broken revision); the repository fixed afterwards."""
    gate = make_gate()
    revision = converged.repo.commit("team-a: widget size 0", {WIDGET: broken_widget()})
    for slot in SLOTS:
        converged.slot(slot.value).reconcile_now()
        until(lambda s=slot: team_a_failing(gate, converged, s, revision), 90, f"team-a failing on {slot}")
    yield revision
    if converged.repo.read(WIDGET) != tenant_manifests("team-a")[WIDGET]:
        converged.repo.commit("team-a: widget fixed", {WIDGET: tenant_manifests("team-a")[WIDGET]})


class TestRealFlux:
    def test_both_slots_are_reconciled_at_the_repositorys_head(
        self, converged: RealPeers, make_gate: Callable[..., FluxHealthGate]
    ) -> None:
        gate = make_gate()
        head = converged.repo.revision()
        for slot in SLOTS:
            result = report(gate, converged, slot)
            assert result.reconciled, result.failures
            assert result.revisions == {"flux-system/flux-system": head}
            assert {r.name for r in result.ready if r.kind == "Kustomization"} == set(ALL_KUSTOMIZATIONS)
            assert converged.slot(slot.value).applied_revision() == head

    def test_a_broken_manifest_fails_with_flux_own_reason(
        self, converged: RealPeers, broken: str, make_gate: Callable[..., FluxHealthGate]
    ) -> None:
        """Between retries Flux says Ready=False with the apply's error (during one, Ready=Unknown)."""
        gate = make_gate()
        reasons: list[tuple[str, str]] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and ("ReconciliationFailed" not in {r for r, _ in reasons}):
            result = report(gate, converged, SlotName.GREEN)
            assert not result.reconciled
            reasons += [(f.reason, f.message) for f in result.failures if f.ref.name == "team-a"]
            time.sleep(0.2)
        failed = [message for reason, message in reasons if reason == "ReconciliationFailed"]
        assert failed, reasons[-3:]
        assert "size" in failed[0], failed[0]
        assert {reason for reason, _ in reasons} <= {"ReconciliationFailed", "Progressing"}

    def test_a_commit_pushed_during_the_wait_makes_both_slots_converge_on_it(
        self, converged: RealPeers, broken: str, make_gate: Callable[..., FluxHealthGate]
    ) -> None:
        gates = {slot: make_gate() for slot in SLOTS}
        with ThreadPoolExecutor(2) as pool:
            waits = {slot: pool.submit(wait, gates[slot], converged, slot, 150) for slot in SLOTS}
            time.sleep(1.0)
            assert not any(w.done() for w in waits.values()), "the gate passed a broken slot"
            fixed = converged.repo.commit("team-a: widget fixed", {WIDGET: tenant_manifests("team-a")[WIDGET]})
            results = {slot: w.result(timeout=200) for slot, w in waits.items()}
        for slot, result in results.items():
            assert result.reconciled, (slot, result.failures)
            assert result.revisions == {"flux-system/flux-system": fixed}, slot
        assert check_parity(results[SlotName.BLUE], results[SlotName.GREEN]) == ()

    def test_the_watch_resumes_after_the_api_server_restarts(
        self, converged: RealPeers, broken: str, make_gate: Callable[..., FluxHealthGate]
    ) -> None:
        gate = make_gate()
        green = converged.slot("green")
        with ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(wait, gate, converged, SlotName.GREEN, 200)
            time.sleep(1.0)
            green.api.restart()
            assert not waiting.done()
            fixed = converged.repo.commit("team-a: widget fixed", {WIDGET: tenant_manifests("team-a")[WIDGET]})
            result = waiting.result(timeout=240)
        assert result.reconciled, result.failures
        assert result.revisions == {"flux-system/flux-system": fixed}
        assert gate.last_wait.reconnects >= 1, gate.last_wait
        assert not [t for t in threading.enumerate() if t.name.startswith("fleet-watch-")]

    def test_routine_reconciles_during_a_long_wait_do_not_end_it(
        self, converged: RealPeers, make_gate: Callable[..., FluxHealthGate]
    ) -> None:
        """Over three reconcile intervals (5 s here), waits on a healthy slot keep returning reconciled."""
        gate = make_gate()
        deadline = time.monotonic() + 3 * INTERVAL_S
        waits = 0
        while time.monotonic() < deadline:
            for slot in SLOTS:
                result = wait(gate, converged, slot, 30)
                assert result.reconciled, (slot, result.failures)
                waits += 1
            time.sleep(0.2)
        assert waits >= 10

    def test_routine_reconciles_never_fail_a_healthy_pair_in_the_decisions_one_shot_reports_feed(
        self, converged: RealPeers, make_gate: Callable[..., FluxHealthGate]
    ) -> None:
        """Flux reconciles every interval (5 s here), flipping Ready=Unknown at the same revision each time.

        A one-shot report caught mid-reconcile says "not reconciled", as it
        should. What matters is what fleet decides from it: parity (the
        machine's ``VERIFY_PARITY``) may only wait, never block, and the
        live judgement of the verified slot may never call it a regression.
        """
        gate = make_gate()
        verified = {slot: applied_revisions(wait(gate, converged, slot, 60)) for slot in SLOTS}
        pairs: list[tuple[float, HealthReport, HealthReport]] = []
        caught: list[HealthReport] = []
        started = time.monotonic()
        # Sample until routine reconciles were caught on both slots (or six intervals, whatever comes first).
        while (elapsed := time.monotonic() - started) < 3 * INTERVAL_S or (
            elapsed < 6 * INTERVAL_S and {r.slot for r in caught} != set(SLOTS)
        ):
            old, new = (report(gate, converged, slot) for slot in SLOTS)
            pairs.append((elapsed, old, new))
            caught += [r for r in (old, new) if not r.reconciled]
            time.sleep(0.2)
        assert caught, "no report caught a routine reconcile: the test saw nothing to judge"
        assert all(f.transient for r in caught for f in r.failures), [r.failures for r in caught][:3]
        waited_since: float | None = None
        longest_wait = 0.0
        for at, old, new in pairs:
            parity = compare_parity(old, new)
            assert not parity.blocking, parity.blocking
            if parity.ok:
                waited_since = None
            else:
                waited_since = at if waited_since is None else waited_since
                longest_wait = max(longest_wait, at - waited_since)
            for one in (old, new):
                judgement = judge_live(one, verified[one.slot], grace_s=INTERVAL_S)
                assert not judgement.regressed, judgement.reason
        # Parity asks again every PARITY_RETRY_S within the health timeout: a wait this short never fails it.
        assert longest_wait < PARITY_RETRY_S, f"the slots looked unsettled for {longest_wait:.1f}s in a row"
        print(f"{len(pairs)} pairs, {len(caught)} reports mid-reconcile, longest wait {longest_wait:.1f}s")

    def test_a_revision_applied_on_one_slot_only_is_a_parity_difference(
        self, converged: RealPeers, make_gate: Callable[..., FluxHealthGate]
    ) -> None:
        """Stands in for a HelmRelease chart bump (no helm-controller here): Git moved on blue only."""
        gate = make_gate()
        green = converged.slot("green")
        old = converged.repo.revision()
        green.suspend("flux-system", kind="GitRepository")
        try:
            new = converged.repo.commit("team-b: new greeting", tenant_manifests("team-b", greeting="hola"))
            converged.slot("blue").reconcile_now()
            converged.wait_converged(new, slots=["blue"], timeout_s=90)
            problems = check_parity(report(gate, converged, SlotName.BLUE), report(gate, converged, SlotName.GREEN))
            assert f"flux-system/flux-system is at {old} on green but {new} on blue" in problems, problems
        finally:
            green.suspend("flux-system", False, kind="GitRepository")
        converged.wait_converged(timeout_s=120)
        assert check_parity(report(gate, converged, SlotName.BLUE), report(gate, converged, SlotName.GREEN)) == ()
