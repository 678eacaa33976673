"""Large uploads to GCS go as one resumable session, piece by piece, on gcp-storage-emulator.

Faults are made by wrapping the real store's calls: the emulator itself never
loses a response or changes a source.
"""

from __future__ import annotations

import io
import json
import os
import uuid
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

import pytest

from omnicloud.errors import (
    IntegrityError,
    NotFoundError,
    OmniCloudError,
    PreconditionFailedError,
    TransientError,
)
from omnicloud.storage import Admin, open_store
from omnicloud.storage.gcs import GCSStore
from omnicloud.storage.local import LocalStore
from omnicloud.storage.s3 import S3Store
from omnicloud.transfer import Journal, JsonLinesProgress, TransferOptions, copy, sync
from omnicloud.transfer._digest import digest_bytes
from omnicloud.transfer._limits import MemoryBudget

pytestmark = pytest.mark.emulator

MiB = 1024 * 1024
SIZE = 40 * MiB + 123  # 5 pieces of 8 MiB and a short one


@pytest.fixture
def bucket(sandbox_env: dict[str, str]) -> str:
    # Not deleted afterwards: gcp-storage-emulator refuses to delete a bucket while a session it
    # cannot cancel (it has no DELETE for sessions) is open, and the emulator ends with the run.
    uri = f"gs://oc-gs-{uuid.uuid4().hex[:10]}"
    store = open_store(uri)
    assert isinstance(store, Admin)
    store.create_bucket()
    return uri


@pytest.fixture
def options(tmp_path: Path) -> TransferOptions:
    return TransferOptions(
        journal=tmp_path / "journal.sqlite",
        part_size=8 * MiB,
        part_concurrency=1,  # pieces of 8 MiB
        multipart_threshold=16 * MiB,
        retry_wait=0.01,
    )


@pytest.fixture
def source(tmp_path: Path) -> tuple[Path, bytes]:
    data = os.urandom(SIZE)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    return path, data


def _sends(monkeypatch: pytest.MonkeyPatch, after: Any = None) -> list[int]:
    """Record the start of every piece sent; ``after(n, start)`` runs once the service took piece n."""
    starts: list[int] = []
    real = GCSStore.send_resumable

    def send(self: GCSStore, key: str, session: str, start: int, data: bytes, size: int) -> int:
        held = real(self, key, session, start, data, size)
        starts.append(start)
        if after is not None:
            after(len(starts), start)
        return held

    monkeypatch.setattr(GCSStore, "send_resumable", send)
    return starts


