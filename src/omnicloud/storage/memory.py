"""``mem://`` storage: objects in this process's memory.

Buckets live in a :class:`MemoryNamespace`. Stores opened without one share
:data:`DEFAULT_NAMESPACE`, so ``mem://b`` means the same bucket everywhere in
one process (as fsspec's memory filesystem does); pass ``namespace=`` for an
isolated world, as the tests do.
"""

from __future__ import annotations

import bisect
import hashlib
import io
import itertools
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any, ClassVar

from omnicloud.errors import ConfigError, NotFoundError, PreconditionFailedError
from omnicloud.storage._common import (
    ClosesOnExit,
    SpooledUpload,
    check_options,
    normalize_metadata,
    read_body,
)
from omnicloud.storage._types import (
    Admin,
    ByteRange,
    Deleter,
    Lister,
    Multipart,
    ObjectInfo,
    PartInfo,
    PartsFromBuffers,
    Reader,
    ServerSideCopy,
    Stat,
    Writer,
)
from omnicloud.uri import ObjectURI

__all__ = ["DEFAULT_NAMESPACE", "MemoryNamespace", "MemoryStore"]

_MiB = 1024 * 1024


@dataclass
class _Bucket:
    objects: dict[str, tuple[bytes, ObjectInfo]] = field(default_factory=dict)
    uploads: dict[str, tuple[str, dict[int, bytes], dict[str, str], str | None]] = field(default_factory=dict)
    _sorted: list[str] | None = None

    def sorted_keys(self) -> list[str]:
        if self._sorted is None:
            self._sorted = sorted(self.objects)
        return self._sorted

    def changed(self) -> None:
        self._sorted = None


