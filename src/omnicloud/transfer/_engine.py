"""plan -> diff -> apply -> verify, behind ``copy``, ``sync``, ``verify`` and ``bulk_download``."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from omnicloud._json_text import json_text
from omnicloud.errors import ConfigError, NotFoundError, OmniCloudError, UnsupportedError
from omnicloud.storage import Lister, ObjectInfo, Store
from omnicloud.transfer._context import (
    Cancelled,
    StoreOpener,
    TransferContext,
    as_deleter,
    as_lister,
    as_reader,
    as_stat,
    listed_without_record,
    local_path,
)
from omnicloud.transfer._digest import (
    CHUNK_SIZE,
    ChunkedDigest,
    digest_file,
    hash_chunks,
    is_canonical,
    small_file_hasher,
)
from omnicloud.transfer._object_copy import copy_object, source_version
from omnicloud.transfer._options import TransferOptions
from omnicloud.transfer._plan import (
    Filters,
    PlanMode,
    PlannedAction,
    compare,
    list_relative,
    pair_listings,
    plan_actions,
)
from omnicloud.transfer._progress import Progress
from omnicloud.transfer._results import (
    DownloadResult,
    ObjectResult,
    TransferSummary,
    VerifyEntry,
    VerifyReport,
    VerifyStatus,
)
from omnicloud.uri import ObjectURI, parse_uri

__all__ = ["Location", "bulk_download", "copy", "sync", "verify"]

log = logging.getLogger("omnicloud.transfer")

Location = str | ObjectURI | os.PathLike[str]


def _as_prefix(uri: ObjectURI) -> ObjectURI:
    """``s3://b/dir`` and ``/tmp/dir`` as the prefixes ``dir/``; prefixes stay as they are."""
    return uri if uri.is_prefix else uri.with_key(uri.key + "/")


def _is_local_dir(uri: ObjectURI) -> bool:
    path = local_path(uri)
    return path is not None and os.path.isdir(path)  # False for a name too long to exist


def _single_target(source: ObjectURI, target: ObjectURI) -> ObjectURI:
    if target.is_prefix or _is_local_dir(target):
        return _as_prefix(target).join(source.name)
    return target


def _check_tree_ends(source: ObjectURI, target: ObjectURI) -> None:
    """Refuse a tree transfer whose source is no directory, or whose two prefixes overlap.

    A local source that is missing or a file would list nothing, and a sync
    with ``delete`` would then empty the destination. Overlapping prefixes
    (one inside the other) make a sync delete its own source or a copy nest
    itself one level deeper on every run; rclone refuses both as well. A
    local destination that is a file, or lies below one, would fail every
    object.
    """
    path = local_path(source)
    if path is not None and not os.path.isdir(path):
        if os.path.exists(path):
            raise ConfigError(f"{source} is not a directory", hint="copy one file with cp, without -r")
        raise NotFoundError("no such directory", op="list", uri=str(source))
    path = local_path(target)
    if path is not None:
        _refuse_a_file_in_the_way(path, "copy")
    if _overlap(source, target):
        raise ConfigError(
            f"{source} and {target} overlap: one lies inside the other",
            hint="choose a destination outside the source, and a source outside the destination",
        )


def _same_place(source: ObjectURI, target: ObjectURI) -> bool:
    """Whether two object URIs name one object (local paths once links are resolved)."""
    paths = local_path(source), local_path(target)
    if paths[0] is not None and paths[1] is not None:
        return os.path.realpath(paths[0]) == os.path.realpath(paths[1])
    return source == target


def _overlap(source: ObjectURI, target: ObjectURI) -> bool:
    if source.bucket_uri != target.bucket_uri:
        return False
    ends = []
    for uri in (source, target):
        path = local_path(uri)
        # Local paths compare once links are resolved: /tmp/x and a link to it are one tree.
        ends.append(os.path.realpath(path).rstrip("/") + "/" if path is not None else uri.key)
    first, second = ends
    return first.startswith(second) or second.startswith(first)


def _file_system_side(source: ObjectURI, target: ObjectURI) -> bool:
    """Whether one side is a file system, where folder markers are directories, not objects."""
    return local_path(source) is not None or local_path(target) is not None


