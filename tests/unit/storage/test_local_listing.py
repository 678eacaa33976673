"""Listing a local tree: each entry says what ``stat`` says, in key order, cheaply."""

from __future__ import annotations

import errno
import mimetypes
import os
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import pytest

from omnicloud.storage.local import TEMP_MARKER, LocalStore, write_attributes


def _has_user_xattrs(path: Path) -> bool:
    probe = path / "probe"
    probe.write_bytes(b"")
    try:
        os.setxattr(probe, "user.omnicloud.probe", b"1")
    except OSError:
        return False
    finally:
        probe.unlink()
    return True


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path)


def test_listing_entries_equal_stat_for_files_with_and_without_metadata(
    store: LocalStore, tmp_path: Path
) -> None:
    if not _has_user_xattrs(tmp_path):
        pytest.skip("this filesystem has no user xattrs")
    store.put("synced/a.csv", b"1,2\n", metadata={"omnicloud_digest": "sha256:ab", "owner": "me"})
    store.put("synced/b.bin", b"x", content_type="image/png")
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "c.txt").write_bytes(b"hello")
    listed = list(store.list())
    assert [info.key for info in listed] == ["plain/c.txt", "synced/a.csv", "synced/b.bin"]
    for info in listed:
        assert info == store.stat(info.key)
    by_key = {info.key: info for info in listed}
    assert by_key["synced/a.csv"].digest == "sha256:ab"
    assert by_key["synced/a.csv"].metadata["owner"] == "me"
    assert by_key["synced/b.bin"].content_type == "image/png"
    assert by_key["plain/c.txt"].digest is None
    assert dict(by_key["plain/c.txt"].metadata) == {}


@pytest.mark.parametrize("xattrs", [True, False])
@pytest.mark.parametrize(
    "put",
    [
        {},
        {"metadata": {"omnicloud_digest": "sha256:ab", "Owner": "me"}},
        {"content_type": "image/png"},
        {"content_type": "", "metadata": {"omnicloud_mtime": "2026-01-02T03:04:05.000006Z"}},
        {"modified": datetime(2025, 5, 6, 7, 8, 9, 123456, tzinfo=UTC), "metadata": {"k": "v"}},
        {"if_absent": True, "metadata": {"omnicloud_digest": "sha256:cd"}, "content_type": "text/x-y"},
    ],
)
def test_put_returns_what_stat_then_reads_back(
    store: LocalStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, put: dict[str, object], xattrs: bool
) -> None:
    # put makes its answer from what it wrote instead of reading the file again: the two must agree.
    if xattrs and not _has_user_xattrs(tmp_path):
        pytest.skip("this filesystem has no user xattrs")
    if not xattrs:

        def no_user_xattrs(*args: object, **kwargs: object) -> None:
            raise OSError(errno.ENOTSUP, "Operation not supported")

        monkeypatch.setattr(os, "setxattr", no_user_xattrs)
    for key in ("data.csv", "deeper/tree/blob"):
        if not put.get("if_absent"):
            store.put(key, b"an older version, longer")  # replaced, attributes and all
        info = store.put(key, b"1,2\n", **put)  # type: ignore[arg-type]
        assert info == store.stat(key)
        # A recorded date becomes the file's date, not an attribute; names are lowercased.
        given = put.get("metadata") or {}
        assert isinstance(given, dict)
        kept = {k.lower(): v for k, v in given.items() if k != "omnicloud_mtime"} if xattrs else {}
        assert (info.size, dict(info.metadata)) == (4, kept)


@pytest.mark.parametrize(
    "name",
    [
        "a.txt",
        "b.TXT",
        "c.csv",
        "d.tar.gz",
        "e.tgz",
        "f.svgz",
        "g.json.bz2",
        ".bashrc",
        "..odd",
        "noextension",
        "data:text,x.txt",
        "weird.",
        "x.unknownextension",
    ],
)
def test_listed_content_type_is_the_mimetypes_guess(store: LocalStore, tmp_path: Path, name: str) -> None:
    # Two files per extension: the second one is answered from the per-extension memo.
    for directory in ("one", "two"):
        (tmp_path / directory).mkdir(exist_ok=True)
        (tmp_path / directory / name).write_bytes(b"")
    expected = mimetypes.guess_type(f"one/{name}")[0] or "application/octet-stream"
    assert [info.content_type for info in store.list()] == [expected, expected]


