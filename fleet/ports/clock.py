"""Time as the engine sees it: a clock it can be handed (a fake one makes an hour pass in
milliseconds) and the question asked between readings whether to give up a wait.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

Interrupted = Callable[[], bool]
"""Asked between readings whether to give up a wait (an analysis window, a watch): an operator's request waits."""


class Clock(Protocol):
    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...
