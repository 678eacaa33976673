from __future__ import annotations

import collections
import errno
import logging
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from omnicloud.errors import (
    ConfigError,
    IntegrityError,
    OmniCloudError,
    PreconditionFailedError,
    TransientError,
)
from omnicloud.storage import DIGEST_METADATA_KEY, MTIME_METADATA_KEY
from omnicloud.storage.local import TEMP_MARKER
from omnicloud.transfer import Journal, TransferOptions, _context, copy
from omnicloud.transfer._digest import CHUNK_SIZE, digest_bytes
from omnicloud.transfer._journal import Partial
from omnicloud.transfer._limits import MemoryBudget, PartBuffers

from .faulty_store import MiB, World, payload

BIG = 40 * MiB + 1234  # 6 parts of 8 MiB


def test_single_object_copy_records_the_canonical_digest(world: World, options: TransferOptions) -> None:
    data = payload(1000)
    world.store("a").put("k", data)
    summary = copy("mem://a/k", "mem://b/k2", options=options, opener=world.opener)
    assert summary.copied == 1 and summary.bytes == 1000
    assert world.store("b").get("k2") == data
    assert world.store("b").stat("k2").digest == digest_bytes(data)


def test_copy_into_a_prefix_keeps_the_source_name(world: World, options: TransferOptions) -> None:
    world.store("a").put("dir/name.txt", b"x")
    copy("mem://a/dir/name.txt", "mem://b/into/", options=options, opener=world.opener)
    assert world.store("b").get("into/name.txt") == b"x"


def test_copy_into_an_existing_local_directory_keeps_the_source_name(
    world: World, options: TransferOptions, tmp_path: Path
) -> None:
    world.store("a").put("name.txt", b"x")
    copy("mem://a/name.txt", str(tmp_path), options=options, opener=world.opener)
    assert (tmp_path / "name.txt").read_bytes() == b"x"


def test_copying_a_prefix_without_recursive_is_refused(world: World, options: TransferOptions) -> None:
    with pytest.raises(ConfigError, match="recursive"):
        copy("mem://a/dir/", "mem://b/", options=options, opener=world.opener)


def test_source_metadata_is_kept_and_non_portable_keys_dropped(
    world: World, options: TransferOptions
) -> None:
    from dataclasses import replace as replace_info

    inner = world.store("a").inner
    info = inner.put("k", b"x", metadata={"owner": "me"})
    # A key that S3 allows but Azure does not (set behind the store's back: our put refuses it).
    inner._ns.buckets["a"].objects["k"] = (b"x", replace_info(info, metadata={"owner": "me", "x-team": "a"}))
    copy("mem://a/k", "mem://b/k", options=options, opener=world.opener)
    assert info.last_modified is not None
    assert dict(world.store("b").stat("k").metadata) == {
        "owner": "me",
        DIGEST_METADATA_KEY: digest_bytes(b"x"),
        MTIME_METADATA_KEY: info.last_modified.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),  # the source's date
    }


def test_large_object_goes_up_in_parts_and_keeps_the_same_digest(
    world: World, options: TransferOptions
) -> None:
    data = payload(BIG)
    world.store("a").put("big", data)
    copy("mem://a/big", "mem://b/big", options=options, opener=world.opener)
    dst = world.store("b")
    assert dst.calls["upload_part"] == 6
    assert dst.get("big") == data
    assert dst.stat("big").digest == digest_bytes(data)
    assert dst.stat("big").etag.endswith('-6"')  # type: ignore[union-attr]


def test_recorded_digest_that_does_not_match_the_bytes_fails_and_leaves_no_destination(
    world: World, options: TransferOptions
) -> None:
    data = payload(BIG)
    world.store("a").put("big", data, metadata={DIGEST_METADATA_KEY: digest_bytes(b"something else")})
    with pytest.raises(IntegrityError, match="digest mismatch"):
        copy("mem://a/big", "mem://b/big", options=options, opener=world.opener)
    assert not world.store("b").exists("big")
    assert world.store("b").calls["abort_multipart"] == 1


