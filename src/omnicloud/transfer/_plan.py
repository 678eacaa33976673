"""Plan and diff: list both sides lazily, walk them together, decide per object.

Both listings arrive in key order (every backend lists in byte order of the
key, which the contract suite checks), so the two sides are merged like
sorted files: memory stays constant whatever the number of objects (except
for planned deletions, held until both listings end), and the first actions
are ready after the first page. A listing out of order stops the plan with
an error rather than risk a wrong deletion.

Diff rules (first match wins):

=====================================  ========================================
situation                              decision
=====================================  ========================================
destination missing                    copy (``missing``)
``copy -r`` (``mode="copy"``)          copy (``overwrite``), as ``cp -r`` does
sizes differ                           copy (``size``)
both sides record canonical digests    equal: skip; different: copy (``digest``)
``--checksum``                         compare digests, computing missing ones
                                       at apply time (``checksum``)
otherwise: size and time               skip if the destination is at least as
                                       new as the source (to the whole second),
                                       else copy (``newer``)
=====================================  ========================================

With ``delete``, destination objects without a source become deletions.
``include``/``exclude`` are shell globs matched against the key relative to
the prefix (``*`` also crosses ``/``); excluded objects are neither copied nor
deleted.
"""

from __future__ import annotations

import fnmatch
import functools
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, NamedTuple, TypeVar

from omnicloud.errors import NotFoundError, OmniCloudError
from omnicloud.storage import Lister, ObjectInfo
from omnicloud.storage._types import DIGEST_METADATA_KEY, MTIME_METADATA_KEY
from omnicloud.storage.local import ContentHasher, ListedRecord, LocalStore
from omnicloud.transfer._digest import is_canonical, small_file_hasher
from omnicloud.transfer._results import Action

__all__ = ["Filters", "PlannedAction", "compare", "list_relative", "pair_listings", "plan_actions"]

PlanMode = Literal["sync", "copy"]


class PlannedAction(NamedTuple):
    """One decision: ``relative`` is the key below both prefixes.

    ``source`` and ``destination`` are the listings' records of the object
    (``source`` is None for a deletion). A skip that a plan between two local
    trees decided from the listing children's plain records alone carries
    neither: no object was made for it (see ``_unchanged_records``).

    A named tuple, not a frozen dataclass: a plan makes one per object of
    both trees, and a tuple is made in a fifth of the time.
    """

    action: Action
    relative: str
    source: ObjectInfo | None
    destination: ObjectInfo | None
    reason: str
    needs_checksum: bool = False

    @property
    def size(self) -> int:
        if self.action == "copy" and self.source is not None:
            return self.source.size
        return 0


@dataclass(frozen=True, slots=True)
class Filters:
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def allows(self, relative: str) -> bool:
        if self.include and not any(fnmatch.fnmatchcase(relative, p) for p in self.include):
            return False
        return not any(fnmatch.fnmatchcase(relative, p) for p in self.exclude)


def compare(
    source: ObjectInfo, destination: ObjectInfo | None, *, mode: PlanMode, checksum: bool
) -> tuple[Action, str, bool]:
    """The action for one object present at the source: ``(action, reason, needs_checksum)``."""
    if destination is None:
        return "copy", "missing", False
    if mode == "copy":
        return "copy", "overwrite", False
    if source.size != destination.size:
        return "copy", "size", False
    source_digest = source.digest
    # Most listings carry no digest: test for None before parsing.
    if source_digest is not None and is_canonical(source_digest) and is_canonical(destination.digest):
        if source_digest == destination.digest:
            return "skip", "digest", False
        return "copy", "digest", False
    if checksum:
        return "copy", "checksum", True
    if source.metadata or destination.metadata:  # most listings carry none: the cheap test first
        at_least_as_new = _at_least_as_new(destination.modified, source.modified)
    else:
        at_least_as_new = _at_least_as_new(destination.last_modified, source.last_modified)
    if at_least_as_new:
        return "skip", "size+mtime", False
    return "copy", "newer", False


