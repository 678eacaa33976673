from __future__ import annotations

import io
import json
import threading
from pathlib import Path
from typing import Any

import pytest

from omnicloud.errors import IntegrityError, OmniCloudError, PermissionDeniedError, UnsupportedError
from omnicloud.storage import DIGEST_METADATA_KEY, MTIME_METADATA_KEY, Store, open_store
from omnicloud.transfer import JsonLinesProgress, TransferOptions, bulk_download, sync, verify
from omnicloud.transfer._digest import digest_bytes
from omnicloud.uri import ObjectURI, parse_uri

from .faulty_store import FaultyStore, MiB, ThreadsSeen, World, payload


def test_verify_reports_ok_after_a_sync(world: World, options: TransferOptions) -> None:
    world.store("a").put("p/1", b"one")
    world.store("a").put("p/2", payload(20 * MiB))
    sync("mem://a/p/", "mem://b/q/", options=options, opener=world.opener)
    report = verify("mem://a/p/", "mem://b/q/", opener=world.opener)
    assert report.ok and report.matched == 2
    report.raise_for_problems()


def test_verify_recomputes_the_digest_of_a_side_that_records_none(world: World) -> None:
    world.store("a").put("k", b"data")
    world.store("b").put("k", b"data", metadata={DIGEST_METADATA_KEY: digest_bytes(b"data")})
    report = verify("mem://a/k", "mem://b/k", opener=world.opener)
    assert report.ok
    assert (report.matched, report.recomputed) == (1, 1)


def test_verify_finds_a_destination_corrupted_after_upload(world: World, options: TransferOptions) -> None:
    world.store("a").put("p/1", b"good")
    sync("mem://a/p/", "mem://b/q/", options=options, opener=world.opener)
    # Same size, digest metadata still claims the good bytes: only reading reveals it.
    bad = world.store("b").inner
    meta = dict(bad.stat("q/1").metadata)
    bad.put("q/1", b"evil", metadata=meta)
    assert verify("mem://a/p/", "mem://b/q/", opener=world.opener).ok
    deep = verify("mem://a/p/", "mem://b/q/", recompute=True, opener=world.opener)
    assert not deep.ok
    assert [e.key for e in deep.mismatched] == ["1"]
    with pytest.raises(IntegrityError, match="differ or are missing"):
        deep.raise_for_problems()


def test_verify_keeps_only_what_differs_and_counts_the_matches(
    world: World, options: TransferOptions
) -> None:
    for i in range(300):
        world.store("a").put(f"p/{i:03d}", b"same", metadata={DIGEST_METADATA_KEY: digest_bytes(b"same")})
    sync("mem://a/p/", "mem://b/q/", options=options, opener=world.opener)
    world.store("b").put("q/007", b"diff")
    report = verify("mem://a/p/", "mem://b/q/", opener=world.opener)
    assert (report.matched, report.recomputed) == (299, 1)  # the rewritten one records no digest
    assert [(e.key, e.status) for e in report.entries] == [("007", "mismatch")]
    assert report.mismatched == report.entries and not report.ok


def test_verify_lists_missing_and_extra_objects(world: World) -> None:
    world.store("a").put("p/only-src", b"1")
    world.store("b").put("q/only-dst", b"2")
    report = verify("mem://a/p/", "mem://b/q/", opener=world.opener)
    assert {(e.key, e.status) for e in report.entries} == {("only-src", "missing"), ("only-dst", "extra")}
    assert not report.ok


@pytest.mark.parametrize("stop", [KeyboardInterrupt, PermissionDeniedError], ids=["ctrl-c", "error"])
def test_a_verify_stopped_by_ctrl_c_or_an_error_reads_nothing_more(world: World, stop: type) -> None:
    for i in range(300):  # no digests recorded: each object is read on both sides
        world.store("a").put(f"p/{i:03d}", b"data")
        world.store("b").put(f"q/{i:03d}", b"data")
    world.store("a").faults["get"] = lambda n, args: stop("denied") if n == 5 else None
    options = TransferOptions(journal=False, concurrency=4)
    with pytest.raises(stop):
        verify("mem://a/p/", "mem://b/q/", options=options, opener=world.opener)
    # The objects already running and waiting (2 x concurrency) finish or stop; none after them start.
    assert world.store("a").calls["get"] <= 5 + 3 * options.concurrency


