"""The sections the Pulumi program provisions from: ``fleet:cluster``, ``gitops``, ``dns``, ``externalDns``.

Their types are checked whenever a stack file is read; what only creating a
cluster needs (a driver, its required keys, a known kind node image) is
checked when the model is validated with ``context={"provisioning": True}``,
as the Pulumi program and ``fleet validate`` do, so that ``fleet status`` of
an environment whose program needs one more key still answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, model_validator

from fleet.domain.model import Version
from fleet.settings.types import (
    MINOR,
    OWNER_PREFIX,
    Flag,
    KubeVersion,
    Text,
    Whole,
    asked,
    labelled,
    problem,
)

DRIVER_REQUIREMENTS: Mapping[str, tuple[str, ...]] = {
    "kind": (),
    "eks": ("region", "vpcId", "subnetIds"),
    "local": (),
}
"""Cluster drivers fleet knows, with the ``fleet:cluster`` keys each one needs.

``fleet.infra.cluster`` registers one driver per name here; a test keeps the
two in step. Adding a driver (aks, gke) adds one line here and one class there.
"""

KIND_NODE_VERSIONS: Mapping[str, str] = {
    "1.25": "1.25.16",
    "1.26": "1.26.15",
    "1.27": "1.27.16",
    "1.28": "1.28.15",
    "1.29": "1.29.14",
    "1.30": "1.30.10",
    "1.31": "1.31.6",
    "1.32": "1.32.2",
    "1.33": "1.33.1",
}
"""The ``kindest/node`` tag of each Kubernetes minor (kind images carry a patch level: ``v1.29`` does not exist).

Taken from kind's release notes (v0.25 to v0.29); a slot at ``1.29.2`` uses that patch
level as given, and ``fleet:cluster.nodeImages`` overrides any minor (with a digest, as kind advises).
"""


class Section(BaseModel):
    """A ``fleet:`` mapping: camelCase keys, unknown keys refused, values frozen once read."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)
    unknown_at_block: ClassVar[bool] = False
    """Report unknown keys once, at the block (blocks set whole as JSON text with ``pulumi config set``)."""


def provisioning(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get("provisioning"))


def _size(low: int, high: int) -> AfterValidator:
    def check(value: int) -> int:
        if not low <= value <= high:
            raise problem(f"must be between {low} and {high}, not {value}")
        return value

    return AfterValidator(check)


