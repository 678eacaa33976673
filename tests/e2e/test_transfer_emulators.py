"""The transfer engine against real emulators: moto (S3), Azurite (Blob), gcp-storage-emulator (GCS).

``sandbox_env`` points the SDKs at this worker's emulators, so the engine opens
stores exactly as it would against the clouds.
"""

from __future__ import annotations

import io
import json
import os
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from omnicloud.storage import Admin, Multipart, open_store
from omnicloud.storage.s3 import S3Store
from omnicloud.transfer import JsonLinesProgress, TransferOptions, copy, sync, verify
from omnicloud.transfer._digest import digest_bytes

MiB = 1024 * 1024
SCHEMES = ["s3", "gs", "az"]


@pytest.fixture
def options(tmp_path: Path) -> TransferOptions:
    return TransferOptions(
        journal=tmp_path / "journal.sqlite",
        part_size=8 * MiB,
        multipart_threshold=16 * MiB,
        part_concurrency=4,
        retry_wait=0.05,
    )


@pytest.fixture
def new_bucket(sandbox_env: dict[str, str]) -> Iterator[object]:
    made: list[Admin] = []

    def make(scheme: str) -> str:
        uri = f"{scheme}://oc-tr-{uuid.uuid4().hex[:10]}"
        store = open_store(uri)
        assert isinstance(store, Admin)
        store.create_bucket()
        made.append(store)
        return uri

    yield make
    for store in made:
        store.delete_bucket(force=True)


