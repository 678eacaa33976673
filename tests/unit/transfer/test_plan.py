from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from omnicloud.errors import OmniCloudError
from omnicloud.storage import MTIME_METADATA_KEY, ObjectInfo
from omnicloud.storage.memory import MemoryNamespace, MemoryStore
from omnicloud.transfer._digest import digest_bytes
from omnicloud.transfer._plan import Filters, compare, pair_listings, plan_actions

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def info(key: str, size: int = 1, when: datetime = T0, digest: str | None = None) -> ObjectInfo:
    return ObjectInfo(key, size, last_modified=when, metadata={"omnicloud_digest": digest} if digest else {})


def test_missing_destination_is_copied() -> None:
    assert compare(info("a"), None, mode="sync", checksum=False)[:2] == ("copy", "missing")


def test_copy_mode_overwrites_even_identical_objects() -> None:
    assert compare(info("a"), info("a"), mode="copy", checksum=False)[0] == "copy"


def test_different_size_is_copied() -> None:
    assert compare(info("a", 2), info("a", 3), mode="sync", checksum=False)[:2] == ("copy", "size")


def test_equal_recorded_digests_skip_even_when_the_source_is_newer() -> None:
    d = digest_bytes(b"x")
    src, dst = info("a", when=T0 + timedelta(days=1), digest=d), info("a", digest=d)
    assert compare(src, dst, mode="sync", checksum=False)[:2] == ("skip", "digest")


def test_different_recorded_digests_copy_even_when_the_destination_is_newer() -> None:
    src = info("a", digest=digest_bytes(b"x"))
    dst = info("a", when=T0 + timedelta(days=1), digest=digest_bytes(b"y"))
    assert compare(src, dst, mode="sync", checksum=False)[:2] == ("copy", "digest")


def test_same_size_and_newer_destination_skips() -> None:
    assert (
        compare(info("a"), info("a", when=T0 + timedelta(seconds=1)), mode="sync", checksum=False)[0]
        == "skip"
    )


def test_same_size_and_older_destination_copies() -> None:
    assert compare(info("a", when=T0 + timedelta(seconds=1)), info("a"), mode="sync", checksum=False)[:2] == (
        "copy",
        "newer",
    )


@pytest.mark.parametrize(
    ("recorded", "decision"),
    [
        ("2026-01-01T00:00:00.000000Z", "skip"),  # the source's recorded date: unchanged
        ("2025-12-31T23:59:58.500000Z", "copy"),  # recorded before the file's date: edited since
        ("2026-01-01T00:00:00", "skip"),  # naive: UTC
        ("yesterday", "skip"),  # not a date: the store's own date, a day later, counts
    ],
)
def test_a_recorded_date_stands_for_the_store_date(recorded: str, decision: str) -> None:
    # An object uploaded a day after the file it holds was last written.
    uploaded = ObjectInfo(
        "a", 1, last_modified=T0 + timedelta(days=1), metadata={MTIME_METADATA_KEY: recorded}
    )
    local_file = info("a")
    assert compare(local_file, uploaded, mode="sync", checksum=False)[0] == decision
    if decision == "skip" and recorded != "yesterday":
        assert compare(uploaded, local_file, mode="sync", checksum=False)[:2] == ("skip", "size+mtime")


def test_checksum_mode_defers_to_digests_when_a_side_has_none() -> None:
    action, reason, needs = compare(info("a"), info("a"), mode="sync", checksum=True)
    assert (action, reason, needs) == ("copy", "checksum", True)


def _listing(*keys: str) -> Iterator[tuple[str, ObjectInfo]]:
    return iter([(k, info(k)) for k in keys])


def test_pairing_joins_sorted_listings_and_reports_each_side_alone() -> None:
    pairs = [
        (rel, src is not None, dst is not None)
        for rel, src, dst in pair_listings(_listing("a", "c", "d"), _listing("b", "c", "e"))
    ]
    assert pairs == [
        ("a", True, False),
        ("b", False, True),
        ("c", True, True),
        ("d", True, False),
        ("e", False, True),
    ]


def test_a_listing_out_of_key_order_stops_the_plan_before_any_deletion() -> None:
    src = iter([("a", info("a")), ("c", info("c"))])
    dst = iter([("b", info("b")), ("a", info("a"))])
    actions = _merge_plan(src, dst)
    with pytest.raises(OmniCloudError, match="not in key order"):
        for action in actions:
            assert action.action != "delete"


def _merge_plan(
    src: Iterator[tuple[str, ObjectInfo]], dst: Iterator[tuple[str, ObjectInfo]]
) -> Iterator[Any]:
    from omnicloud.transfer._plan import _merge

    return _merge(src, dst, mode="sync", checksum=False, delete=True)


@pytest.fixture
def stores() -> tuple[MemoryStore, MemoryStore]:
    ns = MemoryNamespace()
    src, dst = MemoryStore("src", namespace=ns, page_size=2), MemoryStore("dst", namespace=ns, page_size=2)
    src.create_bucket()
    dst.create_bucket()
    return src, dst


def test_plan_deletes_extras_only_when_asked(stores: tuple[MemoryStore, MemoryStore]) -> None:
    src, dst = stores
    src.put("p/keep", b"1")
    dst.put("q/keep", b"1")
    dst.put("q/extra", b"2")
    without = {(a.action, a.relative) for a in plan_actions(src, "p/", dst, "q/", delete=False)}
    with_delete = {(a.action, a.relative) for a in plan_actions(src, "p/", dst, "q/", delete=True)}
    assert ("delete", "extra") not in without
    assert ("delete", "extra") in with_delete


def test_excluded_objects_are_neither_copied_nor_deleted(stores: tuple[MemoryStore, MemoryStore]) -> None:
    src, dst = stores
    src.put("p/a.txt", b"1")
    src.put("p/b.log", b"1")
    dst.put("q/old.log", b"1")
    actions = {
        (a.action, a.relative)
        for a in plan_actions(src, "p/", dst, "q/", delete=True, filters=Filters(exclude=("*.log",)))
    }
    assert actions == {("copy", "a.txt")}


def test_include_globs_cross_directory_levels(stores: tuple[MemoryStore, MemoryStore]) -> None:
    src, dst = stores
    for key in ("p/x/1.csv", "p/x/y/2.csv", "p/3.txt"):
        src.put(key, b"1")
    actions = [a.relative for a in plan_actions(src, "p/", dst, "q/", filters=Filters(include=("*.csv",)))]
    assert actions == ["x/1.csv", "x/y/2.csv"]


def test_plan_is_lazy_and_starts_before_the_listing_ends(stores: tuple[MemoryStore, MemoryStore]) -> None:
    src, dst = stores
    for i in range(50):
        src.put(f"p/{i:03d}", b"1")
    plan = plan_actions(src, "p/", dst, "q/")
    first = next(plan)
    assert first.relative == "000"
    src.put("p/zzz", b"late")  # appears on a later page, so the listing is still in progress
    assert [a.relative for a in plan][-1] == "zzz"
