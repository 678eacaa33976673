from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from omnicloud.errors import ConfigError, NotFoundError, TransientError
from omnicloud.transfer import TransferOptions
from omnicloud.transfer._limits import (
    AdaptiveLimit,
    BandwidthLimiter,
    MemoryBudget,
    PartBuffers,
    with_retries,
)
from omnicloud.transfer._options import choose_part_size

MiB = 1024 * 1024


def test_bandwidth_limiter_holds_the_average_rate() -> None:
    limiter = BandwidthLimiter(10 * MiB, burst=MiB)
    started = time.monotonic()
    for _ in range(6):
        limiter.consume(MiB)
    # 6 MiB, 1 MiB of burst: 5 MiB at 10 MiB/s.
    assert 0.45 <= time.monotonic() - started < 2.0


def test_memory_budget_blocks_until_bytes_are_released() -> None:
    budget = MemoryBudget(10)
    budget.acquire(8)
    got = threading.Event()

    def second() -> None:
        budget.acquire(5)
        got.set()

    thread = threading.Thread(target=second)
    thread.start()
    assert not got.wait(0.1)
    budget.release(8)
    assert got.wait(2)
    thread.join()
    assert budget.peak == 8


def test_memory_budget_lets_one_oversized_request_through_alone() -> None:
    budget = MemoryBudget(10)
    budget.acquire(50)
    assert budget.used == 50


def test_part_buffers_hand_out_a_given_back_buffer_again_instead_of_new_memory() -> None:
    buffers = PartBuffers()
    first, second = buffers.take(100), buffers.take(100)
    assert first is not second and len(first) == len(second) == 100
    buffers.give(first)
    assert buffers.take(100) is first
    assert buffers.made == 2


def test_part_buffers_keep_idle_buffers_of_the_size_last_made_only() -> None:
    buffers = PartBuffers()
    small = buffers.take(100)
    buffers.give(small)
    large = buffers.take(200)  # a new size: the idle small buffer is dropped
    buffers.give(small)  # and one of the old size given back later is not kept either
    assert buffers.take(100) is not small
    buffers.give(large)
    buffers.clear()
    assert buffers.take(200) is not large
    assert buffers.made == 4


def test_adaptive_limit_climbs_while_throughput_improves_and_turns_back_when_it_drops() -> None:
    limit = AdaptiveLimit(4, maximum=16)
    limit.observe(100.0)
    assert limit.limit == 5
    limit.observe(150.0)
    assert limit.limit == 6
    limit.observe(140.0)  # worse: turn around
    assert limit.limit == 5


def test_adaptive_limit_stays_within_its_bounds_and_halves_on_errors() -> None:
    limit = AdaptiveLimit(15, minimum=2, maximum=16)
    for rate in (1.0, 2.0, 3.0, 4.0):
        limit.observe(rate)
    assert limit.limit == 16
    limit.record_error()
    assert limit.limit == 8


def test_adaptive_limit_admits_each_waiting_worker_as_slots_free_up() -> None:
    limit = AdaptiveLimit(1, maximum=1, window=60.0)
    limit.acquire()
    admitted: list[int] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        limit.acquire()
        with lock:
            admitted.append(n)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    time.sleep(0.1)
    assert admitted == []
    for expected in (1, 2, 3):
        limit.release()
        deadline = time.monotonic() + 2
        while len(admitted) < expected and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.05)  # a second worker slipping through would show here
        assert len(admitted) == expected
    for thread in threads:
        thread.join(2)


@pytest.mark.parametrize("attempts", [1, 3])
def test_retries_give_up_after_the_given_attempts_naming_the_object(attempts: int) -> None:
    calls = []

    def busy() -> None:
        calls.append(1)
        raise TransientError("busy")

    with pytest.raises(TransientError, match=rf"obj: gave up after {attempts} attempts: busy"):
        with_retries(busy, attempts=attempts, wait=0.001, what="obj")
    assert len(calls) == attempts


def test_retries_stop_at_the_first_success() -> None:
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise TransientError("busy")
        return "ok"

    assert with_retries(flaky, attempts=5, wait=0.001, what="x") == "ok"
    assert len(calls) == 3


def test_errors_that_are_not_transient_are_not_retried() -> None:
    calls = []

    def missing() -> None:
        calls.append(1)
        raise NotFoundError("gone")

    with pytest.raises(NotFoundError):
        with_retries(missing, attempts=5, wait=0.001, what="x")
    assert len(calls) == 1


def test_part_size_grows_to_fit_the_provider_part_count_and_stays_chunk_aligned() -> None:
    size = 100_000 * MiB
    part = choose_part_size(size, 16 * MiB, min_part=5 * MiB, max_part=5 * 1024 * MiB, max_parts=10_000)
    assert part % (8 * MiB) == 0
    assert -(-size // part) <= 10_000
    assert (
        choose_part_size(MiB, 8 * MiB, min_part=5 * MiB, max_part=5 * 1024 * MiB, max_parts=10_000) == 8 * MiB
    )


def test_an_object_beyond_the_provider_limits_is_refused() -> None:
    with pytest.raises(ConfigError, match="maximum"):
        choose_part_size(10**15, 8 * MiB, min_part=5 * MiB, max_part=64 * MiB, max_parts=100)


def test_options_reject_parts_smaller_than_the_digest_chunk() -> None:
    with pytest.raises(ConfigError, match="part_size"):
        TransferOptions(part_size=MiB)


@pytest.mark.parametrize(
    ("setting", "says"),
    [
        ({"concurrency": 0}, "concurrency (--concurrency) must be at least 1"),
        ({"part_concurrency": 0}, "part_concurrency (--part-concurrency) must be at least 1"),
        ({"retries": 0}, "retries (--retries) must be at least 1"),
        ({"part_size": MiB}, "part_size (--part-size) must be at least 8 MiB (the digest chunk)"),
        ({"bwlimit": 0.0}, "bwlimit (--bwlimit) must be positive"),
    ],
)
def test_a_setting_out_of_range_is_refused_naming_the_command_line_flag_too(
    setting: dict[str, Any], says: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        TransferOptions(**setting)
    assert caught.value.message == says


def test_options_reject_a_memory_budget_below_one_part_saying_what_to_change() -> None:
    with pytest.raises(ConfigError) as caught:
        TransferOptions(part_size=128 * MiB, max_memory=64 * MiB)
    assert caught.value.message == "max_memory (64 MiB) must hold at least one part (part_size 128 MiB)"
    assert caught.value.hint is not None and "--max-memory" in caught.value.hint


@pytest.mark.parametrize("adaptive", [True, False])
def test_adaptive_false_pins_the_object_concurrency(adaptive: bool) -> None:
    from omnicloud.transfer._context import TransferContext

    with TransferContext(TransferOptions(concurrency=8, adaptive=adaptive, journal=False)) as ctx:
        limit = ctx.objects_limit
        for rate in (100.0, 50.0, 25.0, 10.0):  # falling throughput pushes an adaptive limit around
            limit.observe(rate)
        limit.record_error()
        assert (limit.limit == 8) is (not adaptive)
