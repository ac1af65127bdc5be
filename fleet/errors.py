"""Errors that tell the caller what to do next.

Every failure fleet reports belongs to one of a few families, and the family
decides the reaction: fix the configuration (exit 2), wait for the lock
(exit 3), retry later (a provider or store that could not be reached before
anything changed: exit 5), or look at a halted cutover (exit 1). Inside a
cutover the engine turns provider errors into a failed step, so a
``ProviderError`` that reaches the CLI happened before anything changed
(the CLI says exit 1 instead when the run had already committed a step).
Adapters wrap SDK exceptions in these with ``raise ... from err`` so that
nothing above them ever has to know boto3, kubernetes or pulumi exceptions.
The CLI is the only place where they become exit codes.
"""

from __future__ import annotations


class FleetError(Exception):
    """Base of every error fleet raises on purpose."""

    exit_code = 1


class ConfigError(FleetError):
    """The configuration (or a state file) is wrong: fix it and run again."""

    exit_code = 2

    def __init__(self, message: str, *, file: str | None = None, key: str | None = None) -> None:
        self.file = file
        self.key = key
        self.detail = message
        where = ":".join(part for part in (file, key) if part)
        super().__init__(f"{where}: {message}" if where else message)


class UsageError(FleetError):
    """The command line is wrong."""

    exit_code = 2


class StateError(ConfigError):
    """A state or lock file cannot be read; nothing was overwritten."""


class LockedError(FleetError):
    """Another run holds the environment's lock: wait for it, or take over an expired lease."""

    exit_code = 3

    def __init__(self, env: str, holder: str, *, expired: bool = False) -> None:
        self.env = env
        self.holder = holder
        self.expired = expired
        hint = " (lease expired: take over with --force-unlock)" if expired else ""
        super().__init__(f"environment {env!r} is locked by {holder}{hint}")


class ProviderError(FleetError):
    """A call to the outside world failed and retrying will not help."""

    exit_code = 5


class TransientError(ProviderError):
    """A call failed in a way that may pass: retry after ``retry_after`` seconds."""

    def __init__(self, message: str, *, retry_after: float = 1.0) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class AccessDenied(ProviderError):
    """Credentials lack a permission; retrying will not help."""


class ProvisioningFailed(ProviderError):
    """Bringing a slot up or down failed; the message carries the tool's last output lines."""


class CutoverHalted(FleetError):
    """The cutover stopped short of DONE: rolled back, failed, aborted or awaiting confirmation."""

    def __init__(self, message: str, *, phase: str) -> None:
        self.phase = phase
        super().__init__(message)
