"""Money is exact Decimal USD, refuses floats, and rounds half to even to cents only for display."""

from __future__ import annotations

from decimal import Decimal

import pytest

from omnicloud.costs import Money


def test_str_rounds_to_cents_with_a_dollar_sign() -> None:
    assert str(Money(Decimal("25.020"))) == "$25.02"
    assert str(Money(Decimal("4.959"))) == "$4.96"


def test_rounding_is_half_to_even() -> None:
    assert Money(Decimal("0.125")).rounded() == Decimal("0.12")
    assert Money(Decimal("0.135")).rounded() == Decimal("0.14")
    assert str(Money(Decimal("2.005"))) == "$2.00"


def test_large_amounts_have_thousands_separators_and_negatives_a_leading_minus() -> None:
    assert str(Money(Decimal("13882.2"))) == "$13,882.20"
    assert str(Money(Decimal("-4.1586"))) == "-$4.16"


def test_floats_are_refused() -> None:
    with pytest.raises(TypeError):
        Money(0.1)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Money(Decimal(1)) * 0.5  # type: ignore[operator]


def test_arithmetic_keeps_full_precision() -> None:
    total = sum((Money(Decimal("0.0000166667")) for _ in range(3)), Money.zero())
    assert total.amount == Decimal("0.0000500001")
    assert (Money(Decimal("0.087")) * 57).amount == Decimal("4.959")
    assert (Money(Decimal("1.10")) - Money(Decimal("0.1"))).amount == Decimal("1.00")


def test_exact_text_and_unit_price_text_show_every_digit() -> None:
    price = Money(Decimal("0.0000166667"))
    assert price.exact_text() == "0.0000166667"
    assert price.unit_price_text() == "$0.0000166667"
    assert Money(Decimal("0.09")).unit_price_text() == "$0.09"
    assert Money(Decimal(5)).unit_price_text() == "$5.00"


def test_money_orders_by_amount() -> None:
    assert Money(Decimal("1.5")) < Money(Decimal(2))
    assert max(Money(Decimal(1)), Money(Decimal(3))) == Money(Decimal(3))
