"""``omnicloud sandbox`` as a user runs it: separate processes for up, env and down, a real shell's eval."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from omnicloud.sandbox._process import pid_is_alive

pytestmark = pytest.mark.emulator

CLI = [sys.executable, "-m", "omnicloud.cli"]


@pytest.fixture
def cli_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """An environment whose sandbox state lives in ``tmp_path``; whatever it left running is stopped after."""
    env = {**os.environ, "OMNICLOUD_SANDBOX_STATE": str(tmp_path / "sandbox.json")}
    for name in ("AWS_ENDPOINT_URL", "AZURE_STORAGE_CONNECTION_STRING", "STORAGE_EMULATOR_HOST"):
        env.pop(name, None)
    yield env
    subprocess.run([*CLI, "sandbox", "down"], env=env, capture_output=True, timeout=60, check=False)


def _omnicloud(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=120, check=False)


def _wait_dead(pids: list[int], timeout: float = 10.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [pid for pid in pids if pid_is_alive(pid)]
        if not alive:
            return []
        time.sleep(0.05)
    return [pid for pid in pids if pid_is_alive(pid)]


def _use_all_three_sdks(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Create a bucket, put and get an object on each emulator, configured only by ``env``."""
    import boto3
    from azure.storage.blob import BlobServiceClient
    from google.cloud import storage

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    name = f"sandbox-{uuid.uuid4().hex[:12]}"

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="hello.txt", Body=b"from s3")
    assert s3.get_object(Bucket=name, Key="hello.txt")["Body"].read() == b"from s3"

    blobs = BlobServiceClient.from_connection_string(os.environ["AZURE_STORAGE_CONNECTION_STRING"])
    container = blobs.create_container(name)
    container.upload_blob("hello.txt", b"from azure")
    assert container.download_blob("hello.txt").readall() == b"from azure"

    gcs = storage.Client()
    bucket = gcs.create_bucket(name)
    bucket.blob("hello.txt").upload_from_string(b"from gcs")
    assert gcs.bucket(name).blob("hello.txt").download_as_bytes() == b"from gcs"


def test_up_shell_env_and_down_serve_all_three_sdks_then_leave_nothing_running(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Exactly what the README tells a user to type, in a real shell.
    up_then_dump = (
        f'eval "$({shlex.join([*CLI, "sandbox", "up", "--shell"])})" && '
        f"{shlex.quote(sys.executable)} -c 'import json, os; print(json.dumps(dict(os.environ)))'"
    )
    shell = subprocess.run(
        ["bash", "-c", up_then_dump], env=cli_env, capture_output=True, text=True, timeout=120, check=False
    )
    assert shell.returncode == 0, shell.stderr
    exported = json.loads(shell.stdout)

    env_json = _omnicloud(cli_env, "sandbox", "env", "--json")
    assert env_json.returncode == 0, env_json.stderr
    printed = json.loads(env_json.stdout)
    assert printed == {name: exported[name] for name in printed}
    for name in ("AWS_ENDPOINT_URL", "AZURE_STORAGE_CONNECTION_STRING", "STORAGE_EMULATOR_HOST"):
        assert "127.0.0.1" in printed[name]

    status = _omnicloud(cli_env, "sandbox", "status", "--json")
    records = json.loads(status.stdout)["emulators"]
    assert sorted(record["name"] for record in records) == ["azurite", "gcs", "moto"]
    assert all(record["running"] for record in records)
    pids = [record["pid"] for record in records]

    _use_all_three_sdks(printed, monkeypatch)

    down = _omnicloud(cli_env, "sandbox", "down", "--json")
    assert down.returncode == 0, down.stderr
    assert sorted(record["pid"] for record in json.loads(down.stdout)["stopped"]) == sorted(pids)
    assert _wait_dead(pids) == []
    assert not Path(cli_env["OMNICLOUD_SANDBOX_STATE"]).exists()

    after = _omnicloud(cli_env, "sandbox", "env", "--shell")
    assert after.returncode == 1
    assert after.stdout == ""
    assert "sandbox up" in after.stderr


def test_up_again_reuses_the_running_emulator(cli_env: dict[str, str]) -> None:
    first = _omnicloud(cli_env, "sandbox", "up", "--only", "gcs", "--json")
    assert first.returncode == 0, first.stderr
    second = _omnicloud(cli_env, "sandbox", "up", "--only", "gcs", "--json")
    assert second.returncode == 0, second.stderr

    [before] = json.loads(first.stdout)["emulators"]
    [after] = json.loads(second.stdout)["emulators"]
    assert after["pid"] == before["pid"]
    assert json.loads(second.stdout)["env"]["STORAGE_EMULATOR_HOST"] == before["endpoint"]

    human = _omnicloud(cli_env, "sandbox", "status")
    assert "gcs" in human.stdout
    assert "running" in human.stdout

    assert _omnicloud(cli_env, "sandbox", "down").returncode == 0
    assert _wait_dead([before["pid"]]) == []


def test_down_when_nothing_runs_succeeds_and_says_so(cli_env: dict[str, str]) -> None:
    result = _omnicloud(cli_env, "sandbox", "down")
    assert result.returncode == 0
    assert "nothing was running" in result.stdout


def test_up_with_an_unknown_emulator_is_a_usage_error(cli_env: dict[str, str]) -> None:
    result = _omnicloud(cli_env, "sandbox", "up", "--only", "moto,minio")
    assert result.returncode == 2
    assert "minio" in result.stderr
    assert "moto, azurite, gcs" in result.stderr
    assert "Traceback" not in result.stderr


def test_up_without_azurite_tells_the_fix_in_one_line(cli_env: dict[str, str], tmp_path: Path) -> None:
    env = {**cli_env, "OMNICLOUD_AZURITE": str(tmp_path / "no-such-azurite")}
    result = _omnicloud(env, "sandbox", "up", "--only", "azurite", "--shell")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "npm install" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_shell_and_json_together_are_refused(cli_env: dict[str, str]) -> None:
    result = _omnicloud(cli_env, "sandbox", "env", "--shell", "--json")
    assert result.returncode == 2
    assert "--shell" in result.stderr
