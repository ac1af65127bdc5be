"""The product ships no module that only tests import.

Test worlds live in ``tests/`` (``tests/worlds``); what ``fleet rehearse``
needs lives in ``fleet/rehearsal/``. import-linter (``lint-imports``) keeps the
layers and keeps production paths away from the rehearsal; it cannot say that
a module is reached at all, so this test does: every module of the package is
imported by another module of the package, or named by one as a string (the
adapter registries' ``"module:Class"`` entries, a ``python -m`` child
process), or is an entry point (``__main__``, or a module with a
``if __name__ == "__main__":`` block that people run with ``python -m``).
"""

from __future__ import annotations

from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
ENTRY_POINTS = {"fleet.__main__", "fleet.infra.__main__"}


def test_every_product_module_is_reached_from_the_product() -> None:
    graph = grimp.build_graph("fleet")
    text = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "fleet").rglob("*.py"))
    unreached = sorted(
        m for m in graph.modules
        if m not in ENTRY_POINTS
        and not (ROOT / m.replace(".", "/")).is_dir()  # packages: reached through their modules
        and not graph.find_modules_that_directly_import(m)
        and 'if __name__ == "__main__":' not in (ROOT / (m.replace(".", "/") + ".py")).read_text(encoding="utf-8")
        and f'"{m}' not in text
    )
    assert unreached == [], f"modules nothing in fleet/ uses (move test-only code to tests/): {unreached}"


def test_no_test_world_modules_remain_in_the_product() -> None:
    assert not (ROOT / "fleet" / "fakes.py").exists()
    assert not (ROOT / "fleet" / "testing").exists()
