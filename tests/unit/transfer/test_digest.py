from __future__ import annotations

import hashlib
import io
import os
import random
from pathlib import Path

import pytest

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
)

from .faulty_store import payload

SIZE = 2 * CHUNK_SIZE + 12345


def test_digest_is_sha256_over_the_sha256_of_each_8_mib_chunk() -> None:
    data = payload(SIZE)
    chunks = [hashlib.sha256(data[i : i + CHUNK_SIZE]).digest() for i in range(0, SIZE, CHUNK_SIZE)]
    expected = hashlib.sha256(b"".join(chunks)).hexdigest()
    assert digest_bytes(data) == f"{DIGEST_ALGORITHM}:{expected}"


def test_empty_object_has_the_digest_of_no_chunks() -> None:
    assert digest_bytes(b"") == f"{DIGEST_ALGORITHM}:{hashlib.sha256(b'').hexdigest()}"


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
        ChunkedDigest().set_chunks_from(100, [hashlib.sha256(b"").digest()])


@pytest.mark.parametrize(
    ("text", "parsed"),
    [("sha256-c8m:ABC", ("sha256-c8m", "abc")), ("md5:00", ("md5", "00")), ("nocolon", None), ("", None)],
)
def test_parse_digest_splits_algorithm_and_lowercase_hex(text: str, parsed: tuple[str, str] | None) -> None:
    assert parse_digest(text) == parsed
