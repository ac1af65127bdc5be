"""The one typed model of the ``fleet:`` keys of a stack file, and the domain values it gives.

``fleet.config`` (every command), ``fleet.infra.settings`` (the Pulumi
program) and the health gate read the same model, so a key means one thing,
is checked one way and is reported with one message, naming the file and the
``fleet:`` key. The domain stays free of pydantic: what leaves this package
are the frozen dataclasses of ``fleet.domain`` (``RolloutPolicy``,
``HealthSettings``...).

Adapters own their blocks (``fleet:traffic``, the analysis source's keys of
``fleet:analysis``): each declares a ``fleet.settings.blocks.Block`` beside
its code, built from the same types (``fleet.settings.types``) and reported
through the same translation (``fleet.settings.errors``).

``fleet.settings.read`` is the entry point. It imports pydantic, so the CLI
imports it only when it reads a stack file, never for ``fleet --help``;
``fleet.settings.durations`` is free of it.
"""