def _at_least_as_new(destination: datetime | None, source: datetime | None) -> bool:
    if destination is None or source is None:
        return False
    # Truncating keeps the order, so a destination at least as new to the
    # microsecond needs no truncation (the common case, and the cheap one).
    if destination >= source:
        return True
    # Whole seconds: HTTP dates (Azure, GCS XML, S3 HEAD) carry no fractions.
    return destination.replace(microsecond=0) >= source.replace(microsecond=0)


def list_relative(
    lister: Lister,
    prefix: str,
    filters: Filters,
    *,
    top_level_only: bool = False,
    in_child: bool = False,
    skip_markers: bool = False,
    hasher: ContentHasher | None = None,
) -> Iterator[tuple[str, ObjectInfo]]:
    """Objects below ``prefix`` as ``(relative key, info)``; only the first level with ``top_level_only``.

    ``in_child`` asks a store that can walk a listing in another process
    (``list_in_child``: local trees, bound by system calls) to do so, and
    ``hasher`` to compute content digests there as it walks (see ``small_file_hasher``).
    ``skip_markers`` leaves out folder markers (empty objects whose key ends
    in ``/``, as consoles make them), which a file system holds as directories.
    """
    cut = len(prefix)
    allows = _allows(filters)
    in_other_process = getattr(lister, "list_in_child", None) if in_child and not top_level_only else None
    listing = (
        in_other_process(prefix, hasher=hasher)
        if in_other_process is not None
        else lister.list(prefix, delimiter="/" if top_level_only else None)
    )
    for info in listing:
        if info.is_prefix:
            continue
        relative = info.key[cut:]
        if skip_markers and info.size == 0 and relative.endswith("/"):
            continue
        if relative and (allows is None or allows(relative)):
            yield relative, info


def _relative_records(
    store: LocalStore, prefix: str, filters: Filters, hasher: ContentHasher | None
) -> Iterator[tuple[str, ListedRecord]]:
    """``list_relative`` of a local tree, as the plain records of ``LocalStore.list_records``."""
    cut = len(prefix)
    allows = _allows(filters)
    for record in store.list_records(prefix, hasher=hasher):
        relative = record[0][cut:]
        if relative and (allows is None or allows(relative)):
            yield relative, record


def _allows(filters: Filters) -> Callable[[str], bool] | None:
    """The test of a relative key against the filters; None when there are none (the common case)."""
    return filters.allows if filters.include or filters.exclude else None


def _unchanged_records(source: ListedRecord, destination: ListedRecord, *, checksum: bool) -> str | None:
    """The reason to skip a pair of local files, told from their listing records without making objects.

    None where the sync would copy, and also wherever telling needs more than
    the records (a date recorded in metadata, say): the plan then makes both
    objects and asks ``compare``. A skip found here is one the sync makes too
    (a test checks every one):

    - ``digest`` and ``size+mtime``: the skips ``compare`` finds, by its rules;
    - ``checksum`` (with ``checksum``): ``compare`` leaves the pair to be
      hashed, and the digests that would be compared are already known and
      equal: the listing children hashed both files (``content_digest``), or
      one records a digest and the other was hashed.
    """
    if source[1] != destination[1]:
        return None
    src_meta, dst_meta = source[4], destination[4]
    src_digest = src_meta.get(DIGEST_METADATA_KEY) if src_meta else None
    dst_digest = dst_meta.get(DIGEST_METADATA_KEY) if dst_meta else None
    if src_digest is not None and is_canonical(src_digest) and is_canonical(dst_digest):
        return "digest" if src_digest == dst_digest else None
    if checksum:
        # What ``object_digest`` would compare: the digest computed as listed, else the recorded one.
        src_known = source[6] or (src_digest if is_canonical(src_digest) else None)
        dst_known = destination[6] or (dst_digest if is_canonical(dst_digest) else None)
        return "checksum" if src_known is not None and src_known == dst_known else None
    if (src_meta and MTIME_METADATA_KEY in src_meta) or (dst_meta and MTIME_METADATA_KEY in dst_meta):
        return None
    # compare's rule on the dates listings give (to the microsecond, whole seconds if older).
    src_time, dst_time = source[3], destination[3]
    if dst_time >= src_time or _listed_second(dst_time) >= _listed_second(src_time):
        return "size+mtime"
    return None