def copy(
    src: Location,
    dst: Location,
    *,
    recursive: bool = False,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    dry_run: bool = False,
    options: TransferOptions | None = None,
    progress: Progress | None = None,
    manifest: str | os.PathLike[str] | None = None,
    opener: StoreOpener | None = None,
) -> TransferSummary:
    """Copy one object, or with ``recursive`` every object below a prefix.

    A destination that is a prefix (ends with ``/``, a bucket root or an
    existing local directory) receives the object under its own name. With
    ``recursive`` every source object is copied, like ``cp -r`` (use
    :func:`sync` to skip unchanged ones); keys keep their path below the
    source prefix. A single-object copy raises its error; a recursive copy
    reports failures in the summary (see ``TransferSummary.failed``).
    """
    source, target = parse_uri(src), parse_uri(dst)
    options = options or TransferOptions()
    if not recursive:
        if source.is_prefix or _is_local_dir(source):
            raise ConfigError(
                f"{source} is a prefix or directory", hint="copy it with recursive=True (cp -r)"
            )
        target = _single_target(source, target)
        if _same_place(source, target):
            raise ConfigError(f"{source} and {target} are the same object", hint="name another destination")
        path = local_path(target)
        if path is not None:
            _refuse_a_file_in_the_way(path.parent, "copy")
        _check_manifest(manifest)
        started = time.monotonic()
        options = replace(options, journal=False) if dry_run else options
        with TransferContext(options, progress=progress, opener=opener) as ctx:
            summary = TransferSummary(dry_run=dry_run)
            if dry_run:
                info = _stat(ctx, source)
                summary.add(ObjectResult(str(source), str(target), "copy", "planned", info.size))
                summary.estimated_cost = estimate_cost(source, target, info.size, 1)
            else:

                def copy_it() -> ObjectResult:
                    info = _stat(ctx, source)
                    ctx.progress.planned(1, info.size)  # a bar with the size to go, and its ETA
                    return copy_object(ctx, source, target, info, stated=True)

                try:
                    result = _run_interruptible(ctx, copy_it)
                    ctx.progress.object_done(result)
                finally:
                    ctx.progress.close()
                summary.add(result)
            summary.elapsed = time.monotonic() - started
        _write_manifest(manifest, "copy", source, target, summary)
        return summary
    _check_tree_ends(_as_prefix(source), _as_prefix(target))
    _check_manifest(manifest)
    return _transfer_tree(
        source,
        target,
        mode="copy",
        delete=False,
        checksum=False,
        filters=Filters(tuple(include), tuple(exclude)),
        dry_run=dry_run,
        options=options,
        progress=progress,
        manifest=manifest,
        opener=opener,
    )


def sync(
    src: Location,
    dst: Location,
    *,
    delete: bool = False,
    checksum: bool = False,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    dry_run: bool = False,
    options: TransferOptions | None = None,
    progress: Progress | None = None,
    manifest: str | os.PathLike[str] | None = None,
    executor: Any = None,
    opener: StoreOpener | None = None,
) -> TransferSummary:
    """Make the destination prefix hold what the source prefix holds.

    Unchanged objects are skipped (rules in :mod:`omnicloud.transfer._plan`);
    ``delete`` removes destination objects the source lacks; ``checksum``
    compares digests instead of size and time; ``dry_run`` only plans (and
    estimates the egress cost). ``executor="dask"``, a scheduler address or a
    ``distributed.Client`` partitions the sync by top-level prefix across
    Dask workers. Failures are counted in the summary, never raised midway.
    """
    source, target = _as_prefix(parse_uri(src)), _as_prefix(parse_uri(dst))
    _check_tree_ends(source, target)
    _check_manifest(manifest)
    options = options or TransferOptions()
    filters = Filters(tuple(include), tuple(exclude))
    if executor is not None and not dry_run:
        from omnicloud.transfer._dask import sync_on_dask

        summary: TransferSummary = sync_on_dask(
            source,
            target,
            executor,
            delete=delete,
            checksum=checksum,
            filters=filters,
            options=options,
            progress=progress,
        )
        _write_manifest(manifest, "sync", source, target, summary)
        return summary
    return _transfer_tree(
        source,
        target,
        mode="sync",
        delete=delete,
        checksum=checksum,
        filters=filters,
        dry_run=dry_run,
        options=options,
        progress=progress,
        manifest=manifest,
        opener=opener,
    )


