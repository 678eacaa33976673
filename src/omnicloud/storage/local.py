"""``file://`` storage: a directory tree seen as a bucket.

Keys are paths relative to the store's root (``/`` for stores opened from a
URI, whose key is the absolute path without its leading slash). Writes go to
a hidden temporary file in the target directory and are renamed into place,
so a failed or interrupted write never leaves a partial file under the real
name. User metadata and the content type live in ``user.omnicloud.*``
extended attributes where the filesystem has them.

A file's attributes outlive edits made in place by other programs, so the
canonical digest is recorded with the modification time and size the file
had then, and is listed only while the file still has both: an edited file
is listed without a digest (compared by size and time, hashed when read)
instead of with the digest of what it used to hold.
"""

from __future__ import annotations

import errno
import functools
import io
import mimetypes
import os
import posixpath
import shutil
import stat as stat_module
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import IO, Any, ClassVar, NoReturn, TypeVar

from omnicloud.errors import (
    ConfigError,
    NotFoundError,
    OmniCloudError,
    PermissionDeniedError,
    PreconditionFailedError,
)
from omnicloud.storage._common import (
    WRITE_SLICE,
    BoundedStream,
    ClosesOnExit,
    check_options,
    fill_from,
    normalize_metadata,
    write_all,
)
from omnicloud.storage._types import (
    DIGEST_METADATA_KEY,
    MTIME_METADATA_KEY,
    ByteRange,
    Deleter,
    Lister,
    ObjectInfo,
    Reader,
    ReadInto,
    ServerSideCopy,
    Stat,
    Writer,
    listed_info,
    parse_recorded_time,
)
from omnicloud.uri import ObjectURI

_MiB = 1024 * 1024

__all__ = ["TEMP_MARKER", "ContentHasher", "ListedRecord", "LocalStore", "temp_name", "write_attributes"]

# Temporary files carry this marker; listings skip them.
TEMP_MARKER = ".omnicloud-tmp-"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAME_MAX = 255  # bytes in one file name on Linux file systems


def temp_name(tag: str, name: str) -> str:
    """The name of a temporary file beside ``name``: marker, ``tag``, then as much of ``name`` as fits.

    File names are limited in bytes, not characters: a name of 230 bytes in
    120 characters (accented or CJK) is cut by bytes, or the temporary file
    could not be made for a file that can.
    """
    return os.fsdecode(os.fsencode(f"{TEMP_MARKER}{tag}-{name}")[:_NAME_MAX])


_XATTR_META = "user.omnicloud.meta."
_XATTR_CONTENT_TYPE = "user.omnicloud.content_type"
# "<mtime_ns>:<size>" of the file when its digest was recorded.
_XATTR_DIGEST_OF = "user.omnicloud.digest_of"
_XATTR_DIGEST = _XATTR_META + DIGEST_METADATA_KEY
_COPY_CHUNK = WRITE_SLICE
_NO_METADATA: Mapping[str, str] = MappingProxyType({})
_S_ISREG = stat_module.S_ISREG
# (name, entry) for each entry of a directory; directory names end with "/".
_Entries = list[tuple[str, os.DirEntry[str]]]
_Made = TypeVar("_Made")