class MemoryNamespace:
    """A set of in-memory buckets, safe to use from several threads."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.buckets: dict[str, _Bucket] = {}


DEFAULT_NAMESPACE = MemoryNamespace()


class MemoryStore(ClosesOnExit):
    """A bucket in memory; every capability, for logic tests and the demo."""

    CAPABILITIES: ClassVar[tuple[type, ...]] = (
        Reader,
        Writer,
        Lister,
        Deleter,
        Stat,
        ServerSideCopy,
        Multipart,
        PartsFromBuffers,
        Admin,
    )
    OPTIONS: ClassVar[tuple[str, ...]] = ("namespace", "min_part_size", "page_size")

    max_part_size = 5 * 1024 * _MiB
    max_parts = 10_000

    def __init__(
        self,
        bucket: str,
        *,
        namespace: MemoryNamespace | None = None,
        min_part_size: int = 5 * _MiB,
        page_size: int = 1000,
    ) -> None:
        self._uri = ObjectURI("memory", bucket)
        self._ns = namespace or DEFAULT_NAMESPACE
        self.min_part_size = min_part_size
        self._page_size = page_size
        self._upload_ids = itertools.count(1)

    @classmethod
    def from_uri(cls, uri: ObjectURI, *, credentials: Any = None, **options: Any) -> MemoryStore:
        check_options("memory", options, cls.OPTIONS)
        if credentials is not None:
            raise ConfigError("memory storage takes no credentials")
        return cls(uri.bucket, **options)

    @property
    def uri(self) -> ObjectURI:
        return self._uri

    def close(self) -> None:
        """Nothing to release."""

    def __repr__(self) -> str:
        return f"MemoryStore({str(self._uri)!r})"

    # --- helpers -------------------------------------------------------------

    def _bucket(self, op: str, key: str = "") -> _Bucket:
        bucket = self._ns.buckets.get(self._uri.bucket)
        if bucket is None:
            raise NotFoundError(
                f"bucket {self._uri.bucket!r} does not exist",
                op=op,
                uri=str(self._uri.with_key(key)),
                provider="memory",
                hint="create it with `omnicloud mb`",
            )
        return bucket

    def _entry(self, op: str, key: str) -> tuple[bytes, ObjectInfo]:
        entry = self._bucket(op, key).objects.get(key)
        if entry is None:
            raise NotFoundError("no such object", op=op, uri=str(self._uri.with_key(key)), provider="memory")
        return entry

    def _store(
        self,
        key: str,
        body: bytes,
        metadata: Mapping[str, str] | None,
        content_type: str | None,
        *,
        if_absent: bool = False,
        op: str = "put",
        etag: str | None = None,
    ) -> ObjectInfo:
        meta = normalize_metadata(metadata)
        info = ObjectInfo(
            key=key,
            size=len(body),
            etag=etag or f'"{hashlib.md5(body, usedforsecurity=False).hexdigest()}"',
            last_modified=datetime.now(UTC),
            metadata=meta,
            content_type=content_type or "application/octet-stream",
            storage_class="STANDARD",
        )
        with self._ns.lock:
            bucket = self._bucket(op, key)
            if if_absent and key in bucket.objects:
                raise PreconditionFailedError(
                    "object already exists", op=op, uri=str(self._uri.with_key(key)), provider="memory"
                )
            if key not in bucket.objects:
                bucket.changed()
            bucket.objects[key] = (body, info)
        return info

    # --- Reader --------------------------------------------------------------

    def get(self, key: str, *, range: ByteRange | None = None) -> bytes:
        body, _ = self._entry("get", key)
        if range is None:
            return body
        start, end = range
        return body[start:end]

    def open_read(self, key: str, *, range: ByteRange | None = None) -> IO[bytes]:
        return io.BytesIO(self.get(key, range=range))

    # --- Writer --------------------------------------------------------------

    def put(
        self,
        key: str,
        data: bytes | IO[bytes],
        *,
        metadata: Mapping[str, str] | None = None,
        content_type: str | None = None,
        if_absent: bool = False,
    ) -> ObjectInfo:
        self._bucket("put", key)
        return self._store(key, read_body(data), metadata, content_type, if_absent=if_absent)

    def open_write(
        self,
        key: str,
        *,
        metadata: Mapping[str, str] | None = None,
        content_type: str | None = None,
    ) -> IO[bytes]:
        self._bucket("put", key)
        return SpooledUpload(lambda f: self._store(key, f.read(), metadata, content_type))  # type: ignore[return-value]

    # --- Lister --------------------------------------------------------------

    def list(self, prefix: str = "", *, delimiter: str | None = None) -> Iterator[ObjectInfo]:
        position = prefix
        last_prefix: str | None = None
        while True:
            # A page at a time under the lock, as a server would answer.
            with self._ns.lock:
                bucket = self._bucket("list", prefix)
                keys = bucket.sorted_keys()
                index = bisect.bisect_left(keys, position)
                page = keys[index : index + self._page_size]
                entries = [bucket.objects.get(k) for k in page]
            if not page:
                return
            if not delimiter and page[-1].startswith(prefix):
                # Keys are sorted and start at or after the prefix, so when the
                # last one has it they all do: the whole page, without a check per key.
                yield from [entry[1] for entry in entries if entry is not None]
                position = page[-1] + "\0"
                continue
            for key, entry in zip(page, entries, strict=True):
                if not key.startswith(prefix):
                    return
                if entry is None:
                    continue
                if delimiter:
                    cut = key.find(delimiter, len(prefix))
                    if cut >= 0:
                        common = key[: cut + len(delimiter)]
                        if common != last_prefix:
                            last_prefix = common
                            yield ObjectInfo(key=common, size=0, is_prefix=True)
                        continue
                yield entry[1]
            position = page[-1] + "\0"

    # --- Deleter, Stat, ServerSideCopy ----------------------------------------

    def delete(self, key: str, *, missing_ok: bool = False) -> None:
        with self._ns.lock:
            bucket = self._bucket("delete", key)
            if bucket.objects.pop(key, None) is None:
                if not missing_ok:
                    raise NotFoundError(
                        "no such object", op="delete", uri=str(self._uri.with_key(key)), provider="memory"
                    )
            else:
                bucket.changed()

    def stat(self, key: str) -> ObjectInfo:
        return self._entry("stat", key)[1]

    def exists(self, key: str) -> bool:
        return key in self._bucket("exists", key).objects

    def copy(self, src_key: str, dst_key: str) -> ObjectInfo:
        body, info = self._entry("copy", src_key)
        return self._store(dst_key, body, info.metadata, info.content_type, op="copy")

    # --- Multipart -----------------------------------------------------------

    def create_multipart(
        self,
        key: str,
        *,
        metadata: Mapping[str, str] | None = None,
        content_type: str | None = None,
    ) -> str:
        meta = normalize_metadata(metadata)
        with self._ns.lock:
            bucket = self._bucket("create_multipart", key)
            upload_id = f"mem-{id(self):x}-{next(self._upload_ids)}"
            bucket.uploads[upload_id] = (key, {}, meta, content_type)
        return upload_id

    def _upload(
        self, op: str, key: str, upload_id: str
    ) -> tuple[str, dict[int, bytes], dict[str, str], str | None]:
        upload = self._bucket(op, key).uploads.get(upload_id)
        if upload is None or upload[0] != key:
            raise NotFoundError(
                f"no multipart upload {upload_id!r}",
                op=op,
                uri=str(self._uri.with_key(key)),
                provider="memory",
            )
        return upload

    def upload_part(self, key: str, upload_id: str, number: int, data: bytes | memoryview) -> PartInfo:
        if not 1 <= number <= self.max_parts:
            raise ConfigError(f"part number {number} is outside 1..{self.max_parts}")
        with self._ns.lock:
            _, parts, _, _ = self._upload("upload_part", key, upload_id)
            parts[number] = bytes(data)
        return PartInfo(number, f'"{hashlib.md5(data, usedforsecurity=False).hexdigest()}"', len(data))

    def upload_part_from(self, key: str, upload_id: str, number: int, data: memoryview) -> PartInfo:
        """``upload_part``: the part is copied, so ``data`` may change once this returns."""
        return self.upload_part(key, upload_id, number, data)

    def complete_multipart(self, key: str, upload_id: str, parts: Sequence[PartInfo]) -> ObjectInfo:
        with self._ns.lock:
            _, stored, meta, content_type = self._upload("complete_multipart", key, upload_id)
            ordered = sorted(parts, key=lambda p: p.number)
            for index, part in enumerate(ordered):
                if part.number not in stored:
                    raise PreconditionFailedError(
                        f"part {part.number} was never uploaded", op="complete_multipart"
                    )
                if index < len(ordered) - 1 and len(stored[part.number]) < self.min_part_size:
                    raise PreconditionFailedError(
                        f"part {part.number} is smaller than the {self.min_part_size}-byte minimum",
                        op="complete_multipart",
                    )
            body = b"".join(stored[p.number] for p in ordered)
            del self._bucket("complete_multipart", key).uploads[upload_id]
            etag = f'"{hashlib.md5(body, usedforsecurity=False).hexdigest()}-{len(ordered)}"'
            return self._store(key, body, meta, content_type, op="complete_multipart", etag=etag)

    def abort_multipart(self, key: str, upload_id: str) -> None:
        with self._ns.lock:
            self._bucket("abort_multipart", key).uploads.pop(upload_id, None)

    # --- Admin ---------------------------------------------------------------

    def create_bucket(self, *, exist_ok: bool = False) -> None:
        with self._ns.lock:
            if self._uri.bucket in self._ns.buckets:
                if not exist_ok:
                    raise PreconditionFailedError(
                        "bucket already exists", op="create_bucket", uri=str(self._uri), provider="memory"
                    )
                return
            self._ns.buckets[self._uri.bucket] = _Bucket()

    def delete_bucket(self, *, force: bool = False) -> None:
        with self._ns.lock:
            bucket = self._bucket("delete_bucket")
            if bucket.objects and not force:
                raise PreconditionFailedError(
                    "bucket is not empty",
                    op="delete_bucket",
                    uri=str(self._uri),
                    provider="memory",
                    hint="delete its objects first or pass force",
                )
            del self._ns.buckets[self._uri.bucket]

    def bucket_exists(self) -> bool:
        return self._uri.bucket in self._ns.buckets
