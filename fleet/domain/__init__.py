"""The pure core: plain frozen dataclasses and functions, no I/O.

Nothing in this package imports an SDK, the CLI, the adapters, or does I/O;
an import-linter contract in CI keeps it that way. Everything the outside
world tells the core arrives as an event; everything the core wants done
leaves as a command.
"""
