"""What a real `omnicloud` process does when the far end is unreachable or the disk says no."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "omnicloud.cli"]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_UNREACHABLE = {
    "s3": lambda port: {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    },
    "gs": lambda port: {"STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{port}"},
}


@pytest.mark.parametrize("scheme", sorted(_UNREACHABLE))
def test_unreachable_endpoint_is_retried_then_one_clear_line_naming_the_object(
    scheme: str, tmp_path: Path
) -> None:
    source = tmp_path / "hello.txt"
    source.write_bytes(b"hello")
    env = {
        **os.environ,
        **_UNREACHABLE[scheme](_closed_port()),
        "OMNICLOUD_STATE_DIR": str(tmp_path / "state"),
    }
    env.pop("AWS_ENDPOINT_URL_S3", None)
    started = time.monotonic()
    result = subprocess.run(
        [*CLI, "cp", str(source), f"{scheme}://nowhere-bucket/k", "--retries", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert f"{scheme}://nowhere-bucket/k: gave up after 2 attempts" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    # The engine's two attempts are all there is: no SDK keeps retrying a refused connection
    # until its own 30 s deadline inside each of them (google-cloud-storage did, ~60 s here).
    assert time.monotonic() - started < 30


def test_copy_into_a_path_under_a_file_is_a_clear_error_and_leaves_nothing(tmp_path: Path) -> None:
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(9 * 1024 * 1024))
    blocker = tmp_path / "not-a-dir"
    blocker.write_bytes(b"")
    result = subprocess.run(
        [*CLI, "cp", str(source), str(blocker / "big.bin"), "--no-journal"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert str(blocker) in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.bin", "not-a-dir"]