def _listed_second(seconds: float) -> int:
    """The whole second of ``datetime.fromtimestamp(seconds)``, which rounds to the microsecond
    first (half to even): a file written at x.9999996 s is listed at x+1 s."""
    fraction, whole = math.modf(seconds)
    return int(whole) + round(fraction * 1_000_000) // 1_000_000


def plan_actions(
    source: Lister,
    source_prefix: str,
    destination: Lister | None,
    destination_prefix: str,
    *,
    mode: PlanMode = "sync",
    checksum: bool = False,
    delete: bool = False,
    filters: Filters | None = None,
    top_level_only: bool = False,
    refuse_empty_source: bool = False,
    skip_markers: bool = False,
) -> Iterator[PlannedAction]:
    """Walk both listings together and yield one action per object, skips included.

    With ``refuse_empty_source``, a source that lists nothing while the
    destination has objects to delete raises :class:`NotFoundError` instead:
    a mistyped source prefix must not empty the destination. ``skip_markers``
    is for a transfer between a file system and a bucket (see ``list_relative``).
    """
    filters = filters or Filters()
    # Each side is walked in another process where it can be (local trees):
    # their system calls then run beside each other and beside the merge.
    walk = {"top_level_only": top_level_only, "in_child": True, "skip_markers": skip_markers}
    # With ``checksum``, small local files are hashed there too, unless they record a digest.
    hasher = small_file_hasher(rehash=False) if checksum else None
    actions: Iterator[PlannedAction]
    if isinstance(source, LocalStore) and isinstance(destination, LocalStore) and not top_level_only:
        # Two local trees: most objects are decided from the children's plain records, and
        # only those copied or deleted become objects.
        actions = _merge_items(
            _relative_records(source, source_prefix, filters, hasher),
            _relative_records(destination, destination_prefix, filters, hasher),
            LocalStore.info_of,
            functools.partial(_unchanged_records, checksum=checksum) if mode == "sync" else None,
            mode=mode,
            checksum=checksum,
            delete=delete,
        )
    else:
        src_iter = list_relative(source, source_prefix, filters, **walk, hasher=hasher)
        dst_iter: Iterable[tuple[str, ObjectInfo]] = (
            list_relative(destination, destination_prefix, filters, **walk, hasher=hasher)
            if destination is not None
            else ()
        )
        actions = _merge(src_iter, iter(dst_iter), mode=mode, checksum=checksum, delete=delete)
    if not refuse_empty_source:
        yield from actions
        return
    source_seen = False
    for action in actions:
        if action.action == "delete" and not source_seen:
            raise empty_source_error(source_prefix)
        source_seen = True
        yield action


def empty_source_error(source_prefix: str) -> NotFoundError:
    """Why a sync with deletions refuses a source that lists nothing (a mistyped prefix, say)."""
    return NotFoundError(
        f"the source lists no objects below {source_prefix!r}; nothing was deleted",
        op="list",
        hint="check the source; to empty the destination, use `omnicloud rm -r`",
    )


def _ordered(listing: Iterator[tuple[str, ObjectInfo]], side: str) -> Iterator[tuple[str, ObjectInfo]]:
    previous: str | None = None
    for relative, info in listing:
        if previous is not None and relative <= previous:
            raise _out_of_order(side, relative, previous)
        previous = relative
        yield relative, info


def _out_of_order(side: str, relative: str, previous: str) -> OmniCloudError:
    return OmniCloudError(
        f"the {side} listing is not in key order ({relative!r} after {previous!r})",
        op="list",
        hint="the backend must list keys in byte order; nothing was deleted",
    )


