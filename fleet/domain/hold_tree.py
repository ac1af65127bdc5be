"""Where fleet's hold entries go in a slot's tree of Flux Kustomizations, and when the tree has applied them.

A Kustomization that another one applies from Git (a *child*) is owned by
its parent's server-side apply: a ``spec.patches`` fleet wrote on the child
directly is overwritten at the parent's next reconcile whenever Git sets the
child's own patches. So fleet writes only the *top* Kustomizations (those no
other one applies, usually just ``flux-system``), and every child's entries
travel inside its parent's patches as a *carry* entry, recursively: the
parents' applies themselves write them, level by level.

A Kustomization that has not applied yet (no inventory) carries the
*children* entry instead, so whatever it creates is created suspended; once
it has applied, its children are known from its inventory and the entry is
replaced by their carry entries, which also lifts the suspension. A slot born
held starts that way (:func:`fleet.domain.hold_patches.born_held`).

The tree holds (:func:`waiting` is empty) when no Kustomization still
suspends its children and every one that holds and is not suspended has
applied its current generation, which includes the hold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fleet.domain.hold_patches import (
    KUSTOMIZE_GROUP,
    carry_entry,
    children_entry,
    hold_patches,
    instance_entry,
    is_ours,
    kind_of,
)

Key = tuple[str, str]


def _key(k: Mapping[str, Any]) -> Key:
    meta = k.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


def _patches(k: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [dict(p) for p in (k.get("spec") or {}).get("patches") or []]


def children(k: Mapping[str, Any]) -> list[Key] | None:
    """The Kustomizations ``k`` applied last (its inventory, itself left out); None when it has not applied."""
    inventory = (k.get("status") or {}).get("inventory")
    if inventory is None:
        return None
    out = []
    for entry in inventory.get("entries") or []:
        parts = str(entry.get("id", "")).split("_")
        if len(parts) != 4 or (parts[2], parts[3]) != (KUSTOMIZE_GROUP, "Kustomization"):
            continue
        if (parts[0], parts[1]) != _key(k) and (parts[0], parts[1]) not in out:
            out.append((parts[0], parts[1]))
    return out


def entries(
    k: Mapping[str, Any], by_key: Mapping[Key, Mapping[str, Any]], seen: frozenset[Key] = frozenset()
) -> list[dict[str, Any]]:
    """fleet's entries for ``k`` while holding: the hold, then its children's suspension or their carried entries."""
    kids = children(k)
    if kids is None:
        return [*hold_patches(), children_entry(_key(k)[1])]
    out = hold_patches()
    for key in kids:
        child = by_key.get(key)
        if child is None or key in seen:  # pruned since, or a cycle
            continue
        theirs = entries(child, by_key, seen | {_key(k)})
        out.append(carry_entry(key[1], key[0], _patches(child), theirs))
    return out


def tops(items: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The Kustomizations no other one applies: the only ones fleet writes while holding."""
    applied = {key for k in items for key in children(k) or []}
    return [k for k in items if _key(k) not in applied]


def rewrites(items: Sequence[Mapping[str, Any]]) -> list[tuple[Mapping[str, Any], list[dict[str, Any]]]]:
    """(top Kustomization, its new patches) wherever fleet's entries differ from what the tree needs now."""
    by_key = {_key(k): k for k in items}
    out = []
    for top in tops(items):
        current = _patches(top)
        wanted = [p for p in current if not is_ours(p)] + entries(top, by_key)
        if wanted != current:
            out.append((top, wanted))
    return out


def applied_generation(k: Mapping[str, Any]) -> int:
    """The last generation ``k`` applied: Ready, or applied and then failed its health checks."""
    status = k.get("status") or {}
    applied = int(status.get("observedGeneration") or 0)
    for c in status.get("conditions") or []:
        if c.get("type") == "Ready" and (c.get("status") == "True" or c.get("reason") == "HealthCheckFailed"):
            applied = max(applied, int(c.get("observedGeneration") or 0))
    return applied


def waiting(items: Sequence[Mapping[str, Any]]) -> list[str]:
    """The Kustomizations the hold still waits on ("namespace/name"); [] when the whole tree applied it.

    A suspended one is not waited on: it applies nothing (a child is suspended until its parent carries its hold).
    Every other one that holds is, until it has applied its current generation: a reconcile it started before
    (a parent's apply may just have overwritten its spec) could otherwise start its workloads after the
    confirmation. Applied and then failing its health checks counts as applied.
    """
    out = []
    for k in items:
        if (k.get("spec") or {}).get("suspend") is True:
            continue
        kinds = {kind_of(p) for p in _patches(k)}
        behind = applied_generation(k) < int((k.get("metadata") or {}).get("generation") or 0)
        if "children" in kinds or (kinds & {"hold", "carry"} and behind):
            out.append("/".join(_key(k)))
    return out


def instance_spec(
    instance: Mapping[str, Any], tops: Mapping[str, Sequence[Mapping[str, Any]]] | None
) -> dict[str, Any] | None:
    """A FluxInstance's new ``spec`` (merge patch) so that it applies what fleet wrote; None: nothing to change.

    flux-operator applies the sync Kustomization from the instance again and again: its entry for a top named
    in ``tops`` (name -> that Kustomization's patches now) follows fleet's entries there; ``tops`` None (the
    release) takes fleet's entries out.
    """
    current = [dict(p) for p in ((instance.get("spec") or {}).get("kustomize") or {}).get("patches") or []]
    wanted = []
    for entry in current:
        name = str((entry.get("target") or {}).get("name") or "")
        if not is_ours(entry):
            wanted.append(entry)
        elif tops is not None and name in tops:
            wanted.append(instance_entry(name, [dict(p) for p in tops[name] if is_ours(p)]))
        elif tops is not None:
            wanted.append(entry)
    return None if wanted == current else {"kustomize": {"patches": wanted}}
