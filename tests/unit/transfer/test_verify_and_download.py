from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from omnicloud.errors import IntegrityError, UnsupportedError
from omnicloud.storage import DIGEST_METADATA_KEY, MTIME_METADATA_KEY, Store, open_store
from omnicloud.transfer import TransferOptions, bulk_download, sync, verify
from omnicloud.transfer._digest import digest_bytes
from omnicloud.uri import ObjectURI, parse_uri

from .faulty_store import FaultyStore, MiB, World, payload


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
    assert report.entries[0].recomputed


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


def test_verify_lists_missing_and_extra_objects(world: World) -> None:
    world.store("a").put("p/only-src", b"1")
    world.store("b").put("q/only-dst", b"2")
    report = verify("mem://a/p/", "mem://b/q/", opener=world.opener)
    assert {(e.key, e.status) for e in report.entries} == {("only-src", "missing"), ("only-dst", "extra")}
    assert not report.ok


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
