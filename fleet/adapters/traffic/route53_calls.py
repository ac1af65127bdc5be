"""How the Route53 adapter calls Route53: deadline-bound timeouts, retries as data, errors as fleet's.

Throttling and 5xx answers (and dropped connections and timeouts) are retried
by ``fleet.retry`` (exponential backoff with equal jitter) within a budget
that counts the time spent in the calls as well as the waits, and every
call's connect and read timeouts are cut to what is left of it (or of the
engine's deadline, if that is earlier); then ``TransientError``. Access
denied is reported at once as ``AccessDenied``. botocore's own retries are
switched off.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from fleet import retry
from fleet.adapters.traffic.route53_records import RetryPolicy
from fleet.errors import AccessDenied, ProviderError, TransientError

if TYPE_CHECKING:
    from mypy_boto3_route53.client import Route53Client

T = TypeVar("T")

CALL_TIMEOUTS_S = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0)
"""Read timeouts a client is built with: the largest that fits in what is left of the deadline."""

THROTTLING = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottled",
    "RequestLimitExceeded", "TooManyRequestsException", "PriorRequestNotComplete", "SlowDown",
})
SERVER_SIDE = frozenset({"InternalError", "InternalFailure", "ServiceUnavailable", "ServiceFailure"})
DENIED = frozenset({
    "AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "InvalidClientTokenId",
    "ExpiredToken", "ExpiredTokenException", "SignatureDoesNotMatch", "UnrecognizedClientException",
    "MissingAuthenticationToken",
})


@dataclass
class Counters:
    calls: int = 0
    retries: int = 0
    slept_s: float = 0.0
    sleeps: list[float] = field(default_factory=list)


class Route53Calls:
    """Route53 clients and the retried, classified calls made with them."""

    def __init__(
        self,
        *,
        region: str,
        endpoint_url: str | None,
        retry: retry.RetryPolicy | None,
        sleep: Callable[[float], None],
        rng: random.Random | None,
        session: Callable[[], boto3.session.Session] | None = None,
    ) -> None:
        self.region = region
        self.endpoint_url = endpoint_url
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._session = session or boto3.session.Session
        """Where clients come from: the default credential chain, or a session of the caller's (a rehearsal)."""
        self._clients: dict[float, Route53Client] = {}
        self._sleep_passes_time = sleep is time.sleep
        self.counters = Counters()

    @property
    def client(self) -> Route53Client:
        """A client whose timeouts end by the deadline in force (clients are kept per timeout)."""
        limit = retry.remaining(CALL_TIMEOUTS_S[-1])
        read = next((t for t in reversed(CALL_TIMEOUTS_S) if t <= limit), None)
        if read is None:
            retry.timeout(limit)  # raises DeadlineExceeded once nothing is left
            read = CALL_TIMEOUTS_S[0]
        client = self._clients.get(read)
        if client is None:
            config = Config(
                region_name=self.region,
                retries={"total_max_attempts": 1, "mode": "standard"},
                connect_timeout=min(5.0, read),
                read_timeout=read,
            )
            client = self._session().client(
                "route53", region_name=self.region, endpoint_url=self.endpoint_url, config=config
            )
            self._clients[read] = client
        return client

    def _now(self) -> float:
        """Wall time, plus the waits of an injected ``sleep`` that lets no time pass (tests)."""
        return time.monotonic() + (0.0 if self._sleep_passes_time else self.counters.slept_s)

    def _wait(self, seconds: float) -> None:
        self.counters.sleeps.append(seconds)
        self.counters.slept_s += seconds
        self._sleep(seconds)

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        def retried(err: TransientError, delay: float) -> None:
            self.counters.retries += 1

        return retry.call_with_retries(
            lambda: self._attempt(what, fn),
            policy=self.retry,
            what=f"Route53 {what}",
            now=self._now,
            sleep=self._wait,
            rng=self._rng,
            on_retry=retried,
            still_transient=True,
        )

    def _attempt(self, what: str, fn: Callable[[], T]) -> T:
        self.counters.calls += 1
        try:
            return fn()
        except ClientError as err:
            error = err.response.get("Error", {})
            code = str(error.get("Code", ""))
            message = str(error.get("Message", ""))
            status = int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
            if code in DENIED or status == 403:
                raise AccessDenied(f"Route53 {what} denied ({code}): {message}") from err
            if not (code in THROTTLING or code in SERVER_SIDE or status >= 500):
                raise ProviderError(f"Route53 {what} failed ({code}): {message}") from err
            raise TransientError(f"Route53 {what} failed ({code or status}: {message})", retry_after=0.0) from err
        except NoCredentialsError as err:
            raise AccessDenied(f"Route53 {what}: no AWS credentials found") from err
        except (EndpointConnectionError, ConnectionClosedError, ReadTimeoutError, ConnectTimeoutError) as err:
            raise TransientError(f"Route53 {what} did not answer ({err})", retry_after=0.0) from err
        except BotoCoreError as err:
            raise ProviderError(f"Route53 {what} failed: {err}") from err
