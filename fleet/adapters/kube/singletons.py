"""Workloads that must not run twice, held through Flux itself: a patch on every Flux Kustomization.

Scaling a Deployment to zero or suspending a CronJob by hand fights Flux: the
next reconciliation applies Git's replicas and ``suspend: false`` again. So
fleet does not touch the workloads; it adds its own entries to each
Kustomization's ``spec.patches`` and Flux applies them with everything else:

- every CronJob whose ``fleet.io/singleton`` label is not ``"false"`` gets
  ``spec.suspend: true``;
- every Deployment and StatefulSet labelled ``fleet.io/singleton: "true"``
  gets ``spec.replicas: 0``.

The entries are JSON 6902 patches with a kustomize ``labelSelector`` target;
each starts with the comment line :data:`MARKER`, which is how fleet finds
its own entries again (a Kustomization's other patches are kept as they are,
in their order). Releasing removes fleet's entries, and Flux applies Git's
values again. Both write the Kustomization with its ``resourceVersion``
(a concurrent change is a conflict, retried), then ask Flux to reconcile now
(``reconcile.fluxcd.io/requestedAt``).

Children are held through their parents (``fleet.domain.hold_tree``): a
parent's server-side apply owns its children, so fleet's entries for a child
ride in its parent's patches; a slot born held (created by the Pulumi program
with the entries already in place) has its children created suspended until
then, settled level by level here. Releasing also takes fleet's entry out of
flux-operator's ``FluxInstance``, which would apply it again.

A hold returns only once the API server shows every selected CronJob
suspended and every selected Deployment and StatefulSet at ``spec.replicas:
0`` with no pods left (``status.replicas`` 0 and no pod matching its
selector): that is what lets the new slot start them without overlap.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import urllib3
from kubernetes.client.exceptions import ApiException

from fleet.adapters.kube.client import ClusterClient, parse_kubeconfig
from fleet.domain.hold_patches import LABEL, MARKER, WORKLOADS, is_ours, with_hold
from fleet.domain.hold_tree import instance_spec, rewrites, waiting
from fleet.domain.model import SlotName
from fleet.domain.reports import SlotOutputs
from fleet.errors import ProviderError, TransientError

REQUESTED_AT = "reconcile.fluxcd.io/requestedAt"
KUSTOMIZATIONS = ("kustomize.toolkit.fluxcd.io", "v1", "kustomizations")
INSTANCES = ("fluxcd.controlplane.io", "v1", "fluxinstances")
FLUX_NAMESPACE = "flux-system"
__all__ = ["LABEL", "MARKER", "KubeSingletons", "still_running"]


def still_running(
    cronjobs: Iterable[Mapping[str, Any]],
    workloads: Iterable[tuple[str, Mapping[str, Any]]],
    pods: Callable[[Mapping[str, Any]], int],
) -> list[str]:
    """What the API server still shows running among the selected objects, for people; [] when all stopped."""
    out: list[str] = []
    for cj in cronjobs:
        meta = cj.get("metadata") or {}
        if (meta.get("labels") or {}).get(LABEL) == "false":
            continue
        if (cj.get("spec") or {}).get("suspend") is not True:
            out.append(f"CronJob {meta.get('namespace')}/{meta.get('name')} not suspended")
    for kind, obj in workloads:
        meta = obj.get("metadata") or {}
        if (meta.get("labels") or {}).get(LABEL) != "true":
            continue
        name = f"{kind} {meta.get('namespace')}/{meta.get('name')}"
        spec_replicas = (obj.get("spec") or {}).get("replicas", 1)
        status_replicas = (obj.get("status") or {}).get("replicas", 0)
        if spec_replicas != 0:
            out.append(f"{name} at {spec_replicas} replicas")
        elif status_replicas:
            out.append(f"{name} still has {status_replicas} pods")
        elif (count := pods(obj)) > 0:
            out.append(f"{name} still has {count} pods")
    return out


class KubeSingletons:
    """The :class:`fleet.ports.Singletons` port on a slot's Kubernetes API and its Flux."""

    def __init__(
        self,
        *,
        timeout_s: float = 300.0,
        poll_s: float = 2.0,
        now: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.timeout_s = timeout_s
        self.poll_s = poll_s
        self.now = now
        self.sleep = sleep

    def hold(self, env: str, slot: SlotName, outputs: SlotOutputs) -> None:
        cluster = self._cluster(env, slot, outputs)
        try:
            self._set(cluster, hold=True)
            deadline = self.now() + self.timeout_s
            self._settle(cluster, deadline, f"{env}/{slot}")
            while True:
                running = self.running(cluster)
                if not running:
                    return
                if self.now() >= deadline:
                    raise ProviderError(
                        f"{env}/{slot}: singletons still running {self.timeout_s:g}s after the hold: {_few(running)}"
                    )
                self.sleep(self.poll_s)
        finally:
            cluster.close()

    def release(self, env: str, slot: SlotName, outputs: SlotOutputs) -> None:
        cluster = self._cluster(env, slot, outputs)
        try:
            # The operator's FluxInstance first: it would apply the born-held entries again.
            for instance in self._list(cluster, *INSTANCES, missing_ok=True):
                self._rewrite(cluster, INSTANCES, instance, functools.partial(instance_spec, tops=None))
            self._set(cluster, hold=False)
        finally:
            cluster.close()

    def running(self, cluster: ClusterClient) -> list[str]:
        """What ``cluster``'s API server shows running among the labelled workloads."""
        cronjobs = self._list(cluster, "batch", "v1", "cronjobs")
        workloads = [(kind, o) for g, v, plural, kind in WORKLOADS for o in self._list(cluster, g, v, plural)]
        return still_running(cronjobs, workloads, lambda obj: self._pods(cluster, obj))

    # --- the API calls ---------------------------------------------------------------

    def _cluster(self, env: str, slot: SlotName, outputs: SlotOutputs) -> ClusterClient:
        return ClusterClient(env, slot, parse_kubeconfig(outputs.kubeconfig, env=env, slot=slot))

    def _set(self, cluster: ClusterClient, *, hold: bool) -> None:
        for ks in self._list(cluster, *KUSTOMIZATIONS):
            self._rewrite(cluster, KUSTOMIZATIONS, ks, lambda obj: _patches_set(obj, hold=hold))

    def _settle(self, cluster: ClusterClient, deadline: float, where: str) -> None:
        """Until the whole tree applied the hold: each top Kustomization carries its children's entries, level by
        level as they apply (fleet.domain.hold_tree); a slot born held lifts its children's suspension so."""
        while True:
            items = self._list(cluster, *KUSTOMIZATIONS)
            changes = rewrites(items)
            for top, patches in changes:
                self._rewrite(cluster, KUSTOMIZATIONS, top, functools.partial(_with_patches, patches=patches))
            if changes:  # flux-operator would apply the born-held entries again: its instance follows
                tops = {t["metadata"]["name"]: p for t, p in changes if t["metadata"]["namespace"] == FLUX_NAMESPACE}
                for instance in self._list(cluster, *INSTANCES, missing_ok=True):
                    self._rewrite(cluster, INSTANCES, instance, functools.partial(instance_spec, tops=tops))
            left = waiting(items)
            if not changes and not left:
                return
            if self.now() >= deadline:
                raise ProviderError(f"{where}: Kustomizations {_few(left)} did not apply the hold within "
                                    f"{self.timeout_s:g}s; the ones they apply may stay suspended")
            self.sleep(self.poll_s)

    def _rewrite(
        self,
        cluster: ClusterClient,
        resource: tuple[str, str, str],
        obj: Mapping[str, Any],
        new_spec: Callable[[Mapping[str, Any]], dict[str, Any] | None],
    ) -> None:
        """Merge ``new_spec(obj)`` into ``obj``'s spec at its resourceVersion (re-read on a conflict); None: nothing."""
        meta = obj["metadata"]
        path = _path(resource, meta["namespace"], meta["name"])
        for _ in range(5):
            spec = new_spec(obj)
            if spec is None:
                return
            body = {
                "metadata": {
                    "resourceVersion": obj["metadata"]["resourceVersion"],
                    "annotations": {REQUESTED_AT: datetime.now(UTC).isoformat()},
                },
                "spec": spec,
            }
            try:
                self._call(cluster, "PATCH", path, body, query=[("fieldManager", "fleet")])
                return
            except _Conflict:
                obj = self._call(cluster, "GET", path)
        raise TransientError(f"{cluster.name}: {resource[2]} {meta['namespace']}/{meta['name']} keeps changing")

    def _list(
        self, cluster: ClusterClient, group: str, version: str, plural: str, *, missing_ok: bool = False
    ) -> list[dict[str, Any]]:
        try:
            body = self._call(cluster, "GET", _path((group, version, plural)))
        except _Missing:
            if missing_ok:  # the resource is not served here (no flux-operator on the slot)
                return []
            raise
        return list(body.get("items") or [])

    def _pods(self, cluster: ClusterClient, obj: Mapping[str, Any]) -> int:
        labels = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        if not labels:
            return 0
        selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        namespace = (obj.get("metadata") or {}).get("namespace")
        body = self._call(cluster, "GET", f"/api/v1/namespaces/{namespace}/pods", query=[("labelSelector", selector)])
        return len(body.get("items") or [])

    def _call(
        self,
        cluster: ClusterClient,
        method: str,
        path: str,
        body: object = None,
        query: list[tuple[str, str]] | None = None,
    ) -> dict[str, Any]:
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/merge-patch+json"
        api = cluster.api
        try:
            verb, url, sent_headers, sent_body, post = api.param_serialize(
                method, path, query_params=query or [], header_params=headers, body=body, auth_settings=["BearerToken"]
            )
            response = api.call_api(
                verb, url, header_params=sent_headers, body=sent_body, post_params=post,
                _request_timeout=(cluster.connect_timeout_s, cluster.read_timeout_s),
            )
            data = response.read()  # type: ignore[no-untyped-call]
        except ApiException as err:
            return self._failed(cluster, method, path, int(err.status or 0), str(err.reason))
        except (urllib3.exceptions.HTTPError, OSError) as err:
            raise TransientError(f"{cluster.name}: {method} {path}: {err}") from err
        if response.status >= 300:
            return self._failed(cluster, method, path, response.status, _message(data) or str(response.reason))
        try:
            return dict(json.loads(data or b"{}"))
        except ValueError as err:
            raise TransientError(f"{cluster.name}: {method} {path}: unreadable answer: {err}") from err

    @staticmethod
    def _failed(cluster: ClusterClient, method: str, path: str, status: int, why: str) -> dict[str, Any]:
        if status == 409:
            raise _Conflict(path)
        if status == 404:
            raise _Missing(f"{cluster.name}: {method} {path}: {status} {why}")
        if status == 429 or status >= 500 or status == 0:
            raise TransientError(f"{cluster.name}: {method} {path}: {status} {why}")
        raise ProviderError(f"{cluster.name}: {method} {path}: {status} {why}")


def _message(data: bytes | None) -> str:
    try:
        return str(json.loads(data or b"{}").get("message") or "")
    except (ValueError, AttributeError):
        return ""


class _Conflict(Exception):
    """The object changed since it was read (409): read it again."""


class _Missing(ProviderError):
    """404: the object, or its kind, is not on this API server."""


def _few(items: list[str]) -> str:
    return "; ".join(items[:5]) + (f" and {len(items) - 5} more" if len(items) > 5 else "")


def _spec_patches(obj: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list((obj.get("spec") or {}).get("patches") or [])


def _patches_set(ks: Mapping[str, Any], *, hold: bool) -> dict[str, Any] | None:
    current = _spec_patches(ks)
    patches = with_hold(current, hold=hold)
    return None if patches == current else {"patches": patches}


def _with_patches(top: Mapping[str, Any], *, patches: list[dict[str, Any]]) -> dict[str, Any] | None:
    """``top``'s own patches as they are now, then fleet's entries from ``patches``."""
    current = _spec_patches(top)
    wanted = [p for p in current if not is_ours(p)] + [p for p in patches if is_ours(p)]
    return None if current == wanted else {"patches": wanted}


def _path(resource: tuple[str, str, str], namespace: str | None = None, name: str | None = None) -> str:
    group, version, plural = resource
    where = f"/namespaces/{namespace}" if namespace else ""
    return f"/apis/{group}/{version}{where}/{plural}" + (f"/{name}" if name else "")