def _data(size: int, seed: int) -> bytes:
    block = bytes((i * 131 + seed) % 256 for i in range(MiB))
    return (block * (size // MiB + 1))[:size]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_large_file_round_trips_through_the_cloud_with_its_digest(
    scheme: str, new_bucket: object, options: TransferOptions, tmp_path: Path
) -> None:
    bucket = new_bucket(scheme)  # type: ignore[operator]
    data = _data(20 * MiB + 5, seed=1)
    (tmp_path / "src.bin").write_bytes(data)
    up = copy(str(tmp_path / "src.bin"), f"{bucket}/data/big.bin", options=options)
    assert up.results[0].digest == digest_bytes(data)
    store = open_store(bucket)
    info = store.stat("data/big.bin")  # type: ignore[attr-defined]
    assert info.size == len(data)
    assert info.digest == digest_bytes(data)  # survives multipart on S3 and Azure
    if isinstance(store, Multipart):
        assert scheme in ("s3", "az")

    down = copy(f"{bucket}/data/big.bin", str(tmp_path / "back.bin"), options=options)
    assert (tmp_path / "back.bin").read_bytes() == data
    assert down.results[0].digest == digest_bytes(data)
    assert verify(str(tmp_path / "src.bin"), f"{bucket}/data/big.bin").ok


def test_cloud_to_cloud_copies_stream_and_keep_the_digest(
    new_bucket: object, options: TransferOptions, tmp_path: Path
) -> None:
    s3, az, gs = (new_bucket(s) for s in ("s3", "az", "gs"))  # type: ignore[operator]
    data = _data(18 * MiB, seed=2)
    (tmp_path / "src.bin").write_bytes(data)
    copy(str(tmp_path / "src.bin"), f"{s3}/x.bin", options=options)
    copy(f"{s3}/x.bin", f"{az}/x.bin", options=options)
    copy(f"{az}/x.bin", f"{gs}/x.bin", options=options)
    copy(f"{gs}/x.bin", f"{s3}/y.bin", options=options)
    for uri in (f"{az}/x.bin", f"{gs}/x.bin", f"{s3}/y.bin"):
        bucket, _, key = uri.rpartition("/")
        assert open_store(bucket).stat(key).digest == digest_bytes(data), uri  # type: ignore[attr-defined]
    # Nothing touched the disk but the source and the journal (with the lock file its openers take).
    expected = ("src.bin", "journal.sqlite", "journal.sqlite.lock")
    assert not [p for p in tmp_path.iterdir() if p.name not in expected]
    assert open_store(s3).get("y.bin") == data  # type: ignore[attr-defined]


def test_an_azure_blob_goes_to_another_container_through_buffers_its_ranged_gets_fill(
    new_bucket: object, options: TransferOptions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from omnicloud.storage.azure import AzureStore

    first, second = new_bucket("az"), new_bucket("az")  # type: ignore[operator]
    data = _data(20 * MiB + 5, seed=3)
    (tmp_path / "src.bin").write_bytes(data)
    copy(str(tmp_path / "src.bin"), f"{first}/x.bin", options=options)
    reads: list[tuple[int, int]] = []
    read_into = AzureStore.read_into

    def counted(store: AzureStore, key: str, start: int, view: memoryview) -> int:
        reads.append((start, len(view)))
        return read_into(store, key, start, view)

    monkeypatch.setattr(AzureStore, "read_into", counted)
    copied = copy(f"{first}/x.bin", f"{second}/x.bin", options=options)
    assert sorted(reads) == [(0, 8 * MiB), (8 * MiB, 8 * MiB), (16 * MiB, 4 * MiB + 5)]
    assert copied.results[0].digest == digest_bytes(data)
    target = open_store(second)
    assert target.get("x.bin") == data  # type: ignore[attr-defined]
    assert target.stat("x.bin").digest == digest_bytes(data)  # type: ignore[attr-defined]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_sync_of_a_tree_copies_once_then_skips_then_deletes(
    scheme: str, new_bucket: object, options: TransferOptions, tmp_path: Path
) -> None:
    bucket = new_bucket(scheme)  # type: ignore[operator]
    tree = tmp_path / "tree"
    for i in range(12):
        path = tree / f"d{i % 3}" / f"f{i}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f"file {i}".encode() * (i + 1))
    first = sync(str(tree), f"{bucket}/t/", options=options)
    assert (first.copied, first.skipped) == (12, 0)
    second = sync(str(tree), f"{bucket}/t/", options=options)
    assert (second.copied, second.skipped) == (0, 12)
    os.unlink(tree / "d0" / "f0.txt")
    third = sync(str(tree), f"{bucket}/t/", delete=True, options=options)
    assert (third.copied, third.deleted) == (0, 1)
    back = sync(f"{bucket}/t/", str(tmp_path / "back"), options=options)
    assert back.copied == 11
    assert verify(str(tree), str(tmp_path / "back")).ok
    assert verify(f"{bucket}/t/", str(tmp_path / "back"), recompute=True).ok


_AWKWARD_NAMES = [
    "a+b.txt",
    "pct%20.txt",
    "hash#1.txt",
    "q?x.txt",
    "semi;colon&amp=.txt",
    "tilde~quote'.txt",
    "brackets[1]*.txt",
    "dir with space/ünï/ü.txt",
    "empty",
    "back\\slash.txt",
    "ends with a dot.",
    "dotted dir./x",
]
# Azure would store these under other names ('\' as '/', without a '.' that ends a name): refused there.
_NOT_ON_AZURE = {"back\\slash.txt", "ends with a dot.", "dotted dir./x"}


@pytest.mark.parametrize("scheme", SCHEMES)
def test_a_tree_of_awkward_names_goes_up_and_back_under_the_same_names(
    scheme: str, new_bucket: object, options: TransferOptions, tmp_path: Path
) -> None:
    bucket = new_bucket(scheme)  # type: ignore[operator]
    tree = tmp_path / "tree"
    for name in _AWKWARD_NAMES:
        path = tree / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"" if name == "empty" else name.encode())
    refused = _NOT_ON_AZURE if scheme == "az" else set()
    kept = len(_AWKWARD_NAMES) - len(refused)

    for _ in range(2):  # the second run finds everything in place (and refuses the same files again)
        up = sync(str(tree), f"{bucket}/t/", options=options)
        assert up.failed == len(refused)
    assert (up.copied, up.skipped) == (0, kept)
    errors = [str(r.error) for r in up.results if r.outcome == "failed"]
    assert all("which Azure Blob storage" in error for error in errors), errors

    back = sync(f"{bucket}/t/", str(tmp_path / "back"), options=options)
    assert (back.copied, back.failed) == (kept, 0)
    got = sorted(str(p.relative_to(tmp_path / "back")) for p in (tmp_path / "back").rglob("*") if p.is_file())
    assert got == sorted(set(_AWKWARD_NAMES) - refused)
    for name in got:
        assert (tmp_path / "back" / name).read_bytes() == (tree / name).read_bytes()


