"""Data sizes: ``278GB``, ``1.5TiB``, ``500MiB`` or plain bytes.

Decimal prefixes are powers of ten (1 GB = 10^9 bytes, 1 TB = 10^12 bytes),
binary prefixes are powers of two (1 GiB = 2^30 bytes, 1 TiB = 2^40 bytes), as
in IEC 80000-13. Providers bill in their own unit, recorded per price row in the
catalog: AWS, Azure and OCI publish prices per GB, Google bills per GiB (its
pricing pages say "GB" and define it as 2^30 bytes).
"""

from __future__ import annotations

import re
from decimal import ROUND_CEILING, Decimal
from typing import Final

from omnicloud.costs._money import exact
from omnicloud.errors import ConfigError

__all__ = ["BILLING_UNITS", "BYTES_PER_UNIT", "bytes_in_unit", "format_size", "parse_size"]

BYTES_PER_UNIT: Final[dict[str, int]] = {
    "B": 1,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
    "PB": 10**15,
    "KiB": 2**10,
    "MiB": 2**20,
    "GiB": 2**30,
    "TiB": 2**40,
    "PiB": 2**50,
}
# The units a price row may be expressed in.
BILLING_UNITS: Final = ("GB", "GiB")

_BY_LOWER: Final = {name.lower(): size for name, size in BYTES_PER_UNIT.items()}
_SIZE = re.compile(r"^\s*(?P<number>\d+(?:\.\d*)?|\.\d+)\s*(?P<unit>[A-Za-z]+)?\s*$")


def parse_size(text: str | int) -> int:
    """Parse a size into bytes: ``'278GB'`` -> 278_000_000_000, ``'1.5TiB'``, ``'500 MiB'``, ``'1024'``.

    Units are case-insensitive (``gb`` = ``GB``; a trailing ``b`` always means
    bytes, never bits). A fractional size rounds up to a whole byte. Raises
    :class:`~omnicloud.errors.ConfigError` for anything else.
    """
    if isinstance(text, bool):
        raise ConfigError(f"size must be a number of bytes or text like 278GB, got {text!r}")
    if isinstance(text, int):
        if text < 0:
            raise ConfigError(f"size must not be negative, got {text}")
        return text
    match = _SIZE.match(text)
    if match is None:
        raise ConfigError(
            f"cannot read size {text!r}",
            hint="write bytes (1048576) or a number with a unit: B, KB, MB, GB, TB, PB (powers of 10) "
            "or KiB, MiB, GiB, TiB, PiB (powers of 2), e.g. 278GB or 1.5TiB",
        )
    unit = match.group("unit")
    number = Decimal(match.group("number"))
    if unit is None:
        if number != number.to_integral_value():
            raise ConfigError(f"size {text!r} without a unit must be a whole number of bytes")
        return int(number)
    factor = _BY_LOWER.get(unit.lower())
    if factor is None:
        raise ConfigError(
            f"unknown size unit {unit!r} in {text!r}",
            hint="use B, KB, MB, GB, TB, PB (powers of 10) or KiB, MiB, GiB, TiB, PiB (powers of 2)",
        )
    with exact():
        total = number * factor
    return int(total.to_integral_value(rounding=ROUND_CEILING))


def bytes_in_unit(size_bytes: int, unit: str) -> Decimal:
    """``size_bytes`` expressed exactly in ``unit`` (``'GB'``, ``'GiB'``, ...)."""
    with exact():
        return Decimal(size_bytes) / BYTES_PER_UNIT[unit]


def format_size(size_bytes: int) -> str:
    """A short human size in decimal units with the binary one beside it: ``'278 GB (258.91 GiB)'``."""
    if size_bytes < 1000:
        return f"{size_bytes} B"
    decimal_unit = next(u for u in ("PB", "TB", "GB", "MB", "KB") if size_bytes >= BYTES_PER_UNIT[u])
    binary_unit = next(
        (u for u in ("PiB", "TiB", "GiB", "MiB", "KiB") if size_bytes >= BYTES_PER_UNIT[u]), "KiB"
    )
    return f"{_short(size_bytes, decimal_unit)} ({_short(size_bytes, binary_unit)})"


def _short(size_bytes: int, unit: str) -> str:
    value = bytes_in_unit(size_bytes, unit)
    shown = value.quantize(Decimal("0.01")) if value != value.to_integral_value() else value
    text = format(shown.normalize(), "f") if shown == shown.to_integral_value() else format(shown, "f")
    return f"{text} {unit}"
