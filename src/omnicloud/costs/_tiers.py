"""Volume-tier arithmetic: which part of a month's volume falls in which tier.

A schedule prices the cumulative volume of a calendar month. The free
allowance covers the first ``free`` units of the month (once, however many
transfers share it); tier ``i`` prices the volume between the previous tier's
bound and its own ``upto``. An estimate for ``quantity`` units when ``start``
units were already used this month prices the interval
``[start, start + quantity)``, so consecutive estimates add up exactly to one
estimate of their sum.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from itertools import pairwise

from omnicloud.costs._catalog import PriceSource, TieredPrice
from omnicloud.costs._money import exact

__all__ = ["TierSegment", "split_into_tiers", "tier_label"]


@dataclass(frozen=True, slots=True)
class TierSegment:
    """A slice ``[start, end)`` of the month's volume and the price of each unit in it."""

    start: Decimal
    end: Decimal
    price: Decimal
    tier: int  # index into schedule.tiers; -1 for the free allowance
    source: PriceSource | None

    @property
    def quantity(self) -> Decimal:
        with exact():
            return self.end - self.start

    @property
    def is_free(self) -> bool:
        return self.tier == -1


def split_into_tiers(
    schedule: TieredPrice, start: Decimal, quantity: Decimal, *, free_tier: bool = True
) -> list[TierSegment]:
    """The segments covering ``[start, start + quantity)``; one empty segment when quantity is 0."""
    if start < 0 or quantity < 0:
        raise ValueError("volumes must not be negative")
    free = schedule.free if free_tier else Decimal(0)
    with exact():
        end = start + quantity
    bounds = {free, *(t.upto for t in schedule.tiers if t.upto is not None)}
    cuts = [start, *sorted(b for b in bounds if start < b < end), end]
    if quantity == 0:
        return [_segment_at(schedule, start, start, free)]
    return [_segment_at(schedule, low, high, free) for low, high in pairwise(cuts)]


def _segment_at(schedule: TieredPrice, low: Decimal, high: Decimal, free: Decimal) -> TierSegment:
    if low < free:
        return TierSegment(low, high, Decimal(0), -1, schedule.free_source)
    for index, tier in enumerate(schedule.tiers):
        if tier.upto is None or low < tier.upto:
            return TierSegment(low, high, tier.price, index, tier.source)
    raise AssertionError("the last tier of a schedule has no upper bound")  # pragma: no cover


def tier_label(schedule: TieredPrice, segment: TierSegment, *, per: str = "/month") -> str:
    """``'free allowance (first 100 GB/month)'``, ``'tier 2 (10,240-51,200 GB/month)'``, ..."""
    unit = schedule.unit
    if segment.is_free:
        return f"free allowance (first {_number(schedule.free)} {unit}{per})"
    index = segment.tier
    tier = schedule.tiers[index]
    lower = schedule.tiers[index - 1].upto if index > 0 else None
    if len(schedule.tiers) == 1:
        return "all volume"
    if lower is None and tier.upto is not None:
        span = f"up to {_number(tier.upto)}"
    elif tier.upto is None:
        span = f"over {_number(lower or Decimal(0))}"
    else:
        span = f"{_number(lower or Decimal(0))}-{_number(tier.upto)}"
    return f"tier {index + 1} ({span} {unit}{per})"


def _number(value: Decimal) -> str:
    if value == value.to_integral_value():
        return f"{int(value):,}"
    return format(value.normalize(), "f")
