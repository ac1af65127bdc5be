"""The reference table of docs/configuration.md, derived from the model so the two cannot drift.

Every key the model reads is one row: its ``fleet:`` key, its type (named by
the validator that reads it) and its default. A test compares these three
columns with the table in the docs; ``python -m fleet.settings.reference``
rewrites the table in place, keeping each row's "meaning" text.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from fleet.domain.model import ParityMode, Version
from fleet.settings.model import FleetModel
from fleet.settings.types import LABELS

OPEN = "<!-- keys: generated from fleet/settings by python -m fleet.settings.reference -->"
CLOSE = "<!-- end of keys -->"
HEADER = "| key | type | default | meaning |\n|---|---|---|---|"
ADAPTER_BLOCKS = {
    "fleet:traffic.*": ("", "", "the provider's keys: see [traffic.md](traffic.md)"),
    "fleet:analysis.*": ("", "", "the analysis source's keys: see [traffic.md](traffic.md#fleetanalysis)"),
}
"""Blocks whose keys belong to an adapter (checked by it, documented with it); the model passes them through."""


def rows(model: type[BaseModel] = FleetModel, prefix: str = "fleet:") -> Iterator[tuple[str, str, str]]:
    """``(key, type, default)`` for every key of ``model``, sections unfolded."""
    for name, field in model.model_fields.items():
        key = prefix + (field.alias or name)
        if _reader(field):
            continue
        section = _section(field.annotation)
        if (items := _items_of(field.annotation)) is not None:
            yield from rows(items, key + "[].")
        elif section is not None:
            yield from rows(section, key + ".")
        elif _mapping_of(field.annotation) is not None:
            yield from rows(_mapping_of(field.annotation), key + ".<name>.")  # type: ignore[arg-type]
        else:
            yield key, _label(field), _default(field)
    if prefix == "fleet:":
        yield from ((key, type_, default) for key, (type_, default, _) in ADAPTER_BLOCKS.items())


def _reader(field: FieldInfo) -> str | None:
    extra = field.json_schema_extra
    return extra.get("reader") if isinstance(extra, dict) else None  # type: ignore[return-value]


def elsewhere(model: type[BaseModel] = FleetModel, prefix: str = "fleet:") -> tuple[str, ...]:
    """Key prefixes a reader of their own documents (``fleet:upgrade.``): kept in the table as written."""
    found: list[str] = []
    for name, field in model.model_fields.items():
        key = prefix + (field.alias or name)
        if _reader(field):
            found.append(key + ".")
        elif (section := _section(field.annotation)) is not None:
            found.extend(elsewhere(section, key + "."))
        elif (values := _mapping_of(field.annotation)) is not None:
            found.extend(elsewhere(values, key + ".<name>."))
    return tuple(found)


def _section(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if getattr(annotation, "__origin__", None) is dict:
        return None
    return next((s for arg in get_args(annotation) if (s := _section(arg)) is not None), None)


def _items_of(annotation: Any) -> type[BaseModel] | None:
    """The section each item of a list of sections is (``fleet:notifications.targets[]``)."""
    if getattr(annotation, "__origin__", None) in (tuple, list):
        return next((s for arg in get_args(annotation) if (s := _section(arg)) is not None), None)
    return None


def _mapping_of(annotation: Any) -> type[BaseModel] | None:
    if getattr(annotation, "__origin__", None) is dict:
        value = get_args(annotation)[1]
        return value if isinstance(value, type) and issubclass(value, BaseModel) else None
    return None


def _validators(annotation: Any) -> Iterator[object]:
    for item in getattr(annotation, "__metadata__", ()):
        yield getattr(item, "func", item)
    for arg in get_args(annotation):
        yield from _validators(arg)


def _label(field: FieldInfo) -> str:
    for func in [*(getattr(m, "func", m) for m in field.metadata), *_validators(field.annotation)]:
        if func in LABELS:
            return LABELS[func]
    raise LookupError(f"no documented type for {field!r}: label its validator (fleet.settings.types.labelled)")


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    if value is None or _label(field) == "secret":
        return "-"
    if isinstance(value, BaseModel):
        return "-"
    return f"`{_show(value, field)}`"


def _show(value: object, field: FieldInfo) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, ParityMode):
        return value.value
    if isinstance(value, float) and _label(field) == "duration":
        for unit, size in (("h", 3600), ("m", 60)):
            if value >= size and value % size == 0:
                return f"{value / size:g}{unit}"
        return f"{value:g}s"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple | frozenset | list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, Version):
        return str(value)
    return str(value)


def documented(text: str) -> dict[str, list[str]]:
    """The rows of the generated table in ``text``: key to its columns (type, default, meaning)."""
    start, end = text.index(OPEN), text.index(CLOSE)
    table: dict[str, list[str]] = {}
    for line in text[start:end].splitlines():
        if line.startswith("| `fleet:"):
            cells = [c.strip() for c in _cells(line)]
            table[cells[0].strip("`")] = cells[1:]
    return table


def _cells(line: str) -> list[str]:
    """Split a table row on ``|`` that is not escaped (``\\|`` inside a type)."""
    cells, cell, escaped = [], "", False
    for char in line.strip().strip("|"):
        if char == "|" and not escaped:
            cells.append(cell)
            cell = ""
        else:
            cell += char
        escaped = char == "\\"
    return [*cells, cell]


def table(meanings: dict[str, str], kept: dict[str, list[str]] | None = None) -> str:
    lines = [f"| `{key}` | {type_} | {default} | {meanings.get(key, '')} |" for key, type_, default in rows()]
    lines += [f"| `{key}` | {' | '.join(cells)} |" for key, cells in (kept or {}).items()]
    return "\n".join([OPEN, HEADER, *lines, CLOSE])


def rewrite(path: Path) -> None:
    text = path.read_text()
    table_rows = documented(text)
    kept = {key: cells for key, cells in table_rows.items() if key.startswith(elsewhere())}
    meanings = {key: cells[2] for key, cells in table_rows.items() if len(cells) > 2}
    meanings.update({k: v[2] for k, v in ADAPTER_BLOCKS.items() if k not in meanings})
    start, end = text.index(OPEN), text.index(CLOSE) + len(CLOSE)
    path.write_text(text[:start] + table(meanings, kept) + text[end:])


if __name__ == "__main__":
    rewrite(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/configuration.md"))
