"""What a store is: object records and one small Protocol per capability.

A backend declares the capabilities it has in ``CAPABILITIES``; the typing
test in ``tests/typing`` proves each declaration with mypy and the contract
suite exercises it on a real emulator. Callers discover optional
capabilities with ``isinstance(store, Multipart)`` and friends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import IO, Protocol, runtime_checkable

from omnicloud.uri import ObjectURI

__all__ = [
    "DIGEST_METADATA_KEY",
    "MTIME_METADATA_KEY",
    "Admin",
    "Deleter",
    "GetWithInfo",
    "Lister",
    "MetadataOnComplete",
    "Multipart",
    "ObjectInfo",
    "PartInfo",
    "PartsFromBuffers",
    "ReadInto",
    "Reader",
    "ResumableUpload",
    "ServerSideCopy",
    "Stat",
    "Store",
    "StreamedBody",
    "Writer",
]

# Our canonical digest is stored under this user-metadata key on every
# provider, so it survives multipart uploads (whose etags are not digests).
# No hyphen: Azure metadata names must be C# identifiers.
DIGEST_METADATA_KEY = "omnicloud_digest"

# An upload records the date of what it copied under this key (RFC 3339, UTC,
# microseconds), as rclone records its ``mtime``: a store dates each object
# by its own write, so without it a sync back to where the files came from
# would find every one of them older than its copy.
MTIME_METADATA_KEY = "omnicloud_mtime"

ByteRange = tuple[int, int]
"""``(start, end)``: bytes ``start`` up to but not including ``end``."""


def _empty_metadata() -> Mapping[str, str]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """What a store knows about one object (or, in delimited listings, one prefix).

    ``metadata`` holds user metadata with lowercased keys. ``digest`` is the
    canonical digest omnicloud recorded at upload (``"algo:hex"``), when any.
    ``content_digest`` is one computed from the bytes as the object was listed,
    when the listing was asked to (small local files, for ``verify`` and
    ``sync --checksum``): fresher than a recorded one.
    """

    key: str
    size: int
    etag: str | None = None
    last_modified: datetime | None = None
    metadata: Mapping[str, str] = field(default_factory=_empty_metadata)
    content_type: str | None = None
    storage_class: str | None = None
    version: str | None = None
    is_prefix: bool = False
    content_digest: str | None = None

    @property
    def digest(self) -> str | None:
        return self.metadata.get(DIGEST_METADATA_KEY)

    @property
    def modified(self) -> datetime | None:
        """The date a sync compares: the one an upload recorded (``MTIME_METADATA_KEY``), or the store's."""
        recorded = self.metadata.get(MTIME_METADATA_KEY)
        if recorded is not None:
            when = parse_recorded_time(recorded)
            if when is not None:
                return when
        return self.last_modified


