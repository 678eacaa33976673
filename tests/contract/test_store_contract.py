"""The storage contract: every backend behaves the same through the Protocols."""

from __future__ import annotations

import io
import os
import types
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from omnicloud.errors import NotFoundError, OmniCloudError, PreconditionFailedError
from omnicloud.storage import (
    Admin,
    Deleter,
    GetWithInfo,
    Lister,
    MetadataOnComplete,
    Multipart,
    PartsFromBuffers,
    Reader,
    ReadInto,
    ResumableUpload,
    ServerSideCopy,
    Stat,
    Writer,
)

pytestmark = pytest.mark.emulator

PROTOCOLS = (
    Reader,
    GetWithInfo,
    Writer,
    Lister,
    Deleter,
    Stat,
    ServerSideCopy,
    Multipart,
    PartsFromBuffers,
    ReadInto,
    ResumableUpload,
    Admin,
)


def keys(store: Any, prefix: str = "", delimiter: str | None = None) -> list[str]:
    return [info.key for info in store.list(prefix, delimiter=delimiter)]


# --- capabilities ---------------------------------------------------------------


def test_declared_capabilities_are_exactly_the_protocols_the_store_satisfies(store: Any) -> None:
    declared = set(type(store).CAPABILITIES)
    satisfied = {proto for proto in PROTOCOLS if isinstance(store, proto)}
    assert declared <= satisfied
    # A store must not satisfy a Protocol structurally without declaring it.
    assert satisfied == declared


# --- put / get ------------------------------------------------------------------


def test_put_then_get_returns_the_same_bytes(store: Any) -> None:
    data = os.urandom(70_000)
    info = store.put("dir/object.bin", data)
    assert info.size == len(data)
    assert store.get("dir/object.bin") == data


def test_a_get_with_info_says_what_stat_says_of_the_version_read(store: Any) -> None:
    if not isinstance(store, GetWithInfo):
        pytest.skip(f"{type(store).__name__} lists metadata: no need to learn it from a GET")
    store.put("gi/a", b"first", metadata={"owner": "me"}, content_type="text/x-a")
    data, info = store.get_with_info("gi/a")
    stated = store.stat("gi/a")
    assert data == b"first"
    assert (info.key, info.size, info.etag, info.last_modified) == (
        "gi/a",
        5,
        stated.etag,
        stated.last_modified,
    )
    assert (dict(info.metadata), info.content_type) == ({"owner": "me"}, "text/x-a")
    with pytest.raises(NotFoundError):
        store.get_with_info("gi/absent")


def test_put_records_metadata_and_content_type_that_stat_returns(store: Any) -> None:
    store.put(
        "doc.txt",
        b"hello",
        metadata={"Owner": "data_team", "omnicloud_digest": "sha256:ab"},
        content_type="text/plain",
    )
    info = store.stat("doc.txt")
    assert info.size == 5
    assert info.content_type == "text/plain"
    assert info.metadata["owner"] == "data_team"
    assert info.digest == "sha256:ab"
    assert info.etag
    assert info.last_modified is not None


def test_empty_object_round_trips(store: Any) -> None:
    store.put("empty", b"")
    assert store.get("empty") == b""
    assert store.stat("empty").size == 0


def test_put_accepts_a_file_object(store: Any) -> None:
    data = os.urandom(300_000)
    store.put("from-file", io.BytesIO(data))
    assert store.get("from-file") == data


def test_put_overwrites_an_existing_object(store: Any) -> None:
    store.put("k", b"first")
    store.put("k", b"second")
    assert store.get("k") == b"second"


def test_byte_ranges_are_start_inclusive_end_exclusive(store: Any) -> None:
    data = bytes(range(256)) * 40
    store.put("ranged", data)
    assert store.get("ranged", range=(0, 10)) == data[:10]
    assert store.get("ranged", range=(100, 2000)) == data[100:2000]
    assert store.get("ranged", range=(len(data) - 5, len(data) + 100)) == data[-5:]
    assert store.get("ranged", range=(len(data) + 10, len(data) + 20)) == b""
    assert store.get("ranged", range=(50, 50)) == b""


def test_open_read_streams_the_whole_object(store: Any) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    store.put("big", data)
    chunks = []
    with store.open_read("big") as reader:
        while chunk := reader.read(256 * 1024):
            chunks.append(chunk)
    assert b"".join(chunks) == data


