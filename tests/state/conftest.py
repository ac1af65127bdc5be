"""A moto S3 server on 127.0.0.1 for the S3 state store, started once per module."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from tests.moto_server import DUMMY_CREDENTIALS, moto_server


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with moto_server({**os.environ, **DUMMY_CREDENTIALS}) as url:
        yield url


@pytest.fixture
def s3_env(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Dummy credentials and the endpoint, in this process's environment and for subprocesses."""
    values = {**DUMMY_CREDENTIALS, "FLEET_S3_ENDPOINT_URL": s3_endpoint}
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "FLEET_STATE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


@pytest.fixture
def bucket(s3_env: dict[str, str]) -> str:
    import boto3

    name = f"fleet-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_env["FLEET_S3_ENDPOINT_URL"]).create_bucket(Bucket=name)
    return name
