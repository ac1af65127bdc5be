"""The pure parts of the Route53 rehearsal: the zone it creates, how the settle is measured, what ingresses export."""

from __future__ import annotations

from fleet.rehearsal.dns_world import measured_settles, zone_of
from fleet.rehearsal.exporter import SlotMetrics
from fleet.rehearsal.load import RequestRecord


def test_the_zone_is_the_longest_domain_every_hostname_lies_under() -> None:
    assert zone_of(["app.staging.example.com", "api.staging.example.com"]) == "staging.example.com"
    assert zone_of(["app.example.com"]) == "example.com"
    assert zone_of(["example.com", "www.example.com"]) == "example.com"


def test_settle_is_how_long_answers_cached_before_a_change_were_still_used_after_it() -> None:
    def req(at: float, resolved_at: float) -> RequestRecord:
        return RequestRecord(at, 200, "blue", 0.001, None, resolved_at)

    records = [req(9.5, 9.0), req(10.2, 9.4), req(10.7, 9.8), req(10.9, 10.1), req(20.4, 19.9), req(21.0, 20.5)]
    first, second = measured_settles(records, [10.0, 20.0])
    assert first.stale_requests == 2 and abs(first.stale_for_s - 0.7) < 1e-9
    assert second.stale_requests == 1 and abs(second.stale_for_s - 0.4) < 1e-9
    assert measured_settles([], [5.0])[0].stale_for_s == 0.0


def test_a_slot_exports_every_status_class_from_the_start_and_a_cumulative_histogram() -> None:
    metrics = SlotMetrics("green")
    before = metrics.render()
    assert 'haproxy_backend_http_responses_total{proxy="ingress-green",server="green",code="5xx"} 0' in before
    metrics.observe(200, 0.003)
    metrics.observe(500, 0.2)
    metrics.observe(200, 30.0)
    text = metrics.render()
    assert 'haproxy_backend_http_responses_total{proxy="ingress-green",server="green",code="2xx"} 2' in text
    assert 'code="5xx"} 1' in text
    assert 'http_request_duration_seconds_bucket{slot="green",server="green",le="0.005"} 1' in text
    assert 'le="0.25"} 2' in text and 'le="10"} 2' in text and 'le="+Inf"} 3' in text
    assert 'http_request_duration_seconds_count{slot="green",server="green"} 3' in text
