"""Release a slot's cloud resources that Pulumi does not know about, before it is destroyed.

In-cluster controllers create cloud load balancers for Services of type
LoadBalancer and for Ingresses (the AWS Load Balancer Controller, cloud
controller managers). Pulumi never saw them, so destroying the cluster leaves
them running, and on AWS they keep ENIs and security groups in the VPC that
then block subnet and VPC deletion. Draining a slot therefore:

1. stops Flux from putting things back: the FluxInstance's reconciliation is
   disabled (annotation ``fluxcd.controlplane.io/reconcile: disabled``; the
   operator would otherwise un-suspend its own Kustomization), then every
   Kustomization and HelmRelease gets ``spec.suspend: true``;
2. deletes every Ingress and every Service of type LoadBalancer in all
   namespaces, Ingresses first so that ingress controllers release theirs;
3. waits, bounded, until they are gone: the controllers' finalizers hold the
   objects until the cloud resources are deleted, so "gone" means released.

The cluster is reached with one ``ApiClient`` built from the slot's own
kubeconfig (never the process-wide default configuration: fleet talks to two
clusters at once). The steps work on :class:`TeardownApi`, so tests drive
them with an in-memory cluster and a fake clock.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol, cast

import urllib3
import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from fleet.domain.reports import ObjectRef, Secret
from fleet.errors import AccessDenied, ConfigError, ProviderError, TransientError
from fleet.ports import Clock

FLUX_INSTANCE = ("fluxcd.controlplane.io", "v1", "fluxinstances")
SUSPENDABLE = (
    ("kustomize.toolkit.fluxcd.io", "v1", "kustomizations"),
    ("helm.toolkit.fluxcd.io", "v2", "helmreleases"),
)
RECONCILE_ANNOTATION = "fluxcd.controlplane.io/reconcile"


@dataclass(frozen=True)
class DrainReport:
    suspended: tuple[ObjectRef, ...]
    deleted: tuple[ObjectRef, ...]
    waited_s: float


class TeardownApi(Protocol):
    """The few calls draining needs; absent kinds (CRD not installed) list as empty."""

    def list_suspendable(self) -> list[ObjectRef]:
        """FluxInstances, Kustomizations and HelmReleases."""
        ...

    def suspend(self, key: ObjectRef) -> None: ...

    def list_releasers(self) -> list[ObjectRef]:
        """Ingresses and Services of type LoadBalancer."""
        ...

    def delete(self, key: ObjectRef) -> None:
        """Delete ``key``; an object already gone is not an error."""
        ...


class _SystemClock:
    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def drain(
    api: TeardownApi, *, timeout_s: float = 600.0, poll_s: float = 5.0, clock: Clock | None = None
) -> DrainReport:
    """Suspend Flux, delete load-balancer objects, wait until they are gone (TransientError if not)."""
    clock = clock or _SystemClock()
    suspendable = sorted(api.list_suspendable(), key=lambda k: (k.kind != "FluxInstance", k))
    for key in suspendable:
        api.suspend(key)
    doomed = sorted(api.list_releasers(), key=lambda k: (k.kind != "Ingress", k))
    for key in doomed:
        api.delete(key)
    started = clock.now()
    remaining = api.list_releasers()
    while remaining:
        waited = clock.now() - started
        if waited >= timeout_s:
            names = ", ".join(str(k) for k in sorted(remaining)[:10])
            raise TransientError(
                f"{len(remaining)} load-balancer object(s) still present after {waited:.0f}s: {names}; "
                "their controllers have not released the cloud load balancers yet (drain again, or check "
                "the controllers' logs and finalizers)",
                retry_after=poll_s,
            )
        clock.sleep(min(poll_s, timeout_s - waited))
        remaining = api.list_releasers()
    return DrainReport(tuple(suspendable), tuple(doomed), clock.now() - started)


def drain_cluster(
    kubeconfig: Secret, *, timeout_s: float = 600.0, poll_s: float = 5.0, clock: Clock | None = None
) -> DrainReport:
    """Drain the cluster ``kubeconfig`` points at (see the module docstring)."""
    api = KubeTeardownApi(kubeconfig)
    try:
        return drain(api, timeout_s=timeout_s, poll_s=poll_s, clock=clock)
    finally:
        api.close()


class KubeTeardownApi:
    """:class:`TeardownApi` on the official client, with a private ApiClient."""

    def __init__(self, kubeconfig: Secret, *, request_timeout_s: float = 30.0) -> None:
        try:
            config = yaml.safe_load(kubeconfig.reveal())
        except yaml.YAMLError as err:
            raise ConfigError("the slot's kubeconfig is not valid YAML or JSON") from err
        if not isinstance(config, dict):
            raise ConfigError("the slot's kubeconfig is empty")
        try:
            self.api = k8s_config.new_client_from_config_dict(  # type: ignore[no-untyped-call]
                config, persist_config=False
            )
        except (k8s_config.ConfigException, KeyError, TypeError, ValueError) as err:
            raise ConfigError(f"the slot's kubeconfig cannot be used: {err}") from err
        self._timeout = request_timeout_s
        self._core = k8s.CoreV1Api(self.api)
        self._networking = k8s.NetworkingV1Api(self.api)
        self._custom = k8s.CustomObjectsApi(self.api)

    def close(self) -> None:
        self.api.close()

    def list_suspendable(self) -> list[ObjectRef]:
        found = [ObjectRef("FluxInstance", *nn) for nn in self._names(self._custom_list(FLUX_INSTANCE))]
        for group, version, plural in SUSPENDABLE:
            kind = "Kustomization" if plural == "kustomizations" else "HelmRelease"
            found += [ObjectRef(kind, *nn) for nn in self._names(self._custom_list((group, version, plural)))]
        return found

    def suspend(self, key: ObjectRef) -> None:
        if key.kind == "FluxInstance":
            body: dict[str, Any] = {"metadata": {"annotations": {RECONCILE_ANNOTATION: "disabled"}}}
            group, version, plural = FLUX_INSTANCE
        else:
            body = {"spec": {"suspend": True}}
            group, version, plural = next(s for s in SUSPENDABLE if s[2] == key.kind.lower() + "s")
        self._call(
            f"suspend {key}",
            lambda: self._custom.patch_namespaced_custom_object(
                group,
                version,
                key.namespace,
                plural,
                key.name,
                body,
                _content_type="application/merge-patch+json",
                _request_timeout=self._timeout,
            ),
            missing_ok=True,
        )

    def list_releasers(self) -> list[ObjectRef]:
        ingresses = self._json(
            "list Ingresses",
            lambda: self._networking.list_ingress_for_all_namespaces(
                _preload_content=False, _request_timeout=self._timeout
            ),
        )
        services = self._json(
            "list Services",
            lambda: self._core.list_service_for_all_namespaces(_preload_content=False, _request_timeout=self._timeout),
        )
        found = [ObjectRef("Ingress", *nn) for nn in self._names(ingresses)]
        found += [
            ObjectRef("Service", *nn)
            for nn in self._names(s for s in services if (s.get("spec") or {}).get("type") == "LoadBalancer")
        ]
        return found

    def delete(self, key: ObjectRef) -> None:
        if key.kind == "Ingress":
            self._call(
                f"delete {key}",
                lambda: self._networking.delete_namespaced_ingress(
                    key.name, key.namespace, _request_timeout=self._timeout
                ),
                missing_ok=True,
            )
        else:
            self._call(
                f"delete {key}",
                lambda: self._core.delete_namespaced_service(key.name, key.namespace, _request_timeout=self._timeout),
                missing_ok=True,
            )

    def _custom_list(self, resource: tuple[str, str, str]) -> list[dict[str, Any]]:
        group, version, plural = resource
        return self._json(
            f"list {plural}",
            lambda: self._custom.list_cluster_custom_object(
                group, version, plural, _preload_content=False, _request_timeout=self._timeout
            ),
            missing_ok=True,
        )

    @staticmethod
    def _names(items: Any) -> Iterator[tuple[str, str]]:
        for item in items:
            meta = item.get("metadata") or {}
            yield str(meta.get("namespace", "")), str(meta.get("name", ""))

    def _json(self, what: str, call: Any, *, missing_ok: bool = False) -> list[dict[str, Any]]:
        response = self._call(what, call, missing_ok=missing_ok)
        if response is None:
            return []
        response = cast(urllib3.BaseHTTPResponse, response)
        try:
            return list(json.loads(response.data).get("items") or [])
        except ValueError as err:
            raise TransientError(f"cannot {what}: unreadable response: {err}") from err
        finally:
            response.release_conn()

    def _call(self, what: str, call: Any, *, missing_ok: bool = False) -> object | None:
        try:
            return cast(object, call())
        except ApiException as err:
            status = int(err.status or 0)
            if status == 404 and missing_ok:
                return None
            raise _translate(what, status, str(err.reason)) from err
        except (urllib3.exceptions.HTTPError, OSError) as err:
            raise TransientError(f"cannot {what}: {err}") from err


def _translate(what: str, status: int, reason: str) -> ProviderError:
    if status in (401, 403):
        return AccessDenied(f"cannot {what}: HTTP {status} {reason} (the kubeconfig lacks the RBAC permission)")
    if status in (0, 409, 429) or status >= 500:
        return TransientError(f"cannot {what}: HTTP {status} {reason}")
    return ProviderError(f"cannot {what}: HTTP {status} {reason}")
