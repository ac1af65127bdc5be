"""The S3 state store against moto's S3 server on 127.0.0.1.

moto 5.2.5 honours ``If-None-Match: *`` and ``If-Match`` on PutObject and
``If-Match`` on DeleteObject (``moto/s3/responses.py``), so the conditional
writes the store relies on are exercised for real here.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from fleet.domain.machine import EnvironmentState, Phase
from fleet.errors import AccessDenied, ConfigError, LockedError, ProviderError, StateError, TransientError
from fleet.ports import Record
from fleet.state import open_store
from fleet.state.s3 import S3StateStore, _call
from tests.fleetkit import NEW_VERSION, Fleet, environment

REPO = Path(__file__).resolve().parents[2]


def _raw(endpoint: str) -> object:
    return boto3.client("s3", endpoint_url=endpoint)


def _store(bucket: str, prefix: str = "fleet") -> S3StateStore:
    store = open_store(f"s3://{bucket}/{prefix}")
    assert isinstance(store, S3StateStore)
    return store


def _cutover(store: S3StateStore) -> EnvironmentState:
    return Fleet().engine(store).cutover(environment(), NEW_VERSION)


def test_a_cutover_commits_its_state_and_history_to_the_bucket(bucket: str, s3_env: dict[str, str]) -> None:
    store = _store(bucket)

    final = _cutover(store)

    assert final.cutover is not None and final.cutover.phase is Phase.DONE
    again = _store(bucket)
    assert again.load("local") == final
    records = again.history("local")
    assert [r.seq for r in records] == list(range(1, final.seq + 1))
    assert records[0].event == "CutoverRequested" and records[-1].event == "SlotDestroyed"
    assert again.environments() == ["local"]
    keys = [o["Key"] for o in _raw(s3_env["FLEET_S3_ENDPOINT_URL"]).list_objects_v2(Bucket=bucket)["Contents"]]  # type: ignore[attr-defined]
    assert "fleet/local/state.json" in keys
    assert f"fleet/local/history/{final.seq:010d}.json" in keys
    assert "fleet/local/lock.json" not in keys, "the lock is released when the run ends"


def test_a_history_record_beyond_the_committed_state_is_ignored_and_replaced(bucket: str) -> None:
    store = _store(bucket)
    state = EnvironmentState.seed("local", environment().version)
    assert store.load("local") is None
    first = Record(1, 10.0, "First", None, state.weights, {}, {"user": "a"})
    store.commit("local", replace(state, seq=1), [first])
    torn = Record(2, 11.0, "Torn", None, state.weights, {}, {"user": "a"})
    store._write_record("local", torn)  # a crash between the record and the state that counts it

    assert [r.event for r in store.history("local")] == ["First"]

    store.load("local")
    second = Record(2, 12.0, "Second", None, state.weights, {}, {"user": "b"})
    store.commit("local", replace(state, seq=2), [second])
    assert [r.event for r in store.history("local")] == ["First", "Second"]


def test_two_writers_cannot_interleave_their_commits(bucket: str) -> None:
    state = EnvironmentState.seed("local", environment().version)
    a, b = _store(bucket), _store(bucket)
    a.commit("local", replace(state, seq=1), [Record(1, 1.0, "A", None, state.weights, {}, {})])
    a.load("local")
    b.load("local")

    a.commit("local", replace(state, seq=2), [Record(2, 2.0, "A2", None, state.weights, {}, {})])
    with pytest.raises(LockedError, match="another writer"):
        b.commit("local", replace(state, seq=2), [Record(2, 3.0, "B2", None, state.weights, {}, {})])

    assert [r.event for r in _store(bucket).history("local")] == ["A", "A2"]


def test_the_lock_is_exclusive_while_its_lease_runs(bucket: str) -> None:
    store = _store(bucket)
    with store.lock("local", lease_s=30):
        with pytest.raises(LockedError) as caught, _store(bucket).lock("local", lease_s=30, force=True):
            pass
        assert not caught.value.expired
        assert caught.value.exit_code == 3
    with _store(bucket).lock("local", lease_s=30):
        pass


def test_a_holder_renews_its_lease_and_finds_out_when_it_lost_it(bucket: str) -> None:
    store = _store(bucket)
    with store.lock("local", lease_s=0.6) as lease:
        before = lease.info.expires_at
        time.sleep(0.05)
        lease.renew()
        assert lease.info.expires_at > before
        # The keep-alive renews it in the background: after several lease periods it still holds.
        time.sleep(1.5)
        with pytest.raises(LockedError), _store(bucket).lock("local", lease_s=30, force=True):
            pass
        other = _store(bucket)
        other_key = "fleet/local/lock.json"
        other.client.delete_object(Bucket=bucket, Key=other_key)
        with pytest.raises(LockedError, match="lost"):
            lease.renew()


def test_an_expired_lease_blocks_until_forced_and_then_is_taken_over(bucket: str) -> None:
    store = _store(bucket)
    raw = store.client
    expired = {"owner": "ci", "host": "runner-7", "pid": 99, "acquired_at": 1.0, "expires_at": 2.0, "token": "old"}
    raw.put_object(Bucket=bucket, Key="fleet/local/lock.json", Body=json.dumps(expired).encode())

    with pytest.raises(LockedError) as caught, store.lock("local", lease_s=30):
        pass
    assert caught.value.expired and "--force-unlock" in str(caught.value)

    with store.lock("local", lease_s=30, force=True) as lease:
        held = json.loads(raw.get_object(Bucket=bucket, Key="fleet/local/lock.json")["Body"].read())
        assert held["token"] == lease.info.run_id


def test_a_garbage_lock_is_reported_and_never_overwritten(bucket: str) -> None:
    store = _store(bucket)
    store.client.put_object(Bucket=bucket, Key="fleet/local/lock.json", Body=b"{not json")

    with pytest.raises(StateError) as caught, store.lock("local", lease_s=30, force=True):
        pass

    assert caught.value.file == f"s3://{bucket}/fleet/local/lock.json"
    body = store.client.get_object(Bucket=bucket, Key="fleet/local/lock.json")["Body"].read()
    assert body == b"{not json"


def test_a_state_from_a_newer_fleet_is_refused(bucket: str) -> None:
    store = _store(bucket)
    store.client.put_object(Bucket=bucket, Key="fleet/local/state.json", Body=json.dumps({"format": 99}).encode())
    with pytest.raises(StateError) as caught:
        store.load("local")
    assert caught.value.key == "format"


def test_a_missing_bucket_is_a_configuration_error(s3_env: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="bucket does not exist"):
        _store("no-such-bucket-for-fleet").load("local")


_CONTENDER = textwrap.dedent(
    """
    import sys, time
    from fleet.errors import LockedError
    from fleet.state import open_store
    store = open_store(sys.argv[1])
    start = float(sys.argv[2])
    while time.time() < start:
        time.sleep(0.001)
    try:
        with store.lock("local", lease_s=30):
            print("won", flush=True)
            time.sleep(1.0)
    except LockedError as err:
        print("locked", flush=True)
    """
)

_HOLDER = textwrap.dedent(
    """
    import sys, time
    from fleet.state import open_store
    with open_store(sys.argv[1]).lock("local", lease_s=float(sys.argv[2])):
        print("held", flush=True)
        time.sleep(600)
    """
)


def _python(script: str, *args: str) -> list[str]:
    return [sys.executable, "-c", script, *args]


def test_two_processes_racing_for_the_lock_one_wins(bucket: str, s3_env: dict[str, str]) -> None:
    env = {**os.environ, **s3_env, "PYTHONPATH": str(REPO)}
    for _ in range(2):
        start = time.time() + 2.0
        procs = [
            subprocess.Popen(
                _python(_CONTENDER, f"s3://{bucket}/race", str(start)), stdout=subprocess.PIPE, text=True, env=env
            )
            for _ in range(2)
        ]
        outputs = sorted(p.communicate(timeout=30)[0].strip() for p in procs)
        assert outputs == ["locked", "won"]


def test_a_killed_holder_on_this_machine_is_taken_over_at_once(bucket: str, s3_env: dict[str, str]) -> None:
    env = {**os.environ, **s3_env, "PYTHONPATH": str(REPO)}
    holder = subprocess.Popen(
        _python(_HOLDER, f"s3://{bucket}/fleet", "300"), stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)

    with _store(bucket).lock("local", lease_s=30) as lease:  # no --force-unlock needed: its process is gone
        assert lease.info.pid == os.getpid()


def _foreign_holder(bucket: str, *, lease_s: float, expires_at: float) -> None:
    """A lock of a run on another machine, whose clock says ``expires_at``."""
    body = {
        "owner": "ci", "host": "runner-7", "pid": 4242, "acquired_at": 0.0, "expires_at": expires_at,
        "token": "theirs", "lease_s": lease_s,
        "identity": {"machine_id": "another-machine", "boot_id": "b", "pidns": "1", "pid": 4242, "pid_start": 1},
    }
    _store(bucket).client.put_object(Bucket=bucket, Key="fleet/local/lock.json", Body=json.dumps(body).encode())


def test_a_holder_elsewhere_blocks_until_its_lease_expires_on_s3s_clock(bucket: str) -> None:
    lease_s = 2.0
    # Its writer's clock is an hour behind: by that clock the lease expired long ago. S3's LastModified says
    # it was written just now, and that is what counts.
    _foreign_holder(bucket, lease_s=lease_s, expires_at=time.time() - 3600)
    written = time.time()
    store = _store(bucket)

    with pytest.raises(LockedError) as caught, store.lock("local", lease_s=30, force=True):
        pass
    assert not caught.value.expired
    assert "expires at" in str(caught.value) and "--force-unlock" in str(caught.value)

    time.sleep(max(0.0, written + lease_s + 1.2 - time.time()))  # LastModified has a resolution of 1 s
    with pytest.raises(LockedError) as caught, store.lock("local", lease_s=30):
        pass
    assert caught.value.expired
    with store.lock("local", lease_s=30, force=True) as lease:
        assert lease.info.pid == os.getpid()


def test_fleet_status_reads_the_state_from_s3(bucket: str, s3_env: dict[str, str], tmp_path: Path) -> None:
    _cutover(_store(bucket))
    (tmp_path / "stacks").mkdir()
    (tmp_path / "Pulumi.yaml").write_text("name: fleet\n")
    (tmp_path / "stacks" / "Pulumi.local.yaml").write_text(
        'config:\n  fleet:cluster: {driver: kind, version: "1.29"}\n  fleet:traffic: {provider: haproxy}\n'
    )
    env = {**os.environ, **s3_env, "FLEET_PROJECT": str(tmp_path)}

    for args, extra in (
        (["--state", f"s3://{bucket}/fleet", "status", "local", "-o", "json"], {}),
        (["status", "local", "-o", "json"], {"FLEET_STATE": f"s3://{bucket}/fleet"}),
        (["history", "local", "-o", "json"], {"FLEET_STATE": f"s3://{bucket}/fleet"}),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "fleet", *args],
            capture_output=True,
            text=True,
            timeout=60,
            env={**env, **extra},
            check=False,
        )
        assert done.returncode == 0, done.stderr
        data = json.loads(done.stdout)
        if "history" in args:
            assert data[-1]["event"] == "SlotDestroyed"
        else:
            assert data[0]["state"]["weights"] == {"blue": 0, "green": 100}


def _client_error(code: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op")


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (_client_error("SlowDown", 503), TransientError),
        (_client_error("InternalError", 500), TransientError),
        (_client_error("ThrottlingException", 400), TransientError),
        (_client_error("AccessDenied", 403), AccessDenied),
        (_client_error("InvalidArgument", 400), ProviderError),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:9"), TransientError),
    ],
)
def test_botocore_errors_leave_the_store_as_fleet_errors(error: Exception, expected: type[Exception]) -> None:
    def failing() -> None:
        raise error

    with pytest.raises(expected) as caught:
        _call("put x", failing)
    assert caught.value.__cause__ is error
    assert type(caught.value) is expected
