"""Scale a sync out on Dask: one task per top-level prefix of the source (and destination).

The driver lists one level (``delimiter="/"``) on both sides; each
``dir/`` prefix becomes one task that runs an ordinary single-machine sync of
that prefix on a worker (with the worker's own thread pools, journal and
stores), and the objects directly under the root form one more task. The
driver merges the summaries. Deletions stay correct because each task owns
its whole prefix on both sides, and a prefix that exists only at the
destination is a task too (with ``delete`` it empties it).

Workers open stores from URIs with their own credentials and environment, so
``mem://`` works only with an in-process cluster (``processes=False``).
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from omnicloud.errors import ConfigError
from omnicloud.storage import open_store
from omnicloud.transfer._context import as_lister
from omnicloud.transfer._options import TransferOptions
from omnicloud.transfer._plan import Filters, empty_source_error
from omnicloud.transfer._progress import Progress
from omnicloud.transfer._results import TransferSummary
from omnicloud.uri import ObjectURI

__all__ = ["partition_prefixes", "sync_on_dask", "sync_partition"]


def partition_prefixes(source: ObjectURI, target: ObjectURI, *, delete: bool) -> list[str]:
    """The first-level ``dir/`` names below the source (and, with ``delete``, the destination).

    With ``delete``, a source that lists nothing beside a destination that
    holds objects is refused: each partition may lawfully hold only
    deletions, so the single-machine guard against a mistyped prefix
    emptying the destination is made here, from the same two listings.
    """
    source_listed, names = _top_level(source)
    if delete:
        target_listed, target_names = _top_level(target)
        if target_listed and not source_listed:
            raise empty_source_error(source.key)
        names |= target_names
    return sorted(names)


def _top_level(uri: ObjectURI) -> tuple[bool, set[str]]:
    """One listing of the first level below ``uri``: whether it holds anything, and its ``dir/`` names."""
    store = open_store(uri.bucket_uri)
    listed, names = False, set()
    try:
        for info in as_lister(store).list(uri.key, delimiter="/"):
            listed = True
            if info.is_prefix:
                names.add(info.key[len(uri.key) :])
    except FileNotFoundError:
        pass  # a destination that does not exist yet holds nothing
    finally:
        store.close()
    return listed, names


def sync_partition(
    source: str,
    target: str,
    *,
    top_level_only: bool,
    delete: bool,
    checksum: bool,
    filters: Filters,
    options: TransferOptions,
) -> TransferSummary:
    """One Dask task: an ordinary sync of one prefix, on whichever worker runs it."""
    from omnicloud.transfer._engine import _transfer_tree
    from omnicloud.uri import parse_uri

    return _transfer_tree(
        parse_uri(source),
        parse_uri(target),
        mode="sync",
        delete=delete,
        checksum=checksum,
        filters=filters,
        dry_run=False,
        options=options,
        progress=None,
        manifest=None,
        opener=None,
        top_level_only=top_level_only,
        partition=True,
    )


def _client(executor: Any) -> tuple[Any, list[Any]]:
    """A ``distributed.Client`` for ``executor`` and what to close afterwards."""
    try:
        # Imported as a module object: distributed ships no type hints for these.
        distributed: Any = importlib.import_module("distributed")
    except ImportError as err:
        raise ConfigError(
            "the Dask executor needs the distributed package", hint="pip install 'omnicloud[dask]'"
        ) from err
    if isinstance(executor, distributed.Client):
        return executor, []
    if executor == "dask":
        cluster = distributed.LocalCluster(
            n_workers=os.cpu_count() or 1, threads_per_worker=1, dashboard_address=None, silence_logs=40
        )
        client = distributed.Client(cluster)
        return client, [client, cluster]
    if isinstance(executor, str) and "://" in executor:
        client = distributed.Client(executor)
        return client, [client]
    raise ConfigError(
        f"unknown executor {executor!r}",
        hint="use 'dask' for a local cluster, a scheduler address such as tcp://host:8786, or a Client",
    )


def sync_on_dask(
    source: ObjectURI,
    target: ObjectURI,
    executor: Any,
    *,
    delete: bool,
    checksum: bool,
    filters: Filters,
    options: TransferOptions,
    progress: Progress | None,
) -> TransferSummary:
    """Partition the sync by top-level prefix, run the partitions as Dask tasks, merge the summaries."""
    import time

    started = time.monotonic()
    prefixes = partition_prefixes(source, target, delete=delete)  # before the cluster starts
    client, owned = _client(executor)
    try:
        jobs = [(str(source), str(target), True)] + [
            (str(source.join(p)), str(target.join(p)), False) for p in prefixes
        ]
        futures = [
            client.submit(
                sync_partition,
                src,
                dst,
                top_level_only=top,
                delete=delete,
                checksum=checksum,
                filters=filters,
                options=options,
                key=f"omnicloud-sync-{index}-{dst}",
                pure=False,
            )
            for index, (src, dst, top) in enumerate(jobs)
        ]
        summary = TransferSummary()
        for future in importlib.import_module("distributed").as_completed(futures):
            part: TransferSummary = future.result()
            summary.merge(part)
            if progress is not None:
                progress.planned(part.copied + part.deleted + part.failed, part.bytes)
                progress.advance(part.bytes)
                for result in part.results:
                    progress.object_done(result)
        if progress is not None:
            progress.close()
    finally:
        for item in owned:
            item.close()
    summary.elapsed = time.monotonic() - started
    return summary
