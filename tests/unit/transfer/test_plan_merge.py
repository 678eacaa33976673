"""The fused plan loop decides exactly what pairing the listings and comparing each pair decides."""

from __future__ import annotations

import dataclasses
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from omnicloud.errors import OmniCloudError
from omnicloud.storage import DIGEST_METADATA_KEY, MTIME_METADATA_KEY, ObjectInfo, open_store
from omnicloud.storage.local import ListedRecord, LocalStore, write_attributes
from omnicloud.transfer import TransferOptions, copy, sync
from omnicloud.transfer._digest import digest_bytes
from omnicloud.transfer._engine import object_digest
from omnicloud.transfer._plan import (
    Filters,
    PlanMode,
    PlannedAction,
    _merge,
    _unchanged_records,
    compare,
    list_relative,
    pair_listings,
    plan_actions,
)

T0 = datetime(2026, 3, 1, 12, 0, 0, 500_000, tzinfo=UTC)


def _random_listing(rng: random.Random, names: list[str]) -> list[tuple[str, ObjectInfo]]:
    listing = []
    for name in sorted(rng.sample(names, rng.randint(0, len(names)))):
        digest = rng.choice([None, digest_bytes(b"x"), digest_bytes(b"y"), "md5:abc"])
        when = T0 + timedelta(microseconds=rng.choice([-600_000, -1, 0, 1, 400_000, 2_000_000]))
        info = ObjectInfo(
            name,
            rng.choice([1, 2]),
            last_modified=rng.choice([when, when, None]),
            metadata={DIGEST_METADATA_KEY: digest} if digest else {},
        )
        listing.append((name, info))
    return listing


def _reference(
    src: list[tuple[str, ObjectInfo]],
    dst: list[tuple[str, ObjectInfo]],
    *,
    mode: PlanMode,
    checksum: bool,
    delete: bool,
) -> list[PlannedAction]:
    """The plan as it was written before the loop was fused: pair, then compare each pair."""
    actions, deletions = [], []
    for relative, s, d in pair_listings(iter(src), iter(dst)):
        if s is None:
            if delete and d is not None:
                deletions.append(PlannedAction("delete", relative, None, d, "extra"))
            continue
        action, reason, needs = compare(s, d, mode=mode, checksum=checksum)
        actions.append(PlannedAction(action, relative, s, d, reason, needs))
    return actions + deletions


@pytest.mark.parametrize("seed", range(40))
def test_the_fused_plan_equals_pairing_then_comparing(seed: int) -> None:
    rng = random.Random(seed)
    names = [f"{d}/{f}" for d in ("a", "a-b", "b") for f in ("1", "2", "x/3")]
    src, dst = _random_listing(rng, names), _random_listing(rng, names)
    for mode in ("sync", "copy"):
        for checksum in (False, True):
            for delete in (False, True):
                fused = list(_merge(iter(src), iter(dst), mode=mode, checksum=checksum, delete=delete))
                assert fused == _reference(src, dst, mode=mode, checksum=checksum, delete=delete)


def _random_record(rng: random.Random, key: str) -> ListedRecord:
    # Around T0 (x.5 s) and around a whole second, where the listing rounds to microseconds.
    base = rng.choice([T0.timestamp(), float(int(T0.timestamp()))])
    seconds = base + rng.choice([-0.6, -0.4, -1e-6, -5e-7, -1e-7, 0.0, 1e-7, 5e-7, 1e-6, 0.4, 2.0])
    metadata = {}
    for name, value in (
        (DIGEST_METADATA_KEY, rng.choice([None, digest_bytes(b"x"), digest_bytes(b"y"), "md5:abc"])),
        (MTIME_METADATA_KEY, rng.choice([None, None, "2026-03-01T12:00:03.000000Z", "not a date"])),
        ("owner", rng.choice([None, "me"])),
    ):
        if value is not None:
            metadata[name] = value
    size = rng.choice([1, 2])
    hashed = rng.choice([None, None, digest_bytes(b"x"), digest_bytes(b"y")])  # by the listing child
    return (key, size, int(seconds * 1e9), seconds, metadata or None, "text/plain", hashed)


@pytest.mark.parametrize("seed", range(20))
def test_a_skip_told_from_local_records_is_a_skip_the_sync_makes(seed: int) -> None:
    rng = random.Random(seed)
    told = 0
    for _ in range(200):
        src, dst = _random_record(rng, "k"), _random_record(rng, "k")
        for checksum in (False, True):
            reason = _unchanged_records(src, dst, checksum=checksum)
            src_info, dst_info = LocalStore.info_of(src), LocalStore.info_of(dst)
            decision = compare(src_info, dst_info, mode="sync", checksum=checksum)
            if reason == "checksum":
                # compare leaves the pair to be hashed; the digests the engine would compare
                # are known without reading (no context is given to read with) and equal.
                told += 1
                assert decision == ("copy", "checksum", True), (src, dst)
                assert object_digest(None, None, src_info) == object_digest(None, None, dst_info)  # type: ignore[arg-type]
            elif reason is not None:
                told += 1
                assert decision == ("skip", reason, False), (src, dst, checksum)
    assert told >= 10  # the records alone decide many pairs: the test compares something


