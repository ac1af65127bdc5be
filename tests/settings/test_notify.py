"""``fleet:notifications`` and ``fleet:hooks`` in the model: every message the hand-written reader gave, unchanged.

Each row is one thing the former reader (``fleet/notify_settings.py`` before
the fold) could say, with the key and message it said; the model and the
read-time step say the same, through ``notify_problems`` (what a run reads)
and through ``read_fleet`` (what every command and ``fleet validate`` read).
The rows of ``CHANGED`` differ on purpose, and say why.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from fleet.cli import cli
from fleet.domain.gates import GatePolicy
from fleet.errors import ConfigError
from fleet.notify_settings import notify_problems, notify_settings
from fleet.settings.read import read_fleet

FILE = "stacks/Pulumi.local.yaml"
BASE: dict[str, Any] = {"cluster": {"version": "1.29"}, "traffic": {"provider": "haproxy"}}
NO_URL = "missing or not an http(s) URL (or name the variable that holds it in urlEnv)"
EVENTS = "expected a list of phase, rollback, halt, waiting, done, step"
STEPS = "expected a list of step numbers (1 is the first weight step)"
NOT_A_DURATION = "'soon' is not a duration (expected e.g. 90s, 5m, 1h30m)"
T = "notifications.targets[0]"


def target(**keys: Any) -> dict[str, Any]:
    return {"notifications": {"targets": [{"url": "https://x.example/hook", **keys}]}}


def smoke(**keys: Any) -> dict[str, Any]:
    return {"hooks": {"smoke": [{"url": "https://x.example/smoke", **keys}]}}


# (raw, env, [(key, message)]) as the former reader reported them
MESSAGES: list[tuple[dict[str, Any], dict[str, str], list[tuple[str, str]]]] = [
    ({"notifications": "all"}, {}, [("notifications", "expected a mapping, found str")]),
    ({"hooks": [1]}, {}, [("hooks", "expected a mapping, found list")]),
    ({"notifications": {"targets": "x"}}, {}, [("notifications.targets", "expected a list, found str")]),
    ({"notifications": {"targets": [None]}}, {}, [(f"{T}.url", NO_URL)]),
    ({"notifications": {"colour": 1}}, {}, [("notifications.colour", "unknown key (known: attempts, budget, targets, "
                                                                      "timeout)")]),
    ({"hooks": {"retries": 1}}, {}, [("hooks.retries", "unknown key (known: approval, loadTest, smoke)")]),
    ({"hooks": {"loadTest": [{"urlEnv": "K6"}]}}, {"K6": "k6:9"}, [("hooks.loadTest[0].url", NO_URL)]),
    (target(foo=1), {}, [(f"{T}.foo", "unknown key (known: events, kind, name, tenant, url, urlEnv)")]),
    (smoke(bar=1), {}, [("hooks.smoke[0].bar", "unknown key (known: name, tenant, timeout, url, urlEnv)")]),
    (target(kind="teams"), {}, [(f"{T}.kind", "'teams' is not one of slack, webhook")]),
    (target(kind=None), {}, [(f"{T}.kind", "None is not one of slack, webhook")]),
    (target(events=["boom"]), {}, [(f"{T}.events", EVENTS)]),
    (target(events="done"), {}, [(f"{T}.events", EVENTS)]),
    (target(url="ftp://x"), {}, [(f"{T}.url", NO_URL)]),
    (target(url=5), {}, [(f"{T}.url", NO_URL)]),
    ({"notifications": {"targets": [{"kind": "slack"}]}}, {}, [(f"{T}.url", NO_URL)]),
    (target(urlEnv="HOOK"), {"HOOK": "ftp://x"}, [(f"{T}.url", NO_URL)]),
    (target(urlEnv="HOOK", url="ftp://ignored"), {"HOOK": "https://y.example"}, []),
    (target(tenant=""), {}, [(f"{T}.tenant", "expected a tenant's name")]),
    (target(tenant=5), {}, [(f"{T}.tenant", "expected a tenant's name")]),
    ({"notifications": {"timeout": "soon"}}, {}, [("notifications.timeout", NOT_A_DURATION)]),
    ({"notifications": {"timeout": True}}, {}, [("notifications.timeout", "expected a duration like 90s, 5m or 1h")]),
    ({"notifications": {"timeout": -1}}, {}, [("notifications.timeout", "must not be negative")]),
    ({"notifications": {"budget": 0}}, {}, [("notifications.budget", "must be more than 0")]),
    ({"notifications": {"attempts": 0}}, {}, [("notifications.attempts", "expected a whole number of at least 1")]),
    ({"notifications": {"attempts": "3"}}, {}, [("notifications.attempts", "expected a whole number of at least 1")]),
    ({"notifications": {"attempts": True}}, {}, [("notifications.attempts", "expected a whole number of at least 1")]),
    ({"hooks": {"smoke": "x"}}, {}, [("hooks.smoke", "expected a list, found str")]),
    ({"hooks": {"loadTest": {}}}, {}, [("hooks.loadTest", "expected a list, found dict")]),
    (smoke(url="ftp://x"), {}, [("hooks.smoke[0].url", NO_URL)]),
    (smoke(tenant=""), {}, [("hooks.smoke[0].tenant", "expected a tenant's name")]),
    (smoke(timeout="soon"), {}, [("hooks.smoke[0].timeout", NOT_A_DURATION)]),
    (smoke(timeout=0), {}, [("hooks.smoke[0].timeout", "must be more than 0")]),
    ({"hooks": {"approval": "x"}}, {}, [("hooks.approval", "expected a mapping, found str")]),
    ({"hooks": {"approval": {"steps": ["2"]}}}, {}, [("hooks.approval.steps", STEPS)]),
    ({"hooks": {"approval": {"steps": [0]}}}, {}, [("hooks.approval.steps", STEPS)]),
    ({"hooks": {"approval": {"steps": [True]}}}, {}, [("hooks.approval.steps", STEPS)]),
    ({"hooks": {"approval": {"steps": 2}}}, {}, [("hooks.approval.steps", STEPS)]),
    (target(kind="teams", events=["boom"]), {}, [(f"{T}.kind", "'teams' is not one of slack, webhook"),
                                                 (f"{T}.events", EVENTS)]),
]

CHANGED: list[tuple[dict[str, Any], list[tuple[str, str]], list[tuple[str, str]], str]] = [
    (
        {"notifications": {"targets": ["x"]}},
        [(T, "expected a mapping, found str"), (f"{T}.url", NO_URL)],
        [(T, "expected a mapping, found str")],
        "a key inside one already reported is not reported again, as everywhere in the model",
    ),
    (
        {"hooks": {"smoke": [5]}},
        [("hooks.smoke[0]", "expected a mapping, found int"), ("hooks.smoke[0].url", NO_URL)],
        [("hooks.smoke[0]", "expected a mapping, found int")],
        "a key inside one already reported is not reported again, as everywhere in the model",
    ),
    (
        {"hooks": {"approval": {"step": [2]}}},
        [("hooks.approval.step", "unknown key (known: steps)")],
        [("hooks.approval.step", "unknown key (did you mean fleet:hooks.approval.steps?; known: steps)")],
        "an unknown key names the closest valid one, as it does in every other block",
    ),
    (
        target(url="ftp://x", tenant=""),
        [(f"{T}.url", NO_URL)],
        [(f"{T}.url", NO_URL), (f"{T}.tenant", "expected a tenant's name")],
        "an item's other keys are checked even when its URL is wrong, so that one run lists every problem",
    ),
    (
        target(urlEnv=5),
        [],  # was left out as "the environment variable 5 is not set"
        [(f"{T}.urlEnv", "expected the name of an environment variable")],
        "the model checks the shape: a number names no variable",
    ),
]


def _said(problems: list[Any]) -> list[tuple[str, str]]:
    return [((p.key or "").removeprefix("fleet:"), p.detail) for p in problems]


@pytest.mark.parametrize(("raw", "env", "said"), MESSAGES)
def test_every_message_of_the_former_reader_is_said_the_same(
    raw: dict[str, Any], env: dict[str, str], said: list[tuple[str, str]]
) -> None:
    problems = notify_problems(raw, file=FILE, env=env)
    assert _said(problems) == said
    assert all(p.file == FILE for p in problems)
    if said:
        with pytest.raises(ConfigError) as raised:
            notify_settings(raw, file=FILE, env=env)
        assert str(raised.value) == str(problems[0])


@pytest.mark.parametrize(("raw", "env", "said"), [row for row in MESSAGES if not row[1]])
def test_the_whole_model_says_the_same(raw: dict[str, Any], env: dict[str, str], said: list[tuple[str, str]]) -> None:
    assert _said(read_fleet({**BASE, **raw}, file=FILE)[1]) == said


@pytest.mark.parametrize(("raw", "before", "now", "why"), CHANGED)
def test_what_is_said_differently_and_why(
    raw: dict[str, Any], before: list[tuple[str, str]], now: list[tuple[str, str]], why: str
) -> None:
    assert _said(notify_problems(raw, file=FILE, env={})) == now, why
    assert _said(read_fleet({**BASE, **raw}, file=FILE)[1]) == now, why


def test_an_unset_variable_is_left_out_and_said_not_an_error() -> None:
    raw = {"notifications": {"targets": [{"kind": "slack", "urlEnv": "UNSET"}, {"url": "https://x.example"}]},
           "hooks": {"smoke": [{"urlEnv": "UNSET"}], "loadTest": [{"urlEnv": "K6"}]}}
    settings = notify_settings(raw, file=FILE, env={"K6": "http://127.0.0.1:9/k6"})
    assert [t.url for t in settings.targets] == ["https://x.example"]
    assert settings.smoke == () and settings.gates == GatePolicy(smoke=False)
    assert [(h.name, h.url) for h in settings.load_tests] == [("hook 1", "http://127.0.0.1:9/k6")]
    assert settings.skipped == (
        "fleet:notifications.targets[0].urlEnv: the environment variable 'UNSET' is not set: left out",
        "fleet:hooks.smoke[0].urlEnv: the environment variable 'UNSET' is not set: left out",
    )
    assert read_fleet({**BASE, **raw}, file=FILE)[1] == []


def test_the_model_is_a_function_of_the_file() -> None:
    model, problems = read_fleet({**BASE, **target(urlEnv="HOOK")}, file=FILE)
    assert problems == [] and model is not None
    (item,) = model.notifications.targets
    assert (item.url, item.url_env) == (None, "HOOK")


def test_other_blocks_are_still_read_past_a_bad_item_of_a_list() -> None:
    raw = {**BASE, "rollout": {"steps": "all"}, "teardown": {"bake": "1s"}, "hooks": {"smoke": [5, {"url": "x"}]},
           "notifications": {"targets": [{}, {"kind": "teams", "url": "https://x.example"}]}}
    model, problems = read_fleet(raw, file=FILE)
    assert model is not None
    assert {key for key, _ in _said(problems)} == {
        "rollout.steps", "hooks.smoke[0]", "hooks.smoke[1].url", f"{T}.url", "notifications.targets[1].kind",
    }


LEAF = st.none() | st.booleans() | st.integers(-2, 5) | st.sampled_from(
    ["", "x", "https://a.example", "ftp://b", "slack", "teams", "done", "5s", "soon", "HOOK", "UNSET"]
)
ITEM = LEAF | st.dictionaries(
    st.sampled_from(["kind", "url", "urlEnv", "events", "tenant", "name", "timeout", "foo"]),
    LEAF | st.lists(LEAF, max_size=2), max_size=4,
)
BLOCK = LEAF | st.dictionaries(
    st.sampled_from(["targets", "timeout", "attempts", "budget", "smoke", "loadTest", "approval", "steps"]),
    LEAF | st.lists(ITEM, max_size=2) | st.dictionaries(st.just("steps"), LEAF | st.lists(LEAF, max_size=2)),
    max_size=3,
)
PYDANTIC_WORDS = ("Input should", "validation error", "pydantic", "Field required", "Extra inputs", "type=")


@settings(max_examples=300, deadline=None)
@given(BLOCK, BLOCK)
def test_any_values_are_read_or_reported_under_their_block_in_our_words(notes: object, hooks: object) -> None:
    raw = {"notifications": notes, "hooks": hooks}
    env = {"HOOK": "https://h.example", "UNSET": ""}
    problems = notify_problems(raw, file=FILE, env=env)
    for problem in problems:
        assert problem.file == FILE and (problem.key or "").startswith(("fleet:notifications", "fleet:hooks"))
        assert not any(word in problem.detail for word in PYDANTIC_WORDS), problem
    if problems:
        with pytest.raises(ConfigError):
            notify_settings(raw, file=FILE, env=env)
    else:
        built = notify_settings(raw, file=FILE, env=env)
        assert all(t.url.startswith(("http://", "https://")) for t in built.targets)
    in_file = set(_said(read_fleet({**BASE, **raw}, file=FILE)[1]))
    in_environment = set(_said(problems)) - in_file
    assert in_file <= set(_said(problems))
    assert all(key.endswith(".url") and detail == NO_URL for key, detail in in_environment)


STACK = """\
config:
  fleet:cluster: {driver: kind, version: "1.29"}
  fleet:gitops: {url: "https://github.com/example/platform-gitops"}
  fleet:traffic: {provider: haproxy, socket: /run/haproxy.sock, backend: app}
  fleet:notifications: {targets: [{kind: teams, urlEnv: FLEET_TEST_HOOK}], attempts: 0}
  fleet:hooks: {approval: {steps: [0]}, smoke: [{urlEnv: FLEET_TEST_SMOKE}]}
"""


def test_fleet_validate_lists_every_problem_of_both_blocks(tmp_path: Path) -> None:
    (tmp_path / "stacks").mkdir()
    (tmp_path / "Pulumi.yaml").write_text("name: fleet\n")
    (tmp_path / "stacks" / "Pulumi.local.yaml").write_text(STACK)
    result = CliRunner().invoke(
        cli, ["validate", "local", "-o", "json"],
        env={"FLEET_PROJECT": str(tmp_path), "FLEET_STATE": str(tmp_path / "state"), "FLEET_TEST_SMOKE": "nope"},
    )
    assert result.exit_code == 2, result.output
    assert [p["key"] for p in json.loads(result.stdout)["problems"]] == [
        "fleet:notifications.targets[0].kind", "fleet:notifications.attempts", "fleet:hooks.approval.steps",
        "fleet:hooks.smoke[0].url",
    ]
