"""``omnicloud -v`` logs the SDKs' requests, never their secrets; without ``-v``, one line per error."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from omnicloud._log_redaction import redact
from omnicloud.sandbox._emulators import azurite_env

CLI = [sys.executable, "-m", "omnicloud"]
# A request signature (SigV4) as botocore prints it in a header or on its own.
SIGV4 = re.compile(r"Signature[=:]\s*[0-9a-f]{64}")


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        ('"HEAD /acct/c/k?se=2030&sp=r&sig=AbC%2Bd%3D HTTP/1.1" 404', "AbC%2Bd%3D"),
        ("GET /b/k?X-Amz-Signature=0f1e2d&X-Amz-Security-Token=IQoJtoken HTTP/1.1", "0f1e2d"),
        ("GET /b/k?X-Amz-Security-Token=IQoJtoken&x=1", "IQoJtoken"),
        ("headers={'Authorization': b'AWS4-HMAC-SHA256 Credential=AKIA/x, Signature=ab12'}", "ab12"),
        ("Signature:\n" + "c" * 64, "c" * 64),
        ("DefaultEndpointsProtocol=http;AccountName=a;AccountKey=S3cr3t==;BlobEndpoint=x", "S3cr3t=="),
        ("BlobEndpoint=http://h/a;SharedAccessSignature=sv=1&sig=Zz9", "Zz9"),
        ('"PUT /upload/storage/v1/b/b/o?uploadType=resumable&upload_id=ADPycd7 HTTP/1.1" 308', "ADPycd7"),
    ],
)
def test_redaction_takes_the_secret_out_of_each_kind_of_sdk_log_line(line: str, secret: str) -> None:
    cleaned = redact(line)
    assert secret not in cleaned
    assert "***" in cleaned


def test_redaction_leaves_lines_without_secrets_as_they_are() -> None:
    line = '"PUT /devstoreaccount1/c/a%20b?comp=block&blockid=QUJD HTTP/1.1" 201 0'
    assert redact(line) == line


@pytest.mark.emulator
def test_verbose_runs_on_azure_with_a_sas_and_on_s3_log_requests_without_secrets(
    sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    settings = dict(
        part.split("=", 1) for part in sandbox_env["AZURE_STORAGE_CONNECTION_STRING"].split(";") if part
    )
    name = f"oc-v-{uuid.uuid4().hex[:10]}"
    env = os.environ.copy()
    assert _run("mb", f"az://{name}", env=env).returncode == 0
    assert _run("mb", f"s3://{name}", env=env).returncode == 0
    sas = generate_container_sas(
        settings["AccountName"],
        name,
        account_key=settings["AccountKey"],
        permission=ContainerSasPermissions(read=True, write=True, list=True, delete=True),
        expiry=datetime.now(UTC) + timedelta(hours=1),
    )
    signature = dict(part.split("=", 1) for part in sas.split("&"))["sig"]
    with_sas = f"BlobEndpoint={settings['BlobEndpoint']};SharedAccessSignature={sas}"
    sas_env = {**env, "AZURE_STORAGE_CONNECTION_STRING": with_sas}
    source = tmp_path / "f.bin"
    source.write_bytes(b"x" * 1000)

    runs = [
        _run("-v", "cp", str(source), f"az://{name}/f.bin", env=sas_env),
        _run("-v", "stat", f"az://{name}/nope", env=sas_env),
        _run("-v", "cp", str(source), f"s3://{name}/f.bin", env=env),
        _run("-v", "cp", f"s3://{name}/f.bin", str(tmp_path / "back.bin"), env=env),
    ]

    logs = "".join(run.stderr for run in runs)
    assert [run.returncode for run in runs] == [0, 1, 0, 0], logs[-3000:]
    assert "sig=***" in logs  # the requests were logged, their signature taken out
    assert signature not in logs
    # S3 stats and gets of one object are our own signed requests: logged by method and path only.
    assert "S3 request: HEAD /" in logs and "S3 request: GET /" in logs
    assert "Authorization" not in logs and not SIGV4.search(logs)
    assert sandbox_env["AWS_SECRET_ACCESS_KEY"] not in logs


@pytest.mark.emulator
def test_verbose_gcs_upload_in_pieces_logs_its_session_without_the_session_id(
    sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    name = f"oc-v-{uuid.uuid4().hex[:10]}"
    env = os.environ.copy()
    assert _run("mb", f"gs://{name}", env=env).returncode == 0
    source = tmp_path / "f.bin"
    source.write_bytes(os.urandom(17 * 2**20))

    run = _run("-v", "cp", str(source), f"gs://{name}/f.bin", "--part-size", "8MiB", env=env)

    assert run.returncode == 0, run.stderr[-3000:]
    assert "upload_id=***" in run.stderr  # each piece's request was logged, the session id taken out
    assert not re.search(r"upload_id=(?!\*\*\*)", run.stderr)


@pytest.mark.emulator
def test_retries_against_an_unreachable_endpoint_end_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, **azurite_env(f"http://127.0.0.1:{port}")}  # nothing listens there
    env["OMNICLOUD_STATE_DIR"] = str(tmp_path / "state")  # no other test's journal
    source = tmp_path / "f.bin"
    source.write_bytes(b"x" * (17 * 2**20))

    # Staged blocks are retried by their connection pool before omnicloud retries them.
    done = _run("cp", str(source), "az://box/f.bin", "--retries", "1", "--part-size", "8MiB", env=env)

    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert done.stderr.startswith("error:")
