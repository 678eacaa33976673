from __future__ import annotations

import io
import os
import random
from pathlib import Path

import pytest
from blake3 import blake3

from omnicloud.errors import ConfigError
from omnicloud.transfer._digest import (
    CHUNK_SIZE,
    DIGEST_ALGORITHM,
    ChunkedDigest,
    digest_bytes,
    digest_file,
    digest_stream,
    hash_chunks,
    parse_digest,
    small_file_hasher,
)

from .faulty_store import payload

SIZE = 2 * CHUNK_SIZE + 12345


def test_digest_is_blake3_over_the_blake3_of_each_8_mib_chunk() -> None:
    data = payload(SIZE)
    chunks = [blake3(data[i : i + CHUNK_SIZE]).digest() for i in range(0, SIZE, CHUNK_SIZE)]
    expected = blake3(b"".join(chunks)).hexdigest()
    assert DIGEST_ALGORITHM == "blake3-c8m"
    assert digest_bytes(data) == f"blake3-c8m:{expected}"


def test_empty_object_has_the_digest_of_no_chunks() -> None:
    # BLAKE3 of the empty input, from the specification's test vectors.
    empty = "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
    assert digest_bytes(b"") == f"blake3-c8m:{empty}"


def test_streamed_in_odd_pieces_gives_the_same_digest_as_whole_bytes() -> None:
    data = payload(SIZE)
    builder = ChunkedDigest()
    rng = random.Random(4)
    position = 0
    while position < SIZE:
        step = rng.randint(1, 3 * 1024 * 1024)
        builder.update(data[position : position + step])
        position += step
    assert builder.value(SIZE) == digest_bytes(data)


def test_ranges_hashed_out_of_order_give_the_same_digest() -> None:
    data = payload(SIZE)
    builder = ChunkedDigest()
    for start in reversed(range(0, SIZE, CHUNK_SIZE)):
        builder.set_chunks_from(start, hash_chunks(data[start : start + CHUNK_SIZE]))
    assert builder.value(SIZE) == digest_bytes(data)


def test_file_hashed_on_several_threads_matches_the_stream(tmp_path: Path) -> None:
    data = payload(SIZE, seed=3)
    path = tmp_path / "f"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    try:
        assert digest_file(fd, SIZE, workers=3) == digest_stream(io.BytesIO(data))[0] == digest_bytes(data)
    finally:
        os.close(fd)


@pytest.mark.parametrize("size", [1, 4096, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1])
def test_a_file_of_one_chunk_or_more_hashes_as_its_bytes_and_reports_each_chunk(
    tmp_path: Path, size: int
) -> None:
    data = payload(size + 100, seed=5)
    path = tmp_path / "f"
    path.write_bytes(data)  # longer than hashed: only the first ``size`` bytes count
    hashed: list[int] = []
    fd = os.open(path, os.O_RDONLY)
    try:
        assert digest_file(fd, size, hashed=hashed.append) == digest_bytes(data[:size])
        with pytest.raises(ConfigError, match="shorter"):
            digest_file(fd, len(data) + 1)
    finally:
        os.close(fd)
    assert sorted(hashed) == sorted(
        [CHUNK_SIZE] * (size // CHUNK_SIZE) + [size % CHUNK_SIZE] * (size % CHUNK_SIZE > 0)
    )


def test_one_changed_byte_changes_the_digest() -> None:
    data = bytearray(payload(CHUNK_SIZE + 10))
    before = digest_bytes(data)
    data[CHUNK_SIZE + 3] ^= 1
    assert digest_bytes(data) != before


def test_value_refuses_when_a_chunk_is_missing() -> None:
    builder = ChunkedDigest()
    builder.set_chunks_from(CHUNK_SIZE, hash_chunks(b"x"))
    with pytest.raises(ConfigError, match="incomplete"):
        builder.value(CHUNK_SIZE + 1)


def test_ranges_must_start_on_a_chunk_boundary() -> None:
    with pytest.raises(ConfigError, match="boundary"):
        ChunkedDigest().set_chunks_from(100, [blake3(b"").digest()])


@pytest.mark.parametrize(
    ("text", "parsed"),
    [("sha256-c8m:ABC", ("sha256-c8m", "abc")), ("md5:00", ("md5", "00")), ("nocolon", None), ("", None)],
)
def test_parse_digest_splits_algorithm_and_lowercase_hex(text: str, parsed: tuple[str, str] | None) -> None:
    assert parse_digest(text) == parsed


def test_the_listing_hasher_hashes_small_files_that_record_no_digest(tmp_path: Path) -> None:
    small, empty, big = tmp_path / "small", tmp_path / "empty", tmp_path / "big"
    small.write_bytes(b"small")
    empty.write_bytes(b"")
    big.write_bytes(payload(CHUNK_SIZE + 1))
    recorded = {"omnicloud_digest": digest_bytes(b"other")}
    hasher, rehasher = small_file_hasher(rehash=False), small_file_hasher(rehash=True)

    assert hasher(str(small), 5, {}) == digest_bytes(b"small")
    assert hasher(str(empty), 0, {}) == digest_bytes(b"")
    assert hasher(str(big), CHUNK_SIZE + 1, {}) is None  # left to the caller's threads
    assert hasher(str(small), 5, recorded) is None  # the recorded digest is compared instead
    assert rehasher(str(small), 5, recorded) == digest_bytes(b"small")
    # A file that is gone, or no longer the size listed, is left for the caller to read and report.
    assert hasher(str(tmp_path / "gone"), 5, {}) is None
    assert hasher(str(small), 4, {}) is None
    assert hasher(str(small), 6, {}) is None
