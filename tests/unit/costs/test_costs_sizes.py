"""Sizes: GB = 10^9 bytes, GiB = 2^30 bytes, plain numbers are bytes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omnicloud.costs import BYTES_PER_UNIT, format_size, parse_size
from omnicloud.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("278GB", 278 * 10**9),
        ("278 GB", 278 * 10**9),
        ("278gb", 278 * 10**9),
        ("1.5TiB", 3 * 2**39),
        ("500MiB", 500 * 2**20),
        ("10TB", 10**13),
        ("1KiB", 1024),
        ("1048576", 1048576),
        ("0", 0),
        ("0.5KB", 500),
        (".5GB", 500_000_000),
    ],
)
def test_sizes_parse_to_bytes(text: str, expected: int) -> None:
    assert parse_size(text) == expected


def test_a_fraction_of_a_byte_rounds_up() -> None:
    assert parse_size("1.1GiB") == 1181116007  # 1181116006.4 bytes


def test_ints_pass_through() -> None:
    assert parse_size(12345) == 12345


@pytest.mark.parametrize("text", ["", "GB", "12 parsecs", "1.5", "-1GB", "1e3GB", "1,000GB", "12G"])
def test_unreadable_sizes_raise_config_error(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_size(text)


def test_negative_int_is_refused() -> None:
    with pytest.raises(ConfigError):
        parse_size(-1)


def test_format_size_shows_decimal_and_binary_units() -> None:
    assert format_size(278 * 10**9) == "278 GB (258.91 GiB)"
    assert format_size(999) == "999 B"


@given(st.integers(min_value=0, max_value=10**6), st.sampled_from(sorted(BYTES_PER_UNIT)))
def test_whole_numbers_with_any_unit_multiply_exactly(count: int, unit: str) -> None:
    assert parse_size(f"{count}{unit}") == count * BYTES_PER_UNIT[unit]