def _records(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_verify_reports_progress_over_the_bytes_it_reads_and_a_line_per_difference(world: World) -> None:
    recorded = {DIGEST_METADATA_KEY: digest_bytes(b"same")}
    world.store("a").put("p/recorded", b"same", metadata=recorded)
    world.store("b").put("q/recorded", b"same", metadata=recorded)  # digests recorded: nothing read
    world.store("a").put("p/read", b"12345")  # no digest on either side: both read, 10 bytes
    world.store("b").put("q/read", b"12345")
    world.store("a").put("p/differs", b"one")  # same size, different bytes: 6 bytes read
    world.store("b").put("q/differs", b"two")
    world.store("a").put("p/short", b"1")  # sizes differ: nothing read
    world.store("b").put("q/short", b"12")
    world.store("a").put("p/gone", b"xyz")
    out = io.StringIO()
    report = verify(
        "mem://a/p/", "mem://b/q/", opener=world.opener, progress=JsonLinesProgress(out, interval=3600)
    )
    assert not report.ok
    records = _records(out)
    problems = {r["destination"]: r for r in records if r["type"] == "object"}
    assert {uri: (r["action"], r["outcome"]) for uri, r in problems.items()} == {
        "mem://b/q/differs": ("verify", "mismatch"),
        "mem://b/q/short": ("verify", "mismatch"),
        "mem://b/q/gone": ("verify", "missing"),
    }
    assert problems["mem://b/q/short"]["reason"] == "sizes differ"
    assert problems["mem://b/q/differs"]["reason"] == (
        f"source {digest_bytes(b'one')}, destination {digest_bytes(b'two')}"
    )
    assert problems["mem://b/q/gone"]["reason"] == "not at the destination"
    final = records[-1]
    assert final["type"] == "progress"
    assert (final["objects"], final["total_objects"]) == (5, 5)
    assert (final["bytes"], final["total_bytes"]) == (16, 16)


def test_a_recomputing_verify_of_local_files_counts_every_byte_it_hashes(tmp_path: Path) -> None:
    for side in ("a", "b"):
        (tmp_path / side).mkdir()
        (tmp_path / side / "big").write_bytes(payload(20 * MiB))
        (tmp_path / side / "small").write_bytes(b"s")
    out = io.StringIO()
    progress = JsonLinesProgress(out, interval=3600)
    assert verify(tmp_path / "a", tmp_path / "b", recompute=True, progress=progress).ok
    final = _records(out)[-1]
    assert final["bytes"] == final["total_bytes"] == 2 * (20 * MiB + 1)
    assert final["objects"] == final["total_objects"] == 2
    assert all(r["type"] == "progress" for r in _records(out))  # matches print no lines


def test_small_local_files_are_compared_in_the_calling_thread_and_the_rest_in_the_pool(
    world: World, tmp_path: Path
) -> None:
    for side in ("a", "b"):
        (tmp_path / side).mkdir()
        for name in ("one", "two"):
            (tmp_path / side / name).write_bytes(name.encode())
        (tmp_path / side / "big").write_bytes(payload(MiB * 9))  # over one chunk: read in the pool
    progress = ThreadsSeen()
    assert verify(tmp_path / "a", tmp_path / "b", progress=progress).ok
    here = threading.current_thread().name
    assert progress.threads["one"] == progress.threads["two"] == here
    assert progress.threads["big"].startswith("omnicloud-verify")
    # A store's objects are read in the pool however small; recorded digests need no reading.
    world.store("a").put("p/small", b"s")
    world.store("b").put("q/small", b"s")
    recorded = {DIGEST_METADATA_KEY: digest_bytes(b"r")}
    world.store("a").put("p/recorded", b"r", metadata=recorded)
    world.store("b").put("q/recorded", b"r", metadata=recorded)
    progress = ThreadsSeen()
    assert verify("mem://a/p/", "mem://b/q/", opener=world.opener, progress=progress).ok
    assert progress.threads["small"].startswith("omnicloud-verify")
    assert progress.threads["recorded"] == here


def test_bulk_download_returns_one_result_per_uri_in_order(
    world: World, options: TransferOptions, tmp_path: Path
) -> None:
    big = payload(20 * MiB)
    world.store("a").put("x/big", big)
    world.store("a").put("y/small", b"s")
    results = bulk_download(
        ["mem://a/x/big", "mem://a/missing", "mem://a/y/small", "not a uri://"],
        tmp_path,
        options=options,
        opener=world.opener,
    )
    assert [r.ok for r in results] == [True, False, True, False]
    assert (tmp_path / "x" / "big").read_bytes() == big
    assert (tmp_path / "y" / "small").read_bytes() == b"s"
    assert results[0].digest == digest_bytes(big)
    assert "no such object" in (results[1].error or "")


@pytest.mark.parametrize("below", ["", "sub/dir"])
def test_bulk_download_into_a_file_is_refused_once_naming_the_file(
    world: World, tmp_path: Path, below: str
) -> None:
    world.store("a").put("k", b"1")
    (tmp_path / "file").write_bytes(b"mine")
    with pytest.raises(OmniCloudError, match=f"{tmp_path / 'file'} is a file, not a directory"):
        bulk_download(["mem://a/k"], tmp_path / "file" / below, opener=world.opener)
    assert (tmp_path / "file").read_bytes() == b"mine"
    assert world.store("a").calls["get"] == world.store("a").calls["open_read"] == 0


def test_bulk_download_refuses_two_uris_that_land_on_the_same_file(
    world: World, options: TransferOptions, tmp_path: Path
) -> None:
    world.store("a").put("k", b"1")
    world.store("b").put("k", b"2")
    results = bulk_download(["mem://a/k", "mem://b/k"], tmp_path, options=options, opener=world.opener)
    assert results[0].ok and not results[1].ok
    assert (tmp_path / "k").read_bytes() == b"1"


def test_bulk_download_falls_back_to_whole_object_reads_when_a_store_has_no_ranges(
    world: World, options: TransferOptions, tmp_path: Path
) -> None:
    big = payload(20 * MiB)
    src = world.store("a")
    src.put("big", big)

    def no_ranges(n: int, args: tuple[Any, ...]) -> Exception | None:
        return UnsupportedError("no ranged reads") if args[1] is not None else None

    src.faults["get"] = src.faults["open_read"] = no_ranges
    results = bulk_download(["mem://a/big"], tmp_path / "to", options=options, opener=world.opener)
    assert results[0].ok, results[0].error
    assert (tmp_path / "to" / "big").read_bytes() == big
    assert [p.name for p in (tmp_path / "to").iterdir()] == ["big"]
    assert src.calls["open_read"] >= 1  # the ranged download was tried first


class _NoStat(FaultyStore):
    """A store that can neither stat an object nor serve its bytes in ranges."""

    stat = None  # type: ignore[assignment]  # a Protocol member set to None is not offered


def test_a_store_without_stat_or_ranges_still_downloads_whole_objects(world: World, tmp_path: Path) -> None:
    big = payload(20 * MiB)
    world.store("a").put("big", big)
    bare = _NoStat(world.store("a").inner)
    bare.faults["get"] = bare.faults["open_read"] = lambda n, args: (
        UnsupportedError("no ranged reads") if args[1] is not None else None
    )

    def opener(uri: ObjectURI) -> Store:
        return bare if uri.bucket == "a" else world.opener(uri)  # type: ignore[return-value]

    [result] = bulk_download(["mem://a/big"], tmp_path, options=TransferOptions(journal=False), opener=opener)

    assert result.ok, result.error
    assert (result.size, result.digest) == (len(big), digest_bytes(big))
    assert (tmp_path / "big").read_bytes() == big
    assert bare.calls["get"] == 1


def test_a_whole_object_download_keeps_the_date_and_checks_the_digest_like_any_copy(
    world: World, options: TransferOptions, tmp_path: Path
) -> None:
    big = payload(20 * MiB)
    src = world.store("a")
    recorded = {MTIME_METADATA_KEY: "2024-02-03T04:05:06.123456Z", "owner": "ana"}
    src.put("big", big, metadata={**recorded, DIGEST_METADATA_KEY: digest_bytes(big)})
    src.put("bad", big, metadata={DIGEST_METADATA_KEY: digest_bytes(b"other bytes")})
    src.faults["get"] = src.faults["open_read"] = lambda n, args: (
        UnsupportedError("no ranged reads") if args[1] is not None else None
    )

    to = tmp_path / "to"
    good, bad = bulk_download(["mem://a/big", "mem://a/bad"], to, options=options, opener=world.opener)

    assert good.ok, good.error
    assert (to / "big").stat().st_mtime_ns == 1_706_933_106_123_456_000
    target = parse_uri(str(to / "big"))
    assert open_store(target).stat(target.key).metadata["owner"] == "ana"  # type: ignore[attr-defined]
    assert not bad.ok and bad.error is not None and "digest mismatch" in bad.error
    assert sorted(p.name for p in to.iterdir()) == ["big"]


@pytest.fixture
def opened_here(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files this process opens (the listings fork: see conftest's listings_fork_as_in_the_cli)."""
    import os
    import sys

    if sys.platform != "linux":
        pytest.skip("listings are walked in a child on Linux only")
    opened: list[str] = []  # a forked child appends to its own copy
    real_open = os.open

    def recording_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        opened.append(os.fsdecode(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", recording_open)
    return opened


def _trees(tmp_path: Path) -> None:
    for side in ("a", "b"):
        (tmp_path / side / "d").mkdir(parents=True)
        for i in range(5):
            (tmp_path / side / "d" / f"f{i}").write_bytes(b"same %d" % i)
        (tmp_path / side / "big").write_bytes(payload(MiB * 9))  # over one chunk
    (tmp_path / "b" / "d" / "f3").write_bytes(b"diff 3")  # same size, other bytes


@pytest.mark.parametrize("recompute", [False, True])
def test_verify_hashes_small_local_files_where_each_tree_is_walked(
    tmp_path: Path, opened_here: list[str], recompute: bool
) -> None:
    _trees(tmp_path)

    out = io.StringIO()
    report = verify(tmp_path / "a", tmp_path / "b", recompute=recompute, progress=JsonLinesProgress(out))

    assert (report.matched, report.recomputed) == (5, 6)
    # Every byte hashed counts, wherever it was read.
    final = [r for r in _records(out) if r["type"] == "progress"][-1]
    assert final["bytes"] == final["total_bytes"] == 2 * (5 * 6 + 9 * MiB)
    [bad] = report.mismatched
    assert (bad.key, bad.source_digest, bad.destination_digest) == (
        "d/f3",
        digest_bytes(b"same 3"),
        digest_bytes(b"diff 3"),
    )
    # This process read only the large files; the small ones were read in the listings' children.
    assert sorted(Path(p).name for p in opened_here if p.startswith(str(tmp_path))) == ["big", "big"]


def test_a_checksum_sync_hashes_small_local_files_where_each_tree_is_walked(
    tmp_path: Path, opened_here: list[str]
) -> None:
    _trees(tmp_path)

    summary = sync(tmp_path / "a", tmp_path / "b", checksum=True, options=TransferOptions(journal=False))

    assert (summary.copied, summary.skipped) == (1, 5)
    assert (tmp_path / "b" / "d" / "f3").read_bytes() == b"same 3"
    # Whatever the copy of f3 opened, the files that matched were read in the listings' children.
    compared_here = {Path(p).name for p in opened_here if p.startswith(str(tmp_path))}
    assert compared_here.isdisjoint({"f0", "f1", "f2", "f4"}), compared_here
