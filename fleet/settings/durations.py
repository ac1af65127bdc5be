"""Durations as written in stack files and on the command line (``90s``, ``5m``, ``1h30m``, ``250ms``).

Free of pydantic, so that the CLI and the adapters can parse a duration
without loading the model.
"""

from __future__ import annotations

import re

from fleet.domain.model import validate_steps

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")


def parse_duration(value: object) -> float:
    """Seconds from ``90``, ``90s``, ``5m``, ``1h30m`` or ``250ms``."""
    if isinstance(value, bool):
        raise ValueError("expected a duration like 90s, 5m or 1h")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str) and value.strip():
        text = value.strip().replace(" ", "")
        parts = _DURATION.findall(text)
        if not parts or "".join(n + u for n, u in parts) != text:
            raise ValueError(f"{value!r} is not a duration (expected e.g. 90s, 5m, 1h30m)")
        scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
        seconds = sum(float(n) * scale[u] for n, u in parts)
    else:
        raise ValueError("expected a duration like 90s, 5m or 1h")
    if seconds < 0:
        raise ValueError("must not be negative")
    return seconds


def parse_steps(text: str) -> tuple[int, ...]:
    """``10,50,100`` from the command line."""
    try:
        steps = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError as err:
        raise ValueError(f"{text!r} is not a comma-separated list of percentages") from err
    problem = validate_steps(steps)
    if problem:
        raise ValueError(problem)
    return steps