def test_small_object_with_a_wrong_recorded_digest_is_not_written(
    world: World, options: TransferOptions
) -> None:
    world.store("a").put("k", b"abc", metadata={DIGEST_METADATA_KEY: digest_bytes(b"abd")})
    with pytest.raises(IntegrityError):
        copy("mem://a/k", "mem://b/k", options=options, opener=world.opener)
    assert not world.store("b").exists("k")


def test_transient_errors_are_retried(world: World, options: TransferOptions) -> None:
    world.store("a").put("big", payload(BIG))
    dst = world.store("b")
    dst.faults["upload_part"] = lambda n, args: TransientError("throttled") if n in (1, 2, 4) else None
    copy("mem://a/big", "mem://b/big", options=options, opener=world.opener)
    assert dst.calls["upload_part"] == 6 + 3
    assert dst.get("big") == world.store("a").get("big")


def test_persistent_transient_errors_give_up_naming_the_object(
    world: World, options: TransferOptions
) -> None:
    world.store("a").put("k", b"x")
    world.store("b").faults["put"] = lambda n, args: TransientError("503 slow down")
    with pytest.raises(TransientError, match=r"mem://b/k: gave up after 3 attempts"):
        copy("mem://a/k", "mem://b/k", options=_with(options, retries=3), opener=world.opener)
    assert world.store("b").calls["put"] == 3


def _with(options: TransferOptions, **changes: Any) -> TransferOptions:
    from dataclasses import replace

    return replace(options, **changes)


def test_source_changed_during_the_upload_is_detected_and_not_published(
    world: World, options: TransferOptions
) -> None:
    src = world.store("a")
    src.put("big", payload(BIG))

    def rewrite_source(n: int, args: tuple[Any, ...]) -> None:
        if n == 2:
            src.inner.put("big", payload(BIG, seed=9))
        return

    world.store("b").faults["upload_part"] = rewrite_source
    with pytest.raises((PreconditionFailedError, IntegrityError)):
        copy("mem://a/big", "mem://b/big", options=options, opener=world.opener)
    assert not world.store("b").exists("big")


def test_a_recorded_source_rewritten_during_the_upload_fails_its_digest_and_is_not_published(
    world: World, options: TransferOptions
) -> None:
    src = world.store("a")
    data, other = payload(BIG), payload(BIG, seed=9)
    src.put("big", data, metadata={DIGEST_METADATA_KEY: digest_bytes(data)})

    def rewrite_source(n: int, args: tuple[Any, ...]) -> None:
        if n == 2:
            src.inner.put("big", other, metadata={DIGEST_METADATA_KEY: digest_bytes(other)})

    world.store("b").faults["upload_part"] = rewrite_source
    with pytest.raises(IntegrityError, match="digest mismatch"):
        copy("mem://a/big", "mem://b/big", options=_with(options, part_concurrency=1), opener=world.opener)
    assert not world.store("b").exists("big")


@pytest.mark.parametrize("recorded", [True, False])
def test_a_large_copy_asks_the_source_again_only_when_no_recorded_digest_vouches_for_the_bytes(
    world: World, options: TransferOptions, recorded: bool, tmp_path: Path
) -> None:
    data = payload(BIG)
    metadata = {DIGEST_METADATA_KEY: digest_bytes(data)} if recorded else {}
    world.store("a").put("big", data, metadata=metadata)
    copy("mem://a/big", "mem://b/big", options=options, opener=world.opener)
    copy("mem://a/big", str(tmp_path / "big"), options=options, opener=world.opener)
    assert world.store("b").get("big") == data and (tmp_path / "big").read_bytes() == data
    # Each copy states the source once to begin; without a recorded digest, once more before publishing.
    assert world.store("a").calls["stat"] == (2 if recorded else 4)


def test_interrupted_multipart_upload_resumes_without_resending_finished_parts(
    world: World, options: TransferOptions
) -> None:
    data = payload(BIG)
    world.store("a").put("big", data)
    dst = world.store("b")
    dst.faults["upload_part"] = lambda n, args: OmniCloudError("connection reset") if args[1] == 5 else None
    one_at_a_time = _with(options, part_concurrency=1)
    with pytest.raises(OmniCloudError, match="connection reset"):
        copy("mem://a/big", "mem://b/big", options=one_at_a_time, opener=world.opener)
    assert not dst.exists("big")
    sent_first = dst.calls["upload_part"]
    finished = sent_first - 1  # every call but the failed one
    assert finished >= 4
    assert Journal(options.journal_path()).counts()["pieces"] == finished  # type: ignore[arg-type]

    dst.faults.clear()
    summary = copy("mem://a/big", "mem://b/big", options=one_at_a_time, opener=world.opener)
    assert summary.results[0].resumed_parts == finished
    assert dst.calls["upload_part"] - sent_first == 6 - finished
    assert dst.get("big") == data
    assert Journal(options.journal_path()).counts() == {"partials": 0, "pieces": 0, "done_objects": 0}  # type: ignore[arg-type]


