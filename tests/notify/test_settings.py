"""``fleet:notifications`` and ``fleet:hooks``: read, checked with file and key, URLs kept out of the file."""

from __future__ import annotations

from typing import Any

import pytest

from fleet.config import EnvironmentConfig
from fleet.domain.gates import GatePolicy
from fleet.errors import ConfigError
from fleet.notify_settings import notify_problems, notify_settings
from fleet.wiring import notify_ports
from tests.fleetkit import environment

FILE = "stacks/Pulumi.local.yaml"


def with_raw(raw: dict[str, Any]) -> EnvironmentConfig:
    base = environment()
    return EnvironmentConfig(**{**base.__dict__, "raw": raw})


def test_targets_hooks_and_gates_are_read() -> None:
    raw = {
        "notifications": {
            "targets": [
                {"kind": "slack", "urlEnv": "SLACK_URL", "events": ["done", "rollback"]},
                {"url": "https://ci.example/hook", "tenant": "payments", "name": "payments"},
            ],
            "timeout": "2s", "attempts": 5, "budget": "1m",
        },
        "hooks": {
            "smoke": [{"name": "api", "url": "http://127.0.0.1:9/smoke", "timeout": "3s", "tenant": "search"}],
            "loadTest": [{"name": "k6", "url": "http://127.0.0.1:9/k6"}],
            "approval": {"steps": [3, 2, 3]},
        },
    }
    s = notify_settings(raw, file=FILE, env={"SLACK_URL": "https://hooks.slack.example/T/B/x"})
    assert [(t.kind, t.url, t.tenant) for t in s.targets] == [
        ("slack", "https://hooks.slack.example/T/B/x", None), ("webhook", "https://ci.example/hook", "payments"),
    ]
    assert s.targets[0].events == frozenset({"done", "rollback"})
    assert (s.timeout_s, s.attempts, s.budget_s) == (2.0, 5, 60.0)
    assert s.smoke[0].timeout_s == 3.0 and s.smoke[0].tenant == "search"
    assert s.gates == GatePolicy(smoke=True, approve=(2, 3))


def test_a_target_whose_variable_is_unset_is_left_out_and_said() -> None:
    raw = {"notifications": {"targets": [{"kind": "slack", "urlEnv": "NOT_SET_HERE"}]}}
    assert notify_problems(raw, file=FILE, env={}) == []
    s = notify_settings(raw, file=FILE, env={})
    assert s.targets == ()
    assert s.skipped == ("fleet:notifications.targets[0].urlEnv: the environment variable 'NOT_SET_HERE' is not set: "
                         "left out",)


@pytest.mark.parametrize(("raw", "key"), [
    ({"notifications": {"targets": [{"kind": "teams", "url": "https://x"}]}}, "fleet:notifications.targets[0].kind"),
    ({"notifications": {"targets": [{"url": "ftp://x"}]}}, "fleet:notifications.targets[0].url"),
    ({"notifications": {"targets": [{"url": "https://x", "events": ["boom"]}]}},
     "fleet:notifications.targets[0].events"),
    ({"notifications": {"timeout": "soon"}}, "fleet:notifications.timeout"),
    ({"notifications": {"attempts": 0}}, "fleet:notifications.attempts"),
    ({"notifications": {"target": []}}, "fleet:notifications.target"),
    ({"hooks": {"approval": {"steps": ["2"]}}}, "fleet:hooks.approval.steps"),
    ({"hooks": {"smoke": {"url": "https://x"}}}, "fleet:hooks.smoke"),
])
def test_every_problem_names_its_file_and_key(raw: dict[str, Any], key: str) -> None:
    problems = notify_problems(raw, file=FILE, env={})
    assert [p.key for p in problems] == [key]
    assert all(p.file == FILE for p in problems)
    with pytest.raises(ConfigError):
        notify_settings(raw, file=FILE, env={})


def test_the_wiring_sends_load_test_triggers_the_step_notices_and_builds_smoke_hooks() -> None:
    config = with_raw({"hooks": {"loadTest": [{"name": "k6", "url": "http://127.0.0.1:9/k6", "tenant": "payments"}],
                                 "smoke": [{"url": "http://127.0.0.1:9/smoke"}]}})
    outbox, hooks = notify_ports(config, notifier=_Silent())
    assert outbox is not None and hooks is not None
    (target,) = outbox.targets
    assert target.events == frozenset({"step"}) and target.tenant == "payments" and target.name == "k6"


def test_nothing_configured_nothing_built() -> None:
    assert notify_ports(with_raw({}), notifier=_Silent()) == (None, None)


class _Silent:
    def notify(self, notice: Any) -> None:
        return None