def _scenario(src: Path, dst: Path) -> None:
    """Two trees that differ in every way a plan tells apart."""
    _tree(src, 24)
    copy(src, dst, recursive=True, options=TransferOptions(journal=False))
    (src / "d0" / "f000.txt").write_bytes(b"longer now")  # size
    os.utime(src / "d1" / "f001.txt", (2_000_000_000, 2_000_000_000))  # newer source
    os.utime(dst / "d2" / "f002.txt", (2_000_000_000, 2_000_000_000))  # newer destination
    (src / "d0" / "f003.txt").unlink()  # extra at the destination
    (dst / "d1" / "f004.txt").unlink()  # missing at the destination
    (src / "new").mkdir()
    (src / "new" / "only-here.log").write_bytes(b"l")
    (dst / "d2" / "f005.txt").write_bytes(b"abc")  # same size, another content, newer
    os.utime(dst / "d2" / "f005.txt", (2_100_000_000, 2_100_000_000))


@pytest.mark.parametrize("mode", ["sync", "copy"])
@pytest.mark.parametrize("checksum", [False, True])
@pytest.mark.parametrize("delete", [False, True])
@pytest.mark.parametrize("filters", [Filters(), Filters(exclude=("*.log", "d2/*"))])
def test_a_plan_between_local_trees_decides_as_the_plan_of_their_listed_objects(
    tmp_path: Path, mode: PlanMode, checksum: bool, delete: bool, filters: Filters
) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    _scenario(src, dst)
    source, destination = open_store(f"file://{src}"), open_store(f"file://{dst}")
    assert isinstance(source, LocalStore) and isinstance(destination, LocalStore)
    src_prefix, dst_prefix = str(src).lstrip("/") + "/", str(dst).lstrip("/") + "/"
    options = {"mode": mode, "checksum": checksum, "delete": delete}
    planned = list(plan_actions(source, src_prefix, destination, dst_prefix, filters=filters, **options))
    listed = list(
        _merge(
            list_relative(source, src_prefix, filters, in_child=False),
            list_relative(destination, dst_prefix, filters, in_child=False),
            **options,
        )
    )

    def decisions(actions: list[PlannedAction]) -> list[tuple[str, str, str, bool]]:
        return [(a.action, a.relative, a.reason, a.needs_checksum) for a in actions]

    def same_bytes(relative: str) -> bool:
        return (src / relative).read_bytes() == (dst / relative).read_bytes()

    # With --checksum, pairs the listing children hashed are settled in the plan: a skip where
    # the bytes are the same, instead of a copy left to be hashed (as it is for other stores).
    settled = [
        ("skip", a.relative, "checksum", False)
        if checksum and a.needs_checksum and same_bytes(a.relative)
        else d
        for a, d in zip(listed, decisions(listed), strict=True)
    ]
    assert decisions(planned) == settled
    for ours, theirs in zip(planned, listed, strict=True):
        if ours.action == "skip":
            assert ours.source is ours.destination is None  # told from the records alone
        else:
            # The same objects, but for the digests the children computed with ``checksum``.
            assert _undigested(ours.source, ours.destination) == (theirs.source, theirs.destination)
    assert "copy" in {a.action for a in planned}
    if mode == "sync":
        skipped_by = {a.reason for a in planned if a.action == "skip"}
        assert ("checksum" if checksum else "size+mtime") in skipped_by


def _undigested(*infos: ObjectInfo | None) -> tuple[ObjectInfo | None, ...]:
    return tuple(None if i is None else dataclasses.replace(i, content_digest=None) for i in infos)


def _listing(*keys: str) -> Iterator[tuple[str, ObjectInfo]]:
    return iter([(k, ObjectInfo(k, 1)) for k in keys])


@pytest.mark.parametrize(
    ("src", "dst", "side"),
    [
        (("b", "a"), (), "source"),
        (("a", "a"), ("a",), "source"),
        (("a",), ("c", "b"), "destination"),
        (("z",), ("b", "b"), "destination"),
        ((), ("b", "a"), "destination"),
    ],
)
def test_a_listing_out_of_order_anywhere_stops_the_plan_without_a_deletion(
    src: tuple[str, ...], dst: tuple[str, ...], side: str
) -> None:
    with pytest.raises(OmniCloudError, match=f"the {side} listing is not in key order"):
        for action in _merge(_listing(*src), _listing(*dst), mode="sync", checksum=False, delete=True):
            assert action.action != "delete"


def test_a_destination_older_by_less_than_a_second_within_the_same_second_is_up_to_date() -> None:
    src = ObjectInfo("k", 1, last_modified=T0)
    same_second = ObjectInfo("k", 1, last_modified=T0 - timedelta(microseconds=400_000))
    previous_second = ObjectInfo("k", 1, last_modified=T0 - timedelta(microseconds=600_000))
    assert compare(src, same_second, mode="sync", checksum=False)[:2] == ("skip", "size+mtime")
    assert compare(src, previous_second, mode="sync", checksum=False)[:2] == ("copy", "newer")


