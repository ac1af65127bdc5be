"""From pydantic's ``ValidationError`` to fleet's ``ConfigError``\\ s: the file, the ``fleet:`` key, our words.

Each error's ``loc`` is the key path (``("rollout", "steps")`` is
``fleet:rollout.steps``, a list index is ``[1]``); a rule that knows better
where the fix belongs names the key itself (``problem(..., key=...)``).
Unknown keys get the closest valid key and the full list of valid keys.

:func:`read_all` is the one-pass reading ``fleet validate`` needs: after each
round it drops the keys in error (or fills a required one with a stand-in)
and reads the rest again, so that rules across blocks still judge every key
that is valid, and so a file's every problem is listed in one run.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from fleet.errors import ConfigError
from fleet.settings.hints import unknown_key_hint

NAMESPACE = "fleet"
M = TypeVar("M", bound=BaseModel)
_STAND_INS: dict[tuple[str, ...], object] = {("cluster",): {"version": "0.0.0"}, ("cluster", "version"): "0.0.0",
                                             ("traffic",): {}}
_MISSING = {"fleet:cluster.version": "missing (required): the version of the first active slot"}
_FIRST = ("extra_forbidden", "secret")


def keys_of(model: type[BaseModel]) -> list[str]:
    """The keys a section takes, as written in a stack file."""
    return sorted(field.alias or name for name, field in model.model_fields.items())


def keys_in_order(model: type[BaseModel]) -> list[str]:
    """The keys a section takes, in the order it declares (and reads) them."""
    return [field.alias or name for name, field in model.model_fields.items()]


def dotted(loc: Iterable[int | str]) -> str:
    key = ""
    for part in loc:
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else str(part))
    return key


def _section(root: type[BaseModel], loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model class that reads the mapping at ``loc`` (``()`` is the root; ``tenants.<name>`` a Tenant)."""
    from fleet.settings.rollout import Tenant

    if not loc:
        return root
    if loc[0] == "tenants":
        if len(loc) == 3 and loc[2] in ("traffic", "contact"):
            return _models_in(Tenant.model_fields[str(loc[2])].annotation)[0]
        return Tenant if len(loc) == 2 else None
    if len(loc) > 1:
        return _nested(root, loc)
    if str(loc[0]) not in root.model_fields and not _by_alias(root, str(loc[0])):
        return None
    field = root.model_fields.get(str(loc[0])) or _by_alias(root, str(loc[0]))
    for candidate in _models_in(field.annotation if field else None):
        return candidate
    return None