def _transfer_tree(
    source: ObjectURI,
    target: ObjectURI,
    *,
    mode: PlanMode,
    delete: bool,
    checksum: bool,
    filters: Filters,
    dry_run: bool,
    options: TransferOptions,
    progress: Progress | None,
    manifest: str | os.PathLike[str] | None,
    opener: StoreOpener | None,
    top_level_only: bool = False,
    partition: bool = False,
) -> TransferSummary:
    """Plan and apply a tree transfer; ``partition`` marks one Dask partition of a larger sync."""
    source, target = _as_prefix(source), _as_prefix(target)
    started = time.monotonic()
    # A dry run writes nothing, not even a journal.
    options = replace(options, journal=False) if dry_run else options
    with TransferContext(options, progress=progress, opener=opener) as ctx:
        src_lister = as_lister(ctx.store(source))
        dst_store = ctx.store(target)
        dst_lister = dst_store if isinstance(dst_store, Lister) else None
        if dst_lister is None and (delete or mode == "sync"):
            raise UnsupportedError(f"{target.provider} storage cannot list objects", provider=target.provider)
        actions = plan_actions(
            src_lister,
            source.key,
            dst_lister,
            target.key,
            mode=mode,
            checksum=checksum,
            delete=delete,
            filters=filters,
            top_level_only=top_level_only,
            # A partition may lawfully hold only deletions (a prefix the source no longer has).
            refuse_empty_source=not partition,
            skip_markers=_file_system_side(source, target),
        )
        if dry_run:
            summary = _dry_run(actions, source, target)
        else:
            job = _job_id(mode, source, target, filters, delete, checksum)
            try:
                summary = apply_plan(ctx, actions, source, target, job=job)
            finally:
                ctx.progress.close()
        summary.elapsed = time.monotonic() - started
    _write_manifest(manifest, mode, source, target, summary)
    return summary


def _job_id(
    mode: str, source: ObjectURI, target: ObjectURI, filters: Filters, delete: bool, checksum: bool
) -> str:
    text = json.dumps([mode, str(source), str(target), filters.include, filters.exclude, delete, checksum])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _dry_run(actions: Iterable[PlannedAction], source: ObjectURI, target: ObjectURI) -> TransferSummary:
    summary = TransferSummary(dry_run=True)
    for action in actions:
        if action.action == "skip":
            summary.skipped += 1
            continue
        src = str(source.join(action.relative)) if action.source is not None else None
        summary.add(
            ObjectResult(
                src,
                str(target.join(action.relative)),
                action.action,
                "planned",
                action.size,
                reason=action.reason,
            )
        )
    summary.estimated_cost = estimate_cost(source, target, summary.bytes, summary.copied)
    return summary


def estimate_cost(source: ObjectURI, target: ObjectURI, nbytes: int, objects: int) -> dict[str, Any] | None:
    """The egress estimate from the cost catalog, or ``None`` when it cannot price the route."""
    try:
        from omnicloud.costs import estimate_transfer
    except ImportError:
        return None
    try:
        estimate = estimate_transfer(source, target, nbytes, objects=objects)
    except (OmniCloudError, ValueError, KeyError) as err:
        log.debug("no cost estimate: %s", err)
        return None
    result: dict[str, Any] = estimate.to_dict()
    return result


def _run_interruptible(ctx: TransferContext, call: Callable[[], ObjectResult]) -> ObjectResult:
    try:
        return call()
    except KeyboardInterrupt:
        ctx.stop.set()
        raise
    except Cancelled:
        raise KeyboardInterrupt from None


