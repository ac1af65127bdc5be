"""The rehearsal's users: a bounded load generator whose arrivals do not wait for slow answers."""

from __future__ import annotations

import pytest

from fleet.rehearsal.backends import SlotBackend
from fleet.rehearsal.load import LoadGenerator, summarise


def test_slow_answers_do_not_slow_the_arrivals_when_there_are_enough_workers() -> None:
    with SlotBackend("green", latency_s=0.3) as backend:
        records = LoadGenerator(backend.url, rate=40, total=80, time_limit_s=2.0, threads=16).start().wait()

    assert len(records) >= 72
    assert summarise(records)["failed"] == 0
    assert min(r.latency_s for r in records) >= 0.3


def test_too_few_workers_for_slow_answers_send_fewer_requests_than_asked() -> None:
    with SlotBackend("green", latency_s=0.3) as backend:
        records = LoadGenerator(backend.url, rate=40, total=80, time_limit_s=2.0, threads=2).start().wait()

    assert len(records) <= 16


@pytest.mark.parametrize("url", ["http://10.0.0.1:8080/", "https://127.0.0.1/"])
def test_the_load_only_ever_targets_plain_http_on_loopback(url: str) -> None:
    with pytest.raises(ValueError, match="only targets"):
        LoadGenerator(url)
