"""Values that expire, fetched again a margin before they do."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Generic, TypeVar

__all__ = ["Expiring", "RefreshingValue", "utcnow"]

T = TypeVar("T")


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Expiring(Generic[T]):
    """A value and when it stops being valid (``None``: never)."""

    value: T
    expires_at: datetime | None


class RefreshingValue(Generic[T]):
    """Holds what ``fetch`` returned and calls it again ``margin`` before expiry.

    Thread-safe: concurrent callers share one fetch. The caller owns the
    object, so nothing is cached behind anyone's back; ``clock`` is
    injectable so tests need not sleep.
    """

    def __init__(
        self,
        fetch: Callable[[], Expiring[T]],
        *,
        margin: timedelta,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._fetch = fetch
        self._margin = margin
        self._clock = clock
        self._lock = threading.Lock()
        self._current: Expiring[T] | None = None
        self.fetch_count = 0

    def current(self) -> Expiring[T]:
        """The value with its expiry, fetched anew when within the margin of expiring."""
        with self._lock:
            if self._current is None or self._needs_refresh(self._current):
                self._current = self._fetch()
                self.fetch_count += 1
            return self._current

    def get(self) -> T:
        return self.current().value

    def _needs_refresh(self, held: Expiring[T]) -> bool:
        if held.expires_at is None:
            return False
        return self._clock() >= held.expires_at - self._margin
