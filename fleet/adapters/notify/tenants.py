"""Each tenant told its own story when a run of a cutover ends: done, rolled back, or halted.

Tenants did not choose to have their cluster replaced, so the message a
tenant gets is about its objects and its traffic (``fleet.domain.tenant_story``),
sent to its own contacts only: the ``contact.webhook`` of ``fleet:tenants.<name>``
and every ``fleet:notifications`` target declared with ``tenant: <name>``.
It goes through the same outbox as every notification, so delivery is off
the engine's path, retried, and logged in the history; a message that cannot
be composed or delivered never fails the cutover.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from fleet.domain.cutover import EnvironmentState, Phase
from fleet.domain.health_settings import HealthSettings
from fleet.domain.tenant_story import story_message, tenant_story
from fleet.domain.tenants import TenantContact
from fleet.ports import Record

ENDINGS = {Phase.DONE: "done", Phase.ROLLED_BACK: "rollback", Phase.ABORTED: "rollback", Phase.FAILED: "halt"}
"""The notice kind of each way a run ends; a run that stops elsewhere (waiting for a person) tells no tenant yet."""


class TenantOutbox(Protocol):
    def to_tenant(self, tenant: str, kind: str, document: Mapping[str, Any]) -> int: ...


class TenantMessenger:
    """Composes each tenant's story from the history and queues it for that tenant's contacts."""

    def __init__(
        self, outbox: TenantOutbox, settings: HealthSettings, contacts: Mapping[str, TenantContact],
        tenants: Sequence[str],
    ) -> None:
        self.outbox = outbox
        self.settings = settings
        self.contacts = contacts
        self.tenants = tuple(tenants)

    def tell(self, state: EnvironmentState, records: Sequence[Record]) -> int:
        """Queue every tenant's story of the run that just ended; returns how many messages were queued."""
        c = state.cutover
        if c is None or c.phase not in ENDINGS:
            return 0
        kind = ENDINGS[c.phase]
        queued = 0
        for name in self.tenants:
            story = tenant_story(name, state.env, records, self.settings, contact=self.contacts.get(name),
                                 reason=c.reason)
            document = {**story_message(story), "id": f"{state.env}/{c.id}/{name}"}
            queued += self.outbox.to_tenant(name, kind, document)
        return queued