def test_open_read_streams_a_byte_range(store: Any) -> None:
    data = os.urandom(2 * 1024 * 1024 + 33)
    store.put("window", data)

    def read(start: int, end: int) -> bytes:
        with store.open_read("window", range=(start, end)) as reader:
            return b"".join(iter(lambda: reader.read(100_000), b""))

    assert read(0, 10) == data[:10]
    assert read(1_000_001, 2_000_003) == data[1_000_001:2_000_003]
    assert read(len(data) - 7, len(data) + 1000) == data[-7:]
    assert read(len(data) + 5, len(data) + 50) == b""
    assert read(40, 40) == b""


def test_listing_and_stat_agree_on_the_version_of_an_object(store: Any) -> None:
    """The transfer engine pins a listed source and checks it with ``stat``: the two must agree."""
    store.put("pinned/one", b"v1")
    listed = next(info for info in store.list("pinned/") if info.key == "pinned/one")
    stat = store.stat("pinned/one")
    assert (listed.etag, listed.size, listed.version) == (stat.etag, stat.size, stat.version)


def test_put_if_absent_refuses_to_overwrite(store: Any) -> None:
    store.put("once", b"original", if_absent=True)
    with pytest.raises(PreconditionFailedError):
        store.put("once", b"replacement", if_absent=True)
    assert store.get("once") == b"original"


def test_open_write_publishes_only_on_clean_close(store: Any) -> None:
    with store.open_write("written", metadata={"a": "1"}, content_type="text/csv") as writer:
        writer.write(b"col\n")
        writer.write(b"1\n")
        assert not store.exists("written")
    assert store.get("written") == b"col\n1\n"
    assert store.stat("written").metadata["a"] == "1"


def test_open_write_that_fails_leaves_no_object(store: Any) -> None:
    with pytest.raises(RuntimeError), store.open_write("never") as writer:
        writer.write(b"partial")
        raise RuntimeError("producer died")
    assert not store.exists("never")


def test_failed_put_from_a_broken_reader_leaves_no_object(store: Any) -> None:
    class BrokenReader(io.RawIOBase):
        sent = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            if self.sent > 100_000:
                raise OSError("source disk failed")
            n = min(len(buffer), 50_000)
            buffer[:n] = b"x" * n
            self.sent += n
            return n

    with pytest.raises((OSError, OmniCloudError)):
        store.put("half", io.BufferedReader(BrokenReader()))
    assert not store.exists("half")


@pytest.mark.parametrize(
    "key",
    ["with space.txt", "hash#and?query", "percent%20kept", "unicodé/naïve/日本語.txt", "deep/a/b/c/d/e.bin"],
)
def test_keys_with_special_characters_round_trip(store: Any, key: str) -> None:
    store.put(key, key.encode())
    assert store.get(key) == key.encode()
    assert key in keys(store)
    assert store.stat(key).key == key


@pytest.mark.parametrize("key", ["folder/", "double//slash", "/leading"])
def test_keys_with_an_empty_segment_are_objects_of_their_own(backend: Any, store: Any, key: str) -> None:
    if backend.name == "local":
        pytest.skip("a file system path has no empty segments; the local store refuses such keys")
    # The key a path library would make of it. gcp-storage-emulator itself serves both
    # names from one object (a GET of "folder" answers with "folder/"), so there it is left out.
    near = key.strip("/").replace("//", "/") if backend.name != "gcs" else None
    if near is not None:
        store.put(near, b"near")
    store.put(key, key.encode())  # small: the put that goes through obstore where it can
    assert store.get(key) == key.encode()
    assert store.get(key, range=(0, 3)) == key.encode()[:3]
    with store.open_read(key) as stream:
        assert stream.read() == key.encode()
    info = store.stat(key)
    assert (info.key, info.size) == (key, len(key.encode()))
    others = [] if near is None else [near]
    assert sorted(keys(store)) == sorted([*others, key])
    if near is not None:
        assert store.get(near) == b"near"
    store.delete(key)
    assert keys(store) == others


# --- list -----------------------------------------------------------------------


def test_list_returns_keys_under_a_prefix_in_order(store: Any) -> None:
    for key in ["a/1", "a/2", "a/sub/3", "ab", "b/1"]:
        store.put(key, b"x")
    assert keys(store, "a/") == ["a/1", "a/2", "a/sub/3"]
    assert keys(store) == ["a/1", "a/2", "a/sub/3", "ab", "b/1"]
    assert keys(store, "a") == ["a/1", "a/2", "a/sub/3", "ab"]
    assert keys(store, "nothing/") == []


