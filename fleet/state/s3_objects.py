"""The S3 requests the state store makes, and what their failures mean to fleet.

S3 offers objects, conditional writes and listings, nothing more; this module
turns each request into one call whose botocore errors leave as
``fleet.errors`` exceptions (or the two private outcomes a conditional write
can have), and keeps the plumbing (keys, URLs, reads, writes that survive the
SDK's own retries) apart from the rules of the store built on top of it.
boto3 is imported only when the first request is made.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, TypeVar

from fleet.errors import AccessDenied, ConfigError, ProviderError, StateError, TransientError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_THROTTLING = frozenset(
    {"Throttling", "ThrottlingException", "SlowDown", "RequestLimitExceeded", "TooManyRequests", "RequestTimeout"}
)
_T = TypeVar("_T")


class _PreconditionFailed(Exception):
    """A conditional write lost: the object is not what the writer expected."""


class _Missing(Exception):
    """The key does not exist."""


@dataclass(frozen=True)
class _Object:
    body: str
    etag: str
    last_modified: float = 0.0
    """When S3 last wrote the object, on S3's clock (epoch seconds)."""
    server_now: float = 0.0
    """S3's clock when it answered (its ``Date`` header); 0 when it did not say."""


def _call(what: str, call: Callable[[], _T]) -> _T:
    """Run one S3 request; turn botocore's errors into fleet's (or the two private outcomes above)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return call()
    except ClientError as err:
        error = err.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        message = str(error.get("Message", "")) or code
        if code in ("PreconditionFailed", "ConditionalRequestConflict") or status in (409, 412):
            raise _PreconditionFailed(message) from err
        if code in ("NoSuchKey", "404", "NotFound"):
            raise _Missing(message) from err
        if code == "NoSuchBucket":
            raise ConfigError(f"the bucket does not exist ({message})", key=what) from err
        if code in _THROTTLING or status == 429 or status >= 500:
            raise TransientError(f"S3 {what}: {code or status}: {message}", retry_after=1.0) from err
        if code in ("AccessDenied", "AllAccessDisabled", "InvalidAccessKeyId", "SignatureDoesNotMatch") or (
            status == 403
        ):
            raise AccessDenied(f"S3 {what}: {code}: {message}") from err
        raise ProviderError(f"S3 {what}: {code or status}: {message}") from err
    except BotoCoreError as err:
        raise TransientError(f"S3 {what}: {err}", retry_after=1.0) from err


def _client(endpoint_url: str | None) -> S3Client:
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 3, "mode": "standard"})
    return boto3.client("s3", endpoint_url=endpoint_url, config=config)



class S3Objects:
    """Objects under ``s3://bucket/prefix``: keys, reads, conditional writes, listings."""

    def __init__(
        self, bucket: str, prefix: str = "", *, client: S3Client | None = None, endpoint_url: str | None = None
    ) -> None:
        if not bucket:
            raise ConfigError("an S3 state location needs a bucket (s3://bucket/prefix)", key="state")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.location = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self._client = client
        self._endpoint = endpoint_url

    @property
    def client(self) -> S3Client:
        if self._client is None:
            self._client = _client(self._endpoint)
        return self._client

    # --- plumbing ----------------------------------------------------------------

    def _key(self, env: str, name: str) -> str:
        return f"{self.prefix}/{env}/{name}" if self.prefix else f"{env}/{name}"

    def _url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def _get(self, key: str) -> _Object | None:
        try:
            response = _call("get " + key, lambda: self.client.get_object(Bucket=self.bucket, Key=key))
        except _Missing:
            return None
        raw = _call("read " + key, response["Body"].read)
        try:
            body = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise StateError(f"not UTF-8 text ({err})", file=self._url(key)) from err
        modified = response.get("LastModified")
        date = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
        server_now = 0.0
        if date:
            with suppress(TypeError, ValueError):
                server_now = parsedate_to_datetime(date).timestamp()
        return _Object(body, response["ETag"], modified.timestamp() if modified is not None else 0.0, server_now)

    def _put(self, key: str, body: str, *, if_match: str | None = None, if_none_match: bool = False) -> str:
        """Write ``body``; a conflict is re-read, and a write the SDK retried after it landed counts as done."""
        data = body.encode("utf-8")
        conditions: dict[str, Any] = {}
        if if_match is not None:
            conditions["IfMatch"] = if_match
        if if_none_match:
            conditions["IfNoneMatch"] = "*"
        try:
            response = _call(
                "put " + key,
                lambda: self.client.put_object(
                    Bucket=self.bucket, Key=key, Body=data, ContentType="application/json", **conditions
                ),
            )
        except _PreconditionFailed:
            if not conditions:
                raise
            found = self._get(key)
            if found is not None and found.body == body:
                return found.etag
            raise
        return response["ETag"]


    # --- a rehearsal's own files ----------------------------------------------------

    def _aside_key(self, name: str) -> str:
        return f"{self.prefix}/.rehearsal/{name}" if self.prefix else f".rehearsal/{name}"

    def read_aside(self, name: str) -> str | None:
        found = self._get(self._aside_key(name))
        return None if found is None else found.body

    def write_aside(self, name: str, text: str) -> None:
        self._put(self._aside_key(name), text)

    def aside_url(self, name: str) -> str:
        return self._url(self._aside_key(name))

    def _listing(self, env: str) -> dict[int, tuple[str, str]]:
        """seq -> (key, ETag) of every history object."""
        prefix = self._key(env, "history/")
        found: dict[int, tuple[str, str]] = {}
        paginator = self.client.get_paginator("list_objects_v2")

        def listing() -> None:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    name = item["Key"][len(prefix) :].removesuffix(".json")
                    if name.isdigit():
                        found[int(name)] = (item["Key"], str(item.get("ETag", "")))

        _call("list " + prefix, listing)
        return found


    def _move(self, key: str, target: str) -> None:
        def copy() -> None:
            self.client.copy_object(Bucket=self.bucket, Key=target, CopySource={"Bucket": self.bucket, "Key": key})

        def delete() -> None:
            self.client.delete_object(Bucket=self.bucket, Key=key)

        _call("copy " + key, copy)
        _call("delete " + key, delete)


    def _exists(self, key: str) -> bool:
        try:
            _call("head " + key, lambda: self.client.head_object(Bucket=self.bucket, Key=key))
        except _Missing:
            return False
        return True