def test_resume_starts_over_when_the_source_changed_since(
    world: World, options: TransferOptions, caplog: pytest.LogCaptureFixture
) -> None:
    src, dst = world.store("a"), world.store("b")
    src.put("big", payload(BIG))
    dst.faults["upload_part"] = lambda n, args: OmniCloudError("boom") if args[1] == 5 else None
    with pytest.raises(OmniCloudError):
        copy("mem://a/big", "mem://b/big", options=_with(options, part_concurrency=1), opener=world.opener)
    new = payload(BIG, seed=5)
    src.put("big", new)
    dst.faults.clear()
    with caplog.at_level(logging.WARNING, logger="omnicloud.transfer"):
        summary = copy("mem://a/big", "mem://b/big", options=options, opener=world.opener)
    assert summary.results[0].resumed_parts == 0
    assert summary.results[0].restarted == "the source changed since the interrupted run"
    assert "mem://b/big: starting over: the source changed since the interrupted run" in caplog.text
    assert dst.get("big") == new


def test_a_download_whose_source_changed_since_it_was_interrupted_says_why_it_starts_over(
    world: World, options: TransferOptions, tmp_path: Path
) -> None:
    src = world.store("a")
    src.put("big", payload(BIG))
    src.faults["read"] = lambda n, args: OmniCloudError("reset") if args[1] >= 2 * 8 * MiB else None
    target = tmp_path / "big.bin"
    serial = _with(options, part_concurrency=1)
    with pytest.raises(OmniCloudError):
        copy("mem://a/big", str(target), options=serial, opener=world.opener)
    src.faults.clear()
    new = payload(BIG, seed=3)
    src.put("big", new)

    summary = copy("mem://a/big", str(target), options=serial, opener=world.opener)

    assert (summary.results[0].resumed_parts, summary.results[0].restarted) == (
        0,
        "the source changed since the interrupted run",
    )
    assert target.read_bytes() == new
    # A rerun with nothing journaled has nothing to explain.
    again = copy("mem://a/big", str(tmp_path / "other.bin"), options=serial, opener=world.opener)
    assert again.results[0].restarted == ""


def test_an_interrupted_upload_whose_source_became_small_is_aborted_not_left_behind(
    world: World, options: TransferOptions
) -> None:
    src, dst = world.store("a"), world.store("b")
    src.put("big", payload(BIG))
    dst.faults["upload_part"] = lambda n, args: OmniCloudError("boom") if args[1] == 3 else None
    with pytest.raises(OmniCloudError):
        copy("mem://a/big", "mem://b/big", options=_with(options, part_concurrency=1), opener=world.opener)
    dst.faults.clear()
    src.put("big", b"small now")

    summary = copy("mem://a/big", "mem://b/big", options=options, opener=world.opener)

    assert summary.results[0].restarted == "the source changed since the interrupted run"
    assert dst.get("big") == b"small now"
    # The unfinished multipart upload is aborted (it costs storage until then), its journal rows gone.
    assert dst.calls["abort_multipart"] == 1
    assert Journal(options.journal_path()).counts()["partials"] == 0  # type: ignore[arg-type]


