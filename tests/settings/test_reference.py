"""docs/configuration.md's key table is the model's: same keys, same types, same defaults."""

from __future__ import annotations

from pathlib import Path

from fleet.settings.read import KNOWN_KEYS
from fleet.settings.reference import documented, elsewhere, rows, table

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_every_documented_key_is_in_the_model_and_every_model_key_is_documented() -> None:
    in_docs = {key for key in documented(DOC.read_text()) if not key.startswith(elsewhere())}
    in_model = {key for key, _, _ in rows()}
    assert in_docs - in_model == set(), "documented but not in the model"
    assert in_model - in_docs == set(), "in the model but not documented (python -m fleet.settings.reference)"


def test_types_and_defaults_in_the_docs_are_the_models() -> None:
    docs = documented(DOC.read_text())
    for key, type_, default in rows():
        assert docs[key][:2] == [type_, default], key


def test_every_row_says_what_the_key_means() -> None:
    assert all(cells[2] for cells in documented(DOC.read_text()).values())


def test_regenerating_the_table_changes_nothing() -> None:
    text = DOC.read_text()
    meanings = {key: cells[2] for key, cells in documented(text).items()}
    kept = {key: cells for key, cells in documented(text).items() if key.startswith(elsewhere())}
    assert table(meanings, kept) in text


def test_every_top_level_key_has_rows() -> None:
    documented_blocks = {key.removeprefix("fleet:").split(".")[0] for key in documented(DOC.read_text())}
    assert documented_blocks == set(KNOWN_KEYS)