def apply_plan(
    ctx: TransferContext,
    actions: Iterable[PlannedAction],
    source: ObjectURI,
    target: ObjectURI,
    *,
    job: str | None = None,
) -> TransferSummary:
    """Carry out the actions with bounded, adaptive concurrency; returns the summary.

    The plan is consumed lazily: at most ``2 * concurrency`` actions wait in
    memory. On Ctrl-C running objects stop between pieces, the journal is
    flushed and ``KeyboardInterrupt`` propagates; rerunning resumes.
    """
    options = ctx.options
    summary = TransferSummary()
    lock = threading.Lock()
    in_flight = options.concurrency * 2
    slots = threading.Semaphore(in_flight)  # objects submitted and not yet counted
    journal = ctx.journal
    done = journal.done_objects(job) if journal is not None and job else {}
    src_store, dst_store = ctx.store(source), ctx.store(target)

    def finish(result: ObjectResult) -> None:
        with lock:
            summary.add(result)
        if result.outcome != "skipped":
            ctx.progress.object_done(result)
        else:  # planned as a copy, found unchanged in the end (by journal, date or checksum)
            ctx.progress.planned(-1, -result.size)

    def run(action: PlannedAction) -> ObjectResult:
        dst_uri = target.join(action.relative)
        if action.action == "delete":
            deleter = as_deleter(dst_store)
            ctx.call(lambda: deleter.delete(dst_uri.key, missing_ok=True), str(dst_uri))
            return ObjectResult(None, str(dst_uri), "delete", "deleted", reason=action.reason)
        src_uri = source.join(action.relative)
        info = action.source
        assert info is not None
        previous = done.get(str(src_uri))
        if previous is not None and previous[0] == source_version(info) and _still_there(action):
            return ObjectResult(str(src_uri), str(dst_uri), "copy", "skipped", info.size, reason="journal")
        stated: ObjectInfo | None = None  # the source's whole record, if the check below asked for it
        if action.reason == "newer":
            skip, stated = _unchanged_once_stated(ctx, src_uri, info, dst_uri, action)
            if skip:
                return ObjectResult(str(src_uri), str(dst_uri), "copy", "skipped", info.size, reason=skip)
        if action.needs_checksum and action.destination is not None:
            # Recorded digests that S3 and OCI listings leave out are stat'ed, not read.
            src_record, dst_record = stated or info, action.destination
            if listed_without_record(src_store, src_record):
                src_record = stated = _recorded(ctx, src_uri, count=False)  # the copy starts from it
            if listed_without_record(dst_store, dst_record):
                dst_record = _recorded(ctx, dst_uri, count=False)
            if _same_digests(ctx, src_uri, src_record, dst_uri, dst_record):
                return ObjectResult(
                    str(src_uri), str(dst_uri), "copy", "skipped", info.size, reason="checksum"
                )
        ctx.objects_limit.acquire()
        moved = 0
        try:
            result = copy_object(ctx, src_uri, dst_uri, stated or info, stated=stated is not None)
            moved = result.size
        except OmniCloudError:
            ctx.objects_limit.record_error()
            raise
        finally:
            ctx.objects_limit.release(moved)
        if journal is not None and job:
            journal.record_done(job, str(src_uri), source_version(info), info.size, result.digest)
        return replace(result, reason=action.reason)

    def run_safely(action: PlannedAction) -> None:
        # The slot is released only once the result is in the summary: holding every slot
        # then means every earlier object has ended and been counted.
        try:
            try:
                result = run(action)
            except Cancelled:
                return
            except Exception as err:  # one object's failure is reported in the summary, never lost
                src = _display(source, action.relative) if action.source is not None else None
                error = (
                    str(err) if isinstance(err, OmniCloudError) else f"unexpected {type(err).__name__}: {err}"
                )
                result = ObjectResult(
                    src, _display(target, action.relative), action.action, "failed", action.size, error=error
                )
                log.debug("object failed", exc_info=True)
            finish(result)
        finally:
            slots.release()

    def copies_failed() -> int:
        """Wait for every copy in flight (deletions come last in a plan); how many failed."""
        for _ in range(in_flight):
            slots.acquire()
        for _ in range(in_flight):
            slots.release()
        with lock:
            return summary.failed

    def same_here(action: PlannedAction) -> bool | None:
        """Whether the digests match, found in this thread when that needs no reading but of small
        local files (less time than a hand-off to a thread); ``None`` to leave it to ``run``."""
        src, dst = action.source, action.destination
        if not action.needs_checksum or src is None or dst is None:
            return None
        if not _compared_here(_reads(src, dst, recompute=False), local):
            return None
        try:
            return _same_digests(ctx, source.join(action.relative), src, target.join(action.relative), dst)
        except OmniCloudError:
            return None  # run meets it again, and reports it as this object's failure

    local = (local_path(source) is not None, local_path(target) is not None)
    both_local = all(local)
    failed_before_deleting: int | None = None
    pool = ThreadPoolExecutor(options.concurrency, thread_name_prefix="omnicloud-object")
    try:
        for action in actions:
            same = same_here(action)
            if action.action == "skip" or same:
                with lock:  # the workers count their own skips into the summary too
                    summary.skipped += 1
                continue
            if same is False:
                action = action._replace(needs_checksum=False)  # differs: copied without asking again
            if action.action == "delete":
                # rclone's delete-after: deletions start once every copy has ended, and not
                # at all when one failed (what was meant to replace them may be missing).
                if failed_before_deleting is None:
                    failed_before_deleting = copies_failed()
                if failed_before_deleting:
                    finish(_not_deleted(target, action, failed_before_deleting))
                    continue
            ctx.progress.planned(1, action.size)
            slots.acquire()
            if both_local and action.action == "copy" and action.size < CHUNK_SIZE:
                # A small file from disk to disk is Python's work, not a wait: copied here, in
                # less time than handed to a worker thread (whose GIL hand-offs cost twice as much).
                run_safely(action)
                continue
            pool.submit(run_safely, action)
        pool.shutdown(wait=True)
    except BaseException:
        ctx.stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
        if journal is not None:
            journal.flush()
        raise
    if ctx.stop.is_set():
        if journal is not None:
            journal.flush()
        raise KeyboardInterrupt
    if journal is not None and job and summary.failed == 0:
        journal.finish_job(job)
    return summary