def test_listing_a_deep_tree_yields_keys_in_byte_order_and_skips_temporary_files(
    store: LocalStore, tmp_path: Path
) -> None:
    # "-" and "." sort before "/", "0" after it: a directory's keys fall between.
    keys = ["z/y/x/w", "a0", "a/b0", "a.txt", "a/b/c/f", "b/c", "a-b", "a/b/c/d/e"]
    for key in keys:
        (tmp_path / key).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / key).write_bytes(b"1")
    (tmp_path / "a" / "b" / f"{TEMP_MARKER}123-partial").write_bytes(b"")
    (tmp_path / "empty" / "dirs").mkdir(parents=True)
    assert [info.key for info in store.list()] == [
        "a-b",
        "a.txt",
        "a/b/c/d/e",
        "a/b/c/f",
        "a/b0",
        "a0",
        "b/c",
        "z/y/x/w",
    ]


def test_listing_a_prefix_inside_a_name_and_with_a_delimiter(store: LocalStore, tmp_path: Path) -> None:
    for key in ("logs/2026-01/a", "logs/2026-01/b/c", "logs/2026-02/a", "logs/2025/a", "other"):
        (tmp_path / key).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / key).write_bytes(b"1")
    assert [i.key for i in store.list("logs/2026")] == [
        "logs/2026-01/a",
        "logs/2026-01/b/c",
        "logs/2026-02/a",
    ]
    rolled = [(i.key, i.is_prefix) for i in store.list("logs/2026-01/", delimiter="/")]
    assert rolled == [("logs/2026-01/a", False), ("logs/2026-01/b/", True)]


def test_files_without_attributes_share_one_empty_read_only_metadata(
    store: LocalStore, tmp_path: Path
) -> None:
    for name in ("a", "b"):
        (tmp_path / name).write_bytes(b"")
    first, second = store.list()
    assert first.metadata is second.metadata
    with pytest.raises(TypeError):
        first.metadata["x"] = "y"  # type: ignore[index]


def test_write_attributes_then_listing_reads_them_back(store: LocalStore, tmp_path: Path) -> None:
    if not _has_user_xattrs(tmp_path):
        pytest.skip("this filesystem has no user xattrs")
    path = tmp_path / "f.dat"
    path.write_bytes(b"1")
    write_attributes(path, {"omnicloud_digest": "sha256:cd"}, "text/x-custom")
    (info,) = store.list()
    assert (info.digest, info.content_type) == ("sha256:cd", "text/x-custom")


@pytest.mark.parametrize(
    "when",
    [
        datetime(2001, 9, 9, 1, 46, 40, 999_999, tzinfo=UTC),  # the last microsecond of a second
        datetime(1969, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC),  # before the epoch
        datetime(2030, 1, 2, 3, 4, 5),  # naive: taken as UTC
    ],
)
def test_a_put_given_a_date_keeps_it_and_the_digest_stays_valid(
    store: LocalStore, tmp_path: Path, when: datetime
) -> None:
    store.put("d/f.bin", b"data", metadata={"omnicloud_digest": "sha256:ab"}, modified=when)
    (info,) = store.list()
    assert info.last_modified == when.replace(tzinfo=UTC)
    if _has_user_xattrs(tmp_path):
        assert info.digest == "sha256:ab"  # recorded with the date the file keeps
    assert store.copy("d/f.bin", "g.bin").last_modified == info.last_modified


