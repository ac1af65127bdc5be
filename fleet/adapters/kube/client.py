"""One cluster's API, through the official ``kubernetes`` client, with fleet's errors.

fleet talks to two clusters at once (blue and green), so nothing here touches
the client's process-wide default configuration: every :class:`ClusterClient`
owns an ``ApiClient`` built from that slot's own kubeconfig (a Pulumi output,
parsed from text). Objects travel as plain JSON dicts (``_preload_content`` is
off), which is what the pure rules in ``fleet.domain.health`` read.

Errors are translated at this boundary and nowhere else: 401/403 become
:class:`AccessDenied` naming the cluster and the missing permission, 5xx,
429 and connection failures become :class:`TransientError`, a 404 on a list
means the API does not serve the kind (:class:`NotServed`) and a 410 means
the watch's resourceVersion expired (:class:`Expired`). The request function
is the only place that calls the client, in the manner of Kopf's one small
API module.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, cast

import urllib3
import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from fleet.domain.health import KindInfo
from fleet.domain.model import SlotName
from fleet.domain.reports import Secret
from fleet.errors import AccessDenied, ConfigError, ProviderError, TransientError

CONNECTIONS = 16
"""Connections kept per cluster: one per kind listed at once, one per watch, and spare."""


class NotServed(ProviderError):
    """The API server does not serve this kind (its CRD is not installed)."""


class Expired(ProviderError):
    """The resourceVersion a watch resumed from is too old (410 Gone): list again."""


@dataclass(frozen=True)
class Listing:
    items: list[dict[str, Any]]
    resource_version: str | None


@dataclass(frozen=True)
class Target:
    """What a request reads: a kind, cluster-wide or in one namespace."""

    info: KindInfo
    namespace: str | None = None

    def describe(self, verb: str) -> str:
        where = f" in namespace {self.namespace}" if self.namespace else " (cluster-wide)"
        return f"{verb} {self.info.resource}{where}"


def parse_kubeconfig(secret: Secret, *, env: str, slot: SlotName) -> dict[str, Any]:
    """The kubeconfig text (YAML or JSON) of a slot as a dict."""
    try:
        data = yaml.safe_load(secret.reveal())
    except yaml.YAMLError as err:
        raise ConfigError(f"the kubeconfig of {env}/{slot} is not valid YAML or JSON") from err
    if not isinstance(data, dict) or not data.get("clusters"):
        raise ConfigError(f"the kubeconfig of {env}/{slot} has no clusters")
    return data


class ClusterClient:
    """The Kubernetes API of one slot, for lists and watches of raw objects."""

    def __init__(
        self,
        env: str,
        slot: SlotName,
        kubeconfig: Mapping[str, Any],
        *,
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 30.0,
    ) -> None:
        self.env = env
        self.slot = slot
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s
        try:
            configuration = k8s.Configuration()
            k8s_config.load_kube_config_from_dict(  # type: ignore[no-untyped-call]
                dict(kubeconfig), client_configuration=configuration, persist_config=False
            )
        except (k8s_config.ConfigException, KeyError, TypeError, ValueError) as err:
            raise ConfigError(f"the kubeconfig of {env}/{slot} cannot be used: {err}") from err
        # The health gate lists every kind at once while its watches hold connections of their own;
        # the default pool (5 per CPU) would discard connections on a one-CPU runner.
        configuration.connection_pool_maxsize = max(configuration.connection_pool_maxsize, CONNECTIONS)
        self.api = k8s.ApiClient(configuration)
        self.server = str(self.api.configuration.host)
        # The generic API reads any group's objects as JSON, Deployments included, and
        # spares the 0.7 s the first AppsV1Api costs to import its typed models.
        self._custom = k8s.CustomObjectsApi(self.api)

    @property
    def name(self) -> str:
        return f"{self.env}/{self.slot} ({self.server})"

    def close(self) -> None:
        self.api.close()  # type: ignore[no-untyped-call]

    def list(self, target: Target) -> Listing:
        response = self._call(target, watch=False, timeout=(self.connect_timeout_s, self.read_timeout_s))
        try:
            body = json.loads(response.data)
        except ValueError as err:
            raise TransientError(f"{self.name}: unreadable list of {target.info.resource}: {err}") from err
        finally:
            response.release_conn()
        meta = body.get("metadata") or {}
        return Listing(items=list(body.get("items") or []), resource_version=meta.get("resourceVersion"))

    def watch(self, target: Target, resource_version: str | None, *, timeout_s: int) -> urllib3.BaseHTTPResponse:
        """Open a watch stream; read it with :func:`events` (another thread may ``shutdown()`` it)."""
        return self._call(
            target,
            watch=True,
            resource_version=resource_version,
            timeout_seconds=timeout_s,
            timeout=(self.connect_timeout_s, timeout_s + self.read_timeout_s),
        )

    def _call(
        self,
        target: Target,
        *,
        watch: bool,
        timeout: tuple[float, float],
        resource_version: str | None = None,
        timeout_seconds: int | None = None,
    ) -> urllib3.BaseHTTPResponse:
        verb = "watch" if watch else "list"
        options: dict[str, Any] = {"_preload_content": False, "_request_timeout": timeout}
        if watch:
            options.update(watch=True, allow_watch_bookmarks=True, timeout_seconds=timeout_seconds)
            if resource_version:
                options["resource_version"] = resource_version
        info = target.info
        result: object
        try:
            if target.namespace:
                result = self._custom.list_namespaced_custom_object(
                    info.group, info.version, target.namespace, info.plural, **options
                )
            else:
                result = self._custom.list_cluster_custom_object(info.group, info.version, info.plural, **options)
        except ApiException as err:
            raise self.translate(err, target, verb) from err
        except (urllib3.exceptions.HTTPError, OSError) as err:
            raise TransientError(f"{self.name}: cannot {target.describe(verb)}: {err}") from err
        return cast(urllib3.BaseHTTPResponse, result)

    def translate(self, err: ApiException, target: Target, verb: str) -> ProviderError:
        status = int(err.status or 0)
        detail = _status_message(err)
        if status in (401, 403):
            what = "is not authenticated" if status == 401 else "is forbidden"
            return AccessDenied(
                f"cluster {self.name}: the credentials {what} to {target.describe(verb)}"
                f" (needs RBAC verb {verb!r} on {target.info.resource}; HTTP {status}: {detail})"
            )
        if status == 404:
            return NotServed(f"{self.name}: the API does not serve {target.info.resource} ({detail})")
        if status == 410:
            return Expired(f"{self.name}: {target.describe(verb)}: {detail}")
        if status in {0, 429} or status >= 500:
            return TransientError(
                f"{self.name}: cannot {target.describe(verb)}: HTTP {status}: {detail}",
                retry_after=_retry_after(err),
            )
        return ProviderError(f"{self.name}: cannot {target.describe(verb)}: HTTP {status}: {detail}")


def events(response: urllib3.BaseHTTPResponse) -> Iterator[dict[str, Any]]:
    """The decoded events of a watch stream (one JSON document per line), until the server ends it."""
    buffer = b""
    for chunk in response.stream(amt=None, decode_content=True):
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            if line.strip():
                event = json.loads(line)
                if isinstance(event, dict):
                    yield event


def _status_message(err: ApiException) -> str:
    try:
        body = json.loads(err.body or "")
    except (TypeError, ValueError):
        body = None
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return str(err.reason or "no detail")


def _retry_after(err: ApiException) -> float:
    headers = err.headers or {}
    try:
        return max(0.1, float(headers.get("Retry-After", 1.0)))
    except (TypeError, ValueError):
        return 1.0
