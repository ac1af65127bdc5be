"""Who is running fleet: recorded on every history event and in every lock.

A cutover may be started by a person, resumed by a pipeline and rolled back
by someone else; the history must say who did what. CI systems expose a run
id in well-known variables; the first one found is recorded.
"""

from __future__ import annotations

import getpass
import os
import socket

_CI_RUN_VARIABLES = (
    "FLEET_RUN_ID",
    "GITHUB_RUN_ID",
    "CI_PIPELINE_ID",
    "BUILD_BUILDID",
    "BUILDKITE_BUILD_ID",
    "CIRCLE_WORKFLOW_ID",
    "BUILD_ID",
)


def user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return os.environ.get("USER", "unknown")


def host() -> str:
    return socket.gethostname()


def run_id() -> str:
    for name in _CI_RUN_VARIABLES:
        value = os.environ.get(name)
        if value:
            return f"{name}={value}"
    return ""


def actor() -> dict[str, str]:
    found = {"user": user(), "host": host(), "pid": str(os.getpid())}
    ci = run_id()
    if ci:
        found["ci_run"] = ci
    return found
