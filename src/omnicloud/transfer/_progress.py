"""Progress reporting: Rich bars on a terminal, JSON lines for scripts, silence otherwise."""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import IO, Any, Protocol

from omnicloud._json_text import json_text
from omnicloud.transfer._results import ObjectResult

__all__ = ["JsonLinesProgress", "NullProgress", "Progress", "RichProgress", "choose_progress"]


class Progress(Protocol):
    """Receives events from the engine's worker threads; implementations must be thread-safe."""

    def planned(self, objects: int, nbytes: int) -> None:
        """More work was found (plans are built lazily, so totals grow)."""

    def advance(self, nbytes: int) -> None:
        """Bytes moved."""

    def object_done(self, result: ObjectResult) -> None:
        """An object was copied, deleted or failed."""

    def close(self) -> None:
        """The transfer ended."""


class NullProgress:
    def planned(self, objects: int, nbytes: int) -> None:
        pass

    def advance(self, nbytes: int) -> None:
        pass

    def object_done(self, result: ObjectResult) -> None:
        pass

    def close(self) -> None:
        pass


class _Totals:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.total_objects = 0
        self.total_bytes = 0
        self.done_objects = 0
        self.done_bytes = 0
        self.started = time.monotonic()


def object_record(result: ObjectResult) -> dict[str, Any]:
    """The JSON line of one object: copied, deleted, failed, (in a dry run) planned,
    or (in a verify) different or missing, with the reason."""
    record: dict[str, Any] = {
        "type": "object",
        "action": result.action,
        "outcome": result.outcome,
        "source": result.source,
        "destination": result.destination,
        "size": result.size,
    }
    if result.digest:
        record["digest"] = result.digest
    if result.reason and (result.outcome == "planned" or result.action == "verify"):
        record["reason"] = result.reason
    if result.resumed_parts:
        record["resumed_parts"] = result.resumed_parts
    if result.restarted:
        record["restarted"] = result.restarted
    if result.error:
        record["error"] = result.error
    return record


class JsonLinesProgress:
    """One JSON object per line: ``progress`` records at most every ``interval`` seconds,
    one ``object`` record per copied, deleted or failed object (and per object
    ``verify`` found different or missing), unless ``objects`` is false (a
    single-object ``cp``, whose result is its last line)."""

    def __init__(self, stream: IO[str] | None = None, *, interval: float = 0.5, objects: bool = True) -> None:
        self._stream = stream or sys.stdout
        self._interval = interval
        self._objects = objects
        self._totals = _Totals()
        self._last = float("-inf")  # the first advance always reports

    def _emit(self, record: dict[str, Any]) -> None:
        self._stream.write(json_text(record) + "\n")
        self._stream.flush()

    def _progress_record(self) -> dict[str, Any]:
        t = self._totals
        elapsed = max(time.monotonic() - t.started, 1e-9)
        return {
            "type": "progress",
            "bytes": t.done_bytes,
            "total_bytes": t.total_bytes,
            "objects": t.done_objects,
            "total_objects": t.total_objects,
            "rate": round(t.done_bytes / elapsed),
        }

    def planned(self, objects: int, nbytes: int) -> None:
        with self._totals.lock:
            self._totals.total_objects += objects
            self._totals.total_bytes += nbytes

    def advance(self, nbytes: int) -> None:
        with self._totals.lock:
            self._totals.done_bytes += nbytes
            now = time.monotonic()
            if now - self._last >= self._interval:
                self._last = now
                self._emit(self._progress_record())

    def object_done(self, result: ObjectResult) -> None:
        with self._totals.lock:
            self._totals.done_objects += 1
            if self._objects and result.outcome != "ok":  # a verified match is counted, not printed
                self._emit(object_record(result))

    def close(self) -> None:
        with self._totals.lock:
            self._emit(self._progress_record())


class RichProgress:
    """One bar of bytes with rate and ETA, and the object count beside it, on stderr.

    The bar (and the thread that redraws it) starts at the first event, not
    before: local trees are walked in forked children, and a process forks
    only while it has one thread (see ``omnicloud.storage._forked``).
    """

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(binary_units=True),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
        )
        self._totals = _Totals()
        self._task = self._bar.add_task(self._describe(), total=0)
        self._started = False
        self._closed = False

    def _start(self) -> None:
        with self._totals.lock:
            if not self._started and not self._closed:
                self._started = True
                self._bar.start()

    def _describe(self) -> str:
        return f"{self._totals.done_objects}/{self._totals.total_objects} objects"

    def planned(self, objects: int, nbytes: int) -> None:
        if not self._started:
            self._start()
        with self._totals.lock:
            self._totals.total_objects += objects
            self._totals.total_bytes += nbytes
            self._bar.update(self._task, total=self._totals.total_bytes, description=self._describe())

    def advance(self, nbytes: int) -> None:
        if not self._started:
            self._start()
        self._bar.advance(self._task, nbytes)

    def object_done(self, result: ObjectResult) -> None:
        if not self._started:
            self._start()
        with self._totals.lock:
            self._totals.done_objects += 1
            self._bar.update(self._task, description=self._describe())
        if result.outcome == "failed":
            self._bar.console.print(f"failed {result.destination}: {result.error}", markup=False)

    def close(self) -> None:
        with self._totals.lock:
            self._closed = True
            if self._started:
                self._bar.stop()


def choose_progress(*, json_lines: bool, quiet: bool = False) -> Progress:
    """JSON lines with ``--json``; Rich bars on an interactive terminal outside CI; else nothing."""
    if json_lines:
        return JsonLinesProgress()
    if quiet or os.environ.get("CI") or not sys.stderr.isatty():
        return NullProgress()
    return RichProgress()
