"""Pulumi's mocks, plus a monitor that remembers every registration request.

``Mocks.new_resource`` only sees a resource's inputs; the things this
program must get right are often in its options (which provider, which
dependencies, which ignored properties, which values are secret). The
recording monitor keeps the raw RegisterResource requests so that tests can
assert on those, through ``set_mocks(monitor=...)``, without patching pulumi.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi.runtime
import pytest
from google.protobuf import json_format
from pulumi.runtime import mocks as pulumi_mocks

from fleet.domain.model import Version
from fleet.infra.settings import ClusterSettings, DnsSettings, GitOpsSettings, InfraSettings

SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
SIG_KEY = "4dabf18193072939515e22adb298388d"
RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"


def kubeconfig_for(name: str, port: int) -> str:
    return (
        "apiVersion: v1\nkind: Config\ncurrent-context: kind-" + name + "\n"
        "clusters:\n- name: kind-" + name + "\n  cluster:\n    server: https://127.0.0.1:" + str(port) + "\n"
        "contexts:\n- name: kind-"
        + name
        + "\n  context:\n    cluster: kind-"
        + name
        + "\n    user: kind-"
        + name
        + "\n"
        "users:\n- name: kind-" + name + "\n  user:\n    token: not-a-real-token\n"
    )


class FleetMocks(pulumi.runtime.Mocks):
    """Answers like the real providers would, enough for the program's outputs to resolve."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        # Resource references echoed back would be re-read through getResource on another event loop.
        state = {k: v for k, v in args.inputs.items() if not _holds_resource(v)}
        if args.typ == "command:local:Command":
            create = str(args.inputs.get("create", ""))
            if create.startswith("kind get kubeconfig"):
                cluster = create.split("--name ", 1)[1].strip()
                port = 40000 + (1 if cluster.endswith("green") else 0)
                state["stdout"] = kubeconfig_for(cluster, port)
            elif create.startswith("docker inspect"):
                state["stdout"] = "172.18.0.3\n" if "blue" in create else "172.18.0.4\n"
            else:
                state["stdout"] = ""
        elif args.typ == "eks:index:Cluster":
            state["kubeconfigJson"] = json.dumps(
                {
                    "apiVersion": "v1",
                    "current-context": "aws",
                    "clusters": [{"name": "c", "cluster": {"server": f"https://{args.name}.eks.example.com"}}],
                    "contexts": [{"name": "aws", "context": {"cluster": "c", "user": "aws"}}],
                    "users": [{"name": "aws", "user": {"exec": {"command": "aws"}}}],
                }
            )
            state["oidcProviderArn"] = f"arn:aws:iam::123456789012:oidc-provider/{args.name}"
        elif args.typ == "aws:lb/loadBalancer:LoadBalancer":
            state["dnsName"] = f"{args.name}.elb.eu-west-1.amazonaws.com"
            state["arn"] = f"arn:aws:elasticloadbalancing:eu-west-1:1:loadbalancer/net/{args.name}"
        elif args.typ == "aws:lb/targetGroup:TargetGroup":
            state["arn"] = f"arn:aws:elasticloadbalancing:eu-west-1:1:targetgroup/{args.name}"
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None