def test_a_large_upload_goes_in_pieces_and_carries_its_digest(
    bucket: str, source: tuple[Path, bytes], options: TransferOptions, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, data = source
    starts = _sends(monkeypatch)

    summary = copy(path, f"{bucket}/big.bin", options=options)

    assert starts == [n * 8 * MiB for n in range(6)]
    store = open_store(bucket)
    assert store.get("big.bin") == data  # type: ignore[attr-defined]
    assert store.stat("big.bin").digest == digest_bytes(data) == summary.results[0].digest  # type: ignore[attr-defined]
    assert Journal(options.journal_path()).counts()["partials"] == 0  # type: ignore[arg-type]


def test_a_lost_answer_is_retried_from_what_the_service_holds_not_resent(
    bucket: str, source: tuple[Path, bytes], options: TransferOptions, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, data = source

    def lose_the_third_answer(n: int, start: int) -> None:
        if n == 3:
            raise TransientError("connection reset", op="put")

    starts = _sends(monkeypatch, lose_the_third_answer)

    copy(path, f"{bucket}/big.bin", options=options)

    # The retry asked the session where it stood: piece 3 had arrived, so it went on with piece 4.
    assert starts == [n * 8 * MiB for n in range(6)]
    assert open_store(bucket).get("big.bin") == data  # type: ignore[attr-defined]


def test_a_source_changed_mid_upload_never_becomes_the_object(
    bucket: str, source: tuple[Path, bytes], options: TransferOptions, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _ = source

    def rewrite(n: int, start: int) -> None:
        if n == 2:
            with path.open("r+b") as f:
                f.write(b"changed")

    _sends(monkeypatch, rewrite)

    with pytest.raises((IntegrityError, PreconditionFailedError)):
        copy(path, f"{bucket}/big.bin", options=options)

    # The last piece, which would have made the object, was never sent.
    assert not open_store(bucket).exists("big.bin")  # type: ignore[attr-defined]
    assert Journal(options.journal_path()).counts()["partials"] == 0  # type: ignore[arg-type]


def test_a_rerun_after_the_object_was_made_but_not_journaled_sends_nothing(
    bucket: str, source: tuple[Path, bytes], options: TransferOptions, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, data = source

    def die_after_the_last(n: int, start: int) -> None:
        if n == 6:
            raise OmniCloudError("killed", op="put")

    _sends(monkeypatch, die_after_the_last)
    with pytest.raises(OmniCloudError, match="killed"):
        copy(path, f"{bucket}/big.bin", options=options)
    assert Journal(options.journal_path()).counts()["partials"] == 1  # type: ignore[arg-type]

    starts = _sends(monkeypatch)
    summary = copy(path, f"{bucket}/big.bin", options=options)

    assert starts == []
    assert summary.results[0].resumed_parts == 6
    assert open_store(bucket).get("big.bin") == data  # type: ignore[attr-defined]
    assert Journal(options.journal_path()).counts()["partials"] == 0  # type: ignore[arg-type]


def test_a_rerun_whose_session_is_gone_starts_over_and_says_why(
    bucket: str, source: tuple[Path, bytes], options: TransferOptions, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, data = source

    def fail_the_second(n: int, start: int) -> None:
        if n == 2:
            raise OmniCloudError("stopped", op="put")

    _sends(monkeypatch, fail_the_second)
    with pytest.raises(OmniCloudError, match="stopped"):
        copy(path, f"{bucket}/big.bin", options=options)

    def expired(self: GCSStore, key: str, session: str, size: int) -> int:
        raise NotFoundError("the upload session is gone (cancelled or expired)", op="put")

    monkeypatch.setattr(GCSStore, "resumable_offset", expired)
    starts = _sends(monkeypatch)
    summary = copy(path, f"{bucket}/big.bin", options=options)

    assert (
        summary.results[0].restarted == "the interrupted run's upload session is gone (cancelled or expired)"
    )
    assert (summary.results[0].resumed_parts, starts[0]) == (0, 0)
    assert open_store(bucket).get("big.bin") == data  # type: ignore[attr-defined]


@pytest.mark.timeout(120)
def test_a_failed_upload_gives_back_its_memory_so_the_next_object_still_goes(
    bucket: str, options: TransferOptions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    for name in ("a.bin", "b.bin"):
        (tree / name).write_bytes(os.urandom(3 * 8 * MiB))

    def fail_the_second(n: int, start: int) -> None:
        if n == 2:
            raise OmniCloudError("refused", op="put")

    _sends(monkeypatch, fail_the_second)
    # Room for one piece only: a piece read ahead and never given back would stop the next object.
    tight = replace(options, max_memory=8 * MiB, concurrency=1)

    summary = sync(tree, f"{bucket}/tree/", options=tight)

    assert (summary.copied, summary.failed) == (1, 1)


@pytest.mark.parametrize("journaled", [True, False])
def test_a_failed_upload_without_a_journal_cancels_its_session(
    bucket: str,
    source: tuple[Path, bytes],
    options: TransferOptions,
    monkeypatch: pytest.MonkeyPatch,
    journaled: bool,
) -> None:
    # With a journal the session is kept for the next run to resume; without one nothing could.
    path, _ = source
    cancelled: list[str] = []
    real_cancel = GCSStore.cancel_resumable

    def cancel(self: GCSStore, key: str, session: str) -> None:
        cancelled.append(key)
        real_cancel(self, key, session)

    def fail_the_third(n: int, start: int) -> None:
        if n == 3:
            raise OmniCloudError("refused", op="put")

    monkeypatch.setattr(GCSStore, "cancel_resumable", cancel)
    _sends(monkeypatch, fail_the_third)

    with pytest.raises(OmniCloudError, match="refused"):
        copy(path, f"{bucket}/big.bin", options=options if journaled else replace(options, journal=False))

    assert cancelled == ([] if journaled else ["big.bin"])
    assert not open_store(bucket).exists("big.bin")  # type: ignore[attr-defined]


def test_a_piece_carries_what_parallel_parts_would_and_is_streamed_not_held(
    bucket: str, source: tuple[Path, bytes], options: TransferOptions, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, data = source
    starts = _sends(monkeypatch)
    peak: list[int] = [0]
    real_acquire = MemoryBudget.acquire

    def acquire(self: MemoryBudget, amount: int) -> None:
        real_acquire(self, amount)
        peak[0] = max(peak[0], self.used)

    monkeypatch.setattr(MemoryBudget, "acquire", acquire)
    # Pieces of 4 parts of 8 MiB: 32 MiB and the rest, in two requests.
    copy(path, f"{bucket}/big.bin", options=replace(options, part_concurrency=4))

    assert starts == [0, 32 * MiB]
    assert open_store(bucket).get("big.bin") == data  # type: ignore[attr-defined]
    # Never more than the chunk being sent and the one read ahead, whatever the piece's size.
    assert 0 < peak[0] <= 2 * 8 * MiB


def test_a_source_that_shrinks_while_a_piece_is_sent_stops_it_with_its_own_error(
    bucket: str, source: tuple[Path, bytes], options: TransferOptions, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _ = source
    real_open = LocalStore.open_read

    def open_read(self: LocalStore, key: str, *, range: tuple[int, int] | None = None) -> IO[bytes]:
        stream = real_open(self, key, range=range)
        if range is not None:  # the piece's read begins (not the digest's): another program cuts the file
            os.truncate(path, 12 * MiB)
        return stream

    monkeypatch.setattr(LocalStore, "open_read", open_read)

    # One piece of 40 MiB: the failure comes from inside the request's body, not between requests,
    # and is the engine's own error, not the HTTP client's.
    with pytest.raises(PreconditionFailedError, match="shorter than listed"):
        copy(path, f"{bucket}/big.bin", options=replace(options, part_concurrency=8, retries=1))

    assert not open_store(bucket).exists("big.bin")  # type: ignore[attr-defined]


def test_a_cloud_source_is_read_in_one_ranged_request_for_all_its_pieces(
    bucket: str, source: tuple[Path, bytes], options: TransferOptions, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, data = source
    s3_bucket = f"s3://oc-gs-src-{uuid.uuid4().hex[:10]}"
    s3 = open_store(s3_bucket)
    assert isinstance(s3, Admin)
    s3.create_bucket()
    copy(path, f"{s3_bucket}/big.bin", options=replace(options, journal=False))  # records its digest
    opened: list[tuple[int, int] | None] = []
    real_open = S3Store.open_read

    def open_read(self: S3Store, key: str, *, range: tuple[int, int] | None = None) -> IO[bytes]:
        opened.append(range)
        return real_open(self, key, range=range)

    monkeypatch.setattr(S3Store, "open_read", open_read)
    starts = _sends(monkeypatch)

    copy(f"{s3_bucket}/big.bin", f"{bucket}/big.bin", options=options)

    # Six pieces of 8 MiB, one request each to GCS, all read from S3 in one ranged GET.
    assert starts == [n * 8 * MiB for n in range(6)]
    assert opened == [(0, SIZE)]
    assert open_store(bucket).get("big.bin") == data  # type: ignore[attr-defined]


def test_a_rerun_hashes_what_the_service_holds_beyond_the_journal_and_sends_the_rest(
    bucket: str, source: tuple[Path, bytes], options: TransferOptions, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, data = source

    def stop_before_journaling_the_third(n: int, start: int) -> None:
        if n == 3:
            raise OmniCloudError("killed", op="put")

    _sends(monkeypatch, stop_before_journaling_the_third)
    with pytest.raises(OmniCloudError, match="killed"):
        copy(path, f"{bucket}/big.bin", options=options)
    assert Journal(options.journal_path()).counts()["pieces"] == 2  # type: ignore[arg-type]

    starts = _sends(monkeypatch)
    out = io.StringIO()
    summary = copy(path, f"{bucket}/big.bin", options=options, progress=JsonLinesProgress(out))

    # The third piece was held, not journaled: read and hashed again, not sent again.
    assert starts == [n * 8 * MiB for n in range(3, 6)]
    assert summary.results[0].resumed_parts == 2
    assert open_store(bucket).get("big.bin") == data  # type: ignore[attr-defined]
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    final = [r for r in records if r["type"] == "progress"][-1]
    assert final["bytes"] == SIZE  # held, journaled and sent bytes alike
