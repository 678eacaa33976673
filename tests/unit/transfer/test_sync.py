from __future__ import annotations

import json
import os
import time
from dataclasses import replace
from pathlib import Path

import pytest

from omnicloud.errors import OmniCloudError
from omnicloud.storage import DIGEST_METADATA_KEY
from omnicloud.storage.local import LocalStore
from omnicloud.transfer import Journal, TransferOptions, copy, sync, verify
from omnicloud.transfer._digest import digest_bytes

from .faulty_store import MiB, ThreadsSeen, World, payload


def _fill(world: World, bucket: str, objects: dict[str, bytes]) -> None:
    for key, data in objects.items():
        world.store(bucket).put(key, data)


def test_sync_copies_everything_then_nothing_on_the_second_run(
    world: World, options: TransferOptions
) -> None:
    _fill(world, "a", {"p/1": b"one", "p/d/2": b"two", "other/3": b"x"})
    first = sync("mem://a/p/", "mem://b/q/", options=options, opener=world.opener)
    assert (first.copied, first.skipped, first.deleted, first.bytes) == (2, 0, 0, 6)
    assert world.store("b").get("q/d/2") == b"two"
    second = sync("mem://a/p/", "mem://b/q/", options=options, opener=world.opener)
    assert (second.copied, second.skipped, second.bytes) == (0, 2, 0)


def test_sync_without_a_trailing_slash_treats_the_key_as_a_prefix(
    world: World, options: TransferOptions
) -> None:
    _fill(world, "a", {"p/1": b"one", "px": b"not under p/"})
    summary = sync("mem://a/p", "mem://b/q", options=options, opener=world.opener)
    assert summary.copied == 1
    assert [i.key for i in world.store("b").list()] == ["q/1"]


def test_sync_recopies_an_object_whose_content_changed(world: World, options: TransferOptions) -> None:
    _fill(world, "a", {"p/1": b"one"})
    sync("mem://a/p/", "mem://b/q/", options=options, opener=world.opener)
    world.store("a").put("p/1", b"ONE", metadata={DIGEST_METADATA_KEY: digest_bytes(b"ONE")})
    summary = sync("mem://a/p/", "mem://b/q/", options=options, opener=world.opener)
    assert summary.copied == 1
    assert world.store("b").get("q/1") == b"ONE"


def test_delete_removes_destination_objects_the_source_lacks(world: World, options: TransferOptions) -> None:
    _fill(world, "a", {"p/keep": b"k"})
    _fill(world, "b", {"q/keep": b"k", "q/gone": b"g", "elsewhere": b"e"})
    summary = sync("mem://a/p/", "mem://b/q/", delete=True, options=options, opener=world.opener)
    assert summary.deleted == 1
    assert sorted(i.key for i in world.store("b").list()) == ["elsewhere", "q/keep"]


def test_dry_run_plans_counts_and_bytes_but_changes_nothing(world: World, options: TransferOptions) -> None:
    _fill(world, "a", {"p/1": b"12345", "p/2": b"123"})
    _fill(world, "b", {"q/extra": b"e"})
    writes_before = world.store("b").calls["put"]
    summary = sync(
        "mem://a/p/", "mem://b/q/", delete=True, dry_run=True, options=options, opener=world.opener
    )
    assert (summary.copied, summary.deleted, summary.bytes, summary.dry_run) == (2, 1, 8, True)
    assert [i.key for i in world.store("b").list()] == ["q/extra"]
    assert world.store("b").calls["put"] == writes_before
    assert summary.estimated_cost is not None
    assert summary.estimated_cost["total"] == "0.00"  # within this machine


