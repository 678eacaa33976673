"""`omnicloud auth` end to end: a real process, a clean environment, nothing but 127.0.0.1."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CLI = [sys.executable, "-m", "omnicloud.cli"]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def clean_env(tmp_path: Path) -> dict[str, str]:
    """Only PATH and a fresh HOME; every metadata service on a closed local port."""
    home = tmp_path / "home"
    home.mkdir()
    dead = f"127.0.0.1:{_closed_port()}"
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "AWS_EC2_METADATA_SERVICE_ENDPOINT": f"http://{dead}",
        "GCE_METADATA_HOST": dead,
        "AZURE_POD_IDENTITY_AUTHORITY_HOST": f"http://{dead}",
        "OCI_METADATA_BASE_URL": f"http://{dead}/opc/v2",
        "OMNICLOUD_METADATA_TIMEOUT": "0.5",
        "COLUMNS": "200",
    }


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=120, check=False)


def run_json(*args: str, env: dict[str, str]) -> Any:
    done = run(*args, "--json", env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_whoami_provider_shows_identity_source_and_region(clean_env: dict[str, str]) -> None:
    env = {**clean_env, "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE", "AWS_SECRET_ACCESS_KEY": "x",
           "AWS_DEFAULT_REGION": "eu-north-1"}  # fmt: skip
    shown = run_json("auth", "whoami", "aws", env=env)
    assert shown["provider"] == "aws"
    assert shown["auth"] == "access_key"
    assert shown["identity"] == "access key ****MPLE"
    assert shown["source"] == "environment: AWS_ACCESS_KEY_ID"
    assert shown["region"] == "eu-north-1"
    text = run("auth", "whoami", "s3://my-bucket/key", env=env)
    assert text.returncode == 0
    assert "environment: AWS_ACCESS_KEY_ID" in text.stdout
    assert "s3://my-bucket/key" in text.stdout


def test_whoami_uri_carries_its_locator(clean_env: dict[str, str]) -> None:
    env = {**clean_env, "AZURE_STORAGE_CONNECTION_STRING": "UseDevelopmentStorage=true"}
    shown = run_json("auth", "whoami", "azure://devstoreaccount1/box/file.txt", env=env)
    assert shown["uri"] == "azure://devstoreaccount1/box/file.txt"
    assert shown["account"] == "devstoreaccount1"
    assert shown["endpoint"] == "http://127.0.0.1:10000/devstoreaccount1"


def test_whoami_on_the_emulators(clean_env: dict[str, str]) -> None:
    env = {**clean_env, "STORAGE_EMULATOR_HOST": "http://127.0.0.1:9023",
           "AWS_ENDPOINT_URL": "http://127.0.0.1:5000", "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing"}  # fmt: skip
    gcs = run_json("auth", "whoami", "gs://bucket-1/x", env=env)
    assert (gcs["auth"], gcs["source"], gcs["endpoint"]) == (
        "anonymous",
        "environment: STORAGE_EMULATOR_HOST",
        "http://127.0.0.1:9023",
    )
    s3 = run_json("auth", "whoami", "s3://bucket-1/x", env=env)
    assert s3["endpoint"] == "http://127.0.0.1:5000"


def test_whoami_uses_the_profile_for_the_uri(clean_env: dict[str, str], tmp_path: Path) -> None:
    config = tmp_path / "omnicloud.toml"
    config.write_text(
        '[profiles."s3://team-a/"]\nauth = "access_key"\naccess_key_id = "AKIATEAMA00000000001"\n'
        'secret_access_key = { env = "TEAM_A_SECRET" }\nregion = "us-west-2"\n'
    )
    config.chmod(0o600)
    env = {**clean_env, "OMNICLOUD_CONFIG": str(config), "TEAM_A_SECRET": "s"}
    shown = run_json("auth", "whoami", "s3://team-a/data/x.csv", env=env)
    assert shown["identity"] == "access key ****0001"
    assert shown["source"] == f"profile: s3://team-a/ in {config}"
    assert shown["region"] == "us-west-2"


def test_whoami_with_nothing_configured_lists_the_sources_tried(clean_env: dict[str, str]) -> None:
    done = run("auth", "whoami", "gcp", env=clean_env)
    assert done.returncode == 1
    assert "GOOGLE_APPLICATION_CREDENTIALS" in done.stderr
    assert "metadata: GCE metadata server" in done.stderr
    assert "Traceback" not in done.stderr


def test_whoami_unknown_auth_type_is_a_usage_error(clean_env: dict[str, str]) -> None:
    done = run("auth", "whoami", "oci", "--auth", "iam_role", env=clean_env)
    assert done.returncode == 2
    assert "instance_principal" in done.stderr and "user_principal" in done.stderr


def test_whoami_local_paths_need_no_credentials(clean_env: dict[str, str], tmp_path: Path) -> None:
    shown = run_json("auth", "whoami", str(tmp_path), env=clean_env)
    assert shown["auth"] == "none"


def test_check_reports_each_provider(clean_env: dict[str, str]) -> None:
    env = {**clean_env, "AZURE_STORAGE_CONNECTION_STRING": "UseDevelopmentStorage=true"}
    rows = {row["provider"]: row for row in run_json("auth", "check", env=env)}
    assert set(rows) == {"aws", "gcp", "azure", "oci"}
    assert rows["azure"]["found"] is True
    assert rows["azure"]["source"] == "environment: AZURE_STORAGE_CONNECTION_STRING"
    assert rows["aws"]["found"] is False and rows["aws"]["missing"] is True
    assert "metadata: EC2 IMDSv2" in rows["aws"]["error"]
    text = run("auth", "check", env=env)
    assert text.returncode == 0
    assert "environment: AZURE_STORAGE_CONNECTION_STRING" in text.stdout


def test_check_fails_when_no_cloud_has_credentials(clean_env: dict[str, str]) -> None:
    assert run("auth", "check", "--no-metadata", env=clean_env).returncode == 1


@pytest.fixture
def silent_metadata() -> Iterator[str]:
    """A port that accepts connections and never answers, as a firewalled metadata address does."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


def test_check_stays_quick_when_metadata_services_hang(
    clean_env: dict[str, str], silent_metadata: str
) -> None:
    env = {
        **clean_env,
        "AWS_EC2_METADATA_SERVICE_ENDPOINT": f"http://{silent_metadata}",
        "GCE_METADATA_HOST": silent_metadata,
        "AZURE_POD_IDENTITY_AUTHORITY_HOST": f"http://{silent_metadata}",
        "OCI_METADATA_BASE_URL": f"http://{silent_metadata}/opc/v2",
        "OMNICLOUD_METADATA_TIMEOUT": "2",
    }
    started = time.monotonic()
    rows = run_json_allowing_failure("auth", "check", env=env)
    elapsed = time.monotonic() - started
    assert all("within 2 s" in row["error"] for row in rows)
    # Four probes of 2 s each, one after the other, would take 8 s; side by side they take 2 s,
    # and interpreter start-up the rest.
    assert elapsed < 6.5


def run_json_allowing_failure(*args: str, env: dict[str, str]) -> Any:
    done = run(*args, "--json", env=env)
    return json.loads(done.stdout)


def test_types_lists_every_provider(clean_env: dict[str, str]) -> None:
    table = run_json("auth", "types", env=clean_env)
    assert list(table) == ["aws", "gcp", "azure", "oci"]
    assert "resource_principal" in table["oci"]
    assert "managed_identity" in table["azure"]
    assert run_json("auth", "types", "gcp", env=clean_env).keys() == {"gcp"}
