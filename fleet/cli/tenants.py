"""Each tenant's story for ``fleet status --tenant``, ``fleet history`` and the report.

Builds :func:`fleet.domain.tenant_story.tenant_story` from an environment's
configuration (which objects are whose, each tenant's contact) and its
history; the state adds the cutover's own reason when it still has it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fleet.config import EnvironmentConfig
from fleet.domain.tenant_story import TenantStory, story_text, tenant_story
from fleet.errors import UsageError
from fleet.ports import Record


def tenant_names(config: EnvironmentConfig) -> list[str]:
    from fleet.domain.health import health_settings_from_config

    return [t.name for t in health_settings_from_config(config.raw, file=config.file).tenants]


def stories(
    config: EnvironmentConfig, records: Sequence[Record], state: Any, only: str | None = None
) -> list[TenantStory]:
    """Every configured tenant's story of the last cutover (or ``only``'s; an unknown tenant is a usage error)."""
    from fleet.domain.health import health_settings_from_config
    from fleet.domain.tenants import tenant_traffic_from_config

    settings = health_settings_from_config(config.raw, file=config.file)
    contacts = {t.name: t.contact for t in tenant_traffic_from_config(config.raw, file=config.file)}
    names = [t.name for t in settings.tenants]
    if only is not None and only not in names:
        raise UsageError(f"{config.name} has no tenant {only!r} (tenants: {', '.join(names) or 'none'})")
    cutover = None if state is None else state.cutover
    reason = None if cutover is None else cutover.reason
    return [
        tenant_story(name, config.name, records, settings, contact=contacts.get(name), reason=reason)
        for name in names if only is None or name == only
    ]


def section(found: Sequence[TenantStory]) -> str:
    """The tenants' sections of ``fleet history``'s text output."""
    if not found:
        return ""
    return "\n\ntenants:\n" + "\n\n".join(story_text(s) for s in found)
