"""A value that never shows itself: ``repr``, ``str``, ``format``, logging and pickling give ``***``."""

from __future__ import annotations

import hmac
from typing import Any, Final, NoReturn, final

from omnicloud.errors import ConfigError

__all__ = ["REDACTED", "Secret"]

REDACTED: Final = "***"


@final
class Secret:
    """Wraps a secret string; only :meth:`reveal` returns it.

    Every way Python turns an object into text (``repr``, ``str``, f-strings,
    ``%`` formatting, logging, tracebacks' locals, ``json`` via ``str``) shows
    ``***``. Pickling does not carry the value either: a secret that crosses a
    process boundary arrives redacted and refuses :meth:`reveal`, so workers
    must resolve credentials themselves rather than receive them in the clear.
    """

    __slots__ = ("_redacted", "_value")

    _value: str
    _redacted: bool

    def __init__(self, value: str) -> None:
        if isinstance(value, Secret):
            value = value.reveal()
        if not isinstance(value, str):
            raise ConfigError(f"a secret must be a string, not {type(value).__name__}")
        object.__setattr__(self, "_value", value)
        object.__setattr__(self, "_redacted", False)

    def reveal(self) -> str:
        """The secret itself, for handing to an SDK; never log or print it."""
        if self._redacted:
            raise ConfigError(
                "this secret was redacted when it was pickled",
                hint="resolve credentials in the process that uses them",
            )
        return self._value

    def __repr__(self) -> str:
        return f"Secret('{REDACTED}')"

    def __str__(self) -> str:
        return REDACTED

    def __format__(self, format_spec: str) -> str:
        return format(REDACTED, format_spec)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        # Constant-time, so comparing secrets does not leak their prefixes through timing.
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __setattr__(self, name: str, value: Any) -> NoReturn:
        raise AttributeError("Secret is immutable")

    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Secret:
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (_redacted_secret, ())


def _redacted_secret() -> Secret:
    secret = Secret(REDACTED)
    object.__setattr__(secret, "_redacted", True)
    return secret