@pytest.mark.parametrize("scheme", SCHEMES)
def test_syncing_back_where_objects_came_from_copies_nothing(
    scheme: str, new_bucket: object, options: TransferOptions, tmp_path: Path
) -> None:
    # A store dates each object by its own write, so each copy in a bucket looks newer
    # than its source; the recorded digests and dates tell they are the same (on S3,
    # whose listings carry no metadata, by one stat each).
    bucket, other = new_bucket(scheme), new_bucket("az" if scheme != "az" else "s3")  # type: ignore[operator]
    tree = tmp_path / "tree"
    hour_ago = (time.time_ns() - 3600 * 10**9) // 1000 * 1000
    for i in range(4):
        (tree / f"d{i % 2}").mkdir(parents=True, exist_ok=True)
        (tree / f"d{i % 2}" / f"f{i}.txt").write_bytes(f"file {i}".encode())
        os.utime(tree / f"d{i % 2}" / f"f{i}.txt", ns=(hour_ago, hour_ago + i * 10**9))
    sync(str(tree), f"{bucket}/t/", options=options)
    down = sync(f"{bucket}/t/", str(tmp_path / "back"), options=options)
    across = sync(f"{bucket}/t/", f"{other}/t/", options=options)

    rounds = [
        sync(f"{bucket}/t/", str(tree), options=options),  # no digest on these files: the dates tell
        sync(str(tmp_path / "back"), f"{bucket}/t/", options=options),
        sync(f"{bucket}/t/", str(tmp_path / "back"), options=options),
        sync(f"{other}/t/", f"{bucket}/t/", options=options),
        sync(f"{bucket}/t/", f"{other}/t/", options=options),
        sync(f"{other}/t/", str(tree), options=options),
    ]

    assert (down.copied, across.copied) == (4, 4)
    assert [(r.copied, r.skipped, r.failed) for r in rounds] == [(0, 4, 0)] * 6
    for i in range(4):  # the files' own dates, carried through the bucket
        assert (tmp_path / "back" / f"d{i % 2}" / f"f{i}.txt").stat().st_mtime_ns == hour_ago + i * 10**9


@pytest.mark.parametrize("scheme", SCHEMES)
def test_objects_another_tool_uploaded_download_with_their_dates_and_sync_back_as_unchanged(
    scheme: str, new_bucket: object, options: TransferOptions, tmp_path: Path
) -> None:
    # No digest is recorded on these objects, so every sync below compares sizes and dates.
    bucket = new_bucket(scheme)  # type: ignore[operator]
    store = open_store(bucket)
    small, big = b"written by another tool", _data(17 * MiB, seed=5)
    store.put("t/small.txt", small)  # type: ignore[attr-defined]
    store.put("t/big.bin", big)  # type: ignore[attr-defined]
    # The download lands in a later second than the upload: a file dated by its own
    # write would then be newer than its source, even at the whole-second precision
    # of the providers' HTTP dates, and the sync back would copy both again.
    time.sleep(1.1)
    down = sync(f"{bucket}/t/", str(tmp_path / "back"), options=options)
    assert (down.copied, down.failed) == (2, 0)
    for name in ("small.txt", "big.bin"):
        date = store.stat(f"t/{name}").last_modified  # type: ignore[attr-defined]
        kept = datetime.fromtimestamp((tmp_path / "back" / name).stat().st_mtime, UTC)
        assert kept.replace(microsecond=0) == date.replace(microsecond=0), name

    back = sync(str(tmp_path / "back"), f"{bucket}/t/", options=options)
    again = sync(f"{bucket}/t/", str(tmp_path / "back"), options=options)

    assert [(r.copied, r.skipped, r.failed) for r in (back, again)] == [(0, 2, 0), (0, 2, 0)]


