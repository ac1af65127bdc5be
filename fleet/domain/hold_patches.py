"""fleet's entries in a Flux Kustomization's ``spec.patches``: how a slot holds its singletons.

Pure data, because three parts build the same entries: the Pulumi program
creates a new slot's Flux already holding them (``fleet.infra.flux``, the
slot is *born held*), the Kubernetes adapter writes and removes them later
(``fleet.adapters.kube.singletons``), and the layers forbid infra to import an
adapter. What the entries do is in docs/singletons.md; in short:

- *hold* entries: JSON 6902 patches with a kustomize ``labelSelector`` target
  that suspend every CronJob whose ``fleet.io/singleton`` label is not
  ``"false"`` and scale every Deployment and StatefulSet labelled
  ``fleet.io/singleton: "true"`` to zero;
- a *children* entry, on a Kustomization that has not applied yet (a slot's
  root when it is born held): every Kustomization it applies, except itself,
  is created with ``spec.suspend: true``, so a child applies nothing before
  fleet has given it the hold;
- *carry* entries: the holder carries a named child's hold in its own apply
  (``spec.patches`` of that child), so the parent's server-side apply, which
  owns the child, writes fleet's entries instead of overwriting them.

Every entry's patch starts with :data:`MARKER`; that comment line is how fleet
finds its own entries again, and everything else in ``spec.patches`` is kept
as it is, in its order.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal

LABEL = "fleet.io/singleton"
MARKER = "# fleet.io/hold-singletons"
"""The first line of every patch fleet adds; nothing else in a Kustomization's patches starts with it."""
CHILDREN_MARKER = f"{MARKER} children"
CARRY_MARKER = f"{MARKER} carry"
KUSTOMIZE_GROUP = "kustomize.toolkit.fluxcd.io"
WORKLOADS = (("apps", "v1", "deployments", "Deployment"), ("apps", "v1", "statefulsets", "StatefulSet"))

EntryKind = Literal["hold", "children", "carry"]


def _patch(path: str, value: object, marker: str = MARKER) -> str:
    return f"{marker}\n- op: add\n  path: {path}\n  value: {json.dumps(value)}\n"


def hold_patches() -> list[dict[str, Any]]:
    """fleet's entries for a Kustomization's ``spec.patches`` while a slot holds its singletons."""
    cron = {"group": "batch", "version": "v1", "kind": "CronJob", "labelSelector": f"{LABEL}!=false"}
    entries = [{"target": cron, "patch": _patch("/spec/suspend", True)}]
    for group, version, _, kind in WORKLOADS:
        target = {"group": group, "version": version, "kind": kind, "labelSelector": f"{LABEL}=true"}
        entries.append({"target": target, "patch": _patch("/spec/replicas", 0)})
    return entries


def not_named(name: str) -> str:
    """A regular expression (RE2, anchored by kustomize) matching every name except ``name``.

    RE2 has no negative lookahead: a name differs from ``name`` by being a
    proper prefix of it, by differing at some character, or by being longer.
    """
    alternatives = [re.escape(name[:i]) for i in range(len(name))]
    alternatives += [f"{re.escape(name[:i])}[^{re.escape(name[i])}].*" for i in range(len(name))]
    alternatives.append(f"{re.escape(name)}.+")
    return "|".join(alternatives)


def children_entry(holder: str) -> dict[str, Any]:
    """Every Kustomization ``holder`` applies (but ``holder`` itself, which Git often holds) is born suspended."""
    target = {"group": KUSTOMIZE_GROUP, "kind": "Kustomization", "name": not_named(holder)}
    return {"target": target, "patch": _patch("/spec/suspend", True, CHILDREN_MARKER)}


def born_held(name: str) -> list[dict[str, Any]]:
    """The entries a slot's root Kustomization ``name`` is created with: the hold, and children born suspended."""
    return [*hold_patches(), children_entry(name)]


def carry_entry(
    name: str, namespace: str, own: Iterable[Mapping[str, Any]], theirs: list[dict[str, Any]]
) -> dict[str, Any]:
    """The parent's entry that gives child ``namespace/name`` (whose Git patches are ``own``) fleet's ``theirs``."""
    own = [dict(p) for p in own if not is_ours(p)]
    ops: list[dict[str, Any]]
    if own:
        ops = [{"op": "add", "path": "/spec/patches/-", "value": p} for p in theirs]
    else:
        ops = [{"op": "add", "path": "/spec/patches", "value": theirs}]
    target = {"group": KUSTOMIZE_GROUP, "kind": "Kustomization", "name": re.escape(name),
              "namespace": re.escape(namespace)}
    return {"target": target, "patch": f"{CARRY_MARKER}\n{json.dumps(ops)}\n"}


def instance_entry(name: str, ours: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The FluxInstance's ``kustomize.patches`` entry that gives the sync Kustomization ``name`` fleet's entries
    ``ours`` (default: born held)."""
    ops = [{"op": "add", "path": "/spec/patches", "value": born_held(name) if ours is None else ours}]
    return {"target": {"kind": "Kustomization", "name": name}, "patch": f"{MARKER}\n{json.dumps(ops)}\n"}


def kind_of(entry: object) -> EntryKind | None:
    """Which of fleet's entries ``entry`` is; None when it is not fleet's."""
    if not isinstance(entry, Mapping):
        return None
    patch = str(entry.get("patch") or "")
    if patch.startswith(CHILDREN_MARKER):
        return "children"
    if patch.startswith(CARRY_MARKER):
        return "carry"
    return "hold" if patch.startswith(MARKER) else None


def is_ours(entry: object) -> bool:
    return kind_of(entry) is not None


def with_hold(patches: Iterable[Mapping[str, Any]], *, hold: bool) -> list[dict[str, Any]]:
    """``patches`` without fleet's entries, then, when holding, fleet's hold and its born-held structure."""
    current = [dict(p) for p in patches]
    kept = [p for p in current if not is_ours(p)]
    if not hold:
        return kept
    return kept + hold_patches() + [p for p in current if kind_of(p) in ("children", "carry")]
