"""Stack-file blocks choose and configure the adapters, and every mistake names the file and the key."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from fleet.adapters.analysis import analysis_from_settings
from fleet.adapters.analysis.haproxy import HAProxyAnalysis
from fleet.adapters.analysis.probe import ProbeAnalysis
from fleet.adapters.analysis.prometheus import PrometheusAnalysis, render
from fleet.adapters.traffic import traffic_from_settings
from fleet.adapters.traffic.haproxy import HAProxyTraffic
from fleet.config import parse_duration
from fleet.domain.model import SlotName
from fleet.errors import ConfigError

FILE = "stacks/Pulumi.prod.yaml"


def config_error(call: Any, *args: Any) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        call(*args, file=FILE)
    assert caught.value.file == FILE
    return caught.value


def test_haproxy_traffic_is_built_from_its_block() -> None:
    traffic = traffic_from_settings(
        "prod",
        {
            "provider": "haproxy",
            "socket": "/run/haproxy/admin.sock",
            "backend": "web",
            "servers": {"blue": "b1", "green": "g1"},
        },
        file=FILE,
    )
    assert isinstance(traffic, HAProxyTraffic)
    assert traffic.backend == "web"
    assert traffic.servers == {SlotName.BLUE: "b1", SlotName.GREEN: "g1"}


def test_route53_traffic_is_built_from_its_block() -> None:
    from fleet.adapters.traffic.route53 import Route53Traffic

    traffic = traffic_from_settings(
        "prod",
        {
            "provider": "route53",
            "zoneId": "/hostedzone/Z123",
            "hostnames": ["app.example.com"],
            "ttl": 30,
            "endpointUrl": "http://127.0.0.1:5000",
            "records": {"green": "green.lb.example.com"},
            "retryBudget": "10s",
        },
        file=FILE,
    )
    assert isinstance(traffic, Route53Traffic)
    assert (traffic.zone_id, traffic.hostnames, traffic.ttl) == ("Z123", ("app.example.com.",), 30)
    assert traffic.targets[SlotName.GREEN].values == ("green.lb.example.com",)
    assert traffic.retry.budget_s == 10.0


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({"provider": "nginx"}, "fleet:traffic.provider"),
        ({"socket": "/x"}, "fleet:traffic.provider"),
        ({"provider": "haproxy"}, "fleet:traffic.socket"),
        ({"provider": "haproxy", "socket": "nowhere"}, "fleet:traffic.socket"),
        ({"provider": "haproxy", "socket": "/x", "sockt": "/y"}, "fleet:traffic"),
        ({"provider": "haproxy", "socket": "/x", "servers": {"blue": "a", "green": "a"}}, "fleet:traffic.servers"),
        ({"provider": "haproxy", "socket": "/x", "servers": {"red": "a"}}, "fleet:traffic.servers"),
        ({"provider": "route53", "hostnames": ["a.example.com"]}, "fleet:traffic.zoneId"),
        ({"provider": "route53", "zoneId": "Z1", "hostnames": []}, "fleet:traffic.hostnames"),
        ({"provider": "route53", "zoneId": "Z1", "hostnames": ["a.b"], "ttl": -1}, "fleet:traffic.ttl"),
        ({"provider": "route53", "zoneId": "Z1", "hostnames": ["a.b"], "type": "MX"}, "fleet:traffic.type"),
        ({"provider": "route53", "zoneId": "Z1", "hostnames": ["a.b", "A.b."]}, "fleet:traffic.hostnames"),
        (
            {"provider": "route53", "zoneId": "Z1", "hostnames": ["a.b"], "records": {"blue": ["x", "y"]}},
            "fleet:traffic.records.blue",
        ),
        (
            {"provider": "route53", "zoneId": "Z1", "hostnames": ["a.b"], "endpointUrl": "x"},
            "fleet:traffic.endpointUrl",
        ),
    ],
)
def test_traffic_mistakes_name_the_key(settings: dict[str, Any], key: str) -> None:
    assert config_error(traffic_from_settings, "prod", settings).key == key


def test_analysis_sources_are_built_from_their_block_and_skip_the_policy_keys() -> None:
    common = {"successRate": 99, "p99LatencyMs": 500, "failedChecks": 2, "window": "60s", "minRequests": 100}
    haproxy = analysis_from_settings(
        "prod", {**common, "source": "haproxy", "socket": "127.0.0.1:9999", "interval": "100ms"}, file=FILE
    )
    assert isinstance(haproxy, HAProxyAnalysis) and haproxy.interval_s == pytest.approx(0.1)
    prometheus = analysis_from_settings(
        "prod",
        {
            **common,
            "source": "prometheus",
            "url": "http://127.0.0.1:9090",
            "queries": {"requests": 'sum(r{s="{slot}"})', "errors": 'sum(e{s="{slot}"})'},
        },
        file=FILE,
    )
    assert isinstance(prometheus, PrometheusAnalysis) and prometheus.p99_query is None
    probe = analysis_from_settings(
        "prod",
        {
            **common,
            "source": "probe",
            "urls": {"green": "http://127.0.0.1:8080/healthz"},
            "rate": 20,
        },
        file=FILE,
    )
    assert isinstance(probe, ProbeAnalysis) and probe.rate == 20.0


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({"source": "datadog"}, "fleet:analysis.source"),
        ({"source": "haproxy"}, "fleet:analysis.socket"),
        ({"source": "haproxy", "socket": "/x", "latency": "p95"}, "fleet:analysis.latency"),
        ({"source": "haproxy", "socket": "/x", "interval": "soon"}, "fleet:analysis.interval"),
        (
            {"source": "prometheus", "url": "http://p", "queries": {"requests": "up"}},
            "fleet:analysis.queries.requests",
        ),
        (
            {"source": "prometheus", "url": "http://p", "queries": {"requests": "r{slot}"}},
            "fleet:analysis.queries.errors",
        ),
        ({"source": "probe", "urls": {"green": "ftp://x"}}, "fleet:analysis.urls"),
        ({"source": "probe", "urls": {"green": "http://x"}, "rate": 500}, "fleet:analysis.rate"),
    ],
)
def test_analysis_mistakes_name_the_key(settings: dict[str, Any], key: str) -> None:
    assert config_error(analysis_from_settings, "prod", settings).key == key


def test_durations_read_like_a_stack_file() -> None:
    assert [parse_duration(v) for v in ("60s", "100ms", "2m", "1h", 5, "1.5s")] == [60, 0.1, 120, 3600, 5, 1.5]
    with pytest.raises(ValueError):
        parse_duration("soon")


def test_query_templates_keep_promql_braces_and_never_look_back_before_the_window() -> None:
    text = render('sum(rate(x{server="{slot}",env="{env}"}[{window}]))', slot="green", env="prod", window_s=7.2009)
    assert text == 'sum(rate(x{server="green",env="prod"}[7200ms]))'


def test_importing_the_registries_and_haproxy_adapters_never_imports_boto3() -> None:
    code = (
        "import sys\n"
        "from fleet.adapters.traffic import traffic_from_settings\n"
        "from fleet.adapters.analysis import analysis_from_settings\n"
        "traffic_from_settings('e', {'provider': 'haproxy', 'socket': '/x'}, file='f')\n"
        "analysis_from_settings('e', {'source': 'haproxy', 'socket': '/x'}, file='f')\n"
        "assert 'boto3' not in sys.modules and 'botocore' not in sys.modules, 'boto3 was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