class LocalStore(ClosesOnExit):
    """A directory tree as a bucket."""

    CAPABILITIES: ClassVar[tuple[type, ...]] = (
        Reader,
        ReadInto,
        Writer,
        Lister,
        Deleter,
        Stat,
        ServerSideCopy,
    )
    OPTIONS: ClassVar[tuple[str, ...]] = ("root",)

    def __init__(self, root: str | os.PathLike[str] = "/") -> None:
        self.root = Path(root).absolute()
        self._uri = ObjectURI("local", "", _root_key(self.root))

    @classmethod
    def from_uri(cls, uri: ObjectURI, *, credentials: Any = None, **options: Any) -> LocalStore:
        check_options("local", options, cls.OPTIONS)
        if credentials is not None:
            raise ConfigError("local storage takes no credentials")
        return cls(options.get("root", "/"))

    @property
    def uri(self) -> ObjectURI:
        return self._uri

    def close(self) -> None:
        """Nothing to release."""

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    def path(self, key: str) -> Path:
        """The filesystem path of ``key``."""
        if key.startswith("/") or any(part in ("..", ".") for part in key.split("/")):
            raise ConfigError(f"key {key!r} would leave the store's root")
        return self.root / key

    def _uri_of(self, key: str) -> str:
        return f"file://{self.path(key)}"

    def _fail(self, err: OSError, op: str, key: str) -> NoReturn:
        raise _map_os_error(err, op, self._uri_of(key)) from err

    # --- Reader --------------------------------------------------------------

    def get(self, key: str, *, range: ByteRange | None = None) -> bytes:
        path = self._file(key, "get")
        try:
            with open(path, "rb") as f:
                if range is None:
                    return f.read()
                start, end = range
                f.seek(start)
                return f.read(max(0, end - start))
        except OSError as err:
            self._fail(err, "get", key)

    def read_into(self, key: str, start: int, view: memoryview) -> int:
        path = self._file(key, "get")
        try:
            with open(path, "rb", buffering=0) as f:
                f.seek(start)
                return fill_from(f, view)
        except OSError as err:
            self._fail(err, "get", key)

    def open_read(self, key: str, *, range: ByteRange | None = None) -> IO[bytes]:
        path = self._file(key, "get")
        try:
            handle = open(path, "rb")  # noqa: SIM115 - the caller closes it
        except OSError as err:
            self._fail(err, "get", key)
        if range is None:
            return handle
        handle.seek(range[0])
        return io.BufferedReader(BoundedStream(handle, range[1] - range[0]), buffer_size=_MiB)

    def _file(self, key: str, op: str) -> Path:
        path = self.path(key)
        try:
            directory = key == "" or key.endswith("/") or path.is_dir()
        except OSError as err:  # a name longer than the file system allows, say
            self._fail(err, op, key)
        if directory:
            raise NotFoundError("is a directory, not a file", op=op, uri=self._uri_of(key), provider="local")
        return path

    # --- Writer --------------------------------------------------------------

    def put(
        self,
        key: str,
        data: bytes | IO[bytes],
        *,
        metadata: Mapping[str, str] | None = None,
        content_type: str | None = None,
        if_absent: bool = False,
        modified: datetime | None = None,
    ) -> ObjectInfo:
        """Write ``data`` under ``key``; ``modified``, if given, becomes the file's modification time."""
        meta = normalize_metadata(metadata)
        with self._temp_writer(key, meta, content_type, if_absent=if_absent, modified=modified) as writer:
            if isinstance(data, bytes | bytearray | memoryview):
                writer.write(data)
            else:
                shutil.copyfileobj(data, writer, _COPY_CHUNK)
        assert writer.published is not None
        return writer.published

    def open_write(
        self,
        key: str,
        *,
        metadata: Mapping[str, str] | None = None,
        content_type: str | None = None,
    ) -> IO[bytes]:
        return self._temp_writer(key, normalize_metadata(metadata), content_type)  # type: ignore[return-value]

    def _temp_writer(
        self,
        key: str,
        metadata: dict[str, str],
        content_type: str | None,
        *,
        if_absent: bool = False,
        modified: datetime | None = None,
    ) -> _TempFileWriter:
        # A file's date is its modification time, never an attribute that an edit would leave stale.
        recorded = metadata.pop(MTIME_METADATA_KEY, None)
        if modified is None and recorded is not None:
            modified = parse_recorded_time(recorded)
        target = self._file(key, "put")
        try:
            temp = target.with_name(temp_name(uuid.uuid4().hex[:12], target.name))
            try:
                handle = open(temp, "xb")  # noqa: SIM115 - closed by the writer
            except FileNotFoundError:  # the first file of its directory: make it (once, not per file)
                target.parent.mkdir(parents=True, exist_ok=True)
                handle = open(temp, "xb")  # noqa: SIM115 - closed by the writer
        except OSError as err:
            self._fail(err, "put", key)

        def publish() -> ObjectInfo:
            st, kept = _write_attributes(temp, metadata, content_type, modified)
            if if_absent:
                # link() refuses to replace an existing name: an atomic create-if-absent.
                try:
                    os.link(temp, target)
                except FileExistsError:
                    raise PreconditionFailedError(
                        "object already exists", op="put", uri=self._uri_of(key), provider="local"
                    ) from None
                finally:
                    temp.unlink(missing_ok=True)
            else:
                os.replace(temp, target)
            # What ``stat(key)`` reads back now, made from what was just written: a rename keeps
            # the file's size, dates and attributes.
            return _stat_info(
                key,
                st,
                dict(metadata) if kept and metadata else _NO_METADATA,
                (content_type if kept else None) or _ContentTypeGuesser()(key, target.name),
            )

        return _TempFileWriter(handle, temp, publish, lambda err: self._fail(err, "put", key))

    # --- Lister --------------------------------------------------------------

    def list(self, prefix: str = "", *, delimiter: str | None = None) -> Iterator[ObjectInfo]:
        if delimiter not in (None, "/"):
            raise ConfigError("local storage lists with delimiter '/' or none")
        start = self._walk_start(prefix)
        if start is not None:
            yield from self._walk(*start, prefix, delimiter, _listed_info)

    def list_in_child(self, prefix: str = "", *, hasher: ContentHasher | None = None) -> Iterator[ObjectInfo]:
        """What ``list(prefix)`` yields, walked by a forked child process while this one works on.

        For callers that consume another listing at the same time (a sync
        plan walks both sides): the child's system calls run on another core.
        ``hasher(path, size, metadata)``, called in the child for each file,
        gives its ``content_digest`` (or None): files read in the child, in
        the order of the walk, cost this process nothing. Where forking is
        not safe (see ``_forked``), this is ``list(prefix)``, with no digests.
        """
        from omnicloud.storage._forked import can_fork

        if not can_fork():
            yield from self.list(prefix)
            return
        info_of = self.info_of
        for record in self.list_records(prefix, hasher=hasher):
            yield info_of(record)

    def list_records(
        self, prefix: str = "", *, hasher: ContentHasher | None = None
    ) -> Iterator[ListedRecord]:
        """The files below ``prefix`` in key order as plain records (``ListedRecord``), from a forked child.

        What ``list_in_child`` turns into ``ObjectInfo``, for a caller that
        decides most files from the record alone (a sync plan between two
        local trees) and makes objects only of the rest (``info_of``).
        Where forking is not safe the same records are made here,
        ``hasher`` included.
        """
        from omnicloud.storage._forked import forked_batches

        start = self._walk_start(prefix)
        if start is None:
            return
        record = _record if hasher is None else functools.partial(_hashed_record, hasher)
        for batch in forked_batches(lambda: self._walk(*start, prefix, None, record)):
            yield from batch

    @staticmethod
    def info_of(record: ListedRecord) -> ObjectInfo:
        """The ``ObjectInfo`` that ``list`` gives for the file of ``record`` (with its content digest)."""
        key, size, mtime_ns, mtime, metadata, content_type, digest = record
        return listed_info(
            key,
            size,
            _etag(mtime_ns, size),
            datetime.fromtimestamp(mtime, UTC),
            metadata or _NO_METADATA,
            content_type,
            content_digest=digest,
        )

    def _walk_start(self, prefix: str) -> tuple[str, str] | None:
        """The directory a listing of ``prefix`` starts in and its key, or None if there is none."""
        start_dir = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        base = self.path(start_dir) if start_dir else self.root
        if not base.is_dir():
            return None
        return str(base), start_dir + "/" if start_dir else ""

    def _walk(
        self,
        directory: str,
        dir_key: str,
        prefix: str,
        delimiter: str | None,
        make: Callable[[str, str, os.stat_result, str], _Made],
    ) -> Iterator[_Made | ObjectInfo]:
        # Depth first with an explicit stack of sorted directory listings, so
        # each entry passes through one generator however deep the tree is.
        # Per file: one stat and one listxattr (plus a getxattr per omnicloud
        # attribute present); no pathlib, and the content type guessed once
        # per extension. ``make`` builds what is yielded per file.
        guess = _ContentTypeGuesser()
        stack: list[tuple[Iterator[tuple[str, os.DirEntry[str]]], str]] = [
            (iter(self._sorted_entries(directory, dir_key)), dir_key)
        ]
        # The directories being walked, by device and inode: symbolic links
        # are followed, except one back to a directory above it (a loop).
        walking = [_directory_id(directory)]
        while stack:
            entries, parent_key = stack[-1]
            # Below the prefix's own directory every key has the prefix: no test per file.
            inside = parent_key.startswith(prefix)
            for name, entry in entries:
                key = parent_key + name
                if name[-1] == "/":
                    if not (key.startswith(prefix) or prefix.startswith(key)):
                        continue
                    if delimiter and key.startswith(prefix):
                        yield ObjectInfo(key=key, size=0, is_prefix=True)
                        continue
                    identity = _directory_id(entry.path)
                    if identity is None or identity in walking:
                        continue  # gone since it was listed, or a loop
                    stack.append((iter(self._sorted_entries(entry.path, key)), key))
                    walking.append(identity)
                    break
                if not (inside or key.startswith(prefix)):
                    continue
                try:
                    st = entry.stat()
                except OSError as err:
                    if err.errno in _UNRESOLVED:
                        continue  # a dangling or looping symbolic link
                    raise
                if _S_ISREG(st.st_mode):
                    yield make(key, entry.path, st, guess(key, name))
            else:
                stack.pop()
                walking.pop()

    def _sorted_entries(self, directory: str, dir_key: str) -> _Entries:
        try:
            with os.scandir(directory) as it:
                entries = [
                    (e.name + "/" if _is_dir(e) else e.name, e) for e in it if TEMP_MARKER not in e.name
                ]
        except OSError as err:
            if err.errno in (errno.ENOENT, errno.ENOTDIR):
                return []
            self._fail(err, "list", dir_key)
        # Sorting with "/" appended to directory names yields keys in the
        # same byte order as a cloud listing. Names are unique in a
        # directory, so the tuples never compare their DirEntry.
        entries.sort()
        return entries

    # --- Deleter, Stat, ServerSideCopy ----------------------------------------

    def delete(self, key: str, *, missing_ok: bool = False) -> None:
        path = self._file(key, "delete")
        try:
            path.unlink()
        except FileNotFoundError as err:
            if not missing_ok:
                self._fail(err, "delete", key)
        except OSError as err:
            self._fail(err, "delete", key)

    def stat(self, key: str) -> ObjectInfo:
        path = self._file(key, "stat")
        try:
            st = path.stat()
        except OSError as err:
            self._fail(err, "stat", key)
        return self._info(key, path, st)

    def exists(self, key: str) -> bool:
        return key != "" and not key.endswith("/") and self.path(key).is_file()

    def copy(self, src_key: str, dst_key: str) -> ObjectInfo:
        src = self._file(src_key, "copy")
        info = self.stat(src_key)
        try:
            with open(src, "rb") as reader:
                return self.put(
                    dst_key,
                    reader,
                    metadata=info.metadata,
                    content_type=info.content_type,
                    modified=info.last_modified,
                )
        except OSError as err:
            self._fail(err, "copy", src_key)

    def _info(self, key: str, path: Path, st: os.stat_result) -> ObjectInfo:
        return _listed_info(key, str(path), st, _ContentTypeGuesser()(key, path.name))