def _tree(root: Path, count: int) -> None:
    for i in range(count):
        path = root / f"d{i % 3}" / f"f{i:03d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"%03d" % i)


def test_local_dry_runs_count_what_the_real_sync_then_does(tmp_path: Path) -> None:
    options = TransferOptions(journal=False)
    src, dst = tmp_path / "src", tmp_path / "dst"
    _tree(src, 30)
    planned = sync(src, dst, dry_run=True, options=options)
    assert (planned.copied, planned.skipped, planned.bytes) == (30, 0, 90)
    done = sync(src, dst, options=options)
    assert (done.copied, done.skipped, done.bytes) == (30, 0, 90)
    again = sync(src, dst, dry_run=True, options=options)
    assert (again.copied, again.skipped, again.deleted) == (0, 30, 0)
    (dst / "d0" / "extra").write_bytes(b"e")
    (src / "d1" / "f001.txt").write_bytes(b"new content")
    with_delete = sync(src, dst, dry_run=True, delete=True, options=options)
    assert (with_delete.copied, with_delete.skipped, with_delete.deleted) == (1, 29, 1)
    assert {(r.action, r.reason) for r in with_delete.results} == {("copy", "size"), ("delete", "extra")}


def _retime_keeping_digest(path: Path, seconds: int) -> None:
    """Set a file's times as if omnicloud had written it then: its digest still counts."""
    digest = os.getxattr(path, "user.omnicloud.meta." + DIGEST_METADATA_KEY).decode()
    os.utime(path, (seconds, seconds))
    write_attributes(path, {DIGEST_METADATA_KEY: digest}, None)


def test_local_trees_that_record_digests_are_compared_by_digest(tmp_path: Path) -> None:
    options = TransferOptions(journal=False)
    src, dst, third = tmp_path / "src", tmp_path / "dst", tmp_path / "third"
    _tree(src, 6)
    copy(src, dst, recursive=True, options=options)
    copy(dst, third, recursive=True, options=options)
    # Both sides now record digests in their xattrs (skip the test where the filesystem cannot).
    probe = next(dst.rglob("*.txt"))
    if not any(name.endswith("omnicloud_digest") for name in os.listxattr(probe)):
        pytest.skip("this filesystem keeps no user xattrs")
    # Newer source times do not matter while the digests agree...
    for path in dst.rglob("*.txt"):
        _retime_keeping_digest(path, 2_000_000_000)
    unchanged = sync(dst, third, dry_run=True, options=options)
    assert (unchanged.copied, unchanged.skipped) == (0, 6)
    # ...and an older destination with another digest of the same size is copied.
    target = third / "d0" / "f000.txt"
    copy(src / "d1" / "f001.txt", target, options=options)
    _retime_keeping_digest(target, 2_100_000_000)
    changed = sync(dst, third, dry_run=True, options=options)
    assert [(r.destination.rsplit("/", 2)[-2:], r.reason) for r in changed.results] == [
        (["d0", "f000.txt"], "digest")
    ]
    # A time changed by another program (touch, or an edit) voids the digest:
    # the newer source is then copied by time.
    os.utime(dst / "d1" / "f001.txt", (2_200_000_000, 2_200_000_000))
    touched = sync(dst, third, dry_run=True, options=options)
    assert sorted((r.destination.rsplit("/", 2)[-2:], r.reason) for r in touched.results) == [
        (["d0", "f000.txt"], "digest"),
        (["d1", "f001.txt"], "newer"),
    ]


_PLAN_IN_CHILDREN = """
import sys, psutil
from omnicloud.storage import open_store
from omnicloud.transfer._plan import plan_actions
src, dst = sys.argv[1], sys.argv[2]
before = {p.pid for p in psutil.Process().children()}
source, destination = open_store("file://" + src), open_store("file://" + dst)
actions = plan_actions(source, src.lstrip("/") + "/", destination, dst.lstrip("/") + "/")
first = next(actions)
walking = {p.pid for p in psutil.Process().children()} - before
rest = list(actions)
left = {p.pid for p in psutil.Process().children()} - before
copies = [a.action for a in [first, *rest]].count("copy")
print(len(walking), len(left), first.relative, copies, len(rest) + 1)
"""


def test_a_plan_of_two_local_trees_walks_each_in_a_child_process_and_waits_for_both(tmp_path: Path) -> None:
    # In a fresh interpreter: a test process may hold other threads (Dask's), and then nothing forks.
    src, dst = tmp_path / "src", tmp_path / "dst"
    _tree(src, 3000)  # more records than one batch: the children are still there after the first action
    _tree(dst, 2990)
    done = subprocess.run(
        [sys.executable, "-c", _PLAN_IN_CHILDREN, str(src), str(dst)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    walking = 2 if sys.platform == "linux" else 0
    assert done.stdout.split() == [str(walking), "0", "d0/f000.txt", "10", "3000"]
