"""Reports how many fault schedules the property suite ran."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

_RUN: Counter[str] = Counter()


@pytest.fixture(scope="session")
def schedules_run() -> Counter[str]:
    """Tests count every schedule they ran under a name; the terminal summary adds them up."""
    return _RUN


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _RUN:
        detail = ", ".join(f"{name}: {count}" for name, count in sorted(_RUN.items()))
        terminalreporter.write_line(f"fault schedules run: {sum(_RUN.values())} ({detail})")
