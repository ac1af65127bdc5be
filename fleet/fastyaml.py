"""YAML documents read by libyaml, built into plain Python without PyYAML's generic constructor.

``fleet upgrade --dry-run`` reads every stack of the fleet (hundreds) in one process; with the
C parser, PyYAML's pure-Python constructor is most of that time. Stacks are plain mappings,
lists, strings, numbers and booleans: those are built here directly from libyaml's nodes, and
any other tag (timestamps, binary, merge keys) is handed to PyYAML's safe constructor, so the
result is always what ``yaml.safe_load`` returns.
"""

from __future__ import annotations

from typing import Any

import yaml

_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"


def safe_load(text: str) -> Any:
    """``yaml.safe_load(text)``, faster where libyaml is installed; raises ``yaml.YAMLError`` alike."""
    loader_cls = getattr(yaml, "CSafeLoader", None)
    if loader_cls is None:
        return yaml.safe_load(text)
    loader = loader_cls(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        return _build(loader, node, {})
    finally:
        loader.dispose()


def _build(loader: Any, node: yaml.Node, seen: dict[int, Any]) -> Any:
    key = id(node)
    if key in seen:
        return seen[key]
    tag = node.tag
    if isinstance(node, yaml.ScalarNode):
        value = node.value if tag == _STR else loader.construct_object(node, deep=True)
    elif isinstance(node, yaml.SequenceNode) and tag == _SEQ:
        value = []
        seen[key] = value
        value.extend(_build(loader, item, seen) for item in node.value)
    elif isinstance(node, yaml.MappingNode) and tag == _MAP and not any(k.tag == _MERGE for k, _ in node.value):
        value = {}
        seen[key] = value
        for k, v in node.value:
            built = _build(loader, k, seen)
            try:
                hash(built)
            except TypeError as err:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark, "found unhashable key", k.start_mark
                ) from err
            value[built] = _build(loader, v, seen)
    else:
        value = loader.construct_object(node, deep=True)
    seen[key] = value
    return value