def _nested(root: type[BaseModel], loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The section at ``loc`` down a path of sections and lists of them (``notifications.targets[0]``)."""
    model = root
    for part in (str(part) for part in loc if not isinstance(part, int)):
        field = model.model_fields.get(part) or _by_alias(model, part)
        models = _models_in(field.annotation) if field is not None else []
        if not models:
            return None
        model = models[0]
    return model


def _by_alias(model: type[BaseModel], alias: str) -> Any:
    return next((f for f in model.model_fields.values() if f.alias == alias), None)


def _models_in(annotation: object) -> list[type[BaseModel]]:
    from typing import get_args

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in get_args(annotation) for m in _models_in(arg)]


def translate(
    error: ValidationError, root: type[BaseModel], file: str, base: tuple[str, ...] = ()
) -> list[tuple[ConfigError, tuple[Any, ...]]]:
    """Each problem with the key path to drop for a second reading; ``base`` is where ``root`` sits under fleet:."""
    found: list[tuple[int, ConfigError, tuple[Any, ...]]] = []
    blocks: dict[tuple[Any, ...], list[str]] = {}
    for item in error.errors(include_url=False):
        loc, kind, ctx = tuple(item["loc"]), item["type"], item.get("ctx") or {}
        key = f"{NAMESPACE}:{dotted(base + loc)}"
        if kind == "fleet":
            message = str(ctx["message"])
            if ctx.get("key"):
                key = f"{NAMESPACE}:{dotted(base)}.{ctx['key']}" if base else f"{NAMESPACE}:{ctx['key']}"
                # a rule across blocks (raised at the root) is not asked again; nothing is dropped for it
                loc = _loc_of(str(ctx["key"])) if loc else ()
            kind = "secret" if "pulumi config set --secret" in message else kind
        elif kind == "extra_forbidden":
            parent = _section(root, loc[:-1])
            if parent is not None and getattr(parent, "unknown_at_block", False):
                blocks.setdefault(loc[:-1], []).append(str(loc[-1]))
                continue
            known = keys_of(parent) if parent is not None else []
            prefix = f"{NAMESPACE}:{dotted(base + loc[:-1])}." if base + loc[:-1] else f"{NAMESPACE}:"
            message = f"unknown key{unknown_key_hint(str(loc[-1]), known, prefix=prefix)}"
        elif kind == "missing":
            message = _MISSING.get(key, "missing (required)")
            loc = loc if loc in _STAND_INS else loc[:-1]
        elif kind in ("model_type", "dict_type", "model_attributes_type") and item["input"] is None:
            message = _MISSING.get(key, "missing (required)")
        elif kind in ("model_type", "dict_type", "model_attributes_type"):
            message = f"expected a mapping, found {type(item['input']).__name__}"
        else:
            message = item["msg"]
        found.append((0 if kind in _FIRST else 1, ConfigError(message, file=file, key=key), loc))
    for loc, names in blocks.items():
        parent = _section(root, loc)
        known = keys_of(parent) if parent is not None else []
        guesses = [_guess(name, known) for name in sorted(names)]
        message = f"unknown key(s) {', '.join(guesses)}; known: {', '.join(known)}"
        found.append((1, ConfigError(message, file=file, key=f"{NAMESPACE}:{dotted(base + loc)}"), tuple(loc)))
    found.sort(key=lambda entry: entry[0])
    return [(err, loc) for _, err, loc in found]


def _guess(name: str, options: list[str]) -> str:
    match = difflib.get_close_matches(name, options, n=1)
    return f"{name} (did you mean {match[0]}?)" if match else name


def _loc_of(key: str) -> tuple[str, ...]:
    """``hostnames[1]`` -> ``("hostnames",)``: a list is dropped whole; ``cluster.nodeImages.1.29`` stops at the map."""
    return tuple(part.split("[")[0] for part in key.split("."))


def overlaps(key: str, keys: Iterable[str]) -> bool:
    """``fleet:hostnames`` overlaps ``fleet:hostnames[1]`` and ``fleet:cluster.version`` overlaps ``fleet:cluster``."""
    return any(
        key == other or key.startswith((other + ".", other + "[")) or other.startswith((key + ".", key + "["))
        for other in keys
    )


def read_all(
    root: type[M],
    raw: Mapping[str, Any],
    *,
    file: str,
    context: dict[str, Any] | None = None,
    base: tuple[str, ...] = (),
) -> tuple[M | None, list[ConfigError]]:
    """The model and every problem; with problems, the model read from what was valid (None if nothing was)."""
    data: Any = copy.deepcopy(dict(raw))
    problems: list[ConfigError] = []
    reported: set[str] = set()
    for _ in range(64):
        try:
            return root.model_validate(data, context={**(context or {}), "reported": reported}), problems
        except ValidationError as error:
            progress = False
            for err, loc in translate(error, root, file, base):
                if not overlaps(err.key or "", [p.key for p in problems if p.key]):
                    problems.append(err)
                key = (err.key or "").removeprefix(f"{NAMESPACE}:").removeprefix(f"{dotted(base)}.")
                progress = _repair(data, loc) or key not in reported or progress
                reported.add(key)
            if not progress:
                return None, problems
    return None, problems


def _repair(data: dict[str, Any], loc: tuple[Any, ...]) -> bool:
    """Drop the value at ``loc`` (or put a stand-in for a required one); whether anything changed."""
    if not loc:
        return False
    if loc in _STAND_INS:
        parent = _walk(data, loc[:-1])
        if isinstance(parent, dict) and parent.get(loc[-1]) != _STAND_INS[loc]:
            parent[loc[-1]] = copy.deepcopy(_STAND_INS[loc])
            return True
        return False
    lists = [i for i, part in enumerate(loc) if isinstance(part, int)]
    if lists:
        # one reading judges every item of a list (``notifications.targets[1].kind``), so the list goes whole:
        # mending an item in place could make it say something new, and dropping it would renumber the rest
        return _repair(data, loc[: lists[0]])
    parent = _walk(data, loc[:-1])
    if isinstance(parent, dict) and loc[-1] in parent:
        del parent[loc[-1]]
        return True
    return False


def _walk(data: Any, loc: tuple[Any, ...]) -> Any:
    for part in loc:
        if not isinstance(data, dict):
            return None
        data = data.get(part)
    return data
