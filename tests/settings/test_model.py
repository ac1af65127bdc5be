"""The one model: our messages (never pydantic's), rules across blocks, one pass over every problem.

The property test throws arbitrary YAML-like values at every key and checks
the contract every command relies on: reading never crashes, every problem
names the file and a ``fleet:`` key the model knows (or a key inside one),
and no message is pydantic's wording.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleet.domain.model import ParityMode, Version
from fleet.infra.settings import infra_problems, infra_settings_from_config
from fleet.settings.read import KNOWN_KEYS, health_settings_from_config, read_fleet, rollout_policy
from fleet.settings.reference import rows

FILE = "stacks/Pulumi.test.yaml"
BASE: dict[str, Any] = {
    "cluster": {"driver": "kind", "version": "1.29"},
    "gitops": {"url": "https://github.com/example/platform-gitops"},
    "traffic": {"provider": "haproxy", "socket": "/run/haproxy.sock", "backend": "app"},
}
PYDANTIC_WORDS = ("Input should", "validation error", "pydantic", "Field required", "Extra inputs", "type=")


def keys(raw: dict[str, Any]) -> list[str | None]:
    return [p.key for p in read_fleet(raw, file=FILE)[1]]


def test_a_valid_file_reads_into_the_domain_policies() -> None:
    model, problems = read_fleet(
        {**BASE, "rollout": {"steps": [20, 100], "stepBake": "90s"}, "health": {"parity": "warn"}}, file=FILE
    )
    assert problems == [] and model is not None
    policy = rollout_policy(model)
    assert policy.steps == (20, 100) and policy.analysis.window_s == 90.0
    assert policy.health.parity is ParityMode.WARN
    assert model.cluster.version == Version(1, 29)


def test_the_dns_ttl_and_the_traffic_ttl_must_agree() -> None:
    raw = {**BASE, "hostnames": ["app.example.com"], "dns": {"zoneId": "Z1", "ttl": 300},
           "traffic": {"provider": "route53", "zoneId": "Z1", "hostnames": ["app.example.com"]}}
    assert keys(raw) == ["fleet:traffic.ttl"]
    raw["traffic"]["ttl"] = 300
    assert keys(raw) == []


def test_a_namespace_belongs_to_one_tenant() -> None:
    raw = {**BASE, "tenants": {"a": {"namespaces": ["shop"]}, "b": {"namespaces": ["shop", "b"]}}}
    _model, problems = read_fleet(raw, file=FILE)
    assert [p.key for p in problems] == ["fleet:tenants.b.namespaces"]
    assert "'shop'" in str(problems[0]) and "'a'" in str(problems[0])


def test_rules_across_blocks_still_judge_what_is_valid_when_other_keys_are_wrong() -> None:
    raw = {**BASE, "rollout": {"steps": "all"}, "analysis": {"window": "25s"}, "teardown": {"bake": "x"},
           "hostnames": ["app.example.com"], "dns": {"zoneId": "Z1"},
           "traffic": {"provider": "route53", "zoneId": "Z2", "hostnames": ["api.example.com"]}}
    assert set(keys(raw)) == {
        "fleet:rollout.steps", "fleet:teardown.bake", "fleet:traffic.zoneId", "fleet:traffic.hostnames",
    }


def test_step_bake_and_the_analysis_window_must_not_differ() -> None:
    assert keys({**BASE, "rollout": {"stepBake": "1m"}, "analysis": {"window": "25s"}}) == ["fleet:rollout.stepBake"]
    assert keys({**BASE, "rollout": {"stepBake": "1m"}, "analysis": {"window": "60s"}}) == []


def test_unknown_keys_suggest_the_closest_valid_key() -> None:
    problems = read_fleet({**BASE, "rollout": {"stepz": [10, 100]}}, file=FILE)[1]
    assert [p.key for p in problems] == ["fleet:rollout.stepz"]
    assert "did you mean fleet:rollout.steps?" in str(problems[0])
    assert "known: healthTimeout, stepBake, steps" in str(problems[0])


def test_what_only_provisioning_needs_is_not_asked_of_every_command() -> None:
    raw = {"cluster": {"version": "1.29"}, "traffic": {"provider": "haproxy"}}
    assert keys(raw) == []
    assert {p.key for p in infra_problems(raw, file=FILE)} == {"fleet:cluster.driver", "fleet:gitops"}


def test_the_pulumi_program_and_the_cli_report_the_same_message_for_the_same_key() -> None:
    raw = {**BASE, "cluster": {"driver": "kind", "version": 1.3}}
    cli = read_fleet(raw, file=FILE)[1]
    with pytest.raises(Exception) as program:
        infra_settings_from_config(raw, file=FILE)
    assert [str(p) for p in cli] == [str(program.value)]


def test_a_wildcard_hostname_with_a_trailing_dot_is_one_both_readers_accept() -> None:
    raw = {**BASE, "hostnames": ["*.example.com."]}
    assert keys(raw) == []
    assert infra_settings_from_config(raw, file=FILE).hostnames == ("*.example.com.",)


def test_the_health_gate_reads_json_text_as_pulumi_config_set_stores_it() -> None:
    settings = health_settings_from_config({"fleet:health": '{"namespaces": ["apps"]}'}, file=FILE)
    assert settings.namespaces == frozenset({"apps"})


VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 10**6) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)
LEAVES = sorted({key.removeprefix("fleet:") for key, _, _ in rows() if "<name>" not in key and "*" not in key})


def _set(raw: dict[str, Any], dotted: str, value: object) -> None:
    head, _, rest = dotted.partition(".")
    if not rest:
        raw[head] = value
        return
    block = raw.get(head)
    raw[head] = {**block, rest: value} if isinstance(block, dict) else {rest: value}


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([*LEAVES, "clustr", "rollout.stepz"]), VALUES), max_size=4))
def test_any_values_are_read_or_reported_by_key_in_our_words(changes: list[tuple[str, object]]) -> None:
    raw: dict[str, Any] = {k: dict(v) if isinstance(v, dict) else v for k, v in BASE.items()}
    for key, value in changes:
        _set(raw, key, value)
    for problems in (read_fleet(raw, file=FILE)[1], infra_problems(raw, file=FILE)):
        for problem in problems:
            assert problem.file == FILE
            assert problem.key and problem.key.startswith("fleet:"), problem
            top = problem.key.removeprefix("fleet:").split(".")[0].split("[")[0]
            assert top in KNOWN_KEYS | {"clustr"}, problem
            assert not any(word in problem.detail for word in PYDANTIC_WORDS), problem


def test_fleet_help_imports_no_pydantic() -> None:
    import subprocess
    import sys

    code = (
        "import sys\nfrom fleet.cli import cli\n"
        "try:\n    cli.main(['--help'], prog_name='fleet')\nexcept SystemExit:\n    pass\n"
        "print('PYDANTIC', sorted(m for m in sys.modules if m.split('.')[0] in ('pydantic', 'pydantic_core')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "PYDANTIC []" in out


def test_an_empty_cluster_block_names_the_missing_version_instead_of_crashing() -> None:
    problems = read_fleet({**BASE, "cluster": {}}, file=FILE)[1]
    assert [p.key for p in problems] == ["fleet:cluster.version"]
    assert str(problems[0]).endswith("missing (required): the version of the first active slot")


def test_a_null_block_reads_as_missing_or_empty_as_before() -> None:
    assert [(p.key, p.detail) for p in read_fleet({**BASE, "cluster": None}, file=FILE)[1]] == [
        ("fleet:cluster", "missing (required)")
    ]
    assert keys({**BASE, "hostnames": None}) == []


def test_the_first_problem_is_the_one_fleet_always_named_first() -> None:
    raw = {**BASE, "rollout": {"healthTimeout": "soon"}, "teardown": {"bake": "x", "destroy": 1}, "clustr": {}}
    assert keys(raw) == ["fleet:clustr", "fleet:rollout.healthTimeout", "fleet:teardown.destroy", "fleet:teardown.bake"]
