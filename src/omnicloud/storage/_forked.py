"""Produce plain records in a forked child process, for work bound by system calls.

A listing of a local tree is one ``stat`` and one ``listxattr`` per file;
planning a sync of two local trees does that for both sides. Python threads
cannot share that work (the GIL changes hands at every system call, which
measured slower than one thread), so each side is walked by a forked child
while this process merges the two. A child sends records of plain values
(``marshal``: str, int, float, dict, None) in batches through a pipe; the
parent turns them back into objects.

Forking is only done where it is safe and cheap: on Linux, from a process
with one thread (a fork copies only the calling thread, and locks other
threads hold would stay held in the child). Elsewhere the records are made
in this process, the same way. The child ignores Ctrl-C (the parent stops
it), never runs the parent's cleanup (``os._exit``), and has the cyclic
garbage collector off, so no finalizer of the parent's objects runs twice.
"""

from __future__ import annotations

import contextlib
import gc
import marshal
import os
import pickle
import signal
import struct
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from omnicloud.errors import OmniCloudError

__all__ = ["can_fork", "forked_batches"]

_HEADER = struct.Struct("<cQ")  # kind, length
_RECORDS, _ERROR, _DONE = b"R", b"E", b"D"
_PIPE_SIZE = 1 << 20  # lets the child run this far ahead of the reader
_F_SETPIPE_SZ = 1031  # Linux fcntl


def can_fork() -> bool:
    return sys.platform == "linux" and threading.active_count() == 1


def forked_batches(produce: Callable[[], Iterable[Any]], *, batch: int = 2048) -> Iterator[list[Any]]:
    """The records of ``produce()`` in lists of up to ``batch``, made in a forked child when possible.

    The fork happens at the first ``next()``; closing the iterator early
    stops the child. An exception in the child is raised here (pickled
    across; an unpicklable one becomes :class:`OmniCloudError`).
    """
    if not can_fork():
        yield from _batched(produce(), batch)
        return
    read_fd, write_fd = os.pipe()
    with contextlib.suppress(OSError):
        import fcntl

        fcntl.fcntl(write_fd, _F_SETPIPE_SZ, _PIPE_SIZE)
    try:
        pid = os.fork()
    except OSError:  # out of processes or memory: the same records, made here
        os.close(read_fd)
        os.close(write_fd)
        yield from _batched(produce(), batch)
        return
    if pid == 0:  # pragma: no cover - runs in the child, which never returns
        _child(produce, batch, read_fd, write_fd)
    os.close(write_fd)
    finished = False
    try:
        with open(read_fd, "rb", buffering=_PIPE_SIZE) as pipe:
            while True:
                header = pipe.read(_HEADER.size)
                if len(header) < _HEADER.size:
                    raise OmniCloudError("the listing process ended without finishing", op="list")
                kind, length = _HEADER.unpack(header)
                payload = pipe.read(length)
                if kind == _DONE:
                    finished = True
                    return
                if kind == _ERROR:
                    finished = True
                    raise pickle.loads(payload)
                yield marshal.loads(payload)
    finally:
        if not finished:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def _batched(records: Iterable[Any], batch: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for record in records:
        chunk.append(record)
        if len(chunk) >= batch:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _child(
    produce: Callable[[], Iterable[Any]], batch: int, read_fd: int, write_fd: int
) -> None:  # pragma: no cover - measured through the parent's tests
    code = 1
    try:
        gc.disable()
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        os.close(read_fd)
        try:
            for chunk in _batched(produce(), batch):
                _send(write_fd, _RECORDS, marshal.dumps(chunk))
        except Exception as err:
            try:
                payload = pickle.dumps(err)
                pickle.loads(payload)  # one that cannot be rebuilt here is replaced below
            except Exception:
                payload = pickle.dumps(OmniCloudError(f"listing failed: {type(err).__name__}", op="list"))
            _send(write_fd, _ERROR, payload)
        else:
            _send(write_fd, _DONE, b"")
            code = 0
    finally:
        os._exit(code)


def _send(fd: int, kind: bytes, payload: bytes) -> None:
    data = memoryview(_HEADER.pack(kind, len(payload)) + payload)
    while data:
        data = data[os.write(fd, data) :]
