"""The transfer commands in-process (``mem://`` lives in this process) and the progress reporters."""

from __future__ import annotations

import io
import json
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from omnicloud.cli._app import app
from omnicloud.cli.transfer import parse_size
from omnicloud.storage.memory import MemoryStore
from omnicloud.transfer import JsonLinesProgress, NullProgress, ObjectResult
from omnicloud.transfer._digest import digest_bytes
from omnicloud.transfer._progress import choose_progress

runner = CliRunner()


@pytest.fixture(autouse=True)
def _journal_in_tmp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OMNICLOUD_STATE_DIR", str(tmp_path / "state"))


@pytest.fixture
def bucket() -> MemoryStore:
    """A bucket in the process-wide memory namespace, which the CLI opens by URI."""
    store = MemoryStore(f"cli-{uuid.uuid4().hex[:10]}")
    store.create_bucket()
    return store


def _lines(output: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def test_cp_of_one_object_prints_progress_lines_ending_with_its_result(
    bucket: MemoryStore, tmp_path: Path
) -> None:
    (tmp_path / "f.txt").write_bytes(b"hello")
    result = runner.invoke(app, ["cp", str(tmp_path / "f.txt"), f"mem://{bucket.uri.bucket}/d/", "--json"])
    assert result.exit_code == 0, result.output
    *progress, record = _lines(result.output)
    assert progress and {r["type"] for r in progress} == {"progress"}
    assert progress[-1]["bytes"] == progress[-1]["total_bytes"] == 5
    assert progress[-1]["objects"] == progress[-1]["total_objects"] == 1
    assert record["type"] == "result"
    assert record["destination"] == f"mem://{bucket.uri.bucket}/d/f.txt"
    assert record["size"] == 5
    assert record["digest"] == digest_bytes(b"hello")


def test_cp_of_one_object_dry_run_prints_only_its_plan(bucket: MemoryStore, tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_bytes(b"hello")
    argv = ["cp", str(tmp_path / "f.txt"), f"mem://{bucket.uri.bucket}/d/", "--json", "--dry-run"]
    result = runner.invoke(app, argv)
    assert result.exit_code == 0, result.output
    (record,) = _lines(result.output)
    assert record["dry_run"] is True and record["size"] == 5
    assert not bucket.exists("d/f.txt")


def test_cp_recursive_prints_json_lines_ending_with_the_summary(bucket: MemoryStore, tmp_path: Path) -> None:
    for name in ("a", "b/c"):
        (tmp_path / "src" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "src" / name).write_bytes(name.encode())
    result = runner.invoke(
        app, ["cp", "-r", str(tmp_path / "src"), f"mem://{bucket.uri.bucket}/t/", "--json"]
    )
    assert result.exit_code == 0, result.output
    records = _lines(result.output)
    assert records[-1]["type"] == "summary" and records[-1]["copied"] == 2
    assert {r["destination"] for r in records if r["type"] == "object"} == {
        f"mem://{bucket.uri.bucket}/t/a",
        f"mem://{bucket.uri.bucket}/t/b/c",
    }


def test_sync_json_summary_has_integer_counts(bucket: MemoryStore, tmp_path: Path) -> None:
    bucket.put("src/1", b"one")
    bucket.put("dst/old", b"old")
    name = bucket.uri.bucket
    result = runner.invoke(app, ["sync", f"mem://{name}/src/", f"mem://{name}/dst/", "--delete", "--json"])
    assert result.exit_code == 0, result.output
    summary = _lines(result.output)[-1]
    assert {k: summary[k] for k in ("copied", "skipped", "deleted", "bytes")} == {
        "copied": 1,
        "skipped": 0,
        "deleted": 1,
        "bytes": 3,
    }
    assert all(isinstance(summary[k], int) for k in ("copied", "skipped", "deleted", "bytes"))


def test_sync_dry_run_prints_the_plan_and_cost_and_changes_nothing(bucket: MemoryStore) -> None:
    bucket.put("src/1", b"one")
    name = bucket.uri.bucket
    result = runner.invoke(app, ["sync", f"mem://{name}/src/", f"mem://{name}/dst/", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert f"would copy mem://{name}/src/1 -> mem://{name}/dst/1" in result.output
    assert "estimated egress cost: $0.00" in result.output
    assert not bucket.exists("dst/1")


def test_a_json_dry_run_prints_the_plan_one_object_per_line_then_the_summary(bucket: MemoryStore) -> None:
    bucket.put("src/1", b"one")
    bucket.put("src/2", b"two")
    bucket.put("dst/2", b"two")
    bucket.put("dst/gone", b"x")
    name = bucket.uri.bucket
    args = ["sync", f"mem://{name}/src/", f"mem://{name}/dst/", "--dry-run", "--delete", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    *plan, summary = _lines(result.output)
    assert sorted((r["action"], r["outcome"], r["destination"]) for r in plan) == [
        ("copy", "planned", f"mem://{name}/dst/1"),
        ("delete", "planned", f"mem://{name}/dst/gone"),
    ]
    counts = (summary["type"], summary["copied"], summary["deleted"], summary["dry_run"])
    assert counts == ("summary", 1, 1, True)
    assert bucket.exists("dst/gone") and not bucket.exists("dst/1")


def test_verify_exits_1_and_names_the_object_that_differs(bucket: MemoryStore) -> None:
    name = bucket.uri.bucket
    bucket.put("a/k", b"one")
    bucket.put("b/k", b"two")
    result = runner.invoke(app, ["verify", f"mem://{name}/a/", f"mem://{name}/b/"])
    assert result.exit_code == 1
    assert "mismatch k" in result.output


def test_verify_says_sizes_differ_when_it_needs_no_digest_to_tell(bucket: MemoryStore) -> None:
    name = bucket.uri.bucket
    bucket.put("a/k", b"one")
    bucket.put("b/k", b"three")
    result = runner.invoke(app, ["verify", f"mem://{name}/a/", f"mem://{name}/b/"])
    assert result.exit_code == 1
    assert "mismatch k (sizes differ)" in result.output
    assert "None" not in result.output


def test_verify_json_prints_a_line_per_difference_then_the_summary(bucket: MemoryStore) -> None:
    name = bucket.uri.bucket
    bucket.put("a/same", b"same")
    bucket.put("b/same", b"same")
    bucket.put("a/k", b"one")
    bucket.put("b/k", b"three")
    result = runner.invoke(app, ["verify", f"mem://{name}/a/", f"mem://{name}/b/", "--json"])
    assert result.exit_code == 1
    records = _lines(result.output)
    objects = [r for r in records if r["type"] == "object"]
    assert [(r["destination"], r["outcome"], r["reason"]) for r in objects] == [
        (f"mem://{name}/b/k", "mismatch", "sizes differ")
    ]
    summary = records[-1]
    assert {k: summary[k] for k in ("type", "ok", "matched", "mismatched", "missing", "extra")} == {
        "type": "summary",
        "ok": False,
        "matched": 1,
        "mismatched": 1,
        "missing": 0,
        "extra": 0,
    }
    progress = [r for r in records if r["type"] == "progress"]
    assert progress and progress[-1]["objects"] == progress[-1]["total_objects"] == 2


def test_a_quiet_verify_prints_nothing_when_all_match_and_the_differences_when_not(
    bucket: MemoryStore,
) -> None:
    name = bucket.uri.bucket
    bucket.put("a/k", b"one")
    bucket.put("b/k", b"one")
    quiet = runner.invoke(app, ["verify", f"mem://{name}/a/", f"mem://{name}/b/", "-q"])
    assert (quiet.exit_code, quiet.output) == (0, "")
    bucket.put("a/new", b"new")
    bucket.put("b/old", b"old")
    quiet = runner.invoke(app, ["verify", f"mem://{name}/a/", f"mem://{name}/b/", "-q"])
    assert quiet.exit_code == 1
    assert "missing  new" in quiet.output and "extra    old" in quiet.output
    assert "DIFFERENT: 1 matched, 0 mismatched, 1 missing, 1 extra" in quiet.output


def test_a_checksum_dry_run_says_which_copies_depend_on_the_digests(bucket: MemoryStore) -> None:
    name = bucket.uri.bucket
    bucket.put("a/same", b"one")
    bucket.put("b/same", b"one")
    bucket.put("a/new", b"new")
    result = runner.invoke(app, ["sync", f"mem://{name}/a/", f"mem://{name}/b/", "--checksum", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert f"would copy mem://{name}/a/same -> mem://{name}/b/same (if the digests differ)" in result.output
    assert f"would copy mem://{name}/a/new -> mem://{name}/b/new\n" in result.output


def test_download_writes_each_object_under_the_directory(bucket: MemoryStore, tmp_path: Path) -> None:
    name = bucket.uri.bucket
    bucket.put("x/1", b"one")
    bucket.put("y/2", b"two")
    listing = tmp_path / "uris.txt"
    listing.write_text(f"# wanted\nmem://{name}/y/2\n")
    result = runner.invoke(
        app,
        ["download", f"mem://{name}/x/1", "--from-file", str(listing), "--to", str(tmp_path / "d"), "--json"],
    )
    assert result.exit_code == 0, result.output
    assert _lines(result.output)[-1] == {"type": "summary", "downloaded": 2, "failed": 0, "bytes": 6}
    assert (tmp_path / "d" / "y" / "2").read_bytes() == b"two"
    # The total grows as each object's size becomes known; a consumer's percentage ends at 100.
    last_progress = [r for r in _lines(result.output) if r["type"] == "progress"][-1]
    assert (last_progress["bytes"], last_progress["total_bytes"]) == (6, 6)


def test_a_missing_source_is_one_line_on_stderr_and_exit_1(bucket: MemoryStore, tmp_path: Path) -> None:
    result = runner.invoke(app, ["cp", f"mem://{bucket.uri.bucket}/nope", str(tmp_path / "x")])
    assert result.exit_code == 1
    assert "Traceback" not in result.output


def test_ls_and_rm_show_listed_keys_that_omnicloud_would_refuse_as_input(bucket: MemoryStore) -> None:
    name = bucket.uri.bucket
    bucket.put("dots/..", b"odd")  # S3 and others accept a '..' segment in a key
    bucket.put("dots/ok", b"ok")

    listed = runner.invoke(app, ["ls", "-r", f"mem://{name}/dots/"])
    removed = runner.invoke(app, ["rm", "-r", f"mem://{name}/dots/"])

    assert listed.exit_code == 0, listed.output
    assert f"mem://{name}/dots/.." in listed.output
    assert removed.exit_code == 0, removed.output
    assert removed.output.splitlines() == [f"deleted mem://{name}/dots/..", f"deleted mem://{name}/dots/ok"]
    assert list(bucket.list()) == []


def test_local_names_that_are_not_utf8_give_valid_json_and_readable_text(
    bucket: MemoryStore, tmp_path: Path
) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "\udcffname").write_bytes(b"x")  # the name b"\xffname", as Python spells it

    listed = runner.invoke(app, ["ls", str(source), "--json"])
    shown = runner.invoke(app, ["ls", str(source)])
    synced = runner.invoke(app, ["sync", str(source), f"mem://{bucket.uri.bucket}/q/", "--json"])

    assert listed.exit_code == 0, listed.output
    [entry] = json.loads(listed.stdout_bytes.decode("utf-8"))
    assert entry["key"].endswith("/\udcffname")
    assert "\\xffname" in shown.stdout_bytes.decode("utf-8")
    # An object key must be Unicode: that one object fails, and says why, in valid JSON.
    assert synced.exit_code == 1
    lines = [json.loads(line) for line in synced.stdout_bytes.decode("utf-8").splitlines()]
    [failed] = [line for line in lines if line.get("outcome") == "failed"]
    assert "unicode" in failed["error"]
    assert lines[-1]["failed"] == 1


def _command_line(command: str, bucket: MemoryStore, tmp_path: Path) -> list[str]:
    """A run of ``command`` that moves one small object from ``bucket`` into ``tmp_path``."""
    bucket.put("s/one", b"one")
    source = f"mem://{bucket.uri.bucket}/s/"
    if command == "download":
        return ["download", f"{source}one", "--to", str(tmp_path / "d")]
    return [command, *(["-r"] if command == "cp" else []), source, str(tmp_path / "d")]


@pytest.mark.parametrize("command", ["cp", "cp-one", "sync", "download"])
def test_quiet_prints_nothing_when_all_went_well(command: str, bucket: MemoryStore, tmp_path: Path) -> None:
    if command == "cp-one":
        bucket.put("s/one", b"one")
        args = ["cp", f"mem://{bucket.uri.bucket}/s/one", str(tmp_path / "d" / "one")]
    else:
        args = _command_line(command, bucket, tmp_path)
    result = runner.invoke(app, [*args, "-q"])
    assert (result.exit_code, result.output) == (0, "")
    assert [path.read_bytes() for path in (tmp_path / "d").rglob("one")] == [b"one"]


def test_quiet_still_reports_what_failed(bucket: MemoryStore, tmp_path: Path) -> None:
    bucket.put("s/one", b"one")
    name = bucket.uri.bucket
    result = runner.invoke(
        app, ["download", f"mem://{name}/s/one", f"mem://{name}/s/gone", "--to", str(tmp_path), "-q"]
    )
    assert result.exit_code == 1
    assert result.output == f"failed: mem://{name}/s/gone: no such object (mem://{name}/s/gone)\n"


@pytest.mark.parametrize("command", ["cp", "sync", "download"])
def test_every_transfer_command_takes_the_tuning_options(
    command: str, bucket: MemoryStore, tmp_path: Path
) -> None:
    journal = tmp_path / "chosen.db"
    tuning = ["--journal", str(journal), "--part-size", "8MiB", "--retries", "2", "--bwlimit", "1G"]
    result = runner.invoke(app, [*_command_line(command, bucket, tmp_path), *tuning, "-q"])
    assert result.exit_code == 0, result.output
    assert journal.exists()
    assert [path.read_bytes() for path in (tmp_path / "d").rglob("one")] == [b"one"]


def test_verify_takes_concurrency_and_retries(bucket: MemoryStore) -> None:
    name = bucket.uri.bucket
    bucket.put("a/k", b"one")
    bucket.put("b/k", b"one")
    args = ["verify", f"mem://{name}/a/", f"mem://{name}/b/"]
    result = runner.invoke(app, [*args, "--concurrency", "1", "--retries", "2"])
    assert (result.exit_code, result.output) == (0, "OK: 1 matched, 0 mismatched, 0 missing, 0 extra\n")
    result = runner.invoke(app, [*args, "-c", "0"])
    assert result.exit_code == 2
    assert result.output == "error: concurrency (--concurrency) must be at least 1\n"


@pytest.mark.parametrize("command", ["cp", "sync", "download"])
def test_a_bad_tuning_option_is_a_one_line_error_before_anything_moves(
    command: str, bucket: MemoryStore, tmp_path: Path
) -> None:
    result = runner.invoke(app, [*_command_line(command, bucket, tmp_path), "--max-memory", "lots"])
    assert result.exit_code == 2
    assert "not a size: 'lots'" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize(
    ("text", "size"),
    [("512", 512), ("16M", 16 * 2**20), ("16MiB", 16 * 2**20), ("16MB", 16 * 10**6), ("1.5k", 1536)],
)
def test_sizes_read_like_rclone(text: str, size: int) -> None:
    assert parse_size(text) == size


def test_json_progress_writes_object_records_and_a_final_progress_record() -> None:
    out = io.StringIO()
    progress = JsonLinesProgress(out, interval=3600)
    progress.planned(2, 30)
    progress.advance(10)
    progress.object_done(ObjectResult("mem://a/1", "mem://b/1", "copy", "copied", 10))
    progress.object_done(
        ObjectResult("mem://a/2", "mem://b/2", "copy", "copied", 20, restarted="the source changed")
    )
    progress.close()
    records = _lines(out.getvalue())
    assert records[0]["type"] == "progress"  # the first advance always reports
    assert records[1]["type"] == "object" and records[1]["destination"] == "mem://b/1"
    assert "restarted" not in records[1] and records[2]["restarted"] == "the source changed"
    assert records[-1] == {
        "type": "progress",
        "bytes": 10,
        "total_bytes": 30,
        "objects": 2,
        "total_objects": 2,
        "rate": records[-1]["rate"],
    }


def test_progress_is_quiet_in_ci_and_when_not_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    assert isinstance(choose_progress(json_lines=False), NullProgress)
    monkeypatch.delenv("CI")
    assert isinstance(choose_progress(json_lines=False), NullProgress)  # pytest's stderr is not a TTY
    assert isinstance(choose_progress(json_lines=True), JsonLinesProgress)


def test_the_rich_bar_starts_its_thread_at_the_first_event_so_listings_can_fork_before() -> None:
    import threading

    from omnicloud.transfer._progress import RichProgress

    before = set(threading.enumerate())  # other tests' idle threads may end meanwhile: only new ones count

    def started() -> set[threading.Thread]:
        return {t for t in threading.enumerate() if t not in before}

    bar = RichProgress()
    try:
        assert started() == set()  # a local listing started now may still fork
        bar.planned(1, 10)
        assert len(started()) == 1  # the bar redraws on its own thread
        bar.advance(10)
        bar.object_done(ObjectResult("a", "b", "copy", "copied", 10))
    finally:
        bar.close()
    for thread in started():  # Rich tells its thread to stop and does not wait for it
        thread.join(timeout=5)
    assert started() == set()
    unused = RichProgress()
    unused.close()  # never started: nothing to stop
    unused.planned(1, 1)  # an event after close starts nothing
    assert started() == set()


def test_one_object_copy_plans_its_size_and_counts_the_object_before_the_bar_closes(tmp_path: Path) -> None:
    from omnicloud.transfer import copy

    (tmp_path / "f").write_bytes(b"x" * 1000)
    out = io.StringIO()
    copy(tmp_path / "f", tmp_path / "g", progress=JsonLinesProgress(out, interval=3600))
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert records[-1]["type"] == "progress"  # the last word is the closing progress record
    assert (records[-1]["bytes"], records[-1]["total_bytes"]) == (1000, 1000)
    assert (records[-1]["objects"], records[-1]["total_objects"]) == (1, 1)
