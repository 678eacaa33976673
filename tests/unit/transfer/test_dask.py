"""A sync partitioned by prefix across a small in-process Dask cluster (2 workers)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from omnicloud.storage.memory import MemoryStore
from omnicloud.transfer import TransferOptions, sync
from omnicloud.transfer._dask import partition_prefixes
from omnicloud.uri import parse_uri

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None, silence_logs=40
    )
    with distributed.Client(cluster) as dask_client:
        yield dask_client
    cluster.close()


@pytest.fixture
def buckets() -> tuple[MemoryStore, MemoryStore]:
    """Buckets in the process-wide memory namespace, which in-process Dask workers share."""
    tag = uuid.uuid4().hex[:10]
    src, dst = MemoryStore(f"dsrc-{tag}"), MemoryStore(f"ddst-{tag}")
    src.create_bucket()
    dst.create_bucket()
    return src, dst


def test_sync_on_dask_runs_one_task_per_top_level_prefix_and_merges_the_counts(
    client: Any, buckets: tuple[MemoryStore, MemoryStore], options: TransferOptions, tmp_path: Path
) -> None:
    src, dst = buckets
    for part in ("a", "b", "c"):
        for i in range(5):
            src.put(f"data/{part}/{i}", f"{part}{i}".encode())
    src.put("data/root.txt", b"root")
    dst.put("mirror/stale/x", b"old")  # a prefix only the destination has
    options = replace(options, journal=tmp_path / "j.sqlite")
    src_uri, dst_uri = f"mem://{src.uri.bucket}/data/", f"mem://{dst.uri.bucket}/mirror/"

    assert partition_prefixes(parse_uri(src_uri), parse_uri(dst_uri), delete=True) == [
        "a/",
        "b/",
        "c/",
        "stale/",
    ]
    with distributed.get_task_stream(client) as stream:
        summary = sync(src_uri, dst_uri, delete=True, executor=client, options=options)

    sync_tasks = [t for t in stream.data if str(t["key"]).startswith("omnicloud-sync-")]
    assert len(sync_tasks) == 5  # the root's own objects + a/, b/, c/, stale/
    assert (summary.copied, summary.deleted, summary.failed) == (16, 1, 0)
    assert summary.bytes == 15 * 2 + 4
    assert sorted(i.key for i in dst.list("mirror/")) == sorted(
        ["mirror/root.txt"] + [f"mirror/{p}/{i}" for p in "abc" for i in range(5)]
    )

    again = sync(src_uri, dst_uri, delete=True, executor=client, options=options)
    assert (again.copied, again.skipped, again.deleted) == (0, 16, 0)


def test_an_unknown_executor_is_a_configuration_error(buckets: tuple[MemoryStore, MemoryStore]) -> None:
    from omnicloud.errors import ConfigError

    src, dst = buckets
    with pytest.raises(ConfigError, match="executor"):
        sync(f"mem://{src.uri.bucket}/", f"mem://{dst.uri.bucket}/", executor="spark")


def test_a_source_prefix_that_lists_nothing_never_empties_the_destination_on_dask(
    client: Any, buckets: tuple[MemoryStore, MemoryStore], options: TransferOptions, tmp_path: Path
) -> None:
    from omnicloud.errors import NotFoundError

    src, dst = buckets
    src.put("data/a/1", b"1")
    dst.put("mirror/a/1", b"1")
    dst.put("mirror/top", b"t")
    options = replace(options, journal=tmp_path / "j.sqlite")

    # Each partition on its own may hold only deletions; the mistyped prefix is caught before any runs.
    with pytest.raises(NotFoundError, match="lists no objects"):
        sync(
            f"mem://{src.uri.bucket}/dta/",
            f"mem://{dst.uri.bucket}/mirror/",
            delete=True,
            executor=client,
            options=options,
        )

    assert sorted(i.key for i in dst.list("mirror/")) == ["mirror/a/1", "mirror/top"]
    # An empty destination is no reason to refuse, and neither is a sync that deletes nothing.
    empty = sync(
        f"mem://{src.uri.bucket}/dta/",
        f"mem://{dst.uri.bucket}/new/",
        delete=True,
        executor=client,
        options=options,
    )
    assert (empty.copied, empty.deleted) == (0, 0)
    kept = sync(
        f"mem://{src.uri.bucket}/dta/", f"mem://{dst.uri.bucket}/mirror/", executor=client, options=options
    )
    assert (kept.copied, kept.deleted) == (0, 0)
