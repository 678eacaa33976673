"""The transfer journal: finished parts and objects in SQLite, so a killed transfer resumes.

Two kinds of record:

- a *partial* object: a multipart upload (with its upload id) or a ranged
  download into a temporary file, pinned to the source's version (etag and
  size), with one row per finished piece holding the piece's chunk digests;
- a *done* object of a job (one ``copy -r``/``sync`` invocation, named by its
  source, destination and mode), so a rerun of an unfinished job skips what
  it already copied. A job's rows are removed when it finishes cleanly.

Pieces are committed as they finish (each is megabytes, so the commit is
cheap next to it); done objects are committed in batches. SQLite in WAL mode
survives the process being killed at any point.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from omnicloud.errors import OmniCloudError

__all__ = ["Journal", "Partial", "Piece"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS partials (
    destination TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    source TEXT NOT NULL,
    source_version TEXT NOT NULL,
    size INTEGER NOT NULL,
    piece_size INTEGER NOT NULL,
    upload_id TEXT,
    temp_path TEXT,
    digest TEXT,
    started REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS pieces (
    destination TEXT NOT NULL,
    number INTEGER NOT NULL,
    etag TEXT,
    size INTEGER NOT NULL,
    chunks BLOB NOT NULL,
    PRIMARY KEY (destination, number)
);
CREATE TABLE IF NOT EXISTS done_objects (
    job TEXT NOT NULL,
    source TEXT NOT NULL,
    source_version TEXT NOT NULL,
    size INTEGER NOT NULL,
    digest TEXT,
    PRIMARY KEY (job, source)
);
"""

_BATCH_OBJECTS = 256
_BATCH_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class Partial:
    destination: str
    kind: str
    source: str
    source_version: str
    size: int
    piece_size: int
    upload_id: str | None
    temp_path: str | None
    digest: str | None


@dataclass(frozen=True, slots=True)
class Piece:
    number: int
    etag: str | None
    size: int
    chunks: tuple[bytes, ...]


def _split_chunks(blob: bytes) -> tuple[bytes, ...]:
    return tuple(blob[i : i + 32] for i in range(0, len(blob), 32))


class Journal:
    """One SQLite file shared by the threads of a transfer (and by later runs)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # One opener at a time, by a lock on a file of its own: switching to WAL and creating
            # the tables take SQLite's write lock, and two connections doing so at once can get
            # "database is locked" at once, whatever the busy timeout (seen with Dask tasks sharing
            # a journal). Not a lock on the journal itself: closing any descriptor of that file
            # would drop the POSIX locks SQLite holds on it in this process.
            lock = os.open(f"{self.path}.lock", os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                fcntl.flock(lock, fcntl.LOCK_EX)
                if not self.path.exists():
                    # Owner-only: it holds GCS upload session URLs, which are bearer secrets.
                    # SQLite gives its -wal and -shm files the same mode.
                    os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
                self._db = sqlite3.connect(
                    self.path, timeout=30, check_same_thread=False, isolation_level=None
                )
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
                self._db.executescript(_SCHEMA)
            finally:
                os.close(lock)
        except (OSError, sqlite3.Error) as err:
            raise OmniCloudError(
                f"cannot open the transfer journal: {err}",
                op="journal",
                uri=str(self.path),
                hint="set OMNICLOUD_STATE_DIR or pass --journal PATH",
            ) from err
        self._lock = threading.Lock()
        self._pending: list[tuple[str, str, str, int, str | None]] = []
        self._partial_keys: set[str] | None = None  # loaded on first use; partials are few
        self._last_flush = time.monotonic()

    def close(self) -> None:
        with self._lock:
            self._flush_locked()
            self._db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write(self, sql: str, params: Iterable[object]) -> None:
        with self._lock:
            self._db.execute(sql, tuple(params))

    # --- partial objects -------------------------------------------------------

    def partial(self, destination: str) -> Partial | None:
        with self._lock:
            row = self._db.execute(
                "SELECT destination, kind, source, source_version, size, piece_size, upload_id,"
                " temp_path, digest FROM partials WHERE destination = ?",
                (destination,),
            ).fetchone()
        return Partial(*row) if row else None

    def has_partial(self, destination: str) -> bool:
        """Whether a partial transfer to ``destination`` is journaled (no query per object)."""
        with self._lock:
            if self._partial_keys is None:
                rows = self._db.execute("SELECT destination FROM partials").fetchall()
                self._partial_keys = {row[0] for row in rows}
            return destination in self._partial_keys

    def start_partial(self, partial: Partial) -> None:
        with self._lock:
            if self._partial_keys is not None:
                self._partial_keys.add(partial.destination)
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM pieces WHERE destination = ?", (partial.destination,))
            self._db.execute(
                "INSERT OR REPLACE INTO partials VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    partial.destination,
                    partial.kind,
                    partial.source,
                    partial.source_version,
                    partial.size,
                    partial.piece_size,
                    partial.upload_id,
                    partial.temp_path,
                    partial.digest,
                    time.time(),
                ),
            )
            self._db.execute("COMMIT")

    def pieces(self, destination: str) -> dict[int, Piece]:
        with self._lock:
            rows = self._db.execute(
                "SELECT number, etag, size, chunks FROM pieces WHERE destination = ?", (destination,)
            ).fetchall()
        return {n: Piece(n, etag, size, _split_chunks(blob)) for n, etag, size, blob in rows}

    def record_piece(self, destination: str, piece: Piece) -> None:
        self._write(
            "INSERT OR REPLACE INTO pieces VALUES (?, ?, ?, ?, ?)",
            (destination, piece.number, piece.etag, piece.size, b"".join(piece.chunks)),
        )

    def finish_partial(self, destination: str) -> None:
        with self._lock:
            if self._partial_keys is not None:
                self._partial_keys.discard(destination)
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM pieces WHERE destination = ?", (destination,))
            self._db.execute("DELETE FROM partials WHERE destination = ?", (destination,))
            self._db.execute("COMMIT")

    # --- done objects of a job -------------------------------------------------

    def done_objects(self, job: str) -> dict[str, tuple[str, int, str | None]]:
        """source URI -> (source version, size, digest) for objects the job already finished."""
        with self._lock:
            self._flush_locked()
            rows = self._db.execute(
                "SELECT source, source_version, size, digest FROM done_objects WHERE job = ?", (job,)
            ).fetchall()
        return {source: (version, size, digest) for source, version, size, digest in rows}

    def record_done(self, job: str, source: str, source_version: str, size: int, digest: str | None) -> None:
        with self._lock:
            self._pending.append((job, source, source_version, size, digest))
            if len(self._pending) >= _BATCH_OBJECTS or time.monotonic() - self._last_flush > _BATCH_SECONDS:
                self._flush_locked()

    def finish_job(self, job: str) -> None:
        with self._lock:
            self._pending = [p for p in self._pending if p[0] != job]
            self._flush_locked()
            self._db.execute("DELETE FROM done_objects WHERE job = ?", (job,))

    def flush(self) -> None:
        with self._lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        self._last_flush = time.monotonic()
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        self._db.execute("BEGIN")
        self._db.executemany("INSERT OR REPLACE INTO done_objects VALUES (?, ?, ?, ?, ?)", batch)
        self._db.execute("COMMIT")

    # --- inspection (tests, `omnicloud` diagnostics) ----------------------------

    def counts(self) -> dict[str, int]:
        with self._lock:
            self._flush_locked()
            return {
                table: self._db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                for table in ("partials", "pieces", "done_objects")
            }
