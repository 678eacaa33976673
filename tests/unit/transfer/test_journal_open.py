"""Opening one journal from many tasks at once (Dask workers on one machine share the file)."""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path

from omnicloud.transfer import Journal


def test_openers_of_one_journal_set_it_up_one_at_a_time(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    fd = os.open(f"{path}.lock", os.O_WRONLY | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)  # another opener is setting it up
    opened = threading.Event()

    def open_it() -> None:
        Journal(path).close()
        opened.set()

    thread = threading.Thread(target=open_it)
    thread.start()
    try:
        assert not opened.wait(0.3)  # waits its turn instead of racing for SQLite's write lock
    finally:
        os.close(fd)
    thread.join(timeout=10)
    assert opened.is_set()
