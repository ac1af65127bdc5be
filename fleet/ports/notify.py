"""The ports that reach people: notices and where they go, their delivery off the
engine's path, and the yes/no question the CLI answers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Notice:
    env: str
    kind: str
    message: str
    phase: str | None = None
    detail: Mapping[str, Any] | None = None


class Notifier(Protocol):
    """Tells people what happened (terminal progress, chat, pager)."""

    def notify(self, notice: Notice) -> None: ...


@dataclass(frozen=True)
class Target:
    """Where notifications go: a Slack incoming webhook or a generic JSON webhook, maybe one tenant's contact."""

    kind: str
    """``slack`` or ``webhook``."""
    url: str
    name: str = ""
    events: frozenset[str] = frozenset()
    """Which kinds of notice it wants (``fleet.domain.notices.KINDS``); empty: every kind but ``step``."""
    tenant: str | None = None
    """The tenant this contact speaks for; its payloads are addressed to that tenant."""

    def describe(self) -> str:
        return self.name or f"{self.kind} {self.url.split('?')[0]}"


class Webhook(Protocol):
    """Sends one JSON document to an HTTP endpoint (urllib in production)."""

    def post(self, url: str, body: Mapping[str, Any], timeout_s: float) -> int:
        """POST ``body`` as JSON; the HTTP status of a 2xx answer.

        Raises TransientError for what may pass (refused, timed out, 5xx, 429) and
        ProviderError for what will not (any other 4xx).
        """
        ...


class Outbox(Protocol):
    """Notifications being delivered off the engine's path; the engine records how each delivery went."""

    def take(self) -> list[Mapping[str, Any]]:
        """The deliveries finished (delivered or given up) since the last call, oldest first."""
        ...

    def flush(self, timeout_s: float) -> None:
        """Wait at most ``timeout_s`` for the deliveries in flight; what is left is given up and reported."""
        ...


Confirm = Callable[[str], bool]
"""Asks a person a yes/no question; the CLI answers from ``--yes`` or a prompt."""
