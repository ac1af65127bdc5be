"""The S3 store's history: a missing or damaged record is refused before anything is done, and repaired."""

from __future__ import annotations

import json

import pytest

from fleet.errors import StateError
from fleet.state import open_store
from fleet.state.s3 import S3StateStore
from tests.fleetkit import NEW_VERSION, Fleet, environment


def _store(bucket: str) -> S3StateStore:
    store = open_store(f"s3://{bucket}/fleet")
    assert isinstance(store, S3StateStore)
    return store


def _record_key(seq: int) -> str:
    return f"fleet/local/history/{seq:010d}.json"


@pytest.mark.parametrize("damage", ["deleted", "edited", "torn"])
def test_a_damaged_record_is_refused_and_repair_goes_on_from_the_last_good_one(bucket: str, damage: str) -> None:
    fleet = Fleet()
    final = fleet.engine(_store(bucket)).cutover(environment(), NEW_VERSION)
    client = _store(bucket).client
    key = _record_key(5)
    body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    if damage == "deleted":
        client.delete_object(Bucket=bucket, Key=key)
    elif damage == "edited":
        edited = body.replace(b'"blue":100', b'"blue":99')
        assert edited != body
        client.put_object(Bucket=bucket, Key=key, Body=edited)
    else:
        client.put_object(Bucket=bucket, Key=key, Body=body[: len(body) // 2])

    with pytest.raises(StateError) as caught:
        _store(bucket).load("local")
    assert "record 5" in str(caught.value) and "last good record is 4" in str(caught.value)
    assert caught.value.file == f"s3://{bucket}/fleet/local/history/"
    with pytest.raises(StateError):
        fleet.engine(_store(bucket)).cutover(environment(), NEW_VERSION.__class__(1, 31))
    assert fleet.world.created == {"green": 1}, "the refused cutover provisioned nothing"

    store = _store(bucket)
    with store.lock("local", lease_s=30):
        result = store.repair("local", {"user": "t"})
    assert result["repaired"] is True and result["kept"] == 4 and result["lost"] == final.seq - 4
    history = _store(bucket).history("local")
    assert [r.seq for r in history] == [1, 2, 3, 4, final.seq + 1]
    assert history[-1].event == "HistoryRepaired"
    aside = client.list_objects_v2(Bucket=bucket, Prefix="fleet/local/damaged-")
    assert aside.get("KeyCount", 0) >= final.seq - 5
    again = Fleet(world=fleet.world).engine(_store(bucket)).cutover(environment(version=NEW_VERSION),
                                                                    NEW_VERSION.__class__(1, 31))
    assert again.cutover is not None and again.cutover.phase.value == "DONE"


def test_a_write_the_sdk_retried_after_it_landed_is_not_a_conflict(bucket: str) -> None:
    store = _store(bucket)
    Fleet().engine(store).cutover(environment(), NEW_VERSION)
    key = "fleet/local/state.json"
    current = store.client.get_object(Bucket=bucket, Key=key)
    body = current["Body"].read().decode()

    # The first attempt landed (the ETag moved on), the SDK's retry then carries the old If-Match:
    etag = store._put(key, body, if_match='"0123456789abcdef0123456789abcdef"')

    assert etag == current["ETag"]
    state = json.loads(store.client.get_object(Bucket=bucket, Key=key)["Body"].read())
    assert state["seq"] == json.loads(body)["seq"]
