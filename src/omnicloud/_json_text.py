"""JSON text that is always valid UTF-8, even for names that are not.

A local file name that is not UTF-8 reaches Python as a string with lone
surrogates (``b"\\xff"`` becomes ``"\\udcff"``), which no UTF-8 stream can
carry. JSON can: as a ``\\udcff`` escape. Keys that are valid Unicode stay
readable as they are.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["json_text", "printable"]


def json_text(value: Any, *, indent: int | None = None) -> str:
    """``json.dumps`` of ``value``: non-ASCII text as it is, unless it cannot be UTF-8."""
    text = json.dumps(value, ensure_ascii=False, indent=indent)
    if text.isascii() or _encodes(text):
        return text
    return json.dumps(value, indent=indent)


def printable(text: str) -> str:
    """``text`` for a terminal or a pipe: bytes that are not UTF-8 shown as ``\\xff``."""
    if text.isascii() or _encodes(text):
        return text
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
