"""Small pieces shared by the backends (no base class: each backend stands alone)."""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import IO, Any, NoReturn, Self

from omnicloud.errors import ConfigError, NotFoundError
from omnicloud.storage._types import ObjectInfo

__all__ = [
    "ClosesOnExit",
    "ErrorMappingStream",
    "SpooledUpload",
    "check_options",
    "exists_via_stat",
    "fill_from",
    "normalize_metadata",
    "obstore_can_name",
    "obstore_put_info",
    "pwrite_all",
    "read_body",
    "write_all",
]

# In-memory buffer for open_write before spilling to a temporary file.
SPOOL_BYTES = 8 * 1024 * 1024

# Files are written in calls of at most 32 KiB. Larger calls get larger page-cache folios, and a VM
# that hands free memory back to its host pays a host fault for each fresh one; 32 KiB (eight
# pages) is probably the largest folio the kernel takes from its per-CPU lists of free pages
# (PAGE_ALLOC_COSTLY_ORDER), which stay warm: inferred from the figures below, not traced.
# Measured on this VM (Linux 6.18, ext4), 1 GiB into a new preallocated
# file, the same buffer each time, from 1 or 4 threads: 32 KiB calls ran at 3,800-4,600 MiB/s in
# each of 14 runs; 64 KiB at 540-5,300 MiB/s, 256 KiB at 490-3,300 MiB/s and 8 MiB at 225-640
# MiB/s, depending on how much free memory the host had taken back. A ranged download of 1 GiB from
# Azurite spent 2.1-2.6 s in the kernel with 256 KiB calls (3.3 s with 64 KiB ones once memory
# was short) and 0.5-0.6 s with 32 KiB ones; rclone, which also writes 32 KiB at a time, 0.55-1.9 s.
WRITE_SLICE = 32 * 1024


def pwrite_all(fd: int, data: bytes | bytearray | memoryview, offset: int) -> None:
    """Write all of ``data`` at ``offset`` of ``fd``, in calls of at most ``WRITE_SLICE`` bytes."""
    view = memoryview(data).cast("B")
    done = 0
    while done < len(view):
        done += os.pwrite(fd, view[done : done + WRITE_SLICE], offset + done)


def fill_from(stream: IO[bytes], view: memoryview) -> int:
    """Fill ``view`` from ``stream``; fewer bytes only at the end of the stream."""
    got = 0
    readinto = getattr(stream, "readinto", None)
    while got < len(view):
        if readinto is not None:
            n = readinto(view[got:])
        else:
            data = stream.read(len(view) - got)
            n = len(data)
            view[got : got + n] = data
        if not n:
            break
        got += n
    return got


def write_all(handle: IO[bytes], data: bytes | bytearray | memoryview) -> int:
    """``handle.write(data)`` in calls of at most ``WRITE_SLICE`` bytes (see there)."""
    view = memoryview(data).cast("B")
    for start in range(0, len(view), WRITE_SLICE):
        handle.write(view[start : start + WRITE_SLICE])
    return len(view)


class ClosesOnExit:
    """``with store:`` closes the store on the way out; each backend defines ``close``."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_options(backend: str, options: Mapping[str, Any], allowed: Iterable[str]) -> None:
    """Reject option names a backend does not know, naming the ones it does."""
    allowed_set = set(allowed)
    unknown = sorted(set(options) - allowed_set)
    if unknown:
        raise ConfigError(
            f"unknown option(s) for the {backend} backend: {', '.join(unknown)}",
            hint=f"known options: {', '.join(sorted(allowed_set)) or 'none'}",
        )


def normalize_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    """User metadata with lowercased keys, as every provider will hand it back."""
    if not metadata:
        return {}
    result: dict[str, str] = {}
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise ConfigError("metadata keys and values must be strings")
        if not key or not all(c.isalnum() or c == "_" for c in key) or key[0].isdigit():
            raise ConfigError(
                f"metadata key {key!r} is not portable",
                hint="use letters, digits and '_' (Azure allows nothing else), not starting with a digit",
            )
        if not value.isascii():
            raise ConfigError(f"metadata value for {key!r} is not ASCII, which S3 and Azure headers require")
        result[key.lower()] = value
    return result


def metadata_from_headers(headers: Iterable[tuple[str, str]], prefix: str) -> dict[str, str]:
    """User metadata in an answer's ``headers.items()`` (``x-amz-meta-*``, ``x-ms-meta-*``): lowercased."""
    return {name[len(prefix) :].lower(): value for name, value in headers if name.lower().startswith(prefix)}


