"""Fixtures of the transfer tests: an isolated memory world and small-part options."""

from __future__ import annotations

from pathlib import Path

import pytest

from omnicloud.transfer import TransferOptions

from .faulty_store import MiB, World


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def options(tmp_path: Path) -> TransferOptions:
    """Small parts so multipart and ranged paths run on objects of a few tens of MiB."""
    return TransferOptions(
        journal=tmp_path / "journal.sqlite",
        part_size=8 * MiB,
        multipart_threshold=16 * MiB,
        max_memory=64 * MiB,
        part_concurrency=4,
        concurrency=4,
        retry_wait=0.001,
    )


@pytest.fixture(autouse=True)
def listings_fork_as_in_the_cli(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Local trees are walked (and, for comparisons, hashed) in forked children, as the CLI walks them.

    A process forks only while it has one thread, and earlier tests leave idle ones behind
    (Dask's offload thread lives as long as the process; test servers' handler threads wait on
    their clients' kept-alive connections), which would send every listing here down the
    in-process path that the CLI does not take. Those threads hold no lock a child needs.
    """
    import sys

    from omnicloud.storage import _forked

    if sys.platform == "linux":
        monkeypatch.setattr(_forked, "can_fork", lambda: True)
