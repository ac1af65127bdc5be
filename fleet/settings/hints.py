"""The closest valid key for an unknown one (free of pydantic, for every reader of a stack file)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def unknown_key_hint(key: str, known: Iterable[str], *, prefix: str = "") -> str:
    """`` (did you mean fleet:rollout?; known: ...)``: the closest valid key, then every valid key."""
    options = sorted(known)
    match = difflib.get_close_matches(key, options, n=1)
    guess = f"did you mean {prefix}{match[0]}?; " if match else ""
    return f" ({guess}known: {', '.join(options)})"