def test_list_with_delimiter_rolls_up_prefixes(store: Any) -> None:
    for key in ["top.txt", "a/1", "a/2", "a/sub/3", "b/1"]:
        store.put(key, b"x")
    entries = list(store.list("", delimiter="/"))
    assert [(e.key, e.is_prefix) for e in entries] == [
        ("a/", True),
        ("b/", True),
        ("top.txt", False),
    ]
    assert [(e.key, e.is_prefix) for e in store.list("a/", delimiter="/")] == [
        ("a/1", False),
        ("a/2", False),
        ("a/sub/", True),
    ]


def test_list_is_lazy(store: Any) -> None:
    store.put("one", b"1")
    listing = store.list()
    assert isinstance(listing, types.GeneratorType)


def test_list_pages_through_more_than_a_thousand_objects(store: Any) -> None:
    names = [f"many/{i:05d}" for i in range(1_100)]
    # gcp-storage-emulator serves one request at a time with a listen backlog of 5.
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda k: store.put(k, b"."), names))
    assert keys(store, "many/") == names
    assert len(keys(store, "many/", delimiter="/")) == 1_100


# --- stat, exists, delete ------------------------------------------------------------


def test_missing_key_raises_not_found_that_is_also_file_not_found(store: Any) -> None:
    for call in (
        lambda: store.get("missing"),
        lambda: store.stat("missing"),
        lambda: store.open_read("missing"),
    ):
        with pytest.raises(NotFoundError) as caught:
            call()
        assert isinstance(caught.value, FileNotFoundError)
        assert "missing" in str(caught.value)


def test_exists_tells_present_from_absent(store: Any) -> None:
    store.put("here", b"1")
    assert store.exists("here")
    assert not store.exists("not-here")


def test_delete_removes_and_reports_missing_keys(store: Any) -> None:
    store.put("gone", b"1")
    store.delete("gone")
    assert not store.exists("gone")
    with pytest.raises(NotFoundError):
        store.delete("gone")
    store.delete("gone", missing_ok=True)


def test_server_side_copy_keeps_bytes_and_metadata(store: Any) -> None:
    data = os.urandom(10_000)
    store.put("src", data, metadata={"omnicloud_digest": "sha256:cd"}, content_type="image/png")
    info = store.copy("src", "dst/copy")
    assert info.size == len(data)
    assert store.get("dst/copy") == data
    copied = store.stat("dst/copy")
    assert copied.digest == "sha256:cd"
    assert copied.content_type == "image/png"


def test_copy_of_a_missing_object_raises_not_found(store: Any) -> None:
    with pytest.raises(NotFoundError):
        store.copy("absent", "dst")


# --- multipart ---------------------------------------------------------------------


def test_multipart_upload_assembles_parts_in_number_order(store: Any) -> None:
    if not isinstance(store, Multipart):
        pytest.skip(f"{type(store).__name__} has no multipart API")
    part_size = max(store.min_part_size, 1024)
    first, second, last = os.urandom(part_size), os.urandom(part_size), os.urandom(1000)
    upload = store.create_multipart(
        "mp/object", metadata={"omnicloud_digest": "sha256:ef"}, content_type="text/x"
    )
    parts = [
        store.upload_part("mp/object", upload, 3, last),
        store.upload_part("mp/object", upload, 1, first),
        store.upload_part("mp/object", upload, 2, second),
    ]
    assert not store.exists("mp/object")
    info = store.complete_multipart("mp/object", upload, parts)
    assert info.size == 2 * part_size + 1000
    assert store.get("mp/object") == first + second + last
    assert store.stat("mp/object").digest == "sha256:ef"


def test_metadata_given_at_completion_is_added_to_what_the_upload_started_with(store: Any) -> None:
    if not isinstance(store, MetadataOnComplete):
        pytest.skip(f"{type(store).__name__} takes metadata when an upload starts")
    upload = store.create_multipart(
        "mp/late", metadata={"Owner": "ops", "stage": "one"}, content_type="text/x"
    )
    parts = [store.upload_part("mp/late", upload, 1, b"late metadata")]
    info = store.complete_multipart_with_metadata(
        "mp/late", upload, parts, {"stage": "two", "omnicloud_digest": "sha256:0a"}
    )
    expected = {"owner": "ops", "stage": "two", "omnicloud_digest": "sha256:0a"}
    assert info.metadata == expected
    assert info.digest == "sha256:0a"
    stat = store.stat("mp/late")
    assert (stat.metadata, stat.content_type) == (expected, "text/x")
    assert store.get("mp/late") == b"late metadata"


