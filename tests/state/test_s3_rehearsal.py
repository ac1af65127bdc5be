"""A rehearsal whose state lives in S3 (moto server): its world lives there too, and only there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3

from fleet.state import open_store
from tests.fleetkit import NEW_VERSION, Fleet, environment

REPO = Path(__file__).resolve().parents[2]


def _fleet(cwd: Path, s3_env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEET_")}
    env.update(s3_env)
    env["FLEET_PROJECT"] = str(REPO)
    return subprocess.run(
        [sys.executable, "-m", "fleet", *args], capture_output=True, text=True, timeout=90, cwd=cwd, env=env,
        stdin=subprocess.DEVNULL, check=False,
    )


def test_an_s3_rehearsal_killed_mid_cutover_is_resumed_on_its_own_world(
    bucket: str, s3_env: dict[str, str], tmp_path: Path
) -> None:
    location = f"s3://{bucket}/rehearsal"

    crashed = _fleet(tmp_path, s3_env, "rehearse", "local", "--simulated", "--state", location,
                     "--fault", "crash-after=SHIFT")
    assert crashed.returncode == -9, crashed.stderr
    assert f"fleet resume local --state {location}" in crashed.stderr
    assert list(tmp_path.iterdir()) == [], "an S3 rehearsal wrote a local folder"

    resumed = _fleet(tmp_path, s3_env, "resume", "local", "--state", location, "-o", "json")

    assert resumed.returncode == 0, resumed.stderr
    state = json.loads(resumed.stdout)["status"]["state"]
    assert state["cutover"]["phase"] == "DONE" and state["weights"] == {"blue": 0, "green": 100}
    client = boto3.client("s3", endpoint_url=s3_env["FLEET_S3_ENDPOINT_URL"])
    world = json.loads(client.get_object(Bucket=bucket, Key="rehearsal/.rehearsal/world.json")["Body"].read())
    assert world["created"] == {"green": 1} and world["destroyed"] == {"blue": 1}
    assert list(tmp_path.iterdir()) == []


def test_an_s3_store_holding_a_real_environment_is_refused_by_a_rehearsal(
    bucket: str, s3_env: dict[str, str], tmp_path: Path
) -> None:
    location = f"s3://{bucket}/production"
    real = open_store(location, rehearsal=False)
    Fleet().engine(real).cutover(environment(), NEW_VERSION)
    before = real.load("local")

    refused = _fleet(tmp_path, s3_env, "rehearse", "local", "--simulated", "--state", location)
    ignored = _fleet(tmp_path, {**s3_env, "FLEET_STATE": location}, "rehearse", "local", "--simulated", "-o", "json")

    assert refused.returncode == 2 and "real environment" in refused.stderr, refused.stderr
    assert f"{location}/local/state.json" in refused.stderr
    assert ignored.returncode == 0, ignored.stderr
    assert json.loads(ignored.stdout)["state_location"] != location
    assert open_store(location).load("local") == before


_HOLDER = """
import sys, time
from fleet.state import open_store
with open_store(sys.argv[1], rehearsal=True).lock("local", lease_s=60):
    print("held", flush=True)
    time.sleep(60)
"""


def test_a_contender_on_an_s3_store_exits_3_naming_the_holder_and_writes_nothing(
    bucket: str, s3_env: dict[str, str], tmp_path: Path
) -> None:
    location = f"s3://{bucket}/contended"
    env = {**os.environ, **s3_env, "PYTHONPATH": str(REPO)}
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, location], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        client = boto3.client("s3", endpoint_url=s3_env["FLEET_S3_ENDPOINT_URL"])
        before = sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", []))

        result = _fleet(tmp_path, s3_env, "rehearse", "local", "--simulated", "--state", location)

        assert result.returncode == 3, result.stderr
        assert f"(pid {holder.pid})" in result.stderr and f"--state {location}" in result.stderr
        after = sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", []))
        assert after == before, "the loser wrote into the winner's store"
        assert list(tmp_path.iterdir()) == []
    finally:
        holder.kill()
        holder.wait(timeout=10)