def _same_digests(
    ctx: TransferContext, src_uri: ObjectURI, source: ObjectInfo, dst_uri: ObjectURI, destination: ObjectInfo
) -> bool:
    """Whether two objects' digests are equal (``sync --checksum``), computing those they lack.

    The bytes read to compute them join the progress's totals and count as
    done as they are hashed, so a long comparison moves the bar; the
    summary's ``bytes`` stay those copied.
    """
    reading = sum(_to_hash(info) for info in (source, destination))
    if reading:
        ctx.progress.planned(0, reading)
    return object_digest(ctx, src_uri, source) == object_digest(ctx, dst_uri, destination)


def _to_hash(info: ObjectInfo) -> int:
    """The bytes ``object_digest`` reads for ``info``: none if it has a digest already."""
    return 0 if info.content_digest is not None or is_canonical(info.digest) else info.size


def _unchanged_once_stated(
    ctx: TransferContext,
    src_uri: ObjectURI,
    source: ObjectInfo,
    dst_uri: ObjectURI,
    action: PlannedAction,
) -> tuple[str | None, ObjectInfo | None]:
    """Why an object the plan copies as older is unchanged after all (``stat`` fills in what listings lack).

    S3 and OCI list no metadata, so their listings show neither the digest
    nor the date an upload recorded, and a sync back from where objects were
    copied to finds every one older. One stat per such side, and only for
    these objects, gives the plan's rule what it lacked. Also returns the
    source's stat'ed record, if any, for the copy to start from.
    """
    destination = action.destination
    if destination is None:
        return None, None
    records = []
    for uri, info in ((src_uri, source), (dst_uri, destination)):
        if listed_without_record(ctx.store(uri), info):
            try:
                info = _stat(ctx, uri)
            except NotFoundError:  # gone since the listing: copy it
                return None, None
        records.append(info)
    stated = records[0] if records[0] is not source else None
    if stated is None and records[1] is destination:
        return None, None  # nothing new: the plan's answer stands
    decision, reason, _ = compare(records[0], records[1], mode="sync", checksum=False)
    return (reason if decision == "skip" else None), stated


def _still_there(action: PlannedAction) -> bool:
    """Whether the destination still looks like the copy a journal records as done.

    The journal speeds up a rerun (``cp -r`` overwrites everything otherwise),
    but a copy deleted or replaced since then must be made again.
    """
    destination, source = action.destination, action.source
    return (
        destination is not None
        and source is not None
        and destination.size == source.size
        and action.reason != "digest"  # recorded digests that differ: the destination changed
    )


def _not_deleted(target: ObjectURI, action: PlannedAction, failures: int) -> ObjectResult:
    return ObjectResult(
        None,
        _display(target, action.relative),
        "delete",
        "failed",
        error=f"not deleted: {failures} object(s) failed to copy in this run, so no deletion was made",
    )


def _display(base: ObjectURI, relative: str) -> str:
    """``base`` joined with ``relative`` for a report, even when the two make no valid URI."""
    return base.text_with_key((base.key if base.is_prefix else base.key + "/") + relative)


def _stat(ctx: TransferContext, uri: ObjectURI) -> ObjectInfo:
    stat_store = as_stat(ctx.store(uri))
    return ctx.call(lambda: stat_store.stat(uri.key), str(uri))


def object_digest(ctx: TransferContext, uri: ObjectURI, info: ObjectInfo, *, recompute: bool = False) -> str:
    """The object's canonical digest: computed as it was listed, or recorded, or computed by reading it.

    The bytes read advance the progress; the caller has planned them (``verify`` and
    ``sync --checksum`` count the bytes they hash as work).
    """
    if info.content_digest is not None:
        return info.content_digest
    if not recompute and is_canonical(info.digest):
        assert info.digest is not None
        return info.digest
    return _compute_digest(ctx, uri, info.size)


def _compute_digest(ctx: TransferContext, uri: ObjectURI, size: int) -> str:
    advance = ctx.progress.advance
    path = local_path(uri)
    if path is not None:  # read here, not through the store (a tree of small files hashes many)
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as err:
            raise NotFoundError(f"cannot read: {err.strerror}", op="verify", uri=str(uri)) from err
        try:
            return digest_file(fd, os.fstat(fd).st_size, workers=ctx.options.hash_workers, hashed=advance)
        finally:
            os.close(fd)
    reader = as_reader(ctx.store(uri))
    if size < ctx.options.multipart_threshold:
        data = ctx.call(lambda: reader.get(uri.key), str(uri))
        builder = ChunkedDigest()
        builder.set_chunks_from(0, hash_chunks(data))
        advance(len(data))
        return builder.value(len(data))
    builder = ChunkedDigest()
    step = max(ctx.options.part_size, CHUNK_SIZE)

    def hash_range(start: int) -> None:
        end = min(start + step, size)
        ctx.budget.acquire(end - start)
        try:
            data = ctx.call(lambda: reader.get(uri.key, range=(start, end)), f"{uri} bytes {start}-{end}")
            builder.set_chunks_from(start, hash_chunks(data))
            advance(len(data))
        finally:
            ctx.budget.release(end - start)

    for future in [ctx.part_pool.submit(hash_range, start) for start in range(0, size, step)]:
        future.result()
    return builder.value(size)


