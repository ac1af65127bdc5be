"""The in-memory world's singletons: which slot runs the workloads that must not run twice.

The fake keeps the answer in the rehearsal's world (``world.json``), so a
rehearsal killed at a checkpoint and resumed in another process continues
from what was really done, and records every moment both slots would have
run them (``singleton_overlaps``), which the crash tests check is never. A
slot's Flux runs them from its bootstrap unless the layout had it born held
(``World.record_flux_started``), as real Flux would.
"""

from __future__ import annotations

from fleet.domain.model import SlotName
from fleet.domain.reports import SlotOutputs
from fleet.rehearsal.sim import World


class MemorySingletons:
    """The :class:`fleet.ports.Singletons` port over the fakes' world: a hold takes effect at once."""

    def __init__(self, world: World) -> None:
        self.world = world

    def hold(self, env: str, slot: SlotName, outputs: SlotOutputs) -> None:
        if slot.value in self.world.singletons:
            self.world.singletons.remove(slot.value)
            self.world.save()

    def release(self, env: str, slot: SlotName, outputs: SlotOutputs) -> None:
        if slot.value in self.world.singletons:
            return
        others = [s for s in self.world.singletons if s != slot.value]
        if others:
            self.world.singleton_overlaps.append(f"{slot} started while {', '.join(others)} still ran them")
        self.world.singletons.append(slot.value)
        self.world.save()