@labelled("`kind` \\| `eks` \\| `local`")
def _driver(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise problem("expected a non-empty string")
    if value not in DRIVER_REQUIREMENTS:
        raise problem(f"unknown driver {value!r} (known: {', '.join(sorted(DRIVER_REQUIREMENTS))})")
    return str(value)


@labelled("list of strings")
def _subnets(value: object) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not all(isinstance(s, str) and s for s in value):
        raise problem("must be a list of subnet ids")
    return tuple(value)


def _node_image(value: str) -> str:
    try:
        value.format(version=Version(1, 0))
    except (KeyError, IndexError, ValueError):
        raise problem("may only use the {version} placeholder") from None
    return value


@labelled("mapping of minor to image")
def _node_images(value: object) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise problem('must map a minor version ("1.29") to an image')
    for minor, image in value.items():
        if not isinstance(minor, str) or not MINOR.match(minor):
            raise problem(f'{minor!r} is not a quoted minor version such as "1.29"')
        if not isinstance(image, str) or not image.strip():
            raise problem("must be an image reference", key=f"cluster.nodeImages.{minor}")
    return {k: v.strip() for k, v in value.items()}


Size = Annotated[Whole, _size(0, 1000)]


class Cluster(Section):
    """``fleet:cluster``: how each slot's cluster is made, and the version of the first active slot."""

    driver: Annotated[str, BeforeValidator(_driver)] | None = None
    version: KubeVersion
    region: Text | None = None
    vpc_id: Text | None = Field(None, alias="vpcId")
    subnet_ids: Annotated[tuple[str, ...], BeforeValidator(_subnets)] = Field((), alias="subnetIds")
    instance_type: Text = Field("m6i.large", alias="instanceType")
    desired_size: Size = Field(2, alias="desiredSize")
    min_size: Size = Field(1, alias="minSize")
    max_size: Annotated[Whole, _size(1, 1000)] | None = Field(None, alias="maxSize")
    """Defaults to the larger of 4 and desiredSize."""
    node_image: Annotated[Text, AfterValidator(_node_image)] = Field("kindest/node:v{version}", alias="nodeImage")
    node_images: Annotated[dict[str, str], BeforeValidator(_node_images)] = Field({}, alias="nodeImages")
    """Image per minor (``"1.29": kindest/node:v1.29.14@sha256:...``), before the table of known tags."""

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> Cluster:
        high = self.max_size if self.max_size is not None else max(4, self.desired_size)
        if not self.min_size <= self.desired_size <= high and asked(info, "cluster.desiredSize"):
            raise problem(f"must lie between minSize {self.min_size} and maxSize {high}", key="cluster.desiredSize")
        if not provisioning(info):
            return self
        if self.driver is None:
            if asked(info, "cluster.driver"):
                raise problem("is required", key="cluster.driver")
            return self
        for key in DRIVER_REQUIREMENTS[self.driver]:
            if getattr(self, _FIELD_OF[key]) in (None, "", ()) and asked(info, f"cluster.{key}"):
                raise problem(f"is required by the {self.driver} driver", key=f"cluster.{key}")
        minor = f"{self.version.major}.{self.version.minor}"
        if (
            self.driver == "kind"
            and self.version.patch is None
            and minor not in self.node_images
            and minor not in KIND_NODE_VERSIONS
            and asked(info, "cluster.nodeImages")
        ):
            raise problem(
                f"no known kindest/node tag for Kubernetes {minor} (known: {', '.join(KIND_NODE_VERSIONS)}); "
                f"give the version with its patch level or set nodeImages.'{minor}'",
                key="cluster.nodeImages",
            )
        return self


_FIELD_OF = {"region": "region", "vpcId": "vpc_id", "subnetIds": "subnet_ids"}


def _repo_path(value: str) -> str:
    if value.startswith("/") or ".." in value.split("/"):
        raise problem("must be a path inside the repository")
    return value


class GitOps(Section):
    """``fleet:gitops``: the repository both slots' Flux reconciles from."""

    url: Text
    branch: Text = "main"
    path: Annotated[Text, AfterValidator(_repo_path)] = "."
    flux_version: Text = Field("2.x", alias="fluxVersion")
    image_automation: Flag = Field(False, alias="imageAutomation")
    """Image update automation, only ever on the active slot."""
    operator_version: Text | None = Field(None, alias="operatorVersion")
    """flux-operator Helm chart version; unset installs the latest chart."""


def _health_path(value: str) -> str:
    if not value.startswith("/"):
        raise problem("must start with /")
    return value


class Dns(Section):
    """``fleet:dns``: the hosted zone where each slot's weighted records are created."""

    zone_id: Text = Field(alias="zoneId")
    ttl: Annotated[Whole, _size(0, 86400)] = 60
    health_check_path: Annotated[Text, AfterValidator(_health_path)] = Field("/healthz", alias="healthCheckPath")
    health_check_port: Annotated[Whole, _size(1, 65535)] = Field(80, alias="healthCheckPort")


def _owner_prefix(value: str) -> str:
    if not OWNER_PREFIX.match(value):
        raise problem("must be lower-case letters, digits and dashes")
    return value


class ExternalDns(Section):
    """``fleet:externalDns``: external-dns's owner id is ``<ownerIdPrefix>-<slot>``, distinct per slot."""

    owner_id_prefix: Annotated[Text, AfterValidator(_owner_prefix)] | None = Field(None, alias="ownerIdPrefix")


def secret(key: str) -> BeforeValidator:
    """A Pulumi secret (``{secure: ...}``), present or not; plain text is refused. Never decoded.

    The Pulumi program sees ``""`` for a secret a stack leaves out (Pulumi.yaml's default): absent there.
    """

    @labelled("secret")
    def check(value: Any, info: ValidationInfo) -> bool:
        if (value is None or value == "") and provisioning(info):
            return False
        if isinstance(value, Mapping) and set(value) == {"secure"}:
            return True
        raise problem(
            "must be a Pulumi secret (pulumi config set --secret), never plain text: "
            f"set it with `pulumi config set --secret fleet:{key} ...`"
        )

    return BeforeValidator(check)


def empty_is_absent(value: object) -> object:
    """Pulumi.yaml defaults ``dns`` and ``externalDns`` to ``{}`` so that stacks may leave them out."""
    return None if value == {} else value
