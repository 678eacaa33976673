"""Flow control: retries, a bandwidth limit, a memory budget and adaptive concurrency."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from omnicloud.errors import TransientError

if TYPE_CHECKING:
    from tenacity import RetryCallState

__all__ = ["AdaptiveLimit", "BandwidthLimiter", "MemoryBudget", "PartBuffers", "with_retries"]

T = TypeVar("T")


def with_retries(call: Callable[[], T], *, attempts: int, wait: float, what: str) -> T:
    """Run ``call``, retrying :class:`TransientError` with jittered exponential backoff.

    After the last attempt the error is raised again, naming ``what`` (the
    object) and how many attempts were made.
    """
    # The first attempt runs without tenacity: setting it up costs ~50 us, twice per small object.
    try:
        return call()
    except TransientError as err:
        if attempts <= 1:
            raise _gave_up(err, what, 1) from err
    # The wait tenacity would have made after the first attempt; later waits double from there.
    time.sleep(min(wait + random.uniform(0, wait), max(wait, 20.0)))
    # Imported on the first retry: tenacity loads tornado when installed (~50 ms per start-up).
    from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

    def give_up(state: RetryCallState) -> T:
        outcome = state.outcome
        assert outcome is not None
        err = outcome.exception()
        assert isinstance(err, TransientError)
        raise _gave_up(err, what, state.attempt_number + 1) from err

    retrying = Retrying(
        retry=retry_if_exception_type(TransientError),
        stop=stop_after_attempt(attempts - 1),
        wait=wait_exponential_jitter(initial=2 * wait, max=max(wait, 20.0), jitter=wait),
        retry_error_callback=give_up,
        reraise=False,
    )
    return retrying(call)


def _gave_up(err: TransientError, what: str, attempts: int) -> TransientError:
    return TransientError(
        f"{what}: gave up after {attempts} attempts: {err.message}",
        op=err.op,
        uri=err.uri,
        provider=err.provider,
        hint=err.hint,
    )


class BandwidthLimiter:
    """A token bucket shared by every worker: ``consume(n)`` blocks until ``n`` bytes may pass."""

    def __init__(self, rate: float, *, burst: float | None = None) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else max(rate / 4, 64 * 1024)
        self._tokens = self.burst
        self._stamp = time.monotonic()
        self._lock = threading.Lock()

    def consume(self, amount: int) -> None:
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            # Go into debt and sleep it off: large parts pass at the average rate.
            self._tokens -= amount
            delay = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if delay > 0:
            time.sleep(delay)


class MemoryBudget:
    """Bytes of part buffers allowed at once; ``acquire`` blocks while the budget is spent.

    A request larger than the whole budget is let through alone, so one huge
    part cannot deadlock the transfer.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self.peak = 0
        self._cond = threading.Condition()

    def acquire(self, amount: int) -> None:
        with self._cond:
            while self.used and self.used + amount > self.limit:
                self._cond.wait()
            self.used += amount
            self.peak = max(self.peak, self.used)

    def release(self, amount: int) -> None:
        with self._cond:
            self.used -= amount
            self._cond.notify_all()


class PartBuffers:
    """Part buffers kept for reuse: a buffer given back is the next one taken of its size.

    New memory costs a page fault per page on first touch (and glibc hands
    part-sized blocks back to the system on free, see ``TransferContext``),
    so reading every part of an upload into fresh buffers cost ~0.25 s of
    kernel time per GiB here. The caller counts the buffers it holds
    against the memory budget. Idle buffers are kept, until ``clear``, only
    of the size last made: a new size drops them, so the buffers of a size,
    held and idle, never outnumber what the budget let the transfer hold
    at once.
    """

    def __init__(self) -> None:
        self.made = 0
        self._idle: list[bytearray] = []
        self._size = 0
        self._lock = threading.Lock()

    def take(self, size: int) -> bytearray:
        with self._lock:
            if size == self._size and self._idle:
                return self._idle.pop()
            if size != self._size:
                self._idle.clear()
                self._size = size
            self.made += 1
        return bytearray(size)

    def give(self, buffer: bytearray) -> None:
        with self._lock:
            if len(buffer) == self._size:
                self._idle.append(buffer)

    def clear(self) -> None:
        with self._lock:
            self._idle.clear()


class AdaptiveLimit:
    """A concurrency limit that climbs while throughput climbs and backs off when it stops.

    Every ``window`` seconds it compares the bytes moved with the previous
    window: a gain of more than 5% after raising the limit keeps the new
    limit and raises again; otherwise the limit goes back down by one. The
    limit stays within ``[minimum, maximum]``. Errors halve it.
    """

    def __init__(self, start: int, *, minimum: int = 1, maximum: int, window: float = 1.0) -> None:
        self.minimum = minimum
        self.maximum = max(maximum, minimum)
        self.limit = min(max(start, minimum), self.maximum)
        self.window = window
        self._active = 0
        self._cond = threading.Condition(threading.RLock())
        self._bytes = 0
        self._window_start = time.monotonic()
        self._last_rate: float | None = None
        self._direction = 1

    def acquire(self) -> None:
        with self._cond:
            while self._active >= self.limit:
                self._cond.wait(timeout=self.window)
                self._maybe_adjust_locked()
            self._active += 1

    def release(self, moved: int = 0) -> None:
        with self._cond:
            self._active -= 1
            self._bytes += moved
            self._maybe_adjust_locked()
            # One slot freed admits one waiter; waking them all costs a thread switch each per object.
            self._cond.notify()

    def record_error(self) -> None:
        with self._cond:
            self.limit = max(self.minimum, self.limit // 2)

    def _maybe_adjust_locked(self) -> None:
        now = time.monotonic()
        elapsed = now - self._window_start
        if elapsed < self.window:
            return
        rate = self._bytes / elapsed
        self.observe(rate)
        self._bytes = 0
        self._window_start = now

    def observe(self, rate: float) -> None:
        """Adjust the limit after a window that moved ``rate`` bytes per second."""
        with self._cond:
            previous, self._last_rate = self._last_rate, rate
            if previous is not None and rate <= previous * 1.05:
                self._direction = -self._direction
            self.limit = min(self.maximum, max(self.minimum, self.limit + self._direction))
            self._cond.notify_all()