def verify(
    src: Location,
    dst: Location,
    *,
    recursive: bool | None = None,
    recompute: bool = False,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    options: TransferOptions | None = None,
    progress: Progress | None = None,
    opener: StoreOpener | None = None,
) -> VerifyReport:
    """Compare source and destination by canonical digest, object by object.

    A side without a recorded digest is read and hashed; ``recompute`` reads
    and hashes both sides even when digests are recorded (catches corruption
    after upload). ``recursive`` defaults to whether the source is a prefix.
    The report lists mismatches and missing objects (``report.ok``,
    ``report.raise_for_problems()``).
    """
    source, target = parse_uri(src), parse_uri(dst)
    options = options or TransferOptions(journal=False)
    if recursive is None:
        recursive = source.is_prefix or _is_local_dir(source)
    report = VerifyReport()
    with TransferContext(options, progress=progress, opener=opener) as ctx:
        try:
            if not recursive:
                target = _single_target(source, target)
                src_record, dst_record = _stat(ctx, source), _stat_or_none(ctx, target)
                ctx.progress.planned(1, sum(n or 0 for n in _reads(src_record, dst_record, recompute)))
                report.add(_verify_pair(ctx, source.name, source, src_record, target, dst_record, recompute))
                return report
            source, target = _as_prefix(source), _as_prefix(target)
            filters = Filters(tuple(include), tuple(exclude))
            markers = _file_system_side(source, target)
            # Local trees are walked in child processes, as a sync's plan walks them: their
            # system calls then keep off this process, whose threads are busy hashing. Their
            # small files are hashed there too, each tree read in its own order (see
            # small_file_hasher): uncached, that reads 100,000 pairs in half the time.
            walk = {"skip_markers": markers, "in_child": True}
            hasher = small_file_hasher(rehash=recompute)
            pairs = pair_listings(
                list_relative(as_lister(ctx.store(source)), source.key, filters, **walk, hasher=hasher),
                list_relative(as_lister(ctx.store(target)), target.key, filters, **walk, hasher=hasher),
            )
            local = (local_path(source) is not None, local_path(target) is not None)
            stores = (ctx.store(source), ctx.store(target))
            with ThreadPoolExecutor(options.concurrency, thread_name_prefix="omnicloud-verify") as pool:
                # At most twice the concurrency waits: memory stays flat on any tree, and on
                # Ctrl-C or an error the rest is dropped, not compared to the end first.
                # Pairs compared here wait as their entries, the others as futures: in order.
                pending: deque[Future[VerifyEntry] | VerifyEntry] = deque()
                try:
                    for relative, src_info, dst_info in pairs:
                        reads = _reads(src_info, dst_info, recompute)
                        # A side listed without its record (S3, OCI) is stat'ed first: its bytes
                        # count only if it records no digest either (see _recorded).
                        unlisted = (
                            _unlisted(reads[0], src_info, stores[0], recompute),
                            _unlisted(reads[1], dst_info, stores[1], recompute),
                        )
                        planned = sum(n or 0 for n, stat in zip(reads, unlisted, strict=True) if not stat)
                        ctx.progress.planned(1, planned)
                        pair = (relative, source.join(relative), src_info, target.join(relative), dst_info)
                        if not any(unlisted) and _compared_here(reads, local):
                            pending.append(_verify_pair(ctx, *pair, recompute))
                        else:
                            pending.append(pool.submit(_verify_pair, ctx, *pair, recompute, unlisted))
                        while len(pending) > 2 * options.concurrency:
                            report.add(_entry(pending.popleft()))
                    while pending:
                        report.add(_entry(pending.popleft()))
                except BaseException:
                    ctx.stop.set()
                    for waiting in pending:
                        if isinstance(waiting, Future):
                            waiting.cancel()
                    raise
        finally:
            ctx.progress.close()
    return report


