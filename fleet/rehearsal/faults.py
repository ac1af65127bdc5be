"""The faults ``fleet rehearse`` can inject, with what each does (kept import-free for ``--help``).

The real rehearsal (HAProxy, Kubernetes APIs, the health gate) can only fail
in ways its real parts can be made to fail; the others are decisions of the
in-memory fakes and need ``--simulated``.
"""

FAULTS = {
    "flux-stuck": "a Kustomization on the new slot stays Ready=False (HealthCheckFailed): halts before traffic moves",
    "stale-revision": "the new slot is Ready at an older Git revision: parity waits the health timeout, then fails",
    "flux-flap": "the new slot's Kustomizations go Reconciling (Ready=Unknown, same revision) for a few seconds "
    "every few seconds, as Flux's routine reconciles do: the cutover completes",
    "flux-fails-in-bake": "once all traffic is on the new slot, its HelmRelease fails for good (Ready=False, "
    "UpgradeFailed): rolled back during the bake",
    "missing-objects=N": "the new slot reconciles N fewer Flux objects than the old: parity fails (simulated)",
    "provision-fails": "bringing up the new slot fails: halts, resumable (simulated)",
    "green-errors=RATE": (
        "the new slot answers errors for RATE of its requests (0..1): 0.05 is rolled back, "
        "0.005 (half of what successRate 99 allows) completes"
    ),
    "green-slow=MS": "the new slot's answers take MS (1..1500) longer: the p99 check fails, rolled back",
    "analysis-fails-at=N": "analysis fails at weight step N: rolled back (simulated)",
    "weights-fail-at=PCT": "the traffic provider refuses to move PCT% to the new slot: rolled back (simulated)",
    "throttled=N": "the first N provider calls are throttled and retried (simulated)",
    "crash-after=PHASE": "the process is killed when PHASE ends; `fleet resume` finishes the cutover",
    "crash-at=CHECKPOINT[#N]": "the process is killed at the Nth pass of an engine checkpoint (simulated)",
    "lock-held": "another run holds the environment's lock: exits 3",
    "tenant-errors=TENANT:RATE": (
        "RATE (0..1] of one tenant's requests fail on the new slot (the tenant sends 5 % of the traffic): "
        "payments:1 is rolled back naming payments while the slot-wide rate would pass"
    ),
    "tenant-stuck=TENANT": "the tenant's Kustomization on the new slot stays Ready=False: halts before traffic "
    "moves, naming the tenant and Flux's message",
    "haproxy-reload": "HAProxy reloads (-sf) after the first step: the weights drift, the step halts (real parts)",
    "hand-edit": "someone sets HAProxy's weights by hand after the first step: the step halts (real parts)",
}

REAL_FAULTS = (
    "green-errors=RATE",
    "green-slow=MS",
    "flux-stuck",
    "stale-revision",
    "flux-flap",
    "flux-fails-in-bake",
    "crash-after=PHASE",
    "lock-held",
    "haproxy-reload",
    "hand-edit",
    "tenant-errors=TENANT:RATE",
)
"""The faults the real rehearsal drives through its real parts."""
