"""Files are written in calls of at most WRITE_SLICE bytes (larger calls were ~10x slower on this VM)."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest

from omnicloud.storage._common import WRITE_SLICE, pwrite_all, write_all
from omnicloud.storage.local import LocalStore


def test_pwrite_all_writes_everything_at_the_offset_in_slices(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = os.urandom(3 * WRITE_SLICE + 123)
    sizes: list[int] = []
    real = os.pwrite

    def recording(fd: int, buf: Any, offset: int) -> int:
        sizes.append(len(buf))
        return real(fd, buf, offset)

    monkeypatch.setattr(os, "pwrite", recording)
    path = tmp_path / "f"
    fd = os.open(path, os.O_RDWR | os.O_CREAT)
    try:
        pwrite_all(fd, memoryview(bytearray(data)), 10)
    finally:
        os.close(fd)
    assert path.read_bytes() == b"\0" * 10 + data
    assert max(sizes) == WRITE_SLICE and sum(sizes) == len(data)


def test_write_all_slices_what_it_hands_the_file() -> None:
    data = os.urandom(2 * WRITE_SLICE + 5)
    sizes: list[int] = []

    class Recording(io.BytesIO):
        def write(self, buf: Any) -> int:
            sizes.append(len(buf))
            return super().write(buf)

    sink = Recording()
    assert write_all(sink, data) == len(data)
    assert sink.getvalue() == data
    assert sizes == [WRITE_SLICE, WRITE_SLICE, 5]


def test_a_local_put_of_many_mebibytes_lands_whole(tmp_path: Path) -> None:
    data = os.urandom(5 * WRITE_SLICE + 7)
    store = LocalStore(tmp_path)
    assert store.put("dir/big.bin", data).size == len(data)
    assert (tmp_path / "dir" / "big.bin").read_bytes() == data
