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
