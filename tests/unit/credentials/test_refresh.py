"""Expiring values are fetched again a margin before they expire, once, whoever asks."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from omnicloud.credentials import Expiring, RefreshingValue

START = datetime(2030, 1, 1, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


def short_lived(lifetime: timedelta, clock: Clock) -> tuple[list[int], object]:
    calls: list[int] = []

    def fetch() -> Expiring[str]:
        calls.append(1)
        return Expiring(f"token-{len(calls)}", clock() + lifetime)

    return calls, fetch


def test_value_is_reused_until_the_margin_before_expiry() -> None:
    clock = Clock()
    calls, fetch = short_lived(timedelta(minutes=15), clock)
    value = RefreshingValue(fetch, margin=timedelta(minutes=5), clock=clock)  # type: ignore[arg-type]
    assert value.get() == "token-1"
    clock.now += timedelta(minutes=9, seconds=59)
    assert value.get() == "token-1"
    clock.now += timedelta(seconds=1)  # exactly 5 minutes before expiry
    assert value.get() == "token-2"
    assert len(calls) == 2


def test_margin_is_configurable() -> None:
    clock = Clock()
    _, fetch = short_lived(timedelta(seconds=10), clock)
    value = RefreshingValue(fetch, margin=timedelta(seconds=2), clock=clock)  # type: ignore[arg-type]
    value.get()
    clock.now += timedelta(seconds=7)
    assert value.get() == "token-1"
    clock.now += timedelta(seconds=1)
    assert value.get() == "token-2"


def test_values_without_expiry_are_fetched_once() -> None:
    calls: list[int] = []

    def fetch() -> Expiring[str]:
        calls.append(1)
        return Expiring("static", None)

    value = RefreshingValue(fetch, margin=timedelta(hours=1))
    for _ in range(5):
        assert value.get() == "static"
    assert len(calls) == 1


def test_concurrent_callers_share_one_fetch() -> None:
    calls: list[int] = []

    def slow_fetch() -> Expiring[str]:
        calls.append(1)
        time.sleep(0.05)
        return Expiring("shared", datetime.now(UTC) + timedelta(hours=1))

    value = RefreshingValue(slow_fetch, margin=timedelta(minutes=5))
    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(value.get())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["shared"] * 8
    assert len(calls) == 1
