"""USD amounts as exact decimals, and the one rounding rule.

Rounding rule: every amount keeps its full precision (``Money.amount`` is the
exact product of quantity and unit price, sums are exact); only presentation
rounds, half to even, to whole cents: ``str(money)``, ``Money.rounded()`` and the
``total``/``amount`` fields of JSON output. A total is therefore the rounded sum
of exact line amounts, which can differ by a cent from the sum of rounded lines.

All arithmetic runs in :data:`EXACT`, a decimal context that raises on any
inexact result, so a price can never be silently rounded on its way to a total.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import (
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
    localcontext,
)
from typing import ClassVar, Final

__all__ = ["CURRENCY", "EXACT", "ROUNDING", "ROUNDING_RULE", "Money", "exact", "to_decimal"]

CURRENCY: Final = "USD"
ROUNDING: Final = ROUND_HALF_EVEN
CENT: Final = Decimal("0.01")
ROUNDING_RULE: Final = (
    "amounts keep full precision; only displayed totals and amounts are rounded half to even to whole cents"
)

# 200 significant digits hold any product of a byte count (up to 10^21) and a
# price with a few dozen decimals; Inexact is trapped so that this stays true.
EXACT: Final = Context(
    prec=200,
    rounding=ROUND_HALF_EVEN,
    traps=[InvalidOperation, DivisionByZero, Overflow, Inexact],
)


@contextmanager
def exact() -> Iterator[None]:
    """Run decimal arithmetic exactly: any rounding raises ``decimal.Inexact``."""
    with localcontext(EXACT):
        yield


def to_decimal(value: Decimal | int | str, *, what: str = "value") -> Decimal:
    """Convert an int, a decimal string or a Decimal; floats are refused."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise TypeError(f"{what} must be a Decimal, an int or a decimal string, not {type(value).__name__}")
    try:
        result = Decimal(value.strip()) if isinstance(value, str) else Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{what} {value!r} is not a decimal number") from None
    if not result.is_finite():
        raise ValueError(f"{what} must be finite, got {value!r}")
    return result


@dataclass(frozen=True, slots=True, order=True)
class Money:
    """An exact amount of US dollars.

    >>> str(Money(Decimal("25.020")))
    '$25.02'
    >>> str(Money(Decimal("4.959")))
    '$4.96'

    ``Money`` refuses floats. Arithmetic with ``+``, ``-`` and multiplication by
    a Decimal or int is exact; rounding happens only in :meth:`rounded` and
    ``str()``.
    """

    amount: Decimal
    currency: ClassVar[str] = CURRENCY

    def __post_init__(self) -> None:
        object.__setattr__(self, "amount", to_decimal(self.amount, what="Money amount"))

    @classmethod
    def zero(cls) -> Money:
        return cls(Decimal(0))

    def __add__(self, other: Money) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        with exact():
            return Money(self.amount + other.amount)

    def __radd__(self, other: int) -> Money:
        # Lets sum() start from 0.
        if other == 0 and not isinstance(other, bool):
            return self
        return NotImplemented

    def __sub__(self, other: Money) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        with exact():
            return Money(self.amount - other.amount)

    def __neg__(self) -> Money:
        return Money(-self.amount)

    def __mul__(self, factor: Decimal | int) -> Money:
        if isinstance(factor, bool) or not isinstance(factor, Decimal | int):
            return NotImplemented
        with exact():
            return Money(self.amount * factor)

    __rmul__ = __mul__

    def rounded(self, places: int = 2) -> Decimal:
        """The amount rounded half to even to ``places`` decimals (cents by default)."""
        return self.amount.quantize(Decimal(1).scaleb(-places), rounding=ROUNDING)

    def exact_text(self) -> str:
        """The full-precision amount as plain decimal text, e.g. ``'4.959'``."""
        return _plain(self.amount)

    def unit_price_text(self) -> str:
        """A unit price for display: every significant digit, at least cents (``'$0.0000166667'``)."""
        text = _plain(self.amount)
        whole, _, frac = text.partition(".")
        frac = frac.ljust(2, "0")
        sign = "-" if whole.startswith("-") else ""
        return f"{sign}${whole.lstrip('-')}.{frac}"

    def __str__(self) -> str:
        value = self.rounded()
        sign = "-" if value < 0 else ""
        return f"{sign}${abs(value):,.2f}"

    def __repr__(self) -> str:
        return f"Money('{self.exact_text()}')"


def _plain(value: Decimal) -> str:
    """Decimal text without exponent or trailing zeros beyond the value's own digits."""
    if value == 0:
        return "0"
    text = format(value.normalize(), "f")
    return text