def exists_via_stat(stat: Callable[[str], object], key: str) -> bool:
    """``exists`` for stores whose ``stat`` raises NotFoundError: a missing object is False,
    a missing bucket or container is still an error (every backend words it "... does not exist")."""
    try:
        stat(key)
    except NotFoundError as err:
        if err.message.startswith(("bucket", "container")):
            raise
        return False
    return True


def obstore_can_name(key: str) -> bool:
    """Whether obstore addresses ``key`` exactly.

    obstore's paths have no empty segments: it strips a leading or trailing
    ``/`` (so ``dir/``, a folder marker, would name ``dir``) and refuses
    ``a//b``. Such keys are valid on every object store and take the SDK's
    path instead.
    """
    return bool(key) and not key.startswith("/") and not key.endswith("/") and "//" not in key


def obstore_put_info(
    key: str, size: int, result: Mapping[str, Any], metadata: Mapping[str, str], content_type: str | None
) -> ObjectInfo:
    """The object an obstore ``put`` wrote: its result holds the etag and, where kept, the version."""
    return ObjectInfo(
        key=key,
        size=size,
        etag=result.get("e_tag"),
        metadata=metadata,
        content_type=content_type,
        version=result.get("version"),
    )


def read_body(data: bytes | bytearray | memoryview | IO[bytes]) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, bytearray | memoryview):
        return bytes(data)
    return data.read()


class SpooledUpload(io.RawIOBase):
    """A write-only file whose bytes become an object only on a clean close.

    Bytes are kept in memory up to ``SPOOL_BYTES`` and then in a temporary
    file; ``commit`` receives a readable file positioned at 0. Leaving the
    ``with`` block through an exception discards everything.
    """

    def __init__(self, commit: Callable[[IO[bytes]], ObjectInfo]) -> None:
        super().__init__()
        self._commit = commit
        self._buffer: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115
        self._aborted = False
        self.info: ObjectInfo | None = None

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        return self._buffer.write(data)

    def abort(self) -> None:
        self._aborted = True
        self.close()

    def close(self) -> None:
        if self.closed:
            return
        try:
            if not self._aborted:
                self._buffer.seek(0)
                self.info = self._commit(self._buffer)
        finally:
            self._buffer.close()
            super().close()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self._aborted = True
        self.close()


class BoundedStream(io.RawIOBase):
    """At most ``length`` bytes of a readable stream, from where it stands; closing closes it."""

    def __init__(self, stream: IO[bytes], length: int) -> None:
        super().__init__()
        self._stream = stream
        self._left = max(0, length)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._left == 0:
            return 0
        with memoryview(buffer) as view:
            n = self._stream.readinto(view[: self._left])  # type: ignore[attr-defined]
        self._left -= n or 0
        return n or 0

    def close(self) -> None:
        if not self.closed:
            self._stream.close()
        super().close()


class ErrorMappingStream(io.RawIOBase):
    """Wraps an SDK's streaming body so read errors arrive as omnicloud errors.

    ``body`` needs ``read(n)`` (and optionally ``close()``); ``fail`` maps and
    raises an SDK exception.
    """

    def __init__(self, body: Any, fail: Callable[[Exception], NoReturn]) -> None:
        super().__init__()
        self._body = body
        self._fail = fail

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            if isinstance(self._body, io.IOBase):  # an SDK downloader's readinto means something else
                return int(self._body.readinto(buffer))  # type: ignore[attr-defined]
            chunk = self._body.read(len(buffer))
        except Exception as err:
            self._fail(err)
        buffer[: len(chunk)] = chunk
        return len(chunk)

    def close(self) -> None:
        if not self.closed:
            closer = getattr(self._body, "close", None)
            if callable(closer):
                closer()
        super().close()