def _reads(src: ObjectInfo | None, dst: ObjectInfo | None, recompute: bool) -> tuple[int | None, int | None]:
    """The bytes comparing the two reads from each side (the sides without a recorded digest, or
    both with ``recompute``); ``None`` for a side it does not read."""
    if src is None or dst is None or (src.size != dst.size and not recompute):
        return None, None

    def read(info: ObjectInfo) -> int | None:
        # A side hashed as it was listed (``content_digest``) counts too: it was read, elsewhere.
        return info.size if recompute or not is_canonical(info.digest) else None

    return read(src), read(dst)


def _unlisted(read: int | None, info: ObjectInfo | None, store: Store, recompute: bool) -> bool:
    """Whether a side that comparing reads was listed without its record (S3, OCI), which a
    stat may supply (see ``_recorded``); ``recompute`` reads it whatever it records."""
    return read is not None and info is not None and not recompute and listed_without_record(store, info)


def _recorded(ctx: TransferContext, uri: ObjectURI, *, count: bool = True) -> ObjectInfo:
    """The record of an object its listing left out (S3, OCI), from a stat, so that a recorded
    digest is compared, not read; with ``count``, the bytes of one that records none join the
    progress's total (see ``object_digest``)."""
    stated = _stat(ctx, uri)
    if count and not is_canonical(stated.digest):
        ctx.progress.planned(0, stated.size)
    return stated


def _compared_here(reads: tuple[int | None, int | None], local: tuple[bool, bool]) -> bool:
    """Whether a comparison reads nothing but small local files (see ``_reads``): then it takes
    less time in the calling thread than handed to another (3x less, for 64-byte files)."""
    return all(n is None or (here and n <= CHUNK_SIZE) for n, here in zip(reads, local, strict=True))


def _entry(waiting: Future[VerifyEntry] | VerifyEntry) -> VerifyEntry:
    return waiting.result() if isinstance(waiting, Future) else waiting


def _stat_or_none(ctx: TransferContext, uri: ObjectURI) -> ObjectInfo | None:
    try:
        return _stat(ctx, uri)
    except NotFoundError:
        return None


def _verify_pair(
    ctx: TransferContext,
    relative: str,
    src_uri: ObjectURI,
    src: ObjectInfo | None,
    dst_uri: ObjectURI,
    dst: ObjectInfo | None,
    recompute: bool,
    unlisted: tuple[bool, bool] = (False, False),
) -> VerifyEntry:
    """Compare one pair (reading what has no recorded digest) and report it to the progress;
    the ``unlisted`` sides are stat'ed for their record first (see ``_unlisted``)."""
    if ctx.stop.is_set():
        raise Cancelled
    if src is None:
        entry = VerifyEntry(relative, "extra", None, dst.digest if dst else None)
    elif dst is None:
        entry = VerifyEntry(relative, "missing", src.digest, None)
    elif src.size != dst.size and not recompute:
        entry = VerifyEntry(relative, "mismatch", src.digest, dst.digest, False)
    else:
        src = _recorded(ctx, src_uri) if unlisted[0] else src
        dst = _recorded(ctx, dst_uri) if unlisted[1] else dst
        recomputed = recompute or not (is_canonical(src.digest) and is_canonical(dst.digest))
        src_digest = object_digest(ctx, src_uri, src, recompute=recompute)
        dst_digest = object_digest(ctx, dst_uri, dst, recompute=recompute)
        for side in (src, dst):
            if side.content_digest is not None:  # read and hashed by the listing: its bytes count here
                ctx.progress.advance(side.size)
        status: VerifyStatus = "ok" if src_digest == dst_digest else "mismatch"
        entry = VerifyEntry(relative, status, src_digest, dst_digest, recomputed)
    known = src if src is not None else dst
    ctx.progress.object_done(
        ObjectResult(
            str(src_uri) if src is not None else None,
            str(dst_uri),
            "verify",
            entry.status,
            known.size if known is not None else 0,
            digest=entry.source_digest,
            reason=entry.problem or "",
        )
    )
    return entry


