"""Reports how many checkpoints the crash suite killed a run at."""

from __future__ import annotations

from typing import Any

import pytest

_COVERED: set[str] = set()


@pytest.fixture
def covered_checkpoints() -> set[str]:
    """Tests add the checkpoint they verified; the terminal summary counts them."""
    return _COVERED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _COVERED:
        terminalreporter.write_line(f"checkpoints covered: {len(_COVERED)}")