class _TempFileWriter:
    """Writes to a temporary file; publishes it under the real name on a clean close."""

    def __init__(
        self,
        handle: IO[bytes],
        temp: Path,
        publish: Callable[[], ObjectInfo],
        on_error: Callable[[OSError], NoReturn],
    ) -> None:
        self._handle = handle
        self._temp = temp
        self._publish = publish
        self._on_error = on_error
        self.closed = False
        self.published: ObjectInfo | None = None  # the file's record, once published

    def write(self, data: bytes | bytearray | memoryview) -> int:
        try:
            return write_all(self._handle, data)
        except OSError as err:
            self.abort()
            self._on_error(err)

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._handle.fileno()

    def abort(self) -> None:
        if not self.closed:
            self.closed = True
            self._handle.close()
            self._temp.unlink(missing_ok=True)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            self._handle.close()
            self.published = self._publish()
        except OSError as err:
            self._temp.unlink(missing_ok=True)
            self._on_error(err)
        except BaseException:
            self._temp.unlink(missing_ok=True)
            raise

    def __enter__(self) -> _TempFileWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self.abort()
        else:
            self.close()


def write_attributes(
    path: Path, metadata: Mapping[str, str], content_type: str | None, *, modified: datetime | None = None
) -> bool:
    """Record user metadata and the content type on a file (as `user.omnicloud.*` xattrs).

    ``modified``, when given, becomes the file's modification time first, so
    that the digest is recorded with the time the file will keep. Returns
    whether the file keeps them: filesystems without user xattrs keep the
    bytes but not the metadata.
    """
    return _write_attributes(path, metadata, content_type, modified)[1]


