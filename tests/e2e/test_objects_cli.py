"""The object commands end to end: a real `omnicloud` process against the emulators."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

CLI = [sys.executable, "-m", "omnicloud.cli"]


def run(
    *args: str, env: dict[str, str] | None = None, input: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*CLI, *args],
        env=env or os.environ.copy(),
        capture_output=True,
        input=input,
        timeout=120,
        check=False,
    )


@pytest.fixture
def cli_env(sandbox_env: dict[str, str]) -> dict[str, str]:
    return os.environ.copy()


@pytest.mark.parametrize("scheme", ["s3", "gs", "az"])
def test_mb_cp_ls_cat_stat_rm_round_trip(scheme: str, cli_env: dict[str, str], tmp_path: Path) -> None:
    bucket = f"{scheme}://oc-cli-{uuid.uuid4().hex[:10]}"
    source = tmp_path / "hello world.txt"
    source.write_bytes(b"hello from omnicloud\n")
    os.utime(source, ns=(1_700_000_000_123_456_000, 1_700_000_000_123_456_000))

    assert run("mb", bucket, env=cli_env).returncode == 0
    copied = run("cp", str(source), f"{bucket}/dir/", "--json", env=cli_env)
    assert copied.returncode == 0, copied.stderr
    assert json.loads(copied.stdout.splitlines()[-1])["size"] == 21

    listed = run("ls", f"{bucket}/dir/", "--json", env=cli_env)
    assert listed.returncode == 0, listed.stderr
    entries = json.loads(listed.stdout)
    assert [e["key"] for e in entries] == ["dir/hello world.txt"]
    assert entries[0]["size"] == 21

    top = json.loads(run("ls", bucket, "--json", env=cli_env).stdout)
    assert [(e["key"], e["is_prefix"]) for e in top] == [("dir/", True)]

    cat = run("cat", f"{bucket}/dir/hello world.txt", env=cli_env)
    assert cat.stdout == b"hello from omnicloud\n"
    ranged = run("cat", f"{bucket}/dir/hello world.txt", "--range", "6-10", env=cli_env)
    assert ranged.stdout == b"from"

    stat = json.loads(run("stat", f"{bucket}/dir/hello world.txt", "--json", env=cli_env).stdout)
    assert stat["size"] == 21
    assert stat["content_type"] == "text/plain"
    # The store dates the object by its upload; the date a sync compares is the file's, recorded.
    assert datetime.fromisoformat(stat["modified"]) == datetime.fromtimestamp(1_700_000_000.123456, UTC)
    assert datetime.fromisoformat(stat["last_modified"]).year >= 2026
    text = run("stat", f"{bucket}/dir/hello world.txt", env=cli_env).stdout.decode()
    assert "modified: 2023-11-14 22:13:20.123456+00:00" in text

    back = tmp_path / "back.txt"
    assert run("cp", f"{bucket}/dir/hello world.txt", str(back), env=cli_env).returncode == 0
    assert back.read_bytes() == source.read_bytes()

    assert run("rm", f"{bucket}/dir/hello world.txt", env=cli_env).returncode == 0
    missing = run("stat", f"{bucket}/dir/hello world.txt", env=cli_env)
    assert missing.returncode == 1
    assert b"no such object" in missing.stderr
    assert run("rb", bucket, env=cli_env).returncode == 0


def test_invalid_uri_exits_2_with_one_line_and_no_traceback() -> None:
    result = run("ls", "s3://Bad_Bucket/x")
    assert result.returncode == 2
    text = result.stderr.decode()
    assert "invalid S3 bucket name" in text
    assert "Traceback" not in text
    assert len(text.strip().splitlines()) == 1


def test_unknown_scheme_exits_2() -> None:
    result = run("cat", "ftp://host/file")
    assert result.returncode == 2
    assert b"unknown scheme" in result.stderr


def test_missing_bucket_exits_1_naming_the_fix(cli_env: dict[str, str]) -> None:
    result = run("ls", "s3://oc-no-such-bucket-here/", env=cli_env)
    assert result.returncode == 1
    assert b"bucket does not exist" in result.stderr
    assert b"omnicloud mb" in result.stderr
    assert b"Traceback" not in result.stderr


def test_unreachable_endpoint_is_one_clear_line(tmp_path: Path) -> None:
    env = os.environ.copy()
    env.update(
        {
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_MAX_ATTEMPTS": "1",
        }
    )
    result = run("ls", "s3://some-bucket/", env=env)
    assert result.returncode == 1
    assert b"cannot reach the S3 endpoint" in result.stderr
    assert b"Traceback" not in result.stderr


def test_local_to_local_cp_and_ls_need_no_cloud(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.bin").write_bytes(b"\x00" * 1000)
    assert run("cp", str(tmp_path / "a" / "x.bin"), str(tmp_path / "b" / "y.bin")).returncode == 0
    assert (tmp_path / "b" / "y.bin").read_bytes() == b"\x00" * 1000
    listed: list[dict[str, Any]] = json.loads(run("ls", str(tmp_path / "b"), "--json").stdout)
    assert [e["key"].rsplit("/", 1)[-1] for e in listed] == ["y.bin"]


def test_help_lists_the_commands() -> None:
    result = run("--help")
    assert result.returncode == 0
    for command in ("ls", "cat", "cp", "rm", "stat", "mb", "sandbox", "demo"):
        assert command in result.stdout.decode()


def test_version_prints_the_package_version() -> None:
    from omnicloud import __version__

    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.decode() == f"omnicloud {__version__}\n"


def test_verbose_flag_logs_debug_details_on_failure() -> None:
    result = run("-v", "cat", "mem://nobucket/x")
    assert result.returncode == 1
    assert b"DEBUG" in result.stderr


def test_demo_json_reports_every_leg_verified() -> None:
    result = run("demo", "--only", "memory", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["ok"] is True
    assert summary["legs"][0]["objects"] == 6