def test_an_interrupted_download_whose_source_became_small_leaves_no_temporary_file(
    world: World, options: TransferOptions, tmp_path: Path
) -> None:
    src = world.store("a")
    src.put("big", payload(BIG))
    src.faults["read"] = lambda n, args: OmniCloudError("reset") if args[1] >= 2 * 8 * MiB else None
    target = tmp_path / "big.bin"
    with pytest.raises(OmniCloudError):
        copy("mem://a/big", str(target), options=_with(options, part_concurrency=1), opener=world.opener)
    assert [p for p in tmp_path.iterdir() if TEMP_MARKER in p.name]
    src.faults.clear()
    src.put("big", b"small now")

    summary = copy("mem://a/big", str(target), options=options, opener=world.opener)

    assert summary.results[0].restarted == "the source changed since the interrupted run"
    assert target.read_bytes() == b"small now"
    assert [p.name for p in tmp_path.iterdir() if TEMP_MARKER in p.name] == []
    assert Journal(options.journal_path()).counts()["partials"] == 0  # type: ignore[arg-type]


def test_large_object_downloads_over_ranged_streams_into_a_local_file(
    world: World, options: TransferOptions, tmp_path: Path
) -> None:
    data = payload(BIG)
    world.store("a").put("big", data)
    target = tmp_path / "out" / "big.bin"
    summary = copy("mem://a/big", str(target), options=options, opener=world.opener)
    assert target.read_bytes() == data
    # A few long ranged streams, not one request per part.
    assert 1 <= world.store("a").calls["open_read"] <= 3
    assert world.store("a").calls["get"] == 0
    assert summary.results[0].digest == digest_bytes(data)
    assert os.getxattr(target, "user.omnicloud.meta.omnicloud_digest").decode() == digest_bytes(data)
    assert not [p for p in target.parent.iterdir() if TEMP_MARKER in p.name]


def test_interrupted_download_resumes_only_the_missing_chunks(
    world: World, options: TransferOptions, tmp_path: Path
) -> None:
    data = payload(BIG)
    src = world.store("a")
    src.put("big", data)
    src.faults["read"] = lambda n, args: OmniCloudError("reset") if args[1] >= 3 * 8 * MiB else None
    target = tmp_path / "big.bin"
    serial = _with(options, part_concurrency=1)
    with pytest.raises(OmniCloudError):
        copy("mem://a/big", str(target), options=serial, opener=world.opener)
    assert not target.exists()
    assert [p.name for p in tmp_path.iterdir() if TEMP_MARKER in p.name]  # kept for the resume
    src.faults.clear()
    src.calls.clear()
    summary = copy("mem://a/big", str(target), options=serial, opener=world.opener)
    assert summary.results[0].resumed_parts == 3
    assert src.calls["open_read"] == 1  # one stream for chunks 3 to 5
    assert target.read_bytes() == data


def test_a_stream_cut_mid_object_is_reopened_where_it_stopped(
    world: World, options: TransferOptions, tmp_path: Path
) -> None:
    data = payload(BIG)
    src = world.store("a")
    src.put("big", data)
    cut = {"done": False}

    def cut_once(n: int, args: tuple[Any, ...]) -> BaseException | None:
        if args[1] >= 2 * 8 * MiB and not cut["done"]:
            cut["done"] = True
            return TransientError("connection reset")
        return None

    src.faults["read"] = cut_once
    target = tmp_path / "big.bin"
    copy("mem://a/big", str(target), options=_with(options, part_concurrency=1), opener=world.opener)
    assert target.read_bytes() == data
    assert src.calls["open_read"] == 2


