"""Fixtures for the cost catalog tests: one packaged catalog, and override files written per test."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from omnicloud.costs import Catalog, load_catalog


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture
def write_overrides(tmp_path: Path) -> Callable[[str], Path]:
    """Write a price overrides TOML and return its path."""
    counter = iter(range(1_000))

    def write(text: str) -> Path:
        path = tmp_path / f"prices-{next(counter)}.toml"
        path.write_text(text, encoding="utf-8")
        return path

    return write