def _write_attributes(
    path: Path, metadata: Mapping[str, str], content_type: str | None, modified: datetime | None
) -> tuple[os.stat_result, bool]:
    """``write_attributes``, and the file's ``stat`` once its content and dates are final."""
    if modified is not None:
        _keep_modified(path, modified)
    # Setting an attribute changes neither the modification time nor the size.
    st = os.stat(path)
    try:
        for name, value in metadata.items():
            os.setxattr(path, _XATTR_META + name, value.encode())
        if content_type:
            os.setxattr(path, _XATTR_CONTENT_TYPE, content_type.encode())
        if DIGEST_METADATA_KEY in metadata:
            # Last: the digest counts only once everything it describes is in place.
            os.setxattr(path, _XATTR_DIGEST_OF, _written_stamp(st))
    except OSError as err:
        if err.errno not in (errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
        return st, False
    return st, True


def _keep_modified(path: Path, modified: datetime) -> None:
    """Give ``path`` the modification time ``modified`` (UTC if naive), as rclone and ``cp -p`` do.

    A file downloaded or copied then carries its source's date, so a sync
    that compares sizes and times finds it unchanged in either direction
    instead of newer than its source.
    """
    if modified.tzinfo is None:
        modified = modified.replace(tzinfo=UTC)
    since = modified - _EPOCH  # exact, where timestamp() is a float
    mtime_ns = ((since.days * 86_400 + since.seconds) * 1_000_000 + since.microseconds) * 1000
    os.utime(path, ns=(time.time_ns(), mtime_ns))


def _written_stamp(st: os.stat_result) -> bytes:
    return f"{st.st_mtime_ns}:{st.st_size}".encode()


def _read_attributes(path: str, st: os.stat_result) -> tuple[Mapping[str, str], str | None]:
    try:
        names = os.listxattr(path)
    except OSError:
        return _NO_METADATA, None
    if not names:
        # The common case, and one system call: no getxattr, no dict.
        return _NO_METADATA, None
    metadata: dict[str, str] = {}
    content_type = None
    for name in names:
        if name.startswith(_XATTR_META):
            metadata[name[len(_XATTR_META) :]] = os.getxattr(path, name).decode(errors="replace")
        elif name == _XATTR_CONTENT_TYPE:
            content_type = os.getxattr(path, name).decode(errors="replace")
    if _XATTR_DIGEST in names and not (
        _XATTR_DIGEST_OF in names and os.getxattr(path, _XATTR_DIGEST_OF) == _written_stamp(st)
    ):
        del metadata[DIGEST_METADATA_KEY]  # edited since: the digest is of other bytes
    return metadata, content_type


# Symbolic links that lead nowhere: skipped in listings, like a file removed while listed.
_UNRESOLVED = (errno.ENOENT, errno.ELOOP)


def _is_dir(entry: os.DirEntry[str]) -> bool:
    """Whether the entry is a directory, or a symbolic link to one."""
    try:
        return entry.is_dir()
    except OSError:  # a link that loops on itself: listed (and skipped) as a file
        return False


def _directory_id(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _etag(mtime_ns: int, size: int) -> str:
    return f'"{mtime_ns:x}-{size:x}"'


def _listed_info(key: str, path: str, st: os.stat_result, guessed_type: str) -> ObjectInfo:
    metadata, content_type = _read_attributes(path, st)
    return _stat_info(key, st, metadata, content_type or guessed_type)


def _stat_info(key: str, st: os.stat_result, metadata: Mapping[str, str], content_type: str) -> ObjectInfo:
    """The ``ObjectInfo`` of the file whose ``stat`` is ``st``, with its metadata and content type."""
    return listed_info(
        key,
        st.st_size,
        _etag(st.st_mtime_ns, st.st_size),
        datetime.fromtimestamp(st.st_mtime, UTC),
        metadata,
        content_type,
    )


class _ContentTypeGuesser:
    """``mimetypes.guess_type(key)[0]`` or ``application/octet-stream``, remembered per extension.

    The guess depends only on the extension, except for compression
    suffixes (``.tar.gz``) and URL-like keys, which are guessed each time.
    One lives for one listing.
    """

    def __init__(self) -> None:
        self._by_extension: dict[str, str] = {}

    def __call__(self, key: str, name: str) -> str:
        """The type for ``key``, whose last segment is ``name``."""
        if ":" in key:
            # guess_type reads "scheme:" prefixes (data: URLs) first.
            return mimetypes.guess_type(key)[0] or "application/octet-stream"
        extension = posixpath.splitext(name)[1] if "." in name else ""
        known = self._by_extension.get(extension)
        if known is not None:
            return known
        guessed = mimetypes.guess_type(key)[0] or "application/octet-stream"
        if extension.lower() not in mimetypes.suffix_map and extension not in mimetypes.encodings_map:
            self._by_extension[extension] = guessed
        return guessed


def _root_key(root: Path) -> str:
    text = str(root).strip("/")
    return text + "/" if text else ""


def _map_os_error(err: OSError, op: str, uri: str) -> OmniCloudError:
    reason = err.strerror or str(err)
    if isinstance(err, FileNotFoundError | NotADirectoryError) and op != "put":
        # A put finds no file missing: a directory on its way could not be made.
        return NotFoundError("no such file", op=op, uri=uri, provider="local")
    if isinstance(err, PermissionError):
        return PermissionDeniedError(f"permission denied: {reason}", op=op, uri=uri, provider="local")
    if err.errno == errno.ENOSPC:
        return OmniCloudError("no space left on device", op=op, uri=uri, provider="local")
    return OmniCloudError(f"{op} failed: {reason}", op=op, uri=uri, provider="local")


ListedRecord = tuple[str, int, int, float, dict[str, str] | None, str, str | None]
"""One file as a listing child sends it, in plain values ``marshal`` carries: key, size,
modification time (in nanoseconds, then in seconds as ``os.stat`` gives both), metadata (None
for none), content type, content digest (None unless a hasher made one). The etag, made from
the size and the time in nanoseconds, is left to ``LocalStore.info_of``: a plan between two
trees needs few."""


def _record(key: str, path: str, st: os.stat_result, guessed_type: str) -> ListedRecord:
    metadata, content_type = _read_attributes(path, st)
    return (
        key,
        st.st_size,
        st.st_mtime_ns,
        st.st_mtime,
        dict(metadata) if metadata else None,
        content_type or guessed_type,
        None,
    )


ContentHasher = Callable[[str, int, Mapping[str, str]], str | None]
"""``hasher(path, size, metadata)``: a file's content digest, or None to leave it unread."""


def _hashed_record(
    hasher: ContentHasher, key: str, path: str, st: os.stat_result, guessed_type: str
) -> ListedRecord:
    """``_record`` with what ``hasher`` makes of the file as its content digest."""
    record = _record(key, path, st, guessed_type)
    return (*record[:6], hasher(path, st.st_size, record[4] or _NO_METADATA))
