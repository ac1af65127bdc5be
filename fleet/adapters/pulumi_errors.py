"""Pulumi's failures as fleet's own errors, with the last lines Pulumi printed.

The Automation API raises its own exceptions, whose text holds the whole
stdout and stderr of the CLI. fleet shows the last :data:`TAIL_LINES`
non-empty lines, which is where Pulumi says what went wrong, and maps the
kinds a caller acts on: a concurrent update is :class:`LockedError` (exit 3),
a missing ``pulumi`` binary or a failed update :class:`ProvisioningFailed`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from pulumi import automation as auto

from fleet.errors import FleetError, LockedError, ProvisioningFailed

TAIL_LINES = 20


class Tail:
    """Forwards Pulumi's output lines and remembers the last few for an error message."""

    def __init__(self, sink: Callable[[str], None]) -> None:
        self._sink = sink
        self._lines: deque[str] = deque(maxlen=TAIL_LINES)

    def feed(self, text: str) -> None:
        for line in text.splitlines() or [""]:
            self._lines.append(line)
            self._sink(line)

    def lines(self, stderr: str) -> list[str]:
        combined = [*self._lines, *stderr.splitlines()]
        return [line for line in combined if line.strip()][-TAIL_LINES:]


def translate(err: Exception, env: str, operation: str, tail: Tail) -> FleetError:
    if isinstance(err, FleetError):
        return err
    if isinstance(err, FileNotFoundError):
        return ProvisioningFailed(
            f"the Pulumi CLI is needed to {operation} {env!r}, but `pulumi` is not on PATH "
            "(install it: https://www.pulumi.com/docs/install/); `fleet rehearse` works without it"
        )
    if isinstance(err, auto.errors.ConcurrentUpdateError):
        return LockedError(env, "another Pulumi update of this stack")
    if isinstance(err, auto.errors.CommandError):
        detail = "\n".join(tail.lines(stderr_of(err))) or str(err).strip()
        return ProvisioningFailed(f"pulumi failed to {operation} {env!r}; its last output:\n{detail}")
    if isinstance(err, auto.errors.InvalidVersionError):
        return ProvisioningFailed(f"the installed Pulumi CLI is too old for fleet: {err}")
    return ProvisioningFailed(f"pulumi failed to {operation} {env!r}: {err}")


def stderr_of(err: Exception) -> str:
    """The stderr part of a CommandError, whose text is ``code: ..., stdout: ..., stderr: ...``."""
    _, found, stderr = str(err).partition("\n stderr: ")
    return stderr if found else ""