def test_checksum_mode_copies_same_size_objects_whose_bytes_differ(
    world: World, options: TransferOptions
) -> None:
    _fill(world, "a", {"p/1": b"aaaa", "p/2": b"same"})
    _fill(world, "b", {"q/1": b"bbbb", "q/2": b"same"})
    by_time = sync("mem://a/p/", "mem://b/q/", options=options, opener=world.opener)
    assert by_time.copied == 0  # destination newer, same size: skipped
    by_digest = sync("mem://a/p/", "mem://b/q/", checksum=True, options=options, opener=world.opener)
    assert (by_digest.copied, by_digest.skipped) == (1, 1)
    assert world.store("b").get("q/1") == b"aaaa"


@pytest.mark.parametrize("size", [4, 9 * MiB])  # one chunk: compared in the calling thread; more: in the pool
def test_checksum_mode_between_local_trees_copies_only_what_differs(
    options: TransferOptions, tmp_path: Path, size: int
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for side in (a, b):
        (side / "d").mkdir(parents=True)
        (side / "d" / "same").write_bytes(b"s" * size)
    (a / "d" / "edited").write_bytes(b"a" * size)
    (b / "d" / "edited").write_bytes(b"b" * size)
    os.utime(b / "d" / "edited", (2e9, 2e9))  # newer at the destination: only the digests tell
    summary = sync(a, b, checksum=True, options=options)
    assert (summary.copied, summary.skipped, summary.failed) == (1, 1, 0)
    assert [r.destination.rsplit("/", 1)[1] for r in summary.results] == ["edited"]
    assert (b / "d" / "edited").read_bytes() == b"a" * size
    again = sync(a, b, checksum=True, options=options)
    assert (again.copied, again.skipped) == (0, 2)


def test_include_and_exclude_select_what_is_synced(world: World, options: TransferOptions) -> None:
    _fill(world, "a", {"p/a.csv": b"1", "p/b.csv": b"2", "p/c.txt": b"3", "p/tmp/d.csv": b"4"})
    summary = sync(
        "mem://a/p/",
        "mem://b/q/",
        include=["*.csv"],
        exclude=["tmp/*"],
        options=options,
        opener=world.opener,
    )
    assert summary.copied == 2
    assert sorted(i.key for i in world.store("b").list()) == ["q/a.csv", "q/b.csv"]


def test_manifest_records_each_object_and_the_summary(
    world: World, options: TransferOptions, tmp_path: Path
) -> None:
    _fill(world, "a", {"p/1": b"one"})
    manifest = tmp_path / "m" / "manifest.json"
    sync("mem://a/p/", "mem://b/q/", manifest=manifest, options=options, opener=world.opener)
    document = json.loads(manifest.read_text())
    assert document["summary"]["copied"] == 1
    assert document["objects"][0]["destination"] == "mem://b/q/1"
    assert document["objects"][0]["digest"] == digest_bytes(b"one")


def test_a_failing_object_is_reported_and_the_others_still_copy(
    world: World, options: TransferOptions
) -> None:
    _fill(world, "a", {"p/1": b"one", "p/2": b"two", "p/3": b"three"})
    world.store("b").faults["put"] = lambda n, args: OmniCloudError("denied") if args[0] == "q/2" else None
    summary = sync("mem://a/p/", "mem://b/q/", options=options, opener=world.opener)
    assert (summary.copied, summary.failed) == (2, 1)
    failed = [r for r in summary.results if r.outcome == "failed"]
    assert failed[0].destination == "mem://b/q/2" and "denied" in (failed[0].error or "")
    assert not summary.ok


def test_recursive_copy_rerun_after_a_failure_skips_objects_the_journal_saw_finish(
    world: World, options: TransferOptions
) -> None:
    _fill(world, "a", {f"p/{i}": f"{i}".encode() for i in range(6)})
    dst = world.store("b")
    dst.faults["put"] = lambda n, args: OmniCloudError("boom") if args[0] == "q/3" else None
    serial = replace(options, concurrency=1)
    first = copy("mem://a/p/", "mem://b/q/", recursive=True, options=serial, opener=world.opener)
    assert first.failed == 1
    puts_before = dst.calls["put"]
    dst.faults.clear()
    second = copy("mem://a/p/", "mem://b/q/", recursive=True, options=serial, opener=world.opener)
    assert (second.copied, second.skipped, second.failed) == (1, 5, 0)
    assert dst.calls["put"] - puts_before == 1
    assert Journal(options.journal_path()).counts()["done_objects"] == 0  # type: ignore[arg-type]


def test_recursive_copy_overwrites_unchanged_objects_without_a_journal(
    world: World, options: TransferOptions
) -> None:
    _fill(world, "a", {"p/1": b"one"})
    no_journal = replace(options, journal=False)
    copy("mem://a/p/", "mem://b/q/", recursive=True, options=no_journal, opener=world.opener)
    again = copy("mem://a/p/", "mem://b/q/", recursive=True, options=no_journal, opener=world.opener)
    assert again.copied == 1


def test_local_tree_syncs_to_memory_and_back_byte_identical(
    world: World, options: TransferOptions, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    files = {"a.txt": b"alpha", "d/b.bin": bytes(range(256)) * 100, "d/e/c": b""}
    for name, data in files.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(data)
    up = sync(str(src), "mem://b/tree/", options=options, opener=world.opener)
    down = sync("mem://b/tree/", str(tmp_path / "back"), options=options, opener=world.opener)
    assert up.copied == down.copied == 3
    for name, data in files.items():
        assert (tmp_path / "back" / name).read_bytes() == data


def test_a_local_file_edited_in_place_after_a_sync_is_copied_verified_and_synced_again(
    options: TransferOptions, tmp_path: Path
) -> None:
    # A file written by omnicloud keeps its digest attribute when another
    # program rewrites it in place; that digest must not stand for the new bytes.
    src, one, two = tmp_path / "src", tmp_path / "one", tmp_path / "two"
    src.mkdir()
    (src / "a.txt").write_bytes(b"hello")
    sync(str(src), str(one), options=options)
    sync(str(src), str(two), options=options)
    edited = one / "a.txt"
    before = edited.stat()
    with open(edited, "r+b") as handle:
        handle.write(b"j")  # same size, same inode, attributes kept
    # Seconds newer than the other copy: the time rule tolerates less than one.
    os.utime(edited, ns=(before.st_atime_ns, before.st_mtime_ns + 5_000_000_000))
    report = verify(str(one), str(two))
    assert [entry.key for entry in report.mismatched] == ["a.txt"]
    copied = copy(str(edited), str(tmp_path / "copy.txt"), options=options)
    assert copied.copied == 1 and (tmp_path / "copy.txt").read_bytes() == b"jello"
    again = sync(str(one), str(two), options=options)
    assert again.copied == 1
    assert (two / "a.txt").read_bytes() == b"jello"
    assert verify(str(one), str(two)).ok


@pytest.mark.parametrize("count", [1200])
def test_many_small_objects_sync_with_bounded_work_in_flight(
    world: World, options: TransferOptions, count: int
) -> None:
    _fill(world, "a", {f"p/{i:05d}": b"x" * 10 for i in range(count)})
    summary = sync("mem://a/p/", "mem://b/q/", options=options, opener=world.opener)
    assert summary.copied == count and summary.bytes == 10 * count
    assert sum(1 for _ in world.store("b").list("q/")) == count


def test_a_key_the_destination_cannot_hold_is_reported_failed_not_lost(
    world: World, options: TransferOptions, tmp_path: Path
) -> None:
    """Local paths may be 4096 bytes; memory (like S3) keys 1024: that object fails, the rest copy."""
    deep = tmp_path / "tree" / Path(*["d" * 200] * 6) / "long.txt"
    deep.parent.mkdir(parents=True)
    deep.write_bytes(b"deep")
    (tmp_path / "tree" / "short.txt").write_bytes(b"short")
    world.store("b")
    summary = sync(str(tmp_path / "tree"), "mem://b/t/", options=options, opener=world.opener)
    assert (summary.copied, summary.failed) == (1, 1)
    failed = next(r for r in summary.results if r.outcome == "failed")
    assert failed.destination is not None and failed.destination.endswith("/long.txt")
    assert "1024-byte limit" in (failed.error or "")


def test_a_download_keeps_the_source_date_so_syncing_back_copies_nothing(
    world: World, options: TransferOptions, tmp_path: Path
) -> None:
    # Objects put by another tool record no digest, so syncs compare sizes and dates.
    # Memory dates have microseconds: a file dated by its own write would be newer than
    # its source at once, and the sync back would copy both objects again.
    _fill(world, "a", {"t/small.txt": b"small", "t/big.bin": payload(17 * MiB, seed=4)})
    down = sync("mem://a/t/", str(tmp_path / "back"), options=options, opener=world.opener)
    assert down.copied == 2
    for name in ("small.txt", "big.bin"):  # one whole GET, one ranged download
        source_date = world.store("a").stat(f"t/{name}").last_modified
        assert source_date is not None
        kept = (tmp_path / "back" / name).stat().st_mtime_ns
        assert kept == int(source_date.timestamp() * 1_000_000) * 1000, name

    back = sync(str(tmp_path / "back"), "mem://a/t/", options=options, opener=world.opener)
    again = sync("mem://a/t/", str(tmp_path / "back"), options=options, opener=world.opener)

    assert [(r.copied, r.skipped) for r in (back, again)] == [(0, 2), (0, 2)]
    listed = {i.key: i for i in LocalStore(tmp_path / "back").list()}
    assert listed["big.bin"].digest == digest_bytes(payload(17 * MiB, seed=4))  # recorded with the kept date


@pytest.mark.parametrize("size", [5, 9 * MiB])  # one put, one copy_file_range
def test_a_local_copy_keeps_the_file_date_like_cp_p(
    options: TransferOptions, tmp_path: Path, size: int
) -> None:
    source, target = tmp_path / "src" / "old.bin", tmp_path / "dst" / "old.bin"
    source.parent.mkdir()
    source.write_bytes(payload(size, seed=5))
    dated = 1_000_000_000_123_456_789  # 2001-09-09, to the nanosecond
    os.utime(source, ns=(dated, dated))
    copy(str(source), str(target), options=options)
    # Kept to the microsecond, the precision of an ObjectInfo's date.
    assert abs(target.stat().st_mtime_ns - dated) < 1000
    listed = {i.key: i for i in LocalStore(tmp_path).list()}
    assert listed["dst/old.bin"].last_modified == listed["src/old.bin"].last_modified
    assert listed["dst/old.bin"].digest == digest_bytes(payload(size, seed=5))
    back = sync(str(target.parent), str(source.parent), options=options)
    assert (back.copied, back.skipped) == (0, 1)


def test_a_tree_synced_up_then_back_onto_itself_copies_nothing_and_downloads_keep_the_file_dates(
    world: World, options: TransferOptions, tmp_path: Path
) -> None:
    # The store dates each object by its upload, an hour after the files' dates; only the
    # date each upload records tells the sync back that the files are those objects.
    tree = tmp_path / "tree"
    hour_ago = (time.time_ns() - 3600 * 10**9) // 1000 * 1000  # dates are kept to the microsecond
    for i, name in enumerate(["a.txt", "d/b.txt", "d/big.bin"]):
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_bytes(payload(17 * MiB, seed=6) if name.endswith(".bin") else name.encode())
        os.utime(tree / name, ns=(hour_ago, hour_ago + i * 1_000_123_000))
    dates = {p.name: p.stat().st_mtime_ns for p in tree.rglob("*") if p.is_file()}

    up = sync(str(tree), "mem://b/t/", options=options, opener=world.opener)
    onto_itself = sync("mem://b/t/", str(tree), options=options, opener=world.opener)
    elsewhere = sync("mem://b/t/", str(tmp_path / "other"), options=options, opener=world.opener)
    and_up_again = sync(str(tmp_path / "other"), "mem://b/t/", options=options, opener=world.opener)

    assert [(r.copied, r.skipped) for r in (up, onto_itself, elsewhere, and_up_again)] == [
        (3, 0),
        (0, 3),
        (3, 0),
        (0, 3),
    ]
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "other").rglob("*") if p.is_file()} == dates
    assert {p.name: p.stat().st_mtime_ns for p in tree.rglob("*") if p.is_file()} == dates