def test_downloads_add_streams_while_that_raises_throughput(
    world: World, options: TransferOptions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each stream is held to ~40 MiB/s (as one TCP stream is on a long path): streams get added."""
    from omnicloud.transfer._object_copy import _StreamedDownload

    monkeypatch.setattr(_StreamedDownload, "_MIN_SPLIT", 1)  # sections of 8 MiB: a small test object
    data = payload(128 * MiB)
    src = world.store("a")
    src.put("big", data)

    def slow(n: int, args: tuple[Any, ...]) -> None:
        time.sleep(MiB / (40 * MiB))  # reads here come a MiB at a time

    src.faults["read"] = slow
    target = tmp_path / "big.bin"
    copy("mem://a/big", str(target), options=_with(options, part_concurrency=4), opener=world.opener)
    assert target.read_bytes() == data
    assert src.calls["open_read"] >= 3


@pytest.mark.parametrize(("open_delay", "rate"), [(0.0, 200), (0.4, 40)])
def test_a_second_stream_opens_at_once_only_where_ranges_open_quickly(
    open_delay: float,
    rate: int,
    world: World,
    options: TransferOptions,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A range that opens within _QUICK_OPEN gets a second stream at once; a slow one waits a window."""
    from omnicloud.transfer._object_copy import _StreamedDownload

    monkeypatch.setattr(_StreamedDownload, "_MIN_SPLIT", 1)
    data = payload(64 * MiB)
    src = world.store("a")
    src.put("big", data)
    opened: list[float] = []

    def slow_open(n: int, args: tuple[Any, ...]) -> None:
        opened.append(time.monotonic())
        time.sleep(open_delay)

    def slow_read(n: int, args: tuple[Any, ...]) -> None:
        time.sleep(1 / rate)  # reads come a MiB at a time: ``rate`` MiB/s per stream

    src.faults["open_read"] = slow_open
    src.faults["read"] = slow_read
    target = tmp_path / "big.bin"
    copy("mem://a/big", str(target), options=_with(options, part_concurrency=4), opener=world.opener)
    assert target.read_bytes() == data
    assert len(opened) >= 2
    gap = opened[1] - opened[0]
    if open_delay:
        assert gap >= open_delay + _StreamedDownload._WINDOW
    else:
        assert gap < _StreamedDownload._QUICK_OPEN + 0.2


def test_a_stream_that_ends_takes_half_of_the_largest_section_left() -> None:
    from omnicloud.transfer._object_copy import _Section, _StreamedDownload

    download = _StreamedDownload.__new__(_StreamedDownload)
    download.waiting = collections.deque([_Section(40, 42)])
    download.active = [_Section(0, 10), _Section(10, 30)]
    assert (download._more_work().next, download.active[-1].end) == (40, 42)  # a waiting run first
    stolen = download._more_work()
    assert (stolen.next, stolen.end) == (20, 30)
    assert download.active[1].end == 20
    download.active = [_Section(0, 7)]
    assert download._more_work() is None  # too small to split


def test_a_section_is_split_only_when_moving_its_half_takes_longer_than_opening_a_range(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from omnicloud.transfer._object_copy import _Section, _StreamedDownload

    monkeypatch.setattr(_StreamedDownload, "_MIN_SPLIT", 1)
    download = _StreamedDownload.__new__(_StreamedDownload)
    download.waiting = collections.deque()
    # Two streams have moved 10 chunks in 1 s (5 chunks/s each); a range took 0.7 s to open.
    download.started, download.chunks_moved, download.open_seconds = time.monotonic() - 1.0, 10, 0.7
    download.active = [_Section(0, 2), _Section(10, 16)]
    assert download._more_work() is None  # 3 chunks: 0.6 s, less than an opening
    download.active = [_Section(0, 2), _Section(10, 20)]
    stolen = download._more_work()  # 5 chunks: 1 s
    assert stolen is not None and (stolen.next, stolen.end) == (15, 20)
    download.open_seconds = 0.0  # no range opened yet: as before, always
    download.active = [_Section(0, 2), _Section(10, 12)]
    assert download._more_work() is not None


def test_disk_full_during_a_download_is_a_clear_error_and_the_journal_is_kept(
    world: World, options: TransferOptions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = payload(BIG)
    world.store("a").put("big", data)
    real_pwrite = os.pwrite
    written = {"bytes": 0}

    def full_after_two(fd: int, buf: Any, offset: int) -> int:
        # The disk fills once two chunks' worth of bytes are on it.
        if written["bytes"] >= 2 * CHUNK_SIZE:
            raise OSError(errno.ENOSPC, "No space left on device")
        done = real_pwrite(fd, buf, offset)
        written["bytes"] += done
        return done

    monkeypatch.setattr(os, "pwrite", full_after_two)
    target = tmp_path / "big.bin"
    serial = _with(options, part_concurrency=1)
    with pytest.raises(OmniCloudError, match="no space left on device") as caught:
        copy("mem://a/big", str(target), options=serial, opener=world.opener)
    assert "resume" in str(caught.value)
    assert not target.exists()
    kept = Journal(options.journal_path()).counts()["pieces"]  # type: ignore[arg-type]
    assert kept >= 2
    monkeypatch.setattr(os, "pwrite", real_pwrite)
    summary = copy("mem://a/big", str(target), options=serial, opener=world.opener)
    assert summary.results[0].resumed_parts == kept
    assert target.read_bytes() == data


def test_local_file_copy_is_byte_identical_and_carries_the_digest(
    tmp_path: Path, options: TransferOptions
) -> None:
    data = payload(3 * 8 * MiB + 77)
    (tmp_path / "src.bin").write_bytes(data)
    summary = copy(str(tmp_path / "src.bin"), str(tmp_path / "dst.bin"), options=options)
    assert (tmp_path / "dst.bin").read_bytes() == data
    assert summary.results[0].digest == digest_bytes(data)
    assert os.getxattr(tmp_path / "dst.bin", "user.omnicloud.meta.omnicloud_digest").decode() == digest_bytes(
        data
    )


def test_local_file_uploads_in_parts_with_the_digest_known_before_the_first_part(
    world: World, options: TransferOptions, tmp_path: Path
) -> None:
    data = payload(BIG, seed=2)
    (tmp_path / "src.bin").write_bytes(data)
    copy(str(tmp_path / "src.bin"), "mem://b/up.bin", options=options, opener=world.opener)
    dst = world.store("b")
    assert dst.calls["upload_part"] == 6
    assert dst.get("up.bin") == data
    assert dst.stat("up.bin").digest == digest_bytes(data)


def test_a_local_file_goes_up_from_a_few_reused_buffers(
    world: World, options: TransferOptions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[PartBuffers] = []

    class Recorded(PartBuffers):
        def __init__(self) -> None:
            super().__init__()
            made.append(self)

    monkeypatch.setattr(_context, "PartBuffers", Recorded)
    data = payload(BIG, seed=3)
    (tmp_path / "src.bin").write_bytes(data)
    copy(str(tmp_path / "src.bin"), "mem://b/up.bin", options=options, opener=world.opener)
    dst = world.store("b")
    assert dst.calls["upload_part_from"] == dst.calls["upload_part"] == 6
    assert dst.get("up.bin") == data
    assert dst.stat("up.bin").digest == digest_bytes(data)
    # Six parts, four sent at once: at most four buffers, each used again.
    assert 1 <= made[0].made <= options.part_concurrency < 6


def test_a_reused_buffer_counts_as_a_whole_part_against_the_memory_budget_even_for_the_last_part(
    world: World, options: TransferOptions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    acquired: list[int] = []

    class Recorded(MemoryBudget):
        def acquire(self, amount: int) -> None:
            acquired.append(amount)
            super().acquire(amount)

    monkeypatch.setattr(_context, "MemoryBudget", Recorded)
    data = payload(2 * 8 * MiB + 5, seed=5)  # two whole parts of 8 MiB and one of 5 bytes
    (tmp_path / "src.bin").write_bytes(data)
    copy(str(tmp_path / "src.bin"), "mem://b/up.bin", options=options, opener=world.opener)
    assert world.store("b").get("up.bin") == data
    assert acquired == [8 * MiB] * 3


def test_a_local_file_that_shrinks_during_the_upload_fails_clearly_and_is_not_published(
    world: World, options: TransferOptions, tmp_path: Path
) -> None:
    source = tmp_path / "src.bin"
    source.write_bytes(payload(BIG, seed=4))
    dst = world.store("b")

    def shrink(number: int, args: tuple[Any, ...]) -> None:
        if number == 1:  # parts 5 and 6 are read after this: the four workers are busy until then
            os.truncate(source, MiB)

    dst.faults["upload_part"] = shrink
    with pytest.raises(PreconditionFailedError, match="shorter than listed"):
        copy(str(source), "mem://b/up.bin", options=replace(options, journal=False), opener=world.opener)
    assert not dst.exists("up.bin")
    assert dst.calls["abort_multipart"] == 1


def test_permission_denied_at_the_destination_is_a_clear_error(
    world: World, options: TransferOptions, tmp_path: Path
) -> None:
    world.store("a").put("big", payload(BIG))
    locked = tmp_path / "locked"
    locked.mkdir()
    if os.geteuid() == 0:
        # root ignores mode bits; an immutable directory refuses even root.
        import subprocess

        if subprocess.run(["chattr", "+i", str(locked)], capture_output=True).returncode != 0:
            pytest.skip("cannot make a directory immutable here")
    else:
        locked.chmod(0o500)
    try:
        with pytest.raises(PermissionError, match=r"permission denied|Operation not permitted"):
            copy("mem://a/big", str(locked / "big.bin"), options=options, opener=world.opener)
    finally:
        if os.geteuid() == 0:
            import subprocess

            subprocess.run(["chattr", "-i", str(locked)], check=False)
        else:
            locked.chmod(0o700)


def test_same_bucket_copy_of_a_digested_object_is_server_side(world: World, options: TransferOptions) -> None:
    data = payload(BIG)
    store = world.store("a")
    store.put("big", data, metadata={DIGEST_METADATA_KEY: digest_bytes(data)})
    copy("mem://a/big", "mem://a/copy", options=options, opener=world.opener)
    assert store.calls["copy"] == 1
    assert store.calls["get"] == 0
    assert store.get("copy") == data


def test_bandwidth_limit_slows_the_transfer_down(world: World, options: TransferOptions) -> None:
    import time

    world.store("a").put("k", payload(6 * MiB))
    started = time.monotonic()
    copy("mem://a/k", "mem://b/k", options=_with(options, bwlimit=8 * MiB), opener=world.opener)
    # 6 MiB at 8 MiB/s, less the 2 MiB burst allowance: at least 0.5 s.
    assert time.monotonic() - started >= 0.45


@pytest.mark.parametrize("destination", ["mem://b/big", "local"])
def test_a_failed_transfer_without_a_journal_leaves_no_upload_open_and_no_temporary_file(
    world: World, options: TransferOptions, tmp_path: Path, destination: str
) -> None:
    # With a journal both are kept, for the next run to resume; without one nothing could.
    src = world.store("a")
    src.put("big", payload(BIG))
    fail_late = lambda n, args: OmniCloudError("broken") if n > 2 else None  # noqa: E731
    if destination == "local":
        src.faults["read"] = fail_late
    else:
        world.store("b").faults["upload_part"] = fail_late
    target = str(tmp_path / "to" / "big") if destination == "local" else destination
    no_journal = replace(options, journal=False)
    with pytest.raises(OmniCloudError, match="broken"):
        copy("mem://a/big", target, options=no_journal, opener=world.opener)
    if destination == "local":
        assert list((tmp_path / "to").iterdir()) == []
    else:
        assert world.store("b").calls["upload_part"] >= 1
        assert world.store("b").calls["abort_multipart"] == 1
        assert not world.store("b").exists("big")


def test_a_download_refuses_a_temporary_file_another_run_is_writing(
    world: World, options: TransferOptions, tmp_path: Path
) -> None:
    import fcntl

    from omnicloud.transfer._object_copy import destination_temp_path
    from omnicloud.uri import parse_uri

    world.store("a").put("big", payload(BIG))
    final = tmp_path / "out.bin"
    temp = destination_temp_path(final, parse_uri("mem://a/big"))
    temp.write_bytes(b"the other run's bytes")
    with open(temp, "rb+") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # as a run in progress holds it

        with pytest.raises(PreconditionFailedError, match="another transfer is writing"):
            copy("mem://a/big", final, options=options, opener=world.opener)

    assert temp.read_bytes() == b"the other run's bytes"
    assert not final.exists()
    summary = copy("mem://a/big", final, options=options, opener=world.opener)  # once it is free
    assert summary.copied == 1
    assert final.read_bytes() == payload(BIG)


def test_the_journal_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    # It holds GCS upload session URLs, with which anyone could write the object.
    path = tmp_path / "state" / "journal.sqlite"
    with Journal(path) as journal:
        journal.start_partial(
            Partial(str(path), "resumable", "file:///x", "v", 1, 1, "https://session?upload_id=s", None, None)
        )
        # While it is open: SQLite's -wal and -shm files hold the same rows.
        modes = {p.name: oct(p.stat().st_mode & 0o777) for p in path.parent.iterdir()}
    # The empty .lock file orders openers (see Journal); it is owner-only as well.
    names = ("journal.sqlite", "journal.sqlite-wal", "journal.sqlite-shm", "journal.sqlite.lock")
    assert modes == dict.fromkeys(names, "0o600")