def bulk_download(
    uris: Iterable[Location],
    directory: str | os.PathLike[str],
    *,
    options: TransferOptions | None = None,
    progress: Progress | None = None,
    opener: StoreOpener | None = None,
) -> list[DownloadResult]:
    """Download many objects into ``directory``, keeping each key's path below it.

    Objects download concurrently (large ones in parallel ranges); one result
    per URI, in the order given, with the error when that object failed. A
    store that cannot serve ranged reads falls back to sequential whole-object
    downloads. ``concurrency=1`` in ``options`` downloads one at a time.
    """
    options = options or TransferOptions()
    root = Path(directory).absolute()
    _refuse_a_file_in_the_way(root, "download")
    parsed: list[ObjectURI | None] = []
    results: list[DownloadResult | None] = []
    seen: dict[Path, str] = {}
    for item in uris:
        try:
            uri = parse_uri(item)
            path = root / uri.key
            if uri.is_prefix:
                raise ConfigError("a bulk download takes object URIs, not prefixes", uri=str(uri))
            if path in seen:
                raise ConfigError(f"{uri} and {seen[path]} would both download to {path}")
            seen[path] = str(uri)
            parsed.append(uri)
            results.append(None)
        except OmniCloudError as err:
            parsed.append(None)
            results.append(DownloadResult(str(item), None, error=str(err)))

    def download(uri: ObjectURI, ctx: TransferContext) -> DownloadResult:
        target = parse_uri(str(root / uri.key))
        try:
            try:
                info = _stat(ctx, uri)
            except UnsupportedError:
                # No stat on this store either: a bare record, so the bytes alone (no digest to check
                # them against, no date to keep), in one whole-object GET.
                bare = ObjectInfo(key=uri.key, size=0)
                result = copy_object(ctx, uri, target, bare, stated=True, whole=True)
            else:
                ctx.progress.planned(0, info.size)  # the bar's total grows as sizes become known
                try:
                    result = copy_object(ctx, uri, target, info, stated=True)
                except UnsupportedError:
                    # No ranged reads on this store: one whole-object GET, checked and dated as any copy.
                    result = copy_object(ctx, uri, target, info, stated=True, whole=True)
        except OmniCloudError as err:
            return DownloadResult(str(uri), None, error=str(err))
        ctx.progress.object_done(result)
        return DownloadResult(str(uri), str(root / uri.key), result.size, result.digest)

    with TransferContext(options, progress=progress, opener=opener) as ctx:
        ctx.progress.planned(sum(1 for u in parsed if u is not None), 0)
        try:
            with ThreadPoolExecutor(options.concurrency, thread_name_prefix="omnicloud-download") as pool:
                futures = {
                    index: pool.submit(_guard_download, download, uri, ctx)
                    for index, uri in enumerate(parsed)
                    if uri is not None
                }
                for index, future in futures.items():
                    results[index] = future.result()
        except KeyboardInterrupt:
            ctx.stop.set()
            raise
        finally:
            ctx.progress.close()
    return [r for r in results if r is not None]


def _refuse_a_file_in_the_way(root: Path, verb: str) -> None:
    """A destination directory that is a file, or lies below one, fails every object: say so once.

    An operation that failed (exit 1, as ``cp`` into a file's path), not bad usage.
    """
    existing = root
    try:
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if existing.is_dir():
            return
    except OSError:  # not ours to look at (permission denied): each object's write says so
        return
    raise OmniCloudError(f"cannot {verb} into {root}: {existing} is a file, not a directory", op=verb)


def _guard_download(
    download: Callable[[ObjectURI, TransferContext], DownloadResult], uri: ObjectURI, ctx: TransferContext
) -> DownloadResult:
    try:
        return download(uri, ctx)
    except OmniCloudError as err:
        return DownloadResult(str(uri), None, error=str(err))


def _write_manifest(
    manifest: str | os.PathLike[str] | None,
    mode: str,
    source: ObjectURI,
    target: ObjectURI,
    summary: TransferSummary,
) -> None:
    """A JSON record of what was done: the summary and one entry per object not skipped."""
    if manifest is None:
        return
    document = {
        "operation": mode,
        "source": str(source),
        "destination": str(target),
        "finished": datetime.now(UTC).isoformat(),
        "summary": summary.counts(),
        "objects": [
            {
                "source": r.source,
                "destination": r.destination,
                "action": r.action,
                "outcome": r.outcome,
                "size": r.size,
                "digest": r.digest,
                "reason": r.reason,
                "error": r.error,
            }
            for r in summary.results
        ],
    }
    path = Path(manifest)
    encoded = (json_text(document, indent=2) + "\n").encode("utf-8")
    temp = path.with_name(f"{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temp.write_bytes(encoded)
        os.replace(temp, path)
    except OSError as err:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise OmniCloudError(
            f"cannot write the manifest: {err.strerror}", op="manifest", uri=str(path)
        ) from err


def _check_manifest(manifest: str | os.PathLike[str] | None) -> None:
    """Refuse, before anything moves, a manifest path that can never be written."""
    if manifest is None:
        return
    path = Path(manifest)
    if path.is_dir():
        raise ConfigError(f"the manifest {path} is a directory", hint="name a file, e.g. manifest.json")
    parent = next((p for p in path.absolute().parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise ConfigError(f"cannot write the manifest {path}: {parent} is a file")
