"""Copying one object, by the fastest route its two ends allow.

Routes, tried in this order:

1. **server-side** — both ends in the same bucket, the store has
   ``ServerSideCopy`` and the source carries a canonical digest (which the copy
   keeps): no bytes pass through this process.
2. **local file to local file** — ``copy_file_range`` in the kernel into a
   temporary file, while other threads hash the written bytes chunk by chunk.
3. **ranged download** — a large object to a local file: a few long ranged
   streams (as many as raise throughput, see :class:`_StreamedDownload`)
   write 8 MiB chunks in place (``pwrite``) into a preallocated temporary
   file, each chunk hashed as it arrives; renamed into place at the end.
4. **multipart upload** — a large object to a store with ``Multipart``: parts
   read in parallel from the source (ranged reads: nothing touches the disk
   between clouds) and uploaded in parallel.
5. **upload session** — a large object to a store with ``ResumableUpload`` (GCS): one
   session, pieces sent in order and journaled; the service makes the object on the
   last byte, so the digest and the source's version are checked before it goes.
6. **single request** — everything else: small objects in one GET and one PUT;
   large objects to stores with neither stream through a hashing reader.

Every route ends with the canonical digest of the bytes actually moved,
compared with the source's recorded digest when it has one; a mismatch raises
:class:`~omnicloud.errors.IntegrityError` and the destination is not left
looking valid (multipart aborted, temporary file removed, single PUT deleted).
Uploads record the digest in the destination's metadata. S3 and OCI take a
multipart upload's metadata when it starts, so there the digest is known
before the first part is sent: from the source's metadata, or by hashing a
local source first (fast), or by a hashing pass over a remote source. Azure
takes it when the upload completes (``MetadataOnComplete``): the parts are
hashed as they are sent and the digest of what was sent is recorded, so the
source is read once.

Multipart uploads, upload sessions and ranged downloads journal each finished piece, pinned to
the source's version, so a rerun after a crash sends only what is missing.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import fcntl
import functools
import hashlib
import io
import itertools
import logging
import math
import mmap
import os
import threading
import time
from collections.abc import Callable, Generator, Iterator, Mapping
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import IO, NoReturn, TypeGuard

from omnicloud.errors import (
    IntegrityError,
    NotFoundError,
    OmniCloudError,
    PermissionDeniedError,
    PreconditionFailedError,
    TransientError,
)
from omnicloud.storage import (
    DIGEST_METADATA_KEY,
    MTIME_METADATA_KEY,
    Deleter,
    GetWithInfo,
    MetadataOnComplete,
    Multipart,
    ObjectInfo,
    PartInfo,
    PartsFromBuffers,
    Reader,
    ReadInto,
    ResumableUpload,
    ServerSideCopy,
    Stat,
    Store,
    Writer,
)
from omnicloud.storage._common import WRITE_SLICE, fill_from, pwrite_all
from omnicloud.storage._types import format_recorded_time
from omnicloud.storage.local import LocalStore, temp_name, write_attributes
from omnicloud.transfer._context import (
    Cancelled,
    TransferContext,
    as_reader,
    as_stat,
    as_writer,
    listed_without_record,
    local_path,
)
from omnicloud.transfer._digest import (
    CHUNK_SIZE,
    DIGEST_ALGORITHM,
    ChunkedDigest,
    chunk_count,
    digest_file,
    hash_chunk,
    hash_chunks,
    is_canonical,
)
from omnicloud.transfer._journal import Partial, Piece
from omnicloud.transfer._options import choose_part_size
from omnicloud.transfer._results import ObjectResult
from omnicloud.uri import ObjectURI

__all__ = ["copy_object", "destination_temp_path", "source_version"]

log = logging.getLogger("omnicloud.transfer")

_LOCAL_COPY_STEP = 64 * 1024 * 1024
_STREAM_BLOCK = 1024 * 1024


def source_version(info: ObjectInfo) -> str:
    """What pins a source: a different value means the object changed."""
    return f"{info.etag or ''}|{info.size}|{info.version or ''}"


def _not_resumed(partial: Partial, source: str, version: str, size: int) -> str:
    """Why a journaled partial transfer to the same destination is started over."""
    if partial.source != source:
        return f"the interrupted run was copying {partial.source} here"
    if partial.source_version != version or partial.size != size:
        return "the source changed since the interrupted run"
    return "what the interrupted run left cannot be reused"


def destination_temp_path(final: Path, source: ObjectURI) -> Path:
    """The temporary file a download into ``final`` writes, the same on every run (for resume).

    It carries the local backend's temporary marker, so listings never show it.
    """
    tag = hashlib.sha256(f"{source}\0{final}".encode("utf-8", "surrogateescape")).hexdigest()[:16]
    return final.with_name(temp_name(f"part-{tag}", final.name))


def _portable_metadata(metadata: Mapping[str, str]) -> dict[str, str]:
    """User metadata every provider accepts; other keys (e.g. with hyphens) are dropped."""
    kept = {}
    for key, value in metadata.items():
        key = key.lower()
        if key in (DIGEST_METADATA_KEY, MTIME_METADATA_KEY):
            continue  # recorded anew by each copy
        if key and not key[0].isdigit() and all(c.isalnum() or c == "_" for c in key) and value.isascii():
            kept[key] = value
        else:
            log.debug("not copying metadata key %r: not portable across providers", key)
    return kept


def _os_error(err: OSError, op: str, path: Path) -> NoReturn:
    uri = f"file://{path}"
    if isinstance(err, PermissionError):
        raise PermissionDeniedError(
            f"permission denied: {err.strerror}", op=op, uri=uri, provider="local"
        ) from err
    if err.errno == errno.ENOSPC:
        raise OmniCloudError(
            "no space left on device",
            op=op,
            uri=uri,
            provider="local",
            hint="free some space and run the same command again to resume",
        ) from err
    raise OmniCloudError(f"{op} failed: {err.strerror or err}", op=op, uri=uri, provider="local") from err


def copy_object(
    ctx: TransferContext,
    source: ObjectURI,
    destination: ObjectURI,
    info: ObjectInfo | None = None,
    *,
    stated: bool = False,
    whole: bool = False,
) -> ObjectResult:
    """Copy one object and return what happened; errors propagate as ``OmniCloudError``.

    ``info`` is the source's record from a listing, or from ``stat`` if ``stated``. ``whole``
    reads the object in one GET whatever its size (for a store that cannot serve byte ranges).
    """
    src_store = ctx.store(source)
    dst_store = ctx.store(destination)
    reader = as_reader(src_store)
    # S3 and OCI list no metadata, so a listed object's record lacks the digest to
    # check, the user metadata to carry and the date to keep that its upload recorded.
    # A whole-object GET that answers with them saves asking a stat first.
    incomplete = info is not None and not stated and listed_without_record(src_store, info)
    learn_on_get = (
        incomplete
        and isinstance(src_store, GetWithInfo)
        and info is not None
        and info.size < ctx.options.multipart_threshold
        and src_store.uri.bucket_uri != dst_store.uri.bucket_uri  # there, a server-side copy needs the digest
    )
    if info is None or (incomplete and not learn_on_get):
        info = ctx.call(lambda: as_stat(src_store).stat(source.key), str(source))
    copy = _ObjectCopy(ctx, source, destination, info, reader, src_store, dst_store, learn_on_get)
    return copy.run_whole() if whole else copy.run()


class _ObjectCopy:
    def __init__(
        self,
        ctx: TransferContext,
        source: ObjectURI,
        destination: ObjectURI,
        info: ObjectInfo,
        reader: Reader,
        src_store: Store,
        dst_store: Store,
        learn_on_get: bool = False,
    ) -> None:
        self.ctx = ctx
        self.source = source
        self.destination = destination
        self.reader = reader
        self.src_store = src_store
        self.dst_store = dst_store
        self.learn_on_get = learn_on_get  # ``info`` is a listing's, completed by the GET
        self._adopt(info)
        self.resumed_parts = 0
        self.restarted = ""

    def _adopt(self, info: ObjectInfo) -> None:
        self.info = info
        self.size = info.size
        self.expected = info.digest if is_canonical(info.digest) else None
        self.metadata = _portable_metadata(info.metadata)
        # The date the copy keeps: a file's modification time, or recorded with an object.
        self.modified = info.modified
        self.content_type = info.content_type

    def result(self, digest: str) -> ObjectResult:
        return ObjectResult(
            source=str(self.source),
            destination=str(self.destination),
            action="copy",
            outcome="copied",
            size=self.size,
            digest=digest,
            resumed_parts=self.resumed_parts,
            restarted=self.restarted,
        )

    def _starting_over(self, partial: Partial, version: str, why: str = "") -> None:
        self.restarted = why or _not_resumed(partial, str(self.source), version, self.size)
        log.warning("%s: starting over: %s", self.destination, self.restarted)

    def _pinned(self, partial: Partial | None, kind: str, version: str) -> TypeGuard[Partial]:
        """Whether ``partial`` is this same transfer, of this same source version, interrupted."""
        return (
            partial is not None
            and partial.kind == kind
            and partial.source == str(self.source)
            and partial.source_version == version
            and partial.size == self.size
        )

    def _abandon(self, partial: Partial, version: str, why: str = "") -> None:
        """Start over instead of resuming ``partial``: say why, and end the upload it left open."""
        self._starting_over(partial, version, why)
        store, upload = self.dst_store, partial.upload_id
        if upload and partial.kind == "upload" and isinstance(store, Multipart):
            _quietly(lambda: store.abort_multipart(self.destination.key, upload))
        if upload and partial.kind == "resumable" and isinstance(store, ResumableUpload):
            _quietly(lambda: store.cancel_resumable(self.destination.key, upload))

    def _forget_partial(self, dst_path: Path | None) -> None:
        """Clean up after an interrupted transfer to this destination that this one will not resume.

        It took the multipart or ranged path; this copy does not (the source is smaller now, say),
        so its unfinished upload is aborted and its temporary file removed, never left behind.
        """
        journal = self.ctx.journal
        key = str(dst_path) if dst_path is not None else str(self.destination)
        if journal is None or not journal.has_partial(key):
            return
        partial = journal.partial(key)
        if partial is None:
            return
        self._abandon(partial, source_version(self.info))
        if partial.kind == "download" and partial.temp_path and dst_path is not None:
            _discard_unless_locked(Path(partial.temp_path), dst_path)
        journal.finish_partial(key)

    def run(self) -> ObjectResult:
        options = self.ctx.options
        dst_path = local_path(self.destination)
        large = self.size >= options.multipart_threshold
        if (
            self.expected
            and isinstance(self.dst_store, ServerSideCopy)
            and self.src_store.uri.bucket_uri == self.dst_store.uri.bucket_uri
            and self.source.provider != "local"
        ):
            return self._server_side(self.dst_store)
        if dst_path is not None and self.size >= CHUNK_SIZE and local_path(self.source) is not None:
            self._forget_partial(dst_path)
            return self._local_to_local(dst_path)
        if dst_path is not None and large:
            return self._ranged_download(dst_path)
        if large and isinstance(self.dst_store, Multipart):
            return self._multipart_upload(self.dst_store)
        if large and isinstance(self.dst_store, ResumableUpload):
            return self._resumable_upload(self.dst_store)
        self._forget_partial(dst_path)
        writer = as_writer(self.dst_store)
        if large:
            return self._streaming_put(writer)
        return self._single_put(writer)

    def run_whole(self) -> ObjectResult:
        """The copy in one GET and one PUT, whatever the size."""
        self._forget_partial(local_path(self.destination))
        return self._single_put(as_writer(self.dst_store))

    # --- helpers -----------------------------------------------------------------

    def _check(self, digest: str, on_mismatch: Callable[[], None]) -> str:
        """Compare the digest of the bytes moved with the one the source recorded."""
        if self.expected is not None and digest != self.expected:
            on_mismatch()
            raise IntegrityError(
                f"digest mismatch: source records {self.expected}, the bytes read hash to {digest}",
                op="copy",
                uri=str(self.source),
                hint="the source changed or was corrupted in flight; the destination was not kept",
            )
        return digest

    def _check_before_publishing(
        self, digest: str, expected: str | None, discard: Callable[[], None], what: str, undone: str
    ) -> None:
        """Refuse an upload whose bytes miss the recorded digest, or whose source changed meanwhile."""
        if expected is not None and digest != expected:
            discard()
            raise IntegrityError(
                f"digest mismatch: recorded {expected}, {what} hash to {digest}",
                op="copy",
                uri=str(self.source),
                hint=f"the source changed or was corrupted in flight; {undone}",
            )
        self._check_source_unchanged(digest, discard)

    def _check_source_unchanged(self, digest: str, on_change: Callable[[], None]) -> None:
        """Ask the source again whether it is still the version this copy began with.

        Not when the bytes moved hash to the digest that version records: they are
        then its bytes, whichever requests read them (one ``stat``, a request on a
        remote source, saved on every large copy of an object omnicloud wrote).
        """
        if self.expected is not None and digest == self.expected:
            return
        stat_store = self.src_store
        if not isinstance(stat_store, Stat):
            return
        now = self.ctx.call(lambda: stat_store.stat(self.source.key), str(self.source))
        if source_version(now) != source_version(self.info):
            on_change()
            raise PreconditionFailedError(
                "the source changed during the transfer",
                op="copy",
                uri=str(self.source),
                hint="run the command again to copy the new version",
            )

    def _upload_metadata(self, digest: str) -> dict[str, str]:
        metadata = self._file_metadata(digest)
        if self.modified is not None:
            metadata[MTIME_METADATA_KEY] = format_recorded_time(self.modified)
        return metadata

    def _file_metadata(self, digest: str) -> dict[str, str]:
        """What a local file records: its date is its modification time."""
        return {**self.metadata, DIGEST_METADATA_KEY: digest}

    def _read_range(self, start: int, end: int) -> bytes:
        data = self.ctx.call(
            lambda: self.reader.get(self.source.key, range=(start, end)), f"{self.source} bytes {start}-{end}"
        )
        if len(data) != end - start:
            raise _shorter_than_listed(self.source, start + len(data), self.size)
        return data

    def _read_range_into(self, reader: ReadInto, start: int, view: memoryview) -> None:
        """Fill ``view`` with the source's bytes from ``start``, as ``_read_range`` would return them."""
        count = self.ctx.call(
            lambda: reader.read_into(self.source.key, start, view),
            f"{self.source} bytes {start}-{start + len(view)}",
        )
        if count != len(view):
            raise _shorter_than_listed(self.source, start + count, self.size)

    def _upfront_digest(self) -> str:
        """The digest to record before the first byte is sent (see the module docstring)."""
        if self.expected is not None:
            return self.expected
        with self.reader.open_read(self.source.key) as stream:
            fileno = getattr(stream, "fileno", None)
            if fileno is not None:
                try:
                    fd = fileno()
                except (OSError, ValueError):
                    fd = None
                if fd is not None:
                    return digest_file(fd, self.size, workers=self.ctx.options.hash_workers)
        # A remote source without a recorded digest: one hashing pass of ranged reads.
        builder = ChunkedDigest()
        step = max(self.ctx.options.part_size, CHUNK_SIZE)
        futures = [
            self.ctx.part_pool.submit(self._hash_range, builder, start, min(start + step, self.size))
            for start in range(0, self.size, step)
        ]
        _wait_all(futures, self.ctx)
        return builder.value(self.size)

    def _hash_range(self, builder: ChunkedDigest, start: int, end: int) -> None:
        self.ctx.budget.acquire(end - start)
        try:
            builder.set_chunks_from(start, hash_chunks(self._read_range(start, end)))
        finally:
            self.ctx.budget.release(end - start)

    # --- routes ------------------------------------------------------------------

    def _server_side(self, store: ServerSideCopy) -> ObjectResult:
        copied = self.ctx.call(
            lambda: store.copy(self.source.key, self.destination.key), f"{self.source} -> {self.destination}"
        )
        self.ctx.progress.advance(self.size)
        assert self.expected is not None
        if copied.digest is not None and copied.digest != self.expected:
            raise IntegrityError("server-side copy lost the digest", op="copy", uri=str(self.destination))
        return self.result(self.expected)

    def _single_put(self, writer: Writer) -> ObjectResult:
        store = self.src_store
        if self.learn_on_get and isinstance(store, GetWithInfo):
            data, info = self.ctx.call(lambda: store.get_with_info(self.source.key), str(self.source))
            self._adopt(info)
        else:
            data = self.ctx.call(lambda: self.reader.get(self.source.key), str(self.source))
        builder = ChunkedDigest()
        builder.set_chunks_from(0, hash_chunks(data))
        self.size = len(data)
        digest = self._check(builder.value(self.size), lambda: None)
        self.ctx.moved(len(data))
        self.ctx.call(lambda: self._put(writer, data, digest), str(self.destination))
        return self.result(digest)

    def _put(self, writer: Writer, data: bytes | IO[bytes], digest: str) -> None:
        if isinstance(writer, LocalStore):
            # A file keeps its source's date, as with a ranged download.
            writer.put(
                self.destination.key,
                data,
                metadata=self._file_metadata(digest),
                content_type=self.content_type,
                modified=self.modified,
            )
        else:
            metadata = self._upload_metadata(digest)
            writer.put(self.destination.key, data, metadata=metadata, content_type=self.content_type)

    def _streaming_put(self, writer: Writer) -> ObjectResult:
        expected = self._upfront_digest()
        window = 2 * self.ctx.options.part_size

        def attempt() -> tuple[str, int]:
            # A retry starts over from a new source stream, with a new digest.
            builder = ChunkedDigest()
            with self.reader.open_read(self.source.key) as stream:
                hashing = _HashingReader(stream, builder, self.ctx, window)
                self._put(writer, hashing, expected)  # type: ignore[arg-type]
            return builder.value(hashing.count), hashing.count

        self.ctx.budget.acquire(window)
        try:
            digest, count = self.ctx.call(attempt, str(self.destination))
        finally:
            self.ctx.budget.release(window)

        def discard() -> None:
            if isinstance(self.dst_store, Deleter):
                self.dst_store.delete(self.destination.key, missing_ok=True)

        if digest != expected or count != self.size:
            discard()
            raise IntegrityError(
                f"digest mismatch: expected {expected}, streamed bytes hash to {digest}",
                op="copy",
                uri=str(self.source),
                hint="the source changed during the transfer; the destination was deleted",
            )
        return self.result(digest)

    def _multipart_upload(self, store: Multipart) -> ObjectResult:
        ctx = self.ctx
        journal = ctx.journal
        key = str(self.destination)
        version = source_version(self.info)
        partial = journal.partial(key) if journal else None
        # A store that takes metadata at the end gets the digest of the parts
        # as sent; others need it before the first part (see the docstring).
        late = store if isinstance(store, MetadataOnComplete) else None
        done: dict[int, Piece] = {}
        upload_id: str | None = None
        expected: str | None
        if (
            self._pinned(partial, "upload", version)
            and partial.upload_id
            and (is_canonical(partial.digest) or (late is not None and partial.digest is None))
        ):
            upload_id, part_size, expected = partial.upload_id, partial.piece_size, partial.digest
            assert journal is not None
            done = journal.pieces(key)
        else:
            if partial is not None and partial.kind == "upload" and partial.upload_id:
                self._abandon(partial, version)
            expected = self.expected if late is not None else self._upfront_digest()
            part_size = choose_part_size(
                self.size,
                ctx.options.part_size,
                min_part=store.min_part_size,
                max_part=store.max_part_size,
                max_parts=store.max_parts,
            )
        if upload_id is None:
            upload_id = ctx.call(
                lambda: store.create_multipart(
                    self.destination.key,
                    metadata=self.metadata if expected is None else self._upload_metadata(expected),
                    content_type=self.content_type,
                ),
                str(self.destination),
            )
            if journal is not None:
                journal.start_partial(
                    Partial(
                        key,
                        "upload",
                        str(self.source),
                        version,
                        self.size,
                        part_size,
                        upload_id,
                        None,
                        expected,
                    )
                )
        self.resumed_parts = len(done)
        builder = ChunkedDigest()
        parts: dict[int, PartInfo] = {}
        for number, piece in done.items():
            builder.set_chunks_from((number - 1) * part_size, piece.chunks)
            parts[number] = PartInfo(number, piece.etag or "", piece.size)
            ctx.progress.advance(piece.size)
        active_id = upload_id
        # Each part is read into a buffer used again for a later part, where both sides allow it.
        reader = self.reader
        reuse = (
            (reader, store) if isinstance(reader, ReadInto) and isinstance(store, PartsFromBuffers) else None
        )

        def send(number: int) -> None:
            start = (number - 1) * part_size
            end = min(start + part_size, self.size)
            what = f"{self.destination} part {number}"
            held = end - start if reuse is None else part_size  # a reused buffer is a whole part's
            ctx.budget.acquire(held)
            try:
                if reuse is None:
                    data = self._read_range(start, end)
                    chunks = hash_chunks(data)
                    ctx.moved(len(data))
                    part = ctx.call(
                        lambda: store.upload_part(self.destination.key, active_id, number, data), what
                    )
                else:
                    source, target = reuse
                    buffer = ctx.part_buffers.take(part_size)
                    try:
                        with memoryview(buffer)[: end - start] as view:
                            self._read_range_into(source, start, view)
                            chunks = hash_chunks(view)
                            ctx.moved(len(view))
                            part = ctx.call(
                                lambda: target.upload_part_from(
                                    self.destination.key, active_id, number, view
                                ),
                                what,
                            )
                    finally:
                        ctx.part_buffers.give(buffer)
            finally:
                ctx.budget.release(held)
            builder.set_chunks_from(start, chunks)
            parts[number] = part
            if journal is not None:
                journal.record_piece(key, Piece(number, part.etag, part.size, tuple(chunks)))

        count = max(1, -(-self.size // part_size))
        missing = [n for n in range(1, count + 1) if n not in done]

        def discard() -> None:
            _quietly(lambda: store.abort_multipart(self.destination.key, active_id))
            if journal is not None:
                journal.finish_partial(key)

        try:
            _wait_all([ctx.part_pool.submit(send, n) for n in missing], ctx)
            digest = builder.value(self.size)
            self._check_before_publishing(
                digest, expected, discard, "the parts sent", "the upload was aborted"
            )
            ordered = [parts[n] for n in sorted(parts)]
            if late is not None:
                ctx.call(
                    lambda: late.complete_multipart_with_metadata(
                        self.destination.key, active_id, ordered, self._upload_metadata(digest)
                    ),
                    key,
                )
            else:
                ctx.call(lambda: store.complete_multipart(self.destination.key, active_id, ordered), key)
        except BaseException:
            if journal is None:  # nothing could resume it, and an open upload is billed for its parts
                discard()
            raise
        if journal is not None:
            journal.finish_partial(key)
        return self.result(digest)

    def _resumable_upload(self, store: ResumableUpload) -> ObjectResult:
        """A large object to a store with upload sessions (GCS): pieces in order, journaled."""
        ctx = self.ctx
        journal = ctx.journal
        key, dkey = str(self.destination), self.destination.key
        version = source_version(self.info)
        grain = math.lcm(CHUNK_SIZE, store.resumable_granularity)
        # A session takes one request at a time, so each piece is what parallel parts would have in
        # flight (part_size x part_concurrency): few round trips, and streamed, so no more memory.
        piece_size = -(-(ctx.options.part_size * ctx.options.part_concurrency) // grain) * grain
        count = max(1, -(-self.size // piece_size))
        partial = journal.partial(key) if journal else None
        session: str | None = None
        expected: str | None = None
        held = 0
        done: dict[int, Piece] = {}
        gone = ""
        if partial is not None and partial.kind == "resumable":
            old, digest = partial.upload_id, partial.digest
            if (
                old
                and is_canonical(digest)
                and self._pinned(partial, "resumable", version)
                and partial.piece_size == piece_size
            ):
                assert journal is not None and digest is not None
                try:
                    held = ctx.call(lambda: store.resumable_offset(dkey, old, self.size), key)
                    session, expected, done = old, digest, journal.pieces(key)
                except NotFoundError:
                    # Gone: cancelled, expired, or done (gcp-storage-emulator forgets finished ones).
                    if self._already_made(digest):
                        journal.finish_partial(key)
                        self.resumed_parts = count
                        ctx.progress.advance(self.size)
                        return self.result(digest)
                    gone = "the interrupted run's upload session is gone (cancelled or expired)"
            if session is None:
                self._abandon(partial, version, gone)
        if session is None:
            expected = self._upfront_digest()
            metadata = self._upload_metadata(expected)
            session = ctx.call(
                lambda: store.start_resumable(
                    dkey, size=self.size, metadata=metadata, content_type=self.content_type
                ),
                key,
            )
            if journal is not None:
                journal.start_partial(
                    Partial(
                        key,
                        "resumable",
                        str(self.source),
                        version,
                        self.size,
                        piece_size,
                        session,
                        None,
                        expected,
                    )
                )
        active = session
        # Sent for sure: the journaled pieces in a row from the first, as far as the service holds bytes.
        first = 0
        while first in done and min((first + 1) * piece_size, self.size) <= held:
            first += 1
        builder = ChunkedDigest()
        for number in range(first):
            builder.set_chunks_from(number * piece_size, done[number].chunks)
            ctx.progress.advance(done[number].size)
        self.resumed_parts = first

        def discard() -> None:
            _quietly(lambda: store.cancel_resumable(dkey, active))
            deleter = self.dst_store
            if held >= self.size and isinstance(deleter, Deleter):
                _quietly(lambda: deleter.delete(dkey, missing_ok=True))
            if journal is not None:
                journal.finish_partial(key)

        # A check inside a piece's request only marks the upload for discarding: the session is
        # cancelled once that request has been abandoned (a service that serves one request at a
        # time, like the GCS emulator, would otherwise wait on the cancel forever).
        discarding = False

        def discard_when_sent() -> None:
            nonlocal discarding
            discarding = True

        # Pieces go in order, one request each, read from the source chunk by chunk as the request
        # sends them: a piece's size costs no memory, only the chunk being sent and the one read ahead.
        feed = _ChunkFeed(ctx, self.size, self.source, self.reader)
        counted = first * piece_size  # bytes reported as moved; a retry sends some again, uncounted
        digest = ""

        def stream(start: int, end: int, sent_from: int) -> Iterator[bytes | bytearray | memoryview]:
            """Bytes ``start``-``end`` from ``sent_from`` on; the chunks before it are hashed if need be."""
            nonlocal counted, digest
            for index in range(start // CHUNK_SIZE, -(-end // CHUNK_SIZE)):
                chunk_start = index * CHUNK_SIZE
                chunk_end = min(chunk_start + CHUNK_SIZE, end)
                if chunk_end <= sent_from and builder.has_chunk(index):
                    continue
                data = feed.take(index)
                try:
                    if not builder.has_chunk(index):  # a piece sent again is not hashed again
                        builder.set_chunk(index, hash_chunk(data))
                    if chunk_end == self.size:
                        # The service makes the object on its last byte: everything is checked before.
                        digest = builder.value(self.size)
                        self._check_before_publishing(
                            digest, expected, discard_when_sent, "the pieces read", "the upload was cancelled"
                        )
                    if chunk_end > counted:  # bytes the service already holds count too, though unsent
                        count_in = ctx.moved if chunk_end > sent_from else ctx.progress.advance
                        count_in(chunk_end - max(counted, chunk_start))
                        counted = chunk_end
                    if chunk_end <= sent_from:
                        continue
                    yield memoryview(data)[sent_from - chunk_start :] if sent_from > chunk_start else data
                finally:
                    ctx.budget.release(len(data))

        try:
            for number in range(first, count):
                start = number * piece_size
                end = min(start + piece_size, self.size)
                held = self._send_piece(store, active, start, end, held, stream)
                if journal is not None:
                    chunks = builder.chunks()
                    indexes = range(start // CHUNK_SIZE, -(-end // CHUNK_SIZE))
                    journal.record_piece(
                        key, Piece(number, None, end - start, tuple(chunks[i] for i in indexes))
                    )
        except BaseException:
            if journal is None or discarding:  # nothing could resume it, or nothing should
                discard()
            raise
        finally:
            feed.close()
        if journal is not None:
            journal.finish_partial(key)
        return self.result(digest)

    def _send_piece(
        self,
        store: ResumableUpload,
        session: str,
        start: int,
        end: int,
        held: int,
        stream: Callable[[int, int, int], Iterator[bytes | bytearray | memoryview]],
    ) -> int:
        """Send the bytes of one piece the service does not hold yet; what it then holds."""
        retrying = False

        def attempt() -> int:
            nonlocal held, retrying
            if retrying:  # what arrived before the failure is not sent again
                held = store.resumable_offset(self.destination.key, session, self.size)
            retrying = True
            if held < start:
                raise OmniCloudError(
                    f"the upload session holds {held} bytes, fewer than the {start} it confirmed",
                    op="put",
                    uri=str(self.destination),
                    hint="run the same command again to start this object over",
                )
            if held >= end:  # a resumed run: the service holds the piece, whose chunks are hashed here
                collections.deque(stream(start, end, end), maxlen=0)
            while held < end:
                sent = held
                body = _StreamedPiece(end - sent, functools.partial(stream, start, end, sent))
                try:
                    held = store.send_resumable(self.destination.key, session, sent, body, self.size)
                except BaseException:
                    body.close()
                    if body.failure is not None:
                        raise body.failure from None
                    raise
                body.close()
                if held <= sent:
                    raise TransientError(
                        "the upload session took none of the bytes sent", op="put", uri=str(self.destination)
                    )
            return held

        return self.ctx.call(attempt, f"{self.destination} bytes {start}-{end}")

    def _already_made(self, digest: str) -> bool:
        """Whether the destination already is this object (its upload ended before the journal knew)."""
        stat = self.dst_store
        if not isinstance(stat, Stat):
            return False
        try:
            info = self.ctx.call(lambda: stat.stat(self.destination.key), str(self.destination))
        except NotFoundError:
            return False
        return info.size == self.size and info.digest == digest

    def _ranged_download(self, final: Path) -> ObjectResult:
        ctx = self.ctx
        journal = ctx.journal
        key = str(final)
        temp = destination_temp_path(final, self.source)
        version = source_version(self.info)
        partial = journal.partial(key) if journal else None
        done: dict[int, Piece] = {}
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            resumable = (
                self._pinned(partial, "download", version)
                and partial.piece_size == CHUNK_SIZE
                and _same_algorithm(partial.digest)
                and temp.exists()
                and temp.stat().st_size == self.size
            )
            # Locked before anything is cut: the temporary name is the same on every run (that
            # is how a rerun resumes), so a second run at once must not truncate the first's.
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT, 0o644)
            try:
                _lock_or_refuse(fd, final)
            except BaseException:
                os.close(fd)  # the file is the other run's: left as it is
                raise
            try:
                if resumable:
                    assert journal is not None
                    done = journal.pieces(key)
                else:
                    if partial is not None and partial.kind == "download":
                        self._starting_over(partial, version)
                    os.ftruncate(fd, 0)
                    _preallocate(fd, self.size)
                    if journal is not None:
                        journal.start_partial(
                            Partial(
                                key,
                                "download",
                                str(self.source),
                                version,
                                self.size,
                                CHUNK_SIZE,
                                None,
                                str(temp),
                                DIGEST_ALGORITHM,  # what the journaled chunk digests are
                            )
                        )
            except BaseException:
                os.close(fd)
                if not resumable:
                    _discard_file(temp)  # ours, and nothing in it worth keeping yet
                raise
        except OSError as err:
            _os_error(err, "download", final)
        self.resumed_parts = len(done)
        builder = ChunkedDigest()
        for number, piece in done.items():
            builder.set_chunks_from(number * CHUNK_SIZE, piece.chunks)
            ctx.progress.advance(piece.size)

        def store_chunk(index: int, data: memoryview) -> None:
            digest = hash_chunk(data)
            try:
                pwrite_all(fd, data, index * CHUNK_SIZE)
            except OSError as err:
                _os_error(err, "download", final)
            builder.set_chunk(index, digest)
            if journal is not None:
                journal.record_piece(key, Piece(index, None, len(data), (digest,)))

        def discard() -> None:
            _discard_file(temp)
            if journal is not None:
                journal.finish_partial(key)

        missing = [i for i in range(chunk_count(self.size)) if i not in done]
        try:
            _StreamedDownload(self, store_chunk).run(missing)
            digest = self._check(builder.value(self.size), discard)
            self._check_source_unchanged(digest, discard)
            self._publish(temp, final, digest)
        except BaseException:
            if journal is None:  # nothing could resume it (removed while still locked)
                _discard_file(temp)
            raise
        finally:
            os.close(fd)  # the lock goes with it, once the file has its final name
        if journal is not None:
            journal.finish_partial(key)
        return self.result(digest)

    def _local_to_local(self, final: Path) -> ObjectResult:
        """``copy_file_range`` into a temporary file while other threads hash what was written.

        The written file is hashed through a read-only memory map of the page
        cache: no copy into Python buffers and no fresh allocations, which is
        what keeps this within reach of ``cp`` (measurements in docs/transfer.md).
        """
        ctx = self.ctx
        temp = destination_temp_path(final, self.source)
        builder = ChunkedDigest()
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            with self.reader.open_read(self.source.key) as stream:
                src_fd = stream.fileno()
                out_fd = os.open(temp, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
                try:
                    _preallocate(out_fd, self.size)
                    _copy_and_hash(src_fd, out_fd, self.size, builder, ctx)
                finally:
                    os.close(out_fd)
        except OSError as err:
            _discard_file(temp)
            _os_error(err, "copy", final)
        except BaseException:
            _discard_file(temp)
            raise

        def discard() -> None:
            _discard_file(temp)

        digest = self._check(builder.value(self.size), discard)
        self._check_source_unchanged(digest, discard)
        self._publish(temp, final, digest)
        return self.result(digest)

    def _publish(self, temp: Path, final: Path, digest: str) -> None:
        """Give a finished temporary file its metadata and its real name."""
        try:
            metadata = self._file_metadata(digest)
            write_attributes(temp, metadata, self.content_type, modified=self.modified)
            os.replace(temp, final)
        except OSError as err:
            _discard_file(temp)
            _os_error(err, "copy", final)


class _ChunkFeed:
    """The source's 8 MiB chunks for an upload session, in order, the next read while one is sent.

    A chunk taken holds its share of the memory budget until the caller gives it back.
    """

    def __init__(self, ctx: TransferContext, size: int, source: ObjectURI, reader: Reader) -> None:
        self._ctx = ctx
        self._size = size
        self._source = source
        self._reader = reader
        self._count = chunk_count(size)
        self._ahead: dict[int, Future[bytearray]] = {}
        # One ranged read from the chunk wanted to the end, read on in order; reopened where a
        # retry or a failure needs another start (ranges of a chunk each would be a request each).
        self._stream: IO[bytes] | None = None
        self._position = 0

    def take(self, index: int) -> bytearray:
        if self._ctx.stop.is_set():
            raise Cancelled
        future = self._ahead.pop(index, None)
        self._drop_ahead()  # anything else read ahead is not wanted: a retry went back
        data = future.result() if future is not None else self._load(index)
        if index + 1 < self._count:
            self._ahead[index + 1] = self._ctx.part_pool.submit(self._load, index + 1)
        return data

    def close(self) -> None:
        """Drop what was read ahead, giving its memory back."""
        self._drop_ahead()
        self._close_stream()

    def _drop_ahead(self) -> None:
        for future in self._ahead.values():
            if not future.cancel():
                with contextlib.suppress(BaseException):
                    self._ctx.budget.release(len(future.result()))
        self._ahead.clear()

    def _load(self, index: int) -> bytearray:
        start = index * CHUNK_SIZE
        size = min(CHUNK_SIZE, self._size - start)
        self._ctx.budget.acquire(size)
        try:
            # Not retried here: a failure stops the request, whose retry reads from where it resumes.
            return self._read_at(start, size)
        except BaseException:
            self._ctx.budget.release(size)
            raise

    def _read_at(self, start: int, size: int) -> bytearray:
        if self._stream is None or self._position != start:
            self._close_stream()
            self._stream = self._reader.open_read(self._source.key, range=(start, self._size))
            self._position = start
        buffer = bytearray(size)
        try:
            got = fill_from(self._stream, memoryview(buffer))
        except BaseException:
            self._close_stream()  # a retry reopens the range here
            raise
        self._position += got
        if got != size:
            self._close_stream()
            raise _shorter_than_listed(self._source, start + got, self._size)
        return buffer

    def _close_stream(self) -> None:
        if self._stream is not None:
            with contextlib.suppress(Exception):
                self._stream.close()
            self._stream = None


class _StreamedPiece:
    """One request's body: ``length`` bytes that ``make`` produces while the request sends them.

    Each pass starts ``make`` over (an HTTP client may send a request again). ``close`` ends the
    pass under way, so whatever it holds is given back at once, not when it is collected. An
    error raised while producing the bytes is kept in ``failure``: the HTTP client may wrap it.
    """

    def __init__(self, length: int, make: Callable[[], Iterator[bytes | bytearray | memoryview]]) -> None:
        self._length = length
        self._make = make
        self._pass: Generator[bytes | bytearray | memoryview, None, None] | None = None
        self.failure: Exception | None = None

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator[bytes | bytearray | memoryview]:
        self.close()
        self._pass = self._recording()
        return self._pass

    def _recording(self) -> Generator[bytes | bytearray | memoryview, None, None]:
        try:
            yield from self._make()
        except Exception as err:
            self.failure = err
            raise

    def close(self) -> None:
        if self._pass is not None:
            self._pass.close()
            self._pass = None


class _Section:
    """Chunks ``[next, end)`` of an object, read in order by one stream; ``end`` may shrink (a split)."""

    __slots__ = ("end", "next")

    def __init__(self, first: int, end: int) -> None:
        self.next = first
        self.end = end

    @property
    def left(self) -> int:
        return self.end - self.next


class _StreamedDownload:
    """Fetch the missing chunks of one object over a few long ranged streams.

    One stream starts (one per contiguous run of missing chunks); if its
    first chunk arrives within ``_QUICK_OPEN``, a second starts at once (the
    back half of the largest section, when it has at least ``2 * _MIN_SPLIT``
    chunks). Then, while the object is moving, another stream is added
    (taking a waiting run, or the second half of the largest one left) for as
    long as each addition raises the measured throughput by at least
    ``_GAIN``, up to ``part_concurrency`` streams. A stream that ends takes
    more work the same way, so no lone straggler finishes the object. A
    section is split only while its half would take a stream longer than
    opening a range has taken (``_worth_a_stream``).

    Long ranges cost one request per stream instead of one per part, which
    endpoints that re-read the whole object for each range request (moto) or
    answer from one thread (Azurite) need. The quick second stream saves the
    measuring window it would otherwise wait for (a 256 MiB download from
    Azurite took ~0.15-0.3 s less); on moto, where a range of a large object
    is slow to open, starting two at once cost more than it saved.
    """

    _QUICK_OPEN = 0.25  # seconds: a first chunk this fast opens a second stream at once
    _GAIN = 1.15  # an added stream must raise the rate by 15 %
    _MIN_SPLIT = 4  # chunks: never start a stream for less than 32 MiB
    _WINDOW = 0.4  # seconds of a rate measurement, at least
    open_seconds = 0.0  # the longest a range took to open (to answer with its headers)
    started = 0.0  # when the first stream was launched

    def __init__(self, copy: _ObjectCopy, store_chunk: Callable[[int, memoryview], None]) -> None:
        self.copy = copy
        self.ctx = copy.ctx
        self.size = copy.size
        self.store_chunk = store_chunk
        self.lock = threading.Lock()
        self.waiting: collections.deque[_Section] = collections.deque()
        self.active: list[_Section] = []
        self.chunks_moved = 0
        self.delivering = 0  # streams that have delivered their first chunk
        self.halt = threading.Event()  # set when a stream fails: the others stop at their next chunk
        self.storers: ThreadPoolExecutor  # hash-and-write threads, one per stream at most (see run)

    def run(self, missing: list[int]) -> None:
        for first, end in _runs(missing):
            self.waiting.append(_Section(first, end))
        ctx = self.ctx
        futures: list[Future[None]] = []
        # Each stream holds two chunk buffers of the memory budget.
        limit = max(1, min(ctx.options.part_concurrency, ctx.options.max_memory // (2 * CHUNK_SIZE)))

        def launch() -> bool:
            with self.lock:
                section = self._more_work()
            if section is None:
                return False
            futures.append(ctx.part_pool.submit(self._worker, section))
            return True

        self.storers = ThreadPoolExecutor(limit, thread_name_prefix="omnicloud-store")
        try:
            self.started = time.monotonic()
            launch()
            # A second stream at once when the first range opened quickly (Azurite, real clouds).
            # Where opening a range is slow (moto re-reads the whole object for each one), the
            # second waits for the first measurement like every stream after it.
            if (
                limit > 1
                and self._warm_up(futures)
                and time.monotonic() - self.started <= self._QUICK_OPEN
                and launch()
                and not self._warm_up(futures)
            ):
                return
            best = 0.0
            growing = True
            while futures and not all(f.done() for f in futures):
                rate = self._measure(futures)
                if rate is None:
                    break
                log.debug("%s: %d stream(s), %.1f MiB/s", self.copy.source, len(futures), rate / 2**20)
                if growing and len(futures) < limit and rate > best * self._GAIN:
                    best = max(best, rate)
                    growing = launch()
                    if growing and not self._warm_up(futures):
                        break
                else:
                    growing = False
        except BaseException as err:
            if not isinstance(err, Exception):
                ctx.stop.set()  # Ctrl-C while measuring: the streams stop at their next chunk
            self.halt.set()
            raise
        finally:
            try:
                _wait_all(futures, ctx)
            finally:
                self.storers.shutdown(wait=True)

    def _warm_up(self, futures: list[Future[None]]) -> bool:
        """Wait until every stream has delivered a chunk (an opening stream is no fair sample)."""
        while True:
            with self.lock:
                if self.delivering >= len(futures):
                    return True
            if _ended_or_failed(futures, self._WINDOW / 8):
                return False

    def _measure(self, futures: list[Future[None]]) -> float | None:
        """Bytes per second over the next window; ``None`` once every stream has ended or failed."""
        with self.lock:
            before = self.chunks_moved
        started = time.monotonic()
        want = len(futures)
        while True:
            if _ended_or_failed(futures, self._WINDOW / 4):
                return None
            elapsed = time.monotonic() - started
            with self.lock:
                moved = self.chunks_moved - before
            if elapsed >= self._WINDOW and (moved >= want or elapsed >= 8 * self._WINDOW):
                return moved * CHUNK_SIZE / elapsed

    def _more_work(self) -> _Section | None:
        """A waiting run, or the back half of the largest running section (under the lock)."""
        if self.waiting:
            section = self.waiting.popleft()
        else:
            largest = max(self.active, key=lambda s: s.left, default=None)
            if largest is None or largest.left < 2 * self._MIN_SPLIT:
                return None
            if not self._worth_a_stream(largest.left // 2):
                return None
            middle = largest.next + largest.left // 2
            section = _Section(middle, largest.end)
            largest.end = middle
        self.active.append(section)
        return section

    def _worth_a_stream(self, chunks: int) -> bool:
        """Whether ``chunks`` would take a stream, at the rate each one has moved so far, longer
        than opening a range has taken (under the lock).

        Opening a range is what a new stream costs: on moto, which reads the
        whole object for every range, ~0.5-0.7 s and as much of its CPU for
        1 GiB; there the last sections are not split among the streams that
        end first. Where ranges open in milliseconds nothing changes.
        """
        elapsed = time.monotonic() - self.started
        if not (self.open_seconds and self.chunks_moved and elapsed > 0):
            return True
        per_stream = self.chunks_moved / elapsed / max(1, len(self.active))
        return chunks / per_stream > self.open_seconds

    def _worker(self, section: _Section) -> None:
        current: _Section | None = section
        first = True
        while current is not None:
            try:
                self._stream(current, first=first)
                first = False
            except BaseException:
                self.halt.set()
                raise
            finally:
                with self.lock:
                    self.active.remove(current)
            with self.lock:
                current = None if self.halt.is_set() else self._more_work()

    def _stream(self, section: _Section, *, first: bool) -> None:
        """Read the section chunk by chunk; each chunk is stored (hashed, written) while the next is read.

        Two buffers per stream: hashing and writing a chunk (into a slow disk,
        or into fresh page cache on a VM, see ``WRITE_SLICE``) overlap the
        read of the next one instead of taking turns with it.
        """
        ctx = self.ctx
        copy = self.copy
        buffers = (bytearray(CHUNK_SIZE), bytearray(CHUNK_SIZE))
        opened: list[IO[bytes]] = []
        storing: Future[None] | None = None

        def read_chunk(index: int, end_chunk: int, buffer: bytearray) -> memoryview:
            start = index * CHUNK_SIZE
            length = min(CHUNK_SIZE, self.size - start)
            if not opened:
                stop = min(end_chunk * CHUNK_SIZE, self.size)
                began = time.monotonic()
                opened.append(copy.reader.open_read(copy.source.key, range=(start, stop)))
                with self.lock:
                    self.open_seconds = max(self.open_seconds, time.monotonic() - began)
            view = memoryview(buffer)[:length]
            try:
                got = fill_from(opened[0], view)
            except BaseException:
                _close_quietly(opened)  # a retry reopens the range here
                raise
            if got != length:
                raise _shorter_than_listed(copy.source, start + got, self.size)
            return view

        ctx.budget.acquire(2 * CHUNK_SIZE)
        try:
            for turn in itertools.count():
                if ctx.stop.is_set():
                    raise Cancelled
                with self.lock:
                    if self.halt.is_set() or section.next >= section.end:
                        break
                    index, end_chunk = section.next, section.end
                    section.next += 1
                # The other buffer may still be being stored; this one is free.
                read = functools.partial(read_chunk, index, end_chunk, buffers[turn % 2])
                view = ctx.call(read, f"{copy.source} chunk {index}")
                ctx.moved(len(view))
                if storing is not None:
                    storing.result()
                storing = self.storers.submit(self.store_chunk, index, view)
                with self.lock:
                    self.chunks_moved += 1
                    self.delivering += first
                first = False
            if storing is not None:
                storing.result()
        finally:
            _close_quietly(opened)
            if storing is not None:
                _wait_quietly([storing])  # never release a buffer a write still reads
            ctx.budget.release(2 * CHUNK_SIZE)


def _ended_or_failed(futures: list[Future[None]], timeout: float) -> bool:
    """Wait up to ``timeout``; whether every stream has ended or one has failed."""
    finished, _ = wait(futures, timeout=timeout, return_when=FIRST_EXCEPTION)
    return len(finished) == len(futures) or any(f.exception() for f in finished)


def _same_algorithm(journaled: str | None) -> bool:
    """Whether a journaled partial's chunk digests were made by this version's algorithm."""
    return journaled is not None and journaled.partition(":")[0] == DIGEST_ALGORITHM


def _runs(indexes: list[int]) -> list[tuple[int, int]]:
    """Sorted indexes as ``[first, end)`` runs of consecutive values."""
    runs: list[tuple[int, int]] = []
    for index in indexes:
        if runs and runs[-1][1] == index:
            runs[-1] = (runs[-1][0], index + 1)
        else:
            runs.append((index, index + 1))
    return runs


def _shorter_than_listed(source: ObjectURI, ended_at: int, listed: int) -> PreconditionFailedError:
    """The error for a source that ran out of bytes before the size its record gave."""
    return PreconditionFailedError(
        f"the source ended at {ended_at} bytes, shorter than listed ({listed})", op="get", uri=str(source)
    )


def _close_quietly(opened: list[IO[bytes]]) -> None:
    while opened:
        with contextlib.suppress(Exception):
            opened.pop().close()


def _copy_range(src_fd: int, dst_fd: int, offset: int, length: int) -> int:
    done = 0
    while done < length:
        try:
            n = os.copy_file_range(src_fd, dst_fd, length - done, offset + done, offset + done)
        except OSError as err:
            if err.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
                raise
            data = os.pread(src_fd, min(length - done, WRITE_SLICE), offset + done)
            pwrite_all(dst_fd, data, offset + done)
            n = len(data)
        if n == 0:
            raise OSError(errno.EIO, f"source ended at {offset + done} bytes, expected more")
        done += n
    return done


def _copy_and_hash(src_fd: int, out_fd: int, size: int, builder: ChunkedDigest, ctx: TransferContext) -> None:
    """Copy in the kernel step by step; hash each finished chunk of the output on other threads."""
    with (
        mmap.mmap(out_fd, size, prot=mmap.PROT_READ) as mapped,
        ThreadPoolExecutor(ctx.options.hash_workers, thread_name_prefix="omnicloud-hash") as pool,
    ):
        view = memoryview(mapped)
        futures: list[Future[None]] = []
        try:
            hashed_to = copied = 0
            while copied < size:
                if ctx.stop.is_set():
                    raise Cancelled
                step = min(_LOCAL_COPY_STEP, size - copied)
                copied += _copy_range(src_fd, out_fd, copied, step)
                ctx.moved(step)
                # Whole chunks of what is written; the tail waits for the end.
                ready = size if copied >= size else copied - copied % CHUNK_SIZE
                for start in range(hashed_to, ready, CHUNK_SIZE):
                    end = min(start + CHUNK_SIZE, size)
                    futures.append(pool.submit(_hash_view_chunk, builder, mapped, view, start, end))
                hashed_to = max(hashed_to, ready)
            _wait_all(futures, ctx)
        finally:
            _wait_quietly(futures)
            view.release()


def _hash_view_chunk(
    builder: ChunkedDigest, mapped: mmap.mmap, view: memoryview, start: int, end: int
) -> None:
    with view[start:end] as piece:
        builder.set_chunk(start // CHUNK_SIZE, hash_chunk(piece))
    # Unmap the hashed pages (they stay in the page cache): RSS stays flat whatever the size.
    mapped.madvise(mmap.MADV_DONTNEED, start, end - start)


def _discard_file(path: Path) -> None:
    """Remove a temporary file if it is there; cleaning up must never hide the real error."""
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)


def _discard_unless_locked(temp: Path, final: Path) -> None:
    """Remove a download's temporary file, unless another run is writing it right now."""
    try:
        fd = os.open(temp, os.O_WRONLY)
    except OSError:
        return  # already gone
    try:
        _lock_or_refuse(fd, final)
        _discard_file(temp)
    except PreconditionFailedError:
        pass  # that run owns it
    finally:
        os.close(fd)


def _preallocate(fd: int, size: int) -> None:
    """Claim the space now, so a full disk fails at the start rather than minutes in."""
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as err:
        if err.errno not in (errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL):
            raise
        os.ftruncate(fd, size)


class _HashingReader:
    """A read-only stream that hashes, counts and meters what passes through it.

    SDKs that upload in chunks (google-resumable-media) ``tell()`` and, to
    retry a chunk, ``seek()`` back; the last ``window`` bytes are kept so such
    a seek works, and bytes read again are not hashed again.
    """

    def __init__(self, stream: IO[bytes], builder: ChunkedDigest, ctx: TransferContext, window: int) -> None:
        self._stream = stream
        self._builder = builder
        self._ctx = ctx
        self._window = window
        self._kept = bytearray()
        self._kept_start = 0
        self._position = 0
        self.count = 0  # bytes read from the source (the high-water mark)

    def read(self, size: int | None = -1) -> bytes:
        if self._ctx.stop.is_set():
            raise Cancelled
        want = size if size is not None and size >= 0 else _STREAM_BLOCK
        if self._position < self.count:
            offset = self._position - self._kept_start
            data = bytes(self._kept[offset : offset + min(want, self.count - self._position)])
            self._position += len(data)
            return data
        data = self._stream.read(want)
        if data:
            self._builder.update(data)
            self.count += len(data)
            self._position = self.count
            self._ctx.moved(len(data))
            self._kept += data
            if len(self._kept) > self._window:
                drop = len(self._kept) - self._window
                del self._kept[:drop]
                self._kept_start += drop
        return data

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        target = {io.SEEK_SET: offset, io.SEEK_CUR: self._position + offset}.get(whence)
        if target is None or not self._kept_start <= target <= self.count:
            raise io.UnsupportedOperation(f"cannot seek to {offset} (whence {whence}) in a streamed source")
        self._position = target
        return target

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def close(self) -> None:
        self._stream.close()


def _lock_or_refuse(fd: int, final: Path) -> None:
    """Hold an exclusive lock on a download's temporary file, or refuse: another run holds it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise PreconditionFailedError(
            "another transfer is writing this file",
            op="download",
            uri=f"file://{final}",
            hint="wait for it to end, or choose another destination",
        ) from None


def _wait_all(futures: list[Future[None]], ctx: TransferContext) -> None:
    """Wait for every future; on the first error stop the others and raise it."""
    try:
        for future in futures:
            future.result()
    except BaseException as err:
        if not isinstance(err, Exception):
            ctx.stop.set()  # Ctrl-C: running pieces finish, nothing new starts
        for future in futures:
            future.cancel()
        _wait_quietly(futures)
        raise


def _wait_quietly(futures: list[Future[None]]) -> None:
    for future in futures:
        if not future.cancelled():
            # Only waiting here: the caller raises the error that matters.
            with contextlib.suppress(BaseException):
                future.exception()


def _quietly(call: Callable[[], object]) -> None:
    try:
        call()
    except OmniCloudError as err:
        log.debug("ignored while cleaning up: %s", err)