@pytest.mark.parametrize("size", [5, 17 * MiB])  # one whole GET, one multipart upload
def test_a_sync_from_s3_carries_what_its_listings_lack(
    new_bucket: object, options: TransferOptions, tmp_path: Path, size: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """User metadata, the recorded digest (checked on arrival) and the recorded date all reach the copy.

    A small object learns them from its GET; a large one from one stat before it is read.
    """
    s3, az = new_bucket("s3"), new_bucket("az")  # type: ignore[operator]
    data = _data(size, seed=6)
    recorded = {
        "owner": "me",
        "omnicloud_digest": digest_bytes(data),
        "omnicloud_mtime": "2001-09-09T01:46:40.5Z",
    }
    open_store(s3).put("t/x.bin", data, metadata=recorded)  # type: ignore[attr-defined]
    stats: list[str] = []
    stat = S3Store.stat
    monkeypatch.setattr(S3Store, "stat", lambda self, key: stats.append(key) or stat(self, key))

    across = sync(f"{s3}/t/", f"{az}/t/", options=options)
    down = sync(f"{s3}/t/", str(tmp_path / "down"), options=options)

    assert (across.copied, down.copied) == (1, 1)
    # One stat before a large copy; none before publishing: the bytes hash to the recorded digest.
    assert len(stats) == (0 if size < options.multipart_threshold else 2)
    copied = open_store(az).stat("t/x.bin")  # type: ignore[attr-defined]
    assert copied.metadata["owner"] == "me"
    assert copied.modified == datetime(2001, 9, 9, 1, 46, 40, 500_000, tzinfo=UTC)
    assert (tmp_path / "down" / "x.bin").stat().st_mtime_ns == 1_000_000_000_500_000_000


def _s3_twins_and_one_foreign_edit(new_bucket: object, options: TransferOptions, tmp_path: Path) -> str:
    """``p/`` and ``q/`` synced by omnicloud (digests recorded), then ``q/edited.bin`` rewritten
    by another tool: same size, other bytes, no digest."""
    s3: str = new_bucket("s3")  # type: ignore[operator]
    (tmp_path / "up").mkdir()
    (tmp_path / "up" / "small.bin").write_bytes(_data(1000, seed=9))
    (tmp_path / "up" / "large.bin").write_bytes(_data(17 * MiB, seed=10))
    (tmp_path / "up" / "edited.bin").write_bytes(_data(1000, seed=11))
    sync(str(tmp_path / "up"), f"{s3}/p/", options=options)
    sync(f"{s3}/p/", f"{s3}/q/", options=options)
    open_store(s3).put("q/edited.bin", _data(1000, seed=12))  # type: ignore[attr-defined]
    return s3


def _s3_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Each stat and read of an S3 object from now on, as (operation, key)."""
    calls: list[tuple[str, str]] = []
    for name in ("stat", "get", "get_with_info", "open_read"):
        real = getattr(S3Store, name)

        def counted(
            self: S3Store, key: str, *args: Any, _name: str = name, _real: Any = real, **kw: Any
        ) -> Any:
            calls.append((_name, key))
            return _real(self, key, *args, **kw)

        monkeypatch.setattr(S3Store, name, counted)
    return calls


def test_verify_of_s3_objects_reads_their_recorded_digests_with_a_stat_not_their_bytes(
    new_bucket: object, options: TransferOptions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3 = _s3_twins_and_one_foreign_edit(new_bucket, options, tmp_path)
    calls = _s3_calls(monkeypatch)
    out = io.StringIO()
    report = verify(f"{s3}/p/", f"{s3}/q/", progress=JsonLinesProgress(out, interval=3600))
    assert (report.matched, [(e.key, e.status) for e in report.entries]) == (2, [("edited.bin", "mismatch")])
    # Two stats per pair; only the object another tool rewrote (no digest recorded) is read.
    assert sorted(k for op, k in calls if op == "stat") == sorted(
        f"{side}/{name}" for side in ("p", "q") for name in ("edited.bin", "large.bin", "small.bin")
    )
    assert [k for op, k in calls if op != "stat"] == ["q/edited.bin"]
    final = json.loads(out.getvalue().splitlines()[-1])
    assert final["bytes"] == final["total_bytes"] == 1000  # the bytes read, and no more planned
    out = io.StringIO()
    assert not verify(
        f"{s3}/p/", f"{s3}/q/", recompute=True, progress=JsonLinesProgress(out, interval=3600)
    ).ok
    final = json.loads(out.getvalue().splitlines()[-1])
    assert final["bytes"] == final["total_bytes"] == 2 * (2000 + 17 * MiB)  # every byte, planned up front


def test_a_checksum_sync_of_s3_objects_reads_only_what_records_no_digest(
    new_bucket: object, options: TransferOptions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3 = _s3_twins_and_one_foreign_edit(new_bucket, options, tmp_path)
    calls = _s3_calls(monkeypatch)
    summary = sync(f"{s3}/p/", f"{s3}/q/", checksum=True, options=options)
    assert (summary.copied, summary.skipped, summary.failed) == (1, 2, 0)
    read = {k for op, k in calls if op != "stat"}
    assert "q/edited.bin" in read and read <= {"q/edited.bin", "p/edited.bin"}  # the hash, and the copy
    assert open_store(s3).get("q/edited.bin") == _data(1000, seed=11)  # type: ignore[attr-defined]


def test_an_older_looking_large_s3_object_is_stated_once_before_it_is_copied(
    new_bucket: object, options: TransferOptions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3 = new_bucket("s3")  # type: ignore[operator]
    data, stale = _data(17 * MiB, seed=7), _data(17 * MiB, seed=8)
    (tmp_path / "up").mkdir()
    (tmp_path / "up" / "x.bin").write_bytes(data)
    sync(str(tmp_path / "up"), f"{s3}/t/", options=options)
    (tmp_path / "down").mkdir()
    (tmp_path / "down" / "x.bin").write_bytes(stale)  # same size, other bytes, no digest, an hour older
    hour_ago = time.time() - 3600
    os.utime(tmp_path / "down" / "x.bin", (hour_ago, hour_ago))
    stats: list[str] = []
    stat = S3Store.stat
    monkeypatch.setattr(S3Store, "stat", lambda self, key: stats.append(key) or stat(self, key))

    down = sync(f"{s3}/t/", str(tmp_path / "down"), options=options)

    assert (down.copied, down.failed) == (1, 0)
    assert (tmp_path / "down" / "x.bin").read_bytes() == data
    # The check that could have skipped it, which the copy reuses; none before publishing, as the
    # bytes hash to the digest the object records.
    assert len(stats) == 1


@pytest.mark.parametrize("scheme", SCHEMES)
def test_sync_of_large_listed_objects_pins_them_by_their_listed_version(
    scheme: str, new_bucket: object, options: TransferOptions, tmp_path: Path
) -> None:
    """The etag a listing gives and the one a stat gives must pin the same version (Azure quotes one)."""
    bucket = new_bucket(scheme)  # type: ignore[operator]
    other = new_bucket("s3" if scheme != "s3" else "az")  # type: ignore[operator]
    data = _data(17 * MiB, seed=3)
    (tmp_path / "src.bin").write_bytes(data)
    copy(str(tmp_path / "src.bin"), f"{bucket}/big/a.bin", options=options)
    down = sync(f"{bucket}/big/", str(tmp_path / "down"), options=options)
    assert (down.copied, down.failed) == (1, 0), down.results
    assert (tmp_path / "down" / "a.bin").read_bytes() == data
    across = sync(f"{bucket}/big/", f"{other}/big/", options=options)
    assert (across.copied, across.failed) == (1, 0), across.results