def pair_listings(
    src_iter: Iterator[tuple[str, ObjectInfo]],
    dst_iter: Iterator[tuple[str, ObjectInfo]],
) -> Iterator[tuple[str, ObjectInfo | None, ObjectInfo | None]]:
    """Join two key-ordered listings: ``(relative, source or None, destination or None)``.

    A listing out of key order raises :class:`OmniCloudError` (deletions are
    planned only after both listings ended, so none happens on a bad join).
    """
    src_iter, dst_iter = _ordered(src_iter, "source"), _ordered(dst_iter, "destination")
    dst_next = next(dst_iter, None)
    for relative, src in src_iter:
        while dst_next is not None and dst_next[0] < relative:
            yield dst_next[0], None, dst_next[1]
            dst_next = next(dst_iter, None)
        if dst_next is not None and dst_next[0] == relative:
            yield relative, src, dst_next[1]
            dst_next = next(dst_iter, None)
        else:
            yield relative, src, None
    while dst_next is not None:
        yield dst_next[0], None, dst_next[1]
        dst_next = next(dst_iter, None)


def _merge(
    src_iter: Iterator[tuple[str, ObjectInfo]],
    dst_iter: Iterator[tuple[str, ObjectInfo]],
    *,
    mode: PlanMode,
    checksum: bool,
    delete: bool,
) -> Iterator[PlannedAction]:
    """``pair_listings`` and ``compare``, fused: the actions for two key-ordered listings."""
    return _merge_items(src_iter, dst_iter, _itself, None, mode=mode, checksum=checksum, delete=delete)


def _itself(info: ObjectInfo) -> ObjectInfo:
    return info


_Item = TypeVar("_Item")


def _merge_items(
    src_iter: Iterator[tuple[str, _Item]],
    dst_iter: Iterator[tuple[str, _Item]],
    info: Callable[[_Item], ObjectInfo],
    unchanged: Callable[[_Item, _Item], str | None] | None,
    *,
    mode: PlanMode,
    checksum: bool,
    delete: bool,
) -> Iterator[PlannedAction]:
    """``_merge`` of listings of any items: ``info`` makes an item's object, and ``unchanged``,
    when given, tells some skips from two items before any object is made (``_unchanged_records``)."""
    # pair_listings and compare, fused: this loop runs once per object of
    # both listings, so it avoids a generator layer per step; the results
    # are the same.
    # Deletions wait until both listings have ended in order (rclone's delete-after):
    # a listing error can then never cost a destination object.
    deletions: list[PlannedAction] = []
    previous_src: str | None = None
    previous_dst: str | None = None
    dst_next = next(dst_iter, None)
    for relative, src in src_iter:
        if previous_src is not None and relative <= previous_src:
            raise _out_of_order("source", relative, previous_src)
        previous_src = relative
        dst: _Item | None = None
        while dst_next is not None:
            dst_relative = dst_next[0]
            if previous_dst is not None and dst_relative <= previous_dst:
                raise _out_of_order("destination", dst_relative, previous_dst)
            if dst_relative > relative:
                break
            previous_dst = dst_relative
            if dst_relative == relative:
                dst = dst_next[1]
                dst_next = next(dst_iter, None)
                break
            if delete:
                deletions.append(PlannedAction("delete", dst_relative, None, info(dst_next[1]), "extra"))
            dst_next = next(dst_iter, None)
        if dst is None:
            yield PlannedAction("copy", relative, info(src), None, "missing")
            continue
        if unchanged is not None:
            reason = unchanged(src, dst)
            if reason is not None:
                yield PlannedAction("skip", relative, None, None, reason)
                continue
        src_info, dst_info = info(src), info(dst)
        action, reason, needs = compare(src_info, dst_info, mode=mode, checksum=checksum)
        yield PlannedAction(action, relative, src_info, dst_info, reason, needs)
    while dst_next is not None:
        dst_relative = dst_next[0]
        if previous_dst is not None and dst_relative <= previous_dst:
            raise _out_of_order("destination", dst_relative, previous_dst)
        previous_dst = dst_relative
        if delete:
            deletions.append(PlannedAction("delete", dst_relative, None, info(dst_next[1]), "extra"))
        dst_next = next(dst_iter, None)
    yield from deletions
