"""Pre-shift smoke tests over HTTP: every configured hook must answer 2xx before a weight increase.

Each hook gets a POST with a small JSON document (schema
``fleet.hook/v1``: environment, slot, step, percent, tenant), as Flagger's
pre-rollout webhooks do. Anything but a 2xx within the hook's timeout
(an error status, a refused connection, no answer) fails the step, and the
reason names the hook and its tenant; the engine rolls back. A smoke test
is not retried: a test that passes on the third try is a test that failed.
"""

from __future__ import annotations

from collections.abc import Sequence

from fleet.domain.model import SlotName
from fleet.errors import FleetError
from fleet.notify_settings import Hook
from fleet.ports import HookResult, Webhook

HOOK_SCHEMA = "fleet.hook/v1"


class HttpHooks:
    """The ``Hooks`` port: POSTs to each smoke-test URL in turn; the first that fails decides."""

    def __init__(self, smoke: Sequence[Hook], webhook: Webhook) -> None:
        self.hooks = tuple(smoke)
        self.webhook = webhook

    def smoke(self, env: str, slot: SlotName, step: int, percent: int) -> HookResult:
        for hook in self.hooks:
            body = {"schema": HOOK_SCHEMA, "type": "pre-shift", "env": env, "slot": slot.value, "step": step,
                    "percent": percent, "tenant": hook.tenant, "hook": hook.name}
            whose = f" (tenant {hook.tenant})" if hook.tenant else ""
            try:
                self.webhook.post(hook.url, body, hook.timeout_s)
            except FleetError as err:
                return HookResult(False, f"{hook.name}{whose}: {err}")
        return HookResult(True)
