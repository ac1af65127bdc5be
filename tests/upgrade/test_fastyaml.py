"""Stacks read by libyaml and built directly are exactly what ``yaml.safe_load`` returns."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from fleet import fastyaml

REPO = Path(__file__).resolve().parents[2]
DOCS = [
    "",
    "a: &x {b: 1}\nc: *x\n",
    "<<: {a: 1}\nb: 2\n",
    "d: 2026-01-01\ne: !!binary aGVsbG8=\nf: [1, 2.5, true, null, ~, '3', 0x1f, .inf]\n",
    "- 1\n- [2, {x: [y]}]\n",
    "config:\n  fleet:cluster: {driver: kind, version: \"1.29\"}\n  fleet:gitToken: {secure: v1:abc}\n",
]


@pytest.mark.parametrize("text", DOCS + [p.read_text() for p in sorted((REPO / "stacks").glob("*.yaml"))])
def test_same_as_safe_load(text: str) -> None:
    assert fastyaml.safe_load(text) == yaml.safe_load(text)


@pytest.mark.parametrize("text", ["a: [1, 2", "? [1]\n: 2\n", "!!python/object:os.system x\n", "a: *nope\n"])
def test_refuses_what_safe_load_refuses(text: str) -> None:
    with pytest.raises(yaml.YAMLError):
        yaml.safe_load(text)
    with pytest.raises(yaml.YAMLError):
        fastyaml.safe_load(text)