def test_a_recorded_date_put_to_a_file_becomes_its_modification_time_not_an_attribute(
    store: LocalStore, tmp_path: Path
) -> None:
    store.put("f", b"x", metadata={"omnicloud_mtime": "2001-09-09T01:46:40.250000Z", "owner": "me"})
    (info,) = store.list()
    assert info.last_modified == datetime(2001, 9, 9, 1, 46, 40, 250_000, tzinfo=UTC)
    assert "omnicloud_mtime" not in info.metadata  # an edit would leave an attribute stale
    if _has_user_xattrs(tmp_path):
        assert dict(info.metadata) == {"owner": "me"}


def _edit_in_place(path: Path, data: bytes) -> None:
    """Rewrite a file's bytes the way an editor saving in place does: same inode, attributes kept."""
    before = path.stat()
    with open(path, "r+b") as handle:
        handle.truncate(0)
        handle.write(data)
    # A second later, whatever the filesystem's timestamp granularity.
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))


def test_a_file_edited_in_place_is_listed_without_the_digest_of_its_old_bytes(
    store: LocalStore, tmp_path: Path
) -> None:
    if not _has_user_xattrs(tmp_path):
        pytest.skip("this filesystem has no user xattrs")
    store.put("f.txt", b"hello", metadata={"omnicloud_digest": "sha256:old", "owner": "me"})
    assert store.stat("f.txt").digest == "sha256:old"
    _edit_in_place(tmp_path / "f.txt", b"jello")  # same size
    assert "user.omnicloud.meta.omnicloud_digest" in os.listxattr(tmp_path / "f.txt")
    (listed,) = store.list()
    assert listed.digest is None
    assert dict(listed.metadata) == {"owner": "me"}
    assert store.stat("f.txt") == listed
    # A digest recorded without the time and size it belongs to (by hand, or
    # by an omnicloud that did not record them) is not trusted either.
    (tmp_path / "g.txt").write_bytes(b"g")
    os.setxattr(tmp_path / "g.txt", "user.omnicloud.meta.omnicloud_digest", b"sha256:g")
    assert store.stat("g.txt").digest is None


# --- list_in_child: the same listing, walked by a forked child ---------------------


