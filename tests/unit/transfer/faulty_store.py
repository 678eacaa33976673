"""A memory bucket that counts calls and fails chosen ones, and the test's set of buckets.

``world.store(name)`` is a memory bucket wrapped in :class:`FaultyStore`, which
counts calls per operation and can fail chosen calls: that is how the tests
see which parts were (re)sent and exercise retries, without mocking the engine.
"""

from __future__ import annotations

import io
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import IO, Any

from omnicloud.storage import ObjectInfo, PartInfo, Store, open_store
from omnicloud.storage.memory import MemoryNamespace, MemoryStore
from omnicloud.transfer import JsonLinesProgress, ObjectResult
from omnicloud.uri import ObjectURI

MiB = 1024 * 1024

Fault = Callable[[int, tuple[Any, ...]], BaseException | None]
"""Called with the call's number (1-based, per operation) and arguments; a returned exception is raised."""


class FaultyStore:
    """Every capability of a memory bucket, with call counts and injectable faults."""

    def __init__(self, inner: MemoryStore) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()
        self.faults: dict[str, Fault] = {}
        self.min_part_size = inner.min_part_size
        self.max_part_size = inner.max_part_size
        self.max_parts = inner.max_parts

    def _hit(self, op: str, *args: Any) -> None:
        self.calls[op] += 1
        fault = self.faults.get(op)
        if fault is not None:
            error = fault(self.calls[op], args)
            if error is not None:
                raise error

    @property
    def uri(self) -> ObjectURI:
        return self.inner.uri

    def close(self) -> None:
        pass

    def get(self, key: str, *, range: tuple[int, int] | None = None) -> bytes:
        self._hit("get", key, range)
        return self.inner.get(key, range=range)

    def open_read(self, key: str, *, range: tuple[int, int] | None = None) -> IO[bytes]:
        self._hit("open_read", key, range)
        start = 0 if range is None else range[0]
        return _FaultyStream(self, key, self.inner.open_read(key, range=range), start)

    def put(
        self,
        key: str,
        data: bytes | IO[bytes],
        *,
        metadata: Mapping[str, str] | None = None,
        content_type: str | None = None,
        if_absent: bool = False,
    ) -> ObjectInfo:
        self._hit("put", key)
        return self.inner.put(key, data, metadata=metadata, content_type=content_type, if_absent=if_absent)

    def open_write(
        self, key: str, *, metadata: Mapping[str, str] | None = None, content_type: str | None = None
    ) -> IO[bytes]:
        self._hit("open_write", key)
        return self.inner.open_write(key, metadata=metadata, content_type=content_type)

    def list(self, prefix: str = "", *, delimiter: str | None = None) -> Iterator[ObjectInfo]:
        self._hit("list", prefix)
        return self.inner.list(prefix, delimiter=delimiter)

    def delete(self, key: str, *, missing_ok: bool = False) -> None:
        self._hit("delete", key)
        self.inner.delete(key, missing_ok=missing_ok)

    def stat(self, key: str) -> ObjectInfo:
        self._hit("stat", key)
        return self.inner.stat(key)

    def exists(self, key: str) -> bool:
        return self.inner.exists(key)

    def copy(self, src_key: str, dst_key: str) -> ObjectInfo:
        self._hit("copy", src_key, dst_key)
        return self.inner.copy(src_key, dst_key)

    def create_multipart(
        self, key: str, *, metadata: Mapping[str, str] | None = None, content_type: str | None = None
    ) -> str:
        self._hit("create_multipart", key)
        return self.inner.create_multipart(key, metadata=metadata, content_type=content_type)

    def upload_part(self, key: str, upload_id: str, number: int, data: bytes) -> PartInfo:
        self._hit("upload_part", key, number)
        return self.inner.upload_part(key, upload_id, number, data)

    def upload_part_from(self, key: str, upload_id: str, number: int, data: memoryview) -> PartInfo:
        """A part from a buffer the engine reuses: counted and failed as ``upload_part`` is."""
        self.calls["upload_part_from"] += 1
        self._hit("upload_part", key, number)
        return self.inner.upload_part_from(key, upload_id, number, data)

    def complete_multipart(self, key: str, upload_id: str, parts: Sequence[PartInfo]) -> ObjectInfo:
        self._hit("complete_multipart", key)
        return self.inner.complete_multipart(key, upload_id, parts)

    def abort_multipart(self, key: str, upload_id: str) -> None:
        self._hit("abort_multipart", key)
        self.inner.abort_multipart(key, upload_id)

    def create_bucket(self, *, exist_ok: bool = False) -> None:
        self.inner.create_bucket(exist_ok=exist_ok)

    def delete_bucket(self, *, force: bool = False) -> None:
        self.inner.delete_bucket(force=force)

    def bucket_exists(self) -> bool:
        return self.inner.bucket_exists()


class _FaultyStream(io.RawIOBase):
    """A stream of a :class:`FaultyStore`: each read (of a MiB at most) is the call ``read``.

    The fault sees ``(key, position)``: the offset in the object where the read starts.
    """

    def __init__(self, store: FaultyStore, key: str, inner: IO[bytes], position: int) -> None:
        super().__init__()
        self._store = store
        self._key = key
        self._inner = inner
        self._position = position

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self._store._hit("read", self._key, self._position)
        data = self._inner.read(min(len(buffer), MiB))  # a MiB at most, as from a socket
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)

    def close(self) -> None:
        self._inner.close()
        super().close()


class World:
    """Memory buckets of one test, and the opener that hands them to the engine."""

    def __init__(self) -> None:
        self.namespace = MemoryNamespace()
        self._stores: dict[str, FaultyStore] = {}

    def store(self, bucket: str) -> FaultyStore:
        if bucket not in self._stores:
            inner = MemoryStore(bucket, namespace=self.namespace, min_part_size=5 * MiB)
            inner.create_bucket(exist_ok=True)
            self._stores[bucket] = FaultyStore(inner)
        return self._stores[bucket]

    def opener(self, uri: ObjectURI) -> Store:
        if uri.provider == "memory":
            return self.store(uri.bucket)  # type: ignore[return-value]
        return open_store(uri)


def payload(size: int, seed: int = 0) -> bytes:
    """Deterministic, incompressible-enough bytes without the cost of os.urandom on every test."""
    block = bytes((i * 31 + seed * 7) % 251 for i in range(4096))
    repeats = -(-size // len(block))
    data = bytearray(block * repeats)[:size]
    # Make every 4 KiB block distinct so a misplaced range changes the digest.
    for offset in range(0, size, 4096):
        data[offset : offset + 8] = (offset // 4096 + seed * 1_000_003).to_bytes(8, "little")
    return bytes(data)


class ThreadsSeen(JsonLinesProgress):
    """Which thread reported each object (a progress's events come from the thread that did the work)."""

    def __init__(self) -> None:
        super().__init__(io.StringIO())
        self.threads: dict[str, str] = {}

    def object_done(self, result: ObjectResult) -> None:
        self.threads[result.destination.rsplit("/", 1)[1]] = threading.current_thread().name
        super().object_done(result)
