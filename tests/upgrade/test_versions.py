"""Channel resolution: pinned, patch and minor never skip a minor; EKS's version list through boto3."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from fleet.adapters.eks_versions import EksVersions
from fleet.domain.model import Version
from fleet.domain.versions import Channel, ChannelPolicy, FluxRange, flux_range, resolve
from fleet.errors import AccessDenied
from fleet.upgrade.settings import UpgradeSettings
from fleet.upgrade.sources import StaticVersions, kind_versions, offered
from tests.fleetkit import environment

V = Version.parse
OFFERED = [V("1.28"), V("1.29"), V("1.30"), V("1.31"), V("1.32")]
KIND = [V("1.29.2"), V("1.29.14"), V("1.30.10"), V("1.31.6")]


def test_minor_moves_to_the_next_minor_only() -> None:
    r = resolve(V("1.29"), ChannelPolicy(Channel.MINOR), OFFERED)
    assert r.target == V("1.30") and not r.blocked


def test_minor_never_skips_a_missing_minor() -> None:
    r = resolve(V("1.28"), ChannelPolicy(Channel.MINOR), [V("1.28"), V("1.30"), V("1.31")])
    assert r.target is None  # 1.29 is not offered: neither 1.30 nor 1.31
    assert "1.29 is not offered" in r.reason


def test_minor_takes_the_newest_patch_of_the_next_minor() -> None:
    assert resolve(V("1.29.14"), ChannelPolicy(Channel.MINOR), KIND).target == V("1.30.10")


def test_patch_stays_on_the_minor() -> None:
    assert resolve(V("1.29.2"), ChannelPolicy(Channel.PATCH), KIND).target == V("1.29.14")
    assert resolve(V("1.29.14"), ChannelPolicy(Channel.PATCH), KIND).target is None
    assert resolve(V("1.29"), ChannelPolicy(Channel.PATCH), OFFERED).target is None  # EKS names no patches


def test_pinned_two_minors_ahead_goes_one_minor_at_a_time() -> None:
    r = resolve(V("1.29"), ChannelPolicy(Channel.PINNED, V("1.31")), OFFERED)
    assert r.target == V("1.30") and "one minor at a time" in r.reason
    assert resolve(V("1.30"), ChannelPolicy(Channel.PINNED, V("1.31")), OFFERED).target == V("1.31")
    assert resolve(V("1.31"), ChannelPolicy(Channel.PINNED, V("1.31")), OFFERED).target is None


def test_pinned_refuses_to_skip_when_the_minor_between_is_not_offered() -> None:
    r = resolve(V("1.28"), ChannelPolicy(Channel.PINNED, V("1.30")), [V("1.28"), V("1.30")])
    assert r.blocked and r.target is None and "never skipping a minor" in r.reason


def test_pinned_below_the_running_version_is_refused() -> None:
    r = resolve(V("1.31"), ChannelPolicy(Channel.PINNED, V("1.29")), OFFERED)
    assert r.blocked and "does not downgrade" in r.reason


def test_flux_range_blocks_a_target_flux_does_not_support() -> None:
    flux = FluxRange(V("1.27"), V("1.30"), "Flux 2.x")
    r = resolve(V("1.30"), ChannelPolicy(Channel.MINOR), OFFERED, flux)
    assert r.blocked and r.target is None and "outside the Kubernetes range" in r.reason
    assert resolve(V("1.29"), ChannelPolicy(Channel.MINOR), OFFERED, flux).target == V("1.30")


def test_known_flux_releases_and_overrides() -> None:
    known = flux_range("v2.5.1")
    assert known is not None and known.allows(V("1.33")) and not known.allows(V("1.34"))
    assert flux_range("2.x") is None
    assert flux_range("2.x", (V("1.30"), V("1.31"))) is not None


def test_property_no_channel_ever_skips_a_minor() -> None:
    import random

    rng = random.Random(18)
    for _ in range(3000):
        minors = sorted(rng.sample(range(24, 36), rng.randint(1, 8)))
        versions = [Version(1, m, rng.choice([None, rng.randint(0, 20)])) for m in minors]
        current = Version(1, rng.randint(24, 35), rng.choice([None, rng.randint(0, 20)]))
        policy = ChannelPolicy(rng.choice(list(Channel)), Version(1, rng.randint(20, 38), None))
        r = resolve(current, policy, versions)
        if r.target is not None:
            assert r.target.minor - current.minor in (0, 1), (current, policy, versions, r)
            assert r.target in versions or r.target == policy.pin


def test_kind_versions_come_from_the_known_tag_table() -> None:
    offered_kind = kind_versions({"nodeImages": {"1.34": "kindest/node:v1.34.0@sha256:abc"}}).versions()
    assert V("1.29.14") in offered_kind and V("1.34") in offered_kind


def test_a_failing_driver_falls_back_to_the_configured_list_only_when_there_is_one() -> None:
    class Down:
        where = "EKS"

        def versions(self) -> list[Version]:
            raise AccessDenied("no eks:DescribeClusterVersions")

    config = environment("staging")
    got = offered(config, UpgradeSettings(versions=(V("1.30"),)), lambda c: Down())
    assert got.versions == (V("1.30"),) and "failed" in got.where
    with pytest.raises(AccessDenied):
        offered(config, UpgradeSettings(), lambda c: Down())
    assert offered(config, UpgradeSettings(), lambda c: StaticVersions((V("1.31"),))).versions == (V("1.31"),)


# --- EKS: a recorded DescribeClusterVersions answer served on 127.0.0.1 (moto 5.2 does not implement it) ----

RECORDED = [
    {"clusterVersions": [
        {"clusterVersion": "1.29", "clusterType": "eks", "defaultPlatformVersion": "eks.30", "defaultVersion": False,
         "status": "EXTENDED_SUPPORT", "versionStatus": "EXTENDED_SUPPORT", "kubernetesPatchVersion": "1.29.15"},
        {"clusterVersion": "1.30", "clusterType": "eks", "defaultPlatformVersion": "eks.27", "defaultVersion": False,
         "status": "STANDARD_SUPPORT", "versionStatus": "STANDARD_SUPPORT", "kubernetesPatchVersion": "1.30.11"},
    ], "nextToken": "page-2"},
    {"clusterVersions": [
        {"clusterVersion": "1.31", "clusterType": "eks", "defaultPlatformVersion": "eks.22", "defaultVersion": True,
         "status": "STANDARD_SUPPORT", "versionStatus": "STANDARD_SUPPORT", "kubernetesPatchVersion": "1.31.7"},
        {"clusterVersion": "1.23", "clusterType": "eks", "status": "UNSUPPORTED", "versionStatus": "UNSUPPORTED"},
    ]},
]


@pytest.fixture
def eks_endpoint() -> Iterator[tuple[str, list[dict[str, list[str]]]]]:
    seen: list[dict[str, list[str]]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlparse(self.path)
            query = parse_qs(url.query)
            seen.append(query)
            if url.path != "/cluster-versions":
                self.send_response(404)
                self.end_headers()
                return
            page = RECORDED[1] if query.get("nextToken") == ["page-2"] else RECORDED[0]
            body = json.dumps(page).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_eks_versions_through_boto3(eks_endpoint: tuple[str, list[dict[str, list[str]]]],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(key, value)
    url, seen = eks_endpoint
    versions = EksVersions("eu-west-1", endpoint_url=url).versions()
    assert versions == [V("1.29"), V("1.30"), V("1.31")]  # both pages, UNSUPPORTED left out, minors only
    assert len(seen) == 2 and seen[0]["clusterType"] == ["eks"]
    assert resolve(V("1.29"), ChannelPolicy(Channel.MINOR), versions).target == V("1.30")


def test_an_eks_environment_asks_eks_once_per_region(eks_endpoint: tuple[str, list[dict[str, list[str]]]],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import replace

    from fleet.upgrade import sources

    url, seen = eks_endpoint
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_ENDPOINT_URL_EKS": url}.items():
        monkeypatch.setenv(key, value)
    sources._eks_in.cache_clear()
    try:
        config = replace(environment("staging"), raw={"cluster": {"driver": "eks", "region": "ap-south-2"}})
        for _ in range(3):
            assert offered(config, UpgradeSettings()).versions == (V("1.29"), V("1.30"), V("1.31"))
    finally:
        sources._eks_in.cache_clear()
    assert len(seen) == 2  # two pages, once