def _references_to_urns(value: Any) -> Any:
    if isinstance(value, dict):
        if value.get(SIG_KEY) == RESOURCE_SIG:
            return value.get("urn", "")
        return {k: _references_to_urns(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_references_to_urns(v) for v in value]
    return value


def _holds_resource(value: Any) -> bool:
    if isinstance(value, pulumi.Resource):
        return True
    if isinstance(value, dict):
        return any(_holds_resource(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_resource(v) for v in value)
    return False


@dataclass(frozen=True)
class Registration:
    type: str
    name: str
    urn: str
    parent: str
    provider: str
    dependencies: tuple[str, ...]
    ignore_changes: tuple[str, ...]
    inputs: dict[str, Any]
    """Inputs as the engine saw them: secrets appear as ``{SIG_KEY: SECRET_SIG, "value": ...}``."""

    @property
    def custom(self) -> bool:
        return not self.type.startswith("fleet:")

    def secret_paths(self) -> list[str]:
        return sorted(_secret_paths(self.inputs, ""))


def _secret_paths(value: Any, path: str) -> Iterator[str]:
    if isinstance(value, dict):
        if value.get(SIG_KEY) == SECRET_SIG:
            yield path
            return
        for key, item in value.items():
            yield from _secret_paths(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _secret_paths(item, f"{path}[{index}]")


def plain(value: Any) -> Any:
    """Inputs with secret wrappers removed."""
    if isinstance(value, dict):
        if value.get(SIG_KEY) == SECRET_SIG:
            return plain(value.get("value"))
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


class RecordingMonitor(pulumi_mocks.MockMonitor):
    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.registrations: list[Registration] = []
        self.requests: list[Any] = []

    def RegisterResource(self, request: Any) -> Any:
        # The stock mock monitor turns resource references back into resources on its own
        # thread's event loop, which then deadlocks the test's loop; URNs are all tests need.
        inputs = _references_to_urns(json_format.MessageToDict(request.object))
        request.object.Clear()
        json_format.ParseDict(inputs, request.object)
        response = super().RegisterResource(request)
        self.requests.append(request)
        if request.type != "pulumi:pulumi:Stack":
            self.registrations.append(
                Registration(
                    type=request.type,
                    name=request.name,
                    urn=response.urn,
                    parent=request.parent,
                    provider=request.provider,
                    dependencies=tuple(request.dependencies),
                    ignore_changes=tuple(request.ignoreChanges),
                    inputs=inputs,
                )
            )
        return response


class Deployment:
    """One mocked Pulumi run: build resources, then look at what was registered."""

    def __init__(self, monitor: RecordingMonitor) -> None:
        self.monitor = monitor

    def run(self, build: Callable[[], Any]) -> Any:
        result: list[Any] = []

        @pulumi.runtime.test
        def body() -> None:
            result.append(build())

        body()
        return result[0]

    def resolve(self, output: pulumi.Output[Any]) -> Any:
        """The value of an output of a finished run (for assertions outside ``apply``)."""
        seen: list[Any] = []

        @pulumi.runtime.test
        def body() -> pulumi.Output[None]:
            return output.apply(seen.append)

        body()
        return seen[0]

    def is_secret(self, output: pulumi.Output[Any]) -> bool:
        seen: list[bool] = []

        async def check() -> None:
            seen.append(await output.is_secret())

        @pulumi.runtime.test
        def body() -> Any:
            return check()

        body()
        return seen[0]

    @property
    def registrations(self) -> list[Registration]:
        return list(self.monitor.registrations)

    def of_type(self, typ: str) -> list[Registration]:
        return [r for r in self.monitor.registrations if r.type == typ]

    def one(self, typ: str, name_part: str = "") -> Registration:
        found = [r for r in self.of_type(typ) if name_part in r.name]
        assert len(found) == 1, f"expected one {typ} named *{name_part}*, got {[r.name for r in found]}"
        return found[0]

    def by_urn(self, urn: str) -> Registration:
        return next(r for r in self.monitor.registrations if r.urn == urn)


@pytest.fixture
def deployment() -> Iterator[Deployment]:
    # Pulumi's runtime uses the thread's current event loop; async tests elsewhere may have closed it.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    mocks = FleetMocks()
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project="fleet", stack="staging", preview=False, monitor=monitor)
    yield Deployment(monitor)
    pulumi.runtime.set_all_config({})
    asyncio.set_event_loop(None)
    loop.close()


def kind_settings(**overrides: Any) -> InfraSettings:
    values: dict[str, Any] = {
        "cluster": ClusterSettings(driver="kind", version=Version.parse("1.29"), node_image="kindest/node:v{version}"),
        "gitops": GitOpsSettings(
            url="https://github.com/example/platform-gitops",
            branch="main",
            path="clusters/local",
            image_automation=True,
        ),
        "hostnames": ("shop.example.com", "api.example.com"),
        "dns": DnsSettings(zone_id="Z123EXAMPLE", ttl=60),
        "has_git_token": True,
        "has_sops_age_key": True,
    }
    values.update(overrides)
    return InfraSettings(**values)


def eks_settings(**overrides: Any) -> InfraSettings:
    cluster = ClusterSettings(
        driver="eks",
        version=Version.parse("1.29"),
        region="eu-west-1",
        vpc_id="vpc-0123456789abcdef0",
        subnet_ids=("subnet-aaaa", "subnet-bbbb"),
        instance_type="m6i.large",
        desired_size=3,
        min_size=2,
        max_size=6,
    )
    return kind_settings(cluster=cluster, **overrides)
