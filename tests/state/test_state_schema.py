"""The state file read through its schema: the same states, the same refusals, the same bytes written back.

The schema replaced a hand-written reader whose messages operators and tests
rely on, so the old reader is kept as an oracle (``legacy_codec``) and both
read thousands of state files: states of every phase as fleet writes them,
and the same files with one to three values deleted or replaced by values of
the wrong type. Each must give the same state, or a ``StateError`` with the
same file, key and words. A state written, read and written again gives the
same bytes: the history's digest chain and files in the field depend on it.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from fleet.domain.cutover import Cutover, EnvironmentState, Handoff, LastResult, Phase
from fleet.domain.gates import GatePolicy
from fleet.domain.model import (
    AnalysisPolicy,
    HealthPolicy,
    ParityMode,
    Role,
    RolloutPolicy,
    SlotName,
    SlotState,
    TeardownPolicy,
    Version,
    Weights,
)
from fleet.errors import StateError
from fleet.state.codec import StateMeta, decode_state, dump_state, load_state_meta
from tests.state import legacy_codec

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "state"
STEPS = [(100,), (10, 25, 50, 100), (1, 2, 3, 99, 100), (50, 100)]
ODD = [None, True, False, 0, -1, 3, 250, 1.5, -0.5, "", "x", "1.30", "1.29.4", "SHIFT", "FAILED", "blue", "green",
       "active", "held", "warn", [], [1], [10, 100], ["a"], {}, {"blue": 1}, {"smoke": True}, 1e300, 2**70]


def _state(rng: random.Random) -> EnvironmentState:
    env = rng.choice(["local", "prod-eu", "e" * 40])
    old = rng.choice(list(SlotName))
    new = old.other
    slots = {old: SlotState(Role.ACTIVE, Version(1, rng.randint(20, 40)), healthy=rng.random() < 0.8),
             new: SlotState(rng.choice(list(Role)), rng.choice([None, Version(1, 31, rng.randint(0, 9))]),
                            healthy=rng.random() < 0.5)}
    steps = rng.choice(STEPS)
    step = rng.randrange(len(steps))
    cutover = None
    if rng.random() < 0.8:
        phase = rng.choice(list(Phase))
        drained = rng.choice([None, 1_767_226_000.5]) if phase not in (Phase.BAKE, Phase.TEARDOWN_OLD) else 1.0e9
        cutover = Cutover(
            id=f"{rng.getrandbits(48):012x}", old=old, new=new, target=Version(1, 31, rng.choice([None, 2])),
            rollout=RolloutPolicy(
                steps=steps, health_timeout_s=rng.choice([1200.0, 90.5]),
                analysis=AnalysisPolicy(success_rate=rng.choice([99.0, 99.9]), min_requests=rng.randint(1, 500)),
                health=HealthPolicy(regression_grace_s=rng.choice([180.0, 5.0]), parity=rng.choice(list(ParityMode))),
                handoff_at=rng.choice([None, 50, 100]),
            ),
            teardown=TeardownPolicy(bake_s=rng.choice([0.0, 1800.0]), confirm=rng.random() < 0.5),
            phase=phase, started_at=1_767_225_600.0, phase_since=1_767_225_700.25, step=step,
            failed_checks=rng.randint(0, 3), extensions=rng.randint(0, 2), drained_at=drained,
            confirmed=rng.random() < 0.5, old_drained=rng.random() < 0.5, refresh_first=rng.random() < 0.2,
            resume_phase=Phase.SHIFT if phase is Phase.FAILED else rng.choice([None, Phase.BAKE]),
            aborting=rng.random() < 0.2, reason=rng.choice([None, "error rate 3.1% > 1%", "drift: ☃"]),
            awaiting_confirmation=rng.random() < 0.2, updated_at=rng.choice([0.0, 1_767_226_410.0]),
            held=rng.choice([None, "traffic drifted"]), reapply=rng.random() < 0.2,
            revisions=rng.choice([{}, {"flux-system/flux-system": "main@sha1:abc", "apps/web": "main@sha1:abc"}]),
            health_checked=rng.random() < 0.5, parity_retry_at=rng.choice([None, 1_767_226_000.0]),
            window_end=rng.choice([None, 1_767_230_000.0]), paused=rng.choice([None, "window closed"]),
            gates=GatePolicy(smoke=rng.random() < 0.5, approve=rng.choice([(), (2,), (1, 3)])),
            approved=rng.choice([(), (2,)]), awaiting_approval=rng.choice([None, 2]),
            smoke_checked=rng.random() < 0.5, handoff=rng.choice(list(Handoff)),
        )
    last = rng.choice([None, LastResult(rng.choice(list(Phase)), 1_767_225_000.0, Version(1, 30), rng.choice(
        [None, "rolled back"]))])
    weights = Weights.split(new, steps[step] if cutover else 0)
    return EnvironmentState(env=env, slots=slots, weights=weights, cutover=cutover, last=last, seq=rng.randint(0, 99))


def _written(rng: random.Random) -> tuple[EnvironmentState, bool, str, str]:
    state = _state(rng)
    rehearsal, head = rng.random() < 0.3, rng.choice(["", "ab" * 32])
    return state, rehearsal, head, dump_state(state, rehearsal=rehearsal, head=head)


def _paths(data: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    if isinstance(data, dict):
        for key, value in data.items():
            found.append((*prefix, key))
            found.extend(_paths(value, (*prefix, key)))
    return found


def _mutate(rng: random.Random, data: dict[str, Any]) -> None:
    path = rng.choice(_paths(data))
    parent = data
    for part in path[:-1]:
        parent = parent[part]
    if rng.random() < 0.3:
        del parent[path[-1]]
    else:
        parent[path[-1]] = rng.choice(ODD)


def _outcome(reader: Any, text: str) -> object:
    try:
        return reader(text, file="state.json")
    except StateError as err:
        return ("refused", str(err), err.key)
    except Exception as err:  # a crash must be the same crash
        return ("crashed", type(err).__name__)


@pytest.mark.parametrize("seed", range(4))
def test_a_state_written_and_read_back_is_the_same_state_and_the_same_bytes(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(200):
        state, rehearsal, head, text = _written(rng)
        back, meta = load_state_meta(text, file="state.json")
        assert (back, meta) == (state, StateMeta(rehearsal=rehearsal, head=head))
        assert dump_state(back, rehearsal=rehearsal, head=head) == text
        assert decode_state(json.loads(text), file="state.json") == state


def test_the_corpus_valid_states_read_as_before_and_write_back_to_a_fixed_point() -> None:
    for path in sorted(CORPUS.glob("*.json")):
        text = path.read_text(errors="replace")
        assert _outcome(load_state_meta, text) == _outcome(legacy_codec.load_state_meta, text), path.name
    for name in ("valid-in-flight.json", "another-environment.json"):
        state = load_state_meta((CORPUS / name).read_text(), file=name)[0]
        again = dump_state(state, rehearsal=False, head="")
        assert load_state_meta(again, file=name) == (state, StateMeta(rehearsal=False, head=""))
        assert dump_state(load_state_meta(again, file=name)[0]) == again


@pytest.mark.parametrize("seed", range(6))
def test_a_damaged_state_is_read_or_refused_exactly_as_the_hand_written_reader_did(seed: int) -> None:
    rng = random.Random(1000 + seed)
    refused = 0
    for case in range(500):
        _, _, _, text = _written(rng)
        data = json.loads(text)
        if rng.random() < 0.3:
            data["format"] = 1
        for _ in range(rng.choice([1, 1, 2, 3])):
            _mutate(rng, data)
        damaged = json.dumps(data)
        new, old = _outcome(load_state_meta, damaged), _outcome(legacy_codec.load_state_meta, damaged)
        assert new == old, f"case {case}: {damaged}"
        refused += isinstance(new, tuple)
    assert refused > 200  # most damage is found; the rest is what the lenient cutover record accepts


def test_a_state_of_format_2_with_a_history_counting_elsewhere_is_refused_before_its_digest_is_looked_at() -> None:
    state = replace(EnvironmentState.seed("local", Version(1, 29)), seq=4)
    data = json.loads(dump_state(state))
    data["history"] = {"seq": 3}
    with pytest.raises(StateError) as caught:
        load_state_meta(json.dumps(data), file="state.json")
    assert str(caught.value) == "state.json:history.seq: 3 differs from seq 4"


def test_fleet_help_and_the_writers_of_states_do_not_import_pydantic() -> None:
    code = (
        "import sys\n"
        "from fleet.cli import cli\n"
        "import fleet.state.codec, fleet.engine.driver, fleet.cli.render\n"
        "try:\n    cli.main(['--help'], prog_name='fleet')\nexcept SystemExit:\n    pass\n"
        "print('LOADED', sorted(m for m in sys.modules if m.split('.')[0] in {'pydantic', 'pydantic_core'}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout

    assert "LOADED []" in out


def test_reading_states_loads_the_validation_engine_but_not_pydantic() -> None:
    code = (
        "import sys, pathlib\n"
        "from fleet.state.codec import load_state_meta\n"
        f"text = pathlib.Path({str(CORPUS / 'valid-in-flight.json')!r}).read_text()\n"
        "load_state_meta(text, file='state.json')\n"
        "print('LOADED', sorted({m.split('.')[0] for m in sys.modules if m.split('.')[0].startswith('pydantic')}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout

    assert "LOADED ['pydantic_core']" in out


DOUBLE_FAULTS = {
    "cutover.teardown": lambda d: (d["cutover"]["rollout"].update(health=[1]), d["cutover"].update(teardown=5)),
    "cutover.teardown ": lambda d: (d["cutover"]["rollout"].pop("steps"), d["cutover"].update(teardown=None)),
    "cutover.rollout.analysis": lambda d: (d["cutover"].pop("id"), d["cutover"]["rollout"].update(analysis="x")),
    "cutover": lambda d: (d["cutover"].pop("id"), d.update(last=5)),
    "cutover.step": lambda d: (d["cutover"].update(step=9), d.update(last=5)),
    "weights": lambda d: (d["cutover"].update(step=9), d["weights"].update(blue=5)),
}


@pytest.mark.parametrize("key", sorted(DOUBLE_FAULTS))
def test_of_two_faults_the_one_the_old_reader_met_first_is_reported(key: str) -> None:
    data = json.loads((CORPUS / "valid-in-flight.json").read_text())
    DOUBLE_FAULTS[key](data)
    text = json.dumps(data)

    with pytest.raises(StateError) as caught:
        load_state_meta(text, file="state.json")

    assert caught.value.key == key.strip()
    assert _outcome(load_state_meta, text) == _outcome(legacy_codec.load_state_meta, text)