@pytest.fixture
def forks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fork even if an earlier test left a thread behind (Dask's offload thread lives on)."""
    from omnicloud.storage import _forked

    if sys.platform != "linux":
        pytest.skip("listings are walked in a child on Linux only")
    monkeypatch.setattr(_forked, "can_fork", lambda: True)


def _children() -> set[int]:
    import psutil

    return {child.pid for child in psutil.Process().children(recursive=True)}


def _tree(store: LocalStore, tmp_path: Path) -> None:
    store.put("t/a.csv", b"1,2\n", content_type="text/csv")
    store.put("t/b/deep/c.bin", b"x" * 10)
    for i in range(2500):  # more than one batch
        (tmp_path / "t" / "many").mkdir(exist_ok=True)
        (tmp_path / "t" / "many" / f"f{i:05d}").write_bytes(b"." * (i % 7))
    if _has_user_xattrs(tmp_path):
        store.put("t/b/meta.txt", b"m", metadata={"omnicloud_digest": "blake3-c8m:ab", "owner": "me"})
        store.put("t/b/edited.txt", b"e", metadata={"omnicloud_digest": "blake3-c8m:cd"})
        _edit_in_place(tmp_path / "t" / "b" / "edited.txt", b"E")


@pytest.mark.parametrize("prefix", ["", "t/", "t/b/", "t/ma", "t/many/f0001", "absent/"])
def test_a_listing_walked_in_a_child_equals_the_listing(
    store: LocalStore, tmp_path: Path, prefix: str
) -> None:
    _tree(store, tmp_path)
    before = _children()
    walked = list(store.list_in_child(prefix))
    assert walked == list(store.list(prefix))
    assert _children() == before  # the child was waited for
    if prefix == "t/":
        assert len(walked) >= 2502
        digests = {info.key: info.digest for info in walked}
        if "t/b/meta.txt" in digests:
            assert (digests["t/b/meta.txt"], digests["t/b/edited.txt"]) == ("blake3-c8m:ab", None)


@pytest.mark.usefixtures("forks")
def test_closing_a_listing_walked_in_a_child_early_stops_the_child(store: LocalStore, tmp_path: Path) -> None:
    _tree(store, tmp_path)
    before = _children()
    listing = store.list_in_child("t/")
    assert next(listing).key == "t/a.csv"
    assert len(_children() - before) == 1
    listing.close()
    assert _children() == before


@pytest.mark.usefixtures("forks")
def test_an_error_in_the_child_is_raised_here_as_the_listing_raises_it(
    store: LocalStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from omnicloud.errors import OmniCloudError

    (tmp_path / "bad" / "sub").mkdir(parents=True)
    (tmp_path / "bad" / "a").write_bytes(b"a")
    scandir = os.scandir

    def failing_disk(path: str) -> object:  # the child is forked with this in place
        if str(path).endswith("sub"):
            raise OSError(errno.EIO, "Input/output error", str(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", failing_disk)
    with pytest.raises(OmniCloudError) as direct:
        list(store.list("bad/"))
    with pytest.raises(OmniCloudError) as walked:
        list(store.list_in_child("bad/"))
    assert type(walked.value) is type(direct.value)
    assert (str(walked.value), walked.value.op, walked.value.uri) == (
        str(direct.value),
        direct.value.op,
        direct.value.uri,
    )


def test_symbolic_links_are_followed_but_a_loop_is_walked_once_and_dead_links_are_skipped(
    store: LocalStore, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "o.txt").write_bytes(b"o")
    tree = tmp_path / "t"
    (tree / "d").mkdir(parents=True)
    (tree / "d" / "f.txt").write_bytes(b"f")
    (tree / "d" / "up").symlink_to("..")  # back to t/: a loop
    (tree / "d" / "here").symlink_to(".")  # to itself
    (tree / "linked").symlink_to(outside)  # another tree: followed
    (tree / "to-file.txt").symlink_to(tree / "d" / "f.txt")
    (tree / "dangling").symlink_to(tmp_path / "nowhere")
    (tree / "self").symlink_to("self")  # loops on itself
    expected = ["t/d/f.txt", "t/linked/o.txt", "t/to-file.txt"]
    assert [i.key for i in store.list("t/")] == expected
    assert [i.key for i in store.list_in_child("t/")] == expected
    assert [i.key for i in store.list("t/", delimiter="/")] == ["t/d/", "t/linked/", "t/to-file.txt"]


def test_with_other_threads_running_the_listing_is_walked_here(
    store: LocalStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    _tree(store, tmp_path)

    def no_fork() -> int:
        raise AssertionError("forked while another thread was running")

    monkeypatch.setattr(os, "fork", no_fork)
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        assert list(store.list_in_child("t/")) == list(store.list("t/"))
    finally:
        release.set()
        other.join()


@pytest.mark.usefixtures("forks")
def test_when_fork_fails_the_listing_is_walked_here(
    store: LocalStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    _tree(store, tmp_path)
    expected = list(store.list("t/"))

    def no_processes_left() -> int:
        raise OSError(errno.EAGAIN, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", no_processes_left)
    assert list(store.list_in_child("t/")) == expected


@pytest.mark.usefixtures("forks")
def test_a_hasher_runs_in_the_child_and_its_digests_come_back_with_the_listing(
    store: LocalStore, tmp_path: Path
) -> None:
    _tree(store, tmp_path)
    calls: list[str] = []  # appended to in the child's memory, not this one's

    def hasher(path: str, size: int, metadata: Mapping[str, str]) -> str | None:
        calls.append(path)
        return None if path.endswith(".csv") else f"{size}:{os.path.basename(path)}"

    walked = list(store.list_in_child("t/", hasher=hasher))

    assert calls == []
    digests = {info.key: info.content_digest for info in walked}
    assert digests["t/a.csv"] is None
    assert digests["t/b/deep/c.bin"] == "10:c.bin"
    assert digests["t/many/f00009"] == "2:f00009"
    # Otherwise the same listing, and without a hasher no content digests at all.
    plain = list(store.list("t/"))
    assert [i.key for i in walked] == [i.key for i in plain]
    assert all(i.content_digest is None for i in store.list_in_child("t/"))
