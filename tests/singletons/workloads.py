"""The Git content the kill test's slots reconcile: a held CronJob, an opted-out CronJob, a singleton Deployment.

Its own copy (not the real-Flux test's), so that either test can change what it
puts in Git. Applied by a child Kustomization (``infrastructure``) of the sync
one, as a platform's workloads usually are.
"""

from __future__ import annotations

from typing import Any

from fleet.adapters.kube.singletons import LABEL
from fleet.rehearsal.peers.repository import kustomization

NS = "jobs"
HELD = (f"CronJob {NS}/billing", f"Deployment {NS}/consumer")
"""What must never run on both slots, as :mod:`.audit_replay` names them."""
CONTROL = f"CronJob {NS}/cache-warmer"
"""Opted out (``fleet.io/singleton: "false"``): runs on both slots, which shows the replay can see an overlap."""
INTERVAL = "1m"


def _cron(name: str, labels: dict[str, str]) -> dict[str, Any]:
    template = {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}
    return {
        "apiVersion": "batch/v1", "kind": "CronJob",
        "metadata": {"name": name, "namespace": NS, "labels": labels},
        "spec": {"schedule": "*/5 * * * *", "suspend": False, "jobTemplate": {"spec": {"template": template}}},
    }


def manifests() -> dict[str, str]:
    import yaml

    deploy = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "consumer", "namespace": NS, "labels": {LABEL: "true"}},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "consumer"}}, "template": {
            "metadata": {"labels": {"app": "consumer"}},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}},
    }
    objs = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}},
            _cron("billing", {}), _cron("cache-warmer", {LABEL: "false"}), deploy]
    return {
        # No kubelet or controller-manager here: the Deployment never reports ready, so no health wait.
        "clusters/local/infrastructure.yaml": yaml.safe_dump(
            kustomization("infrastructure", "./infrastructure", INTERVAL, wait=False), sort_keys=False),
        "infrastructure/singletons.yaml": yaml.safe_dump_all(objs, sort_keys=False),
    }