def test_a_part_sent_from_a_buffer_keeps_the_bytes_the_buffer_held_then(store: Any) -> None:
    if not isinstance(store, PartsFromBuffers):
        pytest.skip(f"{type(store).__name__} takes parts as bytes only")
    part_size = max(store.min_part_size, 1024)
    first, last = os.urandom(part_size), os.urandom(1000)
    buffer = bytearray(part_size)
    upload = store.create_multipart("mp/buffers")
    parts = []
    for number, data in ((1, first), (2, last)):
        buffer[: len(data)] = data
        with memoryview(buffer)[: len(data)] as view:
            parts.append(store.upload_part_from("mp/buffers", upload, number, view))
        buffer[:] = bytes(part_size)  # the buffer is used again as soon as the call returns
    store.complete_multipart("mp/buffers", upload, parts)
    assert store.get("mp/buffers") == first + last


def test_read_into_fills_the_view_from_the_offset_and_counts_fewer_only_at_the_end(store: Any) -> None:
    if not isinstance(store, ReadInto):
        pytest.skip(f"{type(store).__name__} reads into no caller's buffer")
    data = os.urandom(10_000)
    store.put("ri/object", data)
    buffer = bytearray(4096)
    assert store.read_into("ri/object", 1000, memoryview(buffer)) == 4096
    assert buffer == data[1000:5096]
    assert store.read_into("ri/object", 8000, memoryview(buffer)) == 2000
    assert buffer[:2000] == data[8000:]
    assert store.read_into("ri/object", 10_000, memoryview(buffer)) == 0
    with pytest.raises(NotFoundError):
        store.read_into("ri/missing", 0, memoryview(buffer))


def test_aborted_multipart_upload_leaves_no_object(store: Any) -> None:
    if not isinstance(store, Multipart):
        pytest.skip(f"{type(store).__name__} has no multipart API")
    upload = store.create_multipart("mp/aborted")
    store.upload_part("mp/aborted", upload, 1, b"x" * 100)
    store.abort_multipart("mp/aborted", upload)
    assert not store.exists("mp/aborted")


# --- upload sessions ------------------------------------------------------------------


def test_an_upload_session_takes_pieces_in_order_and_says_what_it_holds(store: Any) -> None:
    if not isinstance(store, ResumableUpload):
        pytest.skip(f"{type(store).__name__} has no upload sessions")
    grain = store.resumable_granularity
    data = os.urandom(2 * grain + 1000)
    session = store.start_resumable(
        "rs/object", size=len(data), metadata={"omnicloud_digest": "sha256:ab"}, content_type="text/x"
    )
    assert store.resumable_offset("rs/object", session, len(data)) == 0
    assert store.send_resumable("rs/object", session, 0, data[:grain], len(data)) == grain
    # A new process learns where to go on from the service, not from its own notes.
    assert store.resumable_offset("rs/object", session, len(data)) == grain
    assert not store.exists("rs/object")
    assert store.send_resumable("rs/object", session, grain, data[grain:], len(data)) == len(data)
    assert store.get("rs/object") == data
    info = store.stat("rs/object")
    assert (info.digest, info.content_type, info.size) == ("sha256:ab", "text/x", len(data))


# --- buckets -----------------------------------------------------------------------


def test_missing_bucket_raises_not_found_naming_the_bucket(backend: Any) -> None:
    if not backend.has_buckets:
        pytest.skip("local storage has no buckets")
    absent = backend.make("oc-never-created-bucket")
    calls = [lambda: absent.get("k"), lambda: absent.put("k", b"1"), lambda: list(absent.list())]
    if isinstance(absent, Stat):
        calls.append(lambda: absent.stat("k"))
    for call in calls:
        with pytest.raises(NotFoundError) as caught:
            call()
        # The message, not the text: the URI names a bucket whatever the message says.
        assert caught.value.message.startswith(("bucket", "container")), caught.value
    assert not absent.bucket_exists()


def test_bucket_lifecycle(backend: Any, bucket_name: str) -> None:
    if not backend.has_buckets:
        pytest.skip("local storage has no buckets")
    store = backend.make(bucket_name)
    assert not store.bucket_exists()
    store.create_bucket()
    assert store.bucket_exists()
    store.create_bucket(exist_ok=True)
    with pytest.raises(PreconditionFailedError):
        store.create_bucket()
    store.put("k", b"1")
    with pytest.raises(PreconditionFailedError):
        store.delete_bucket()
    store.delete_bucket(force=True)
    assert not store.bucket_exists()