def test_recorded_dates_still_let_an_edit_on_either_side_through(
    world: World, options: TransferOptions, tmp_path: Path
) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    hour_ago = time.time() - 3600
    for name in ("edited.txt", "replaced.txt"):
        (tree / name).write_bytes(b"v1")
        os.utime(tree / name, (hour_ago, hour_ago))
    sync(str(tree), "mem://b/t/", options=options, opener=world.opener)
    (tree / "edited.txt").write_bytes(b"v2")  # dated now, after the recorded date
    world.store("b").put("t/replaced.txt", b"v3")  # by another tool: no digest, no recorded date

    up = sync(str(tree), "mem://b/t/", options=options, opener=world.opener, dry_run=True)
    down = sync("mem://b/t/", str(tree), options=options, opener=world.opener)

    assert [r.source for r in up.results if r.outcome == "planned"] == [f"file://{tree}/edited.txt"]
    assert [(r.destination, r.reason) for r in down.results if r.outcome == "copied"] == [
        (f"file://{tree}/replaced.txt", "newer")
    ]
    assert (tree / "replaced.txt").read_bytes() == b"v3"


def test_a_checksum_sync_shows_its_hashing_as_progress_and_reports_what_it_copied(tmp_path: Path) -> None:
    import io

    from omnicloud.transfer import JsonLinesProgress

    for side in ("a", "b"):
        (tmp_path / side).mkdir()
        (tmp_path / side / "same").write_bytes(payload(9 * MiB))  # over a chunk: hashed here, not listed
    (tmp_path / "a" / "changed").write_bytes(payload(9 * MiB, seed=1))
    (tmp_path / "b" / "changed").write_bytes(payload(9 * MiB, seed=2))
    out = io.StringIO()

    summary = sync(
        tmp_path / "a",
        tmp_path / "b",
        checksum=True,
        options=TransferOptions(journal=False),
        progress=JsonLinesProgress(out, interval=0),
    )

    assert (summary.copied, summary.skipped, summary.bytes) == (1, 1, 9 * MiB)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    progress = [line for line in lines if line["type"] == "progress"]
    # Work is 36 MiB hashed and 9 MiB copied; the pair found the same is no longer an object to copy.
    assert (progress[-1]["bytes"], progress[-1]["total_bytes"]) == (45 * MiB, 45 * MiB)
    assert (progress[-1]["objects"], progress[-1]["total_objects"]) == (1, 1)
    # The bar moved while the files were hashed, and never showed more done than planned.
    first_copied = next(i for i, line in enumerate(lines) if line["type"] == "object")
    assert max(line["bytes"] for line in lines[:first_copied] if line["type"] == "progress") >= 18 * MiB
    assert all(line["bytes"] <= line["total_bytes"] for line in progress)


def test_small_files_from_disk_to_disk_are_copied_in_the_calling_thread(tmp_path: Path) -> None:
    import threading

    (tmp_path / "a").mkdir()
    for name in ("one", "two"):
        (tmp_path / "a" / name).write_bytes(name.encode())
    (tmp_path / "a" / "big").write_bytes(payload(9 * MiB))  # over one chunk: a worker's
    progress = ThreadsSeen()

    summary = sync(tmp_path / "a", tmp_path / "b", options=TransferOptions(journal=False), progress=progress)

    assert summary.copied == 3
    assert (tmp_path / "b" / "two").read_bytes() == b"two"
    here = threading.current_thread().name
    assert progress.threads["one"] == progress.threads["two"] == here
    assert progress.threads["big"].startswith("omnicloud-object")
