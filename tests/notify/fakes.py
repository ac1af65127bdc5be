"""An in-memory ``Webhook``: records what would have been posted, answers from a script."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from fleet.errors import FleetError


class RecordingWebhook:
    def __init__(self, errors: list[FleetError] | None = None) -> None:
        self.errors = list(errors or [])
        self.posts: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()

    def post(self, url: str, body: Mapping[str, Any], timeout_s: float) -> int:
        with self._lock:
            if self.errors:
                raise self.errors.pop(0)
            self.posts.append((url, dict(body)))
        return 200