def format_recorded_time(when: datetime) -> str:
    """``when`` as ``MTIME_METADATA_KEY`` holds it: ``2026-11-26T12:01:39.731653Z`` (naive is UTC)."""
    if when.tzinfo is not None:
        when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_recorded_time(text: str) -> datetime | None:
    """The date ``format_recorded_time`` wrote, or None for anything else (metadata is anyone's to set)."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


def _listed_info_maker() -> Callable[..., ObjectInfo]:
    # A frozen dataclass sets each field through object.__setattr__ looked up
    # at every call: ~2.5 us per ObjectInfo here, a third of the planning time
    # of a large local sync. Setting the slots through their descriptors makes
    # the same object in half the time.
    (
        set_key,
        set_size,
        set_etag,
        set_modified,
        set_metadata,
        set_type,
        set_class,
        set_version,
        set_prefix,
        set_content_digest,
    ) = (
        getattr(ObjectInfo, name).__set__
        for name in (
            "key",
            "size",
            "etag",
            "last_modified",
            "metadata",
            "content_type",
            "storage_class",
            "version",
            "is_prefix",
            "content_digest",
        )
    )
    new = object.__new__

    def listed_info(
        key: str,
        size: int,
        etag: str | None,
        last_modified: datetime | None,
        metadata: Mapping[str, str],
        content_type: str | None,
        storage_class: str | None = None,
        version: str | None = None,
        content_digest: str | None = None,
    ) -> ObjectInfo:
        """``ObjectInfo(key, size, etag, last_modified, metadata, content_type, ...)``, made faster."""
        info = new(ObjectInfo)
        set_key(info, key)
        set_size(info, size)
        set_etag(info, etag)
        set_modified(info, last_modified)
        set_metadata(info, metadata)
        set_type(info, content_type)
        set_class(info, storage_class)
        set_version(info, version)
        set_prefix(info, False)
        set_content_digest(info, content_digest)
        return info

    return listed_info


listed_info = _listed_info_maker()


@dataclass(frozen=True, slots=True)
class PartInfo:
    """One uploaded part of a multipart upload.

    ``checksum`` is what the provider checked the part against, when it takes
    one (S3's base64 CRC32C); a part known only from the journal has none.
    """

    number: int
    etag: str
    size: int
    checksum: str | None = None


@runtime_checkable
class Store(Protocol):
    """Every store is bound to one bucket (container on Azure) and can be closed."""

    @property
    def uri(self) -> ObjectURI: ...

    def close(self) -> None: ...


@runtime_checkable
class Reader(Protocol):
    def get(self, key: str, *, range: ByteRange | None = None) -> bytes:
        """The object's bytes, or bytes ``[start, end)`` of it."""
        ...

    def open_read(self, key: str, *, range: ByteRange | None = None) -> IO[bytes]:
        """A streaming, closeable reader over the object, or over bytes ``[start, end)`` of it.

        A range reaching past the end stops at the end; one starting at or past
        the end reads nothing.
        """
        ...


@runtime_checkable
class GetWithInfo(Protocol):
    def get_with_info(self, key: str) -> tuple[bytes, ObjectInfo]:
        """The whole object, and what ``stat`` says of the version read, from one request.

        For stores whose listings carry no metadata (``LISTS_METADATA =
        False``): a copy of a listed object learns its recorded digest, date
        and user metadata from its GET instead of a ``stat`` before it.
        """
        ...


@runtime_checkable
class Writer(Protocol):
    def put(
        self,
        key: str,
        data: bytes | IO[bytes],
        *,
        metadata: Mapping[str, str] | None = None,
        content_type: str | None = None,
        if_absent: bool = False,
    ) -> ObjectInfo:
        """Write a whole object atomically; ``if_absent`` refuses to overwrite."""
        ...

    def open_write(
        self,
        key: str,
        *,
        metadata: Mapping[str, str] | None = None,
        content_type: str | None = None,
    ) -> IO[bytes]:
        """A writer whose object appears only when it is closed without error."""
        ...


@runtime_checkable
class Lister(Protocol):
    def list(self, prefix: str = "", *, delimiter: str | None = None) -> Iterator[ObjectInfo]:
        """Objects under ``prefix`` in key order, lazily and page by page.

        With ``delimiter="/"``, keys below the next ``/`` are rolled up into
        entries with ``is_prefix=True``.

        A store whose listings carry no user metadata (S3 and OCI list names,
        sizes and dates only) says so with a class attribute
        ``LISTS_METADATA = False``: a sync then asks ``stat`` for a recorded
        digest before it copies an object that only its date calls changed.
        """
        ...


@runtime_checkable
class Deleter(Protocol):
    def delete(self, key: str, *, missing_ok: bool = False) -> None: ...


@runtime_checkable
class Stat(Protocol):
    def stat(self, key: str) -> ObjectInfo: ...

    def exists(self, key: str) -> bool: ...


@runtime_checkable
class ServerSideCopy(Protocol):
    def copy(self, src_key: str, dst_key: str) -> ObjectInfo:
        """Copy inside the bucket without the bytes passing through this process."""
        ...


@runtime_checkable
class Multipart(Protocol):
    min_part_size: int
    max_part_size: int
    max_parts: int

    def create_multipart(
        self,
        key: str,
        *,
        metadata: Mapping[str, str] | None = None,
        content_type: str | None = None,
    ) -> str:
        """Start an upload and return its id."""
        ...

    def upload_part(self, key: str, upload_id: str, number: int, data: bytes) -> PartInfo: ...

    def complete_multipart(self, key: str, upload_id: str, parts: Sequence[PartInfo]) -> ObjectInfo: ...

    def abort_multipart(self, key: str, upload_id: str) -> None: ...


@runtime_checkable
class MetadataOnComplete(Protocol):
    """A multipart store that takes the object's metadata when the upload completes.

    Azure's Put Block List carries the metadata; S3 and OCI take it when the
    upload starts. With this, the transfer engine hashes the parts as they
    are sent and records the digest at the end, instead of reading the
    source once more before the first part.
    """

    def complete_multipart_with_metadata(
        self, key: str, upload_id: str, parts: Sequence[PartInfo], metadata: Mapping[str, str]
    ) -> ObjectInfo:
        """``complete_multipart``, with ``metadata`` added to what the upload started with (and winning)."""
        ...


@runtime_checkable
class PartsFromBuffers(Protocol):
    """A multipart store that sends a part from a buffer its caller reuses.

    ``upload_part_from`` is ``upload_part`` for any bytes-like ``data``, of
    which it keeps no reference once it returns. With a :class:`ReadInto`
    source, the transfer engine then reads each part into one of a few
    buffers it keeps, instead of into new memory: on first touch every page
    of new memory costs a fault, ~0.25 s of kernel time per GiB here.
    """

    def upload_part_from(self, key: str, upload_id: str, number: int, data: memoryview) -> PartInfo: ...


@runtime_checkable
class ReadInto(Protocol):
    """A store that reads an object's bytes into a buffer its caller owns."""

    def read_into(self, key: str, start: int, view: memoryview) -> int:
        """Fill ``view`` with the bytes from offset ``start``; the count read, fewer only at the end."""
        ...


class StreamedBody(Protocol):
    """A request body of known length produced as it is sent, so it is never held whole in memory."""

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[bytes | bytearray | memoryview]: ...


@runtime_checkable
class ResumableUpload(Protocol):
    """A store whose large uploads are one session, sent in order, that outlives the sender.

    GCS's resumable uploads. The service makes the object as soon as the last
    byte arrives, so a caller checks what it sent before it sends the last
    piece. The session handle is a bearer secret: whoever holds it can write
    the object, with no other credential.
    """

    resumable_granularity: int  # every piece but the last is a multiple of this many bytes

    def start_resumable(
        self,
        key: str,
        *,
        size: int,
        metadata: Mapping[str, str] | None = None,
        content_type: str | None = None,
    ) -> str:
        """Open a session for an object of ``size`` bytes; return its handle."""
        ...

    def resumable_offset(self, key: str, session: str, size: int) -> int:
        """How many bytes the service holds (``size`` once the object is made).

        :class:`~omnicloud.errors.NotFoundError` when the session is gone (cancelled or expired).
        """
        ...

    def send_resumable(
        self, key: str, session: str, start: int, data: bytes | StreamedBody, size: int
    ) -> int:
        """Send ``data`` as the bytes from ``start``, in one request; how many bytes the service now holds.

        ``data`` may be a :class:`StreamedBody`, iterated once per attempt as the request goes.
        """
        ...

    def cancel_resumable(self, key: str, session: str) -> None: ...


@runtime_checkable
class Admin(Protocol):
    def create_bucket(self, *, exist_ok: bool = False) -> None: ...

    def delete_bucket(self, *, force: bool = False) -> None:
        """Delete the bucket; ``force`` deletes its objects first."""
        ...

    def bucket_exists(self) -> bool: ...
