"""Kill a real `omnicloud cp` mid-transfer (SIGKILL, and Ctrl-C), run it again: it resumes.

The first run is slowed with --bwlimit so it is surely mid-transfer when the
journal shows finished parts; then it is killed. The second run must report
the parts it did not send again (``resumed_parts``) and end byte-identical.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from omnicloud.storage import Admin, open_store
from omnicloud.storage.local import TEMP_MARKER
from omnicloud.storage.s3 import S3Store
from omnicloud.transfer._digest import digest_bytes

MiB = 1024 * 1024
SIZE = 48 * MiB + 321  # 7 parts of 8 MiB
PARTS = 7
CLI = [sys.executable, "-m", "omnicloud.cli"]
TUNING = ["--part-size", "8MiB", "--part-concurrency", "2"]


def _pieces(journal: Path) -> int:
    if not journal.exists():
        return 0
    try:
        with sqlite3.connect(journal, timeout=5) as db:
            return int(db.execute("SELECT COUNT(*) FROM pieces").fetchone()[0])
    except sqlite3.OperationalError:
        return 0  # schema not created yet


def _start(args: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ.copy()
    )


def _wait_for_pieces(process: subprocess.Popen[bytes], journal: Path, count: int, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            _, err = process.communicate()
            pytest.fail(f"the transfer ended before it could be interrupted: {err.decode()}")
        done = _pieces(journal)
        if done >= count:
            return done
        time.sleep(0.05)
    process.kill()
    pytest.fail("no parts finished in time")


def _finish(args: list[str]) -> dict[str, object]:
    result = subprocess.run([*CLI, *args, "--json"], capture_output=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr.decode()
    records = [json.loads(line) for line in result.stdout.splitlines()]
    return records[-1]


@pytest.fixture(params=["s3", "az", "gs"])
def bucket(request: pytest.FixtureRequest, sandbox_env: dict[str, str]) -> str:
    # S3 records the digest when the upload starts (hashed before the first
    # part); Azure when it completes (hashed from the parts as they go, and
    # from the journal's chunk digests on resume). GCS sends one session's
    # pieces in order and asks the service where to go on from.
    uri = f"{request.param}://oc-resume-{uuid.uuid4().hex[:10]}"
    store = open_store(uri)
    assert isinstance(store, Admin)
    store.create_bucket()
    return uri


@pytest.fixture
def big_file(tmp_path: Path) -> tuple[Path, bytes]:
    data = os.urandom(SIZE)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    return path, data


def test_upload_killed_with_sigkill_resumes_without_resending_finished_parts(
    bucket: str, big_file: tuple[Path, bytes], tmp_path: Path
) -> None:
    path, data = big_file
    journal = tmp_path / "journal.sqlite"
    args = ["cp", str(path), f"{bucket}/big.bin", "--journal", str(journal), *TUNING]
    first = _start([*args, "--bwlimit", "12MiB", "--quiet"])
    finished_before_kill = _wait_for_pieces(first, journal, 2)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    assert first.returncode == -signal.SIGKILL
    assert not open_store(bucket).exists("big.bin")  # type: ignore[attr-defined]

    record = _finish(args)
    resumed = int(record["resumed_parts"])  # type: ignore[call-overload]
    assert finished_before_kill <= resumed < PARTS
    store = open_store(bucket)
    assert store.get("big.bin") == data  # type: ignore[attr-defined]
    assert store.stat("big.bin").digest == digest_bytes(data)  # type: ignore[attr-defined]
    assert _pieces(journal) == 0


def test_download_interrupted_with_ctrl_c_says_so_and_resumes(
    bucket: str, big_file: tuple[Path, bytes], tmp_path: Path
) -> None:
    path, data = big_file
    subprocess.run([*CLI, "cp", str(path), f"{bucket}/big.bin", "--no-journal", "--quiet"], check=True)
    journal = tmp_path / "journal.sqlite"
    target = tmp_path / "out" / "big.bin"
    args = ["cp", f"{bucket}/big.bin", str(target), "--journal", str(journal), *TUNING]
    first = _start([*args, "--bwlimit", "12MiB", "--quiet"])
    _wait_for_pieces(first, journal, 2)
    first.send_signal(signal.SIGINT)
    _, err = first.communicate(timeout=30)
    assert first.returncode == 130
    assert err.decode().strip() == "stopped; run the same command again to resume"
    assert not target.exists()
    finished = _pieces(journal)
    # Stopped mid-download: the streams end at their next chunk, they do not run to the end.
    assert 2 <= finished < PARTS

    record = _finish(args)
    assert int(record["resumed_parts"]) >= finished  # type: ignore[call-overload]
    assert target.read_bytes() == data
    assert not [p for p in target.parent.iterdir() if TEMP_MARKER in p.name]


def _wait_until(process: subprocess.Popen[bytes], started: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not started():
        if process.poll() is not None:
            _, err = process.communicate()
            pytest.fail(f"the transfer ended before it could be interrupted: {err.decode()}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("the transfer did not start in time")
        time.sleep(0.05)


@pytest.mark.parametrize("direction", ["upload", "download"])
def test_ctrl_c_without_a_journal_leaves_no_upload_open_and_no_temporary_file(
    direction: str, sandbox_env: dict[str, str], big_file: tuple[Path, bytes], tmp_path: Path
) -> None:
    path, _ = big_file
    bucket = f"s3://oc-nojournal-{uuid.uuid4().hex[:10]}"
    store = open_store(bucket)
    assert isinstance(store, S3Store)
    store.create_bucket()
    target = tmp_path / "out" / "big.bin"
    target.parent.mkdir()

    def open_uploads() -> list[object]:
        return list(store.client.list_multipart_uploads(Bucket=store.uri.bucket).get("Uploads", []))

    if direction == "upload":
        args = ["cp", str(path), f"{bucket}/big.bin"]
        started = lambda: bool(open_uploads())  # noqa: E731
    else:
        subprocess.run([*CLI, "cp", str(path), f"{bucket}/big.bin", "--no-journal", "--quiet"], check=True)
        args = ["cp", f"{bucket}/big.bin", str(target)]
        started = lambda: any(target.parent.iterdir())  # noqa: E731
    first = _start([*args, "--no-journal", *TUNING, "--bwlimit", "12MiB", "--quiet"])
    _wait_until(first, started)
    time.sleep(0.5)
    first.send_signal(signal.SIGINT)
    _, err = first.communicate(timeout=30)

    assert first.returncode == 130, err.decode()
    assert err.decode().strip() == "stopped; with --no-journal nothing was kept to resume from"
    assert open_uploads() == []
    assert list(target.parent.iterdir()) == []
    if direction == "upload":
        assert not store.exists("big.bin")
