"""The transfer engine: fast, verified, resumable copy, sync, verify and bulk download.

One engine runs every transfer: plan (list both sides lazily) -> diff ->
apply (bounded concurrency, multipart uploads, ranged parallel downloads into
a preallocated file, streaming between clouds) -> verify (the canonical
digest, recorded in object metadata at upload). A SQLite journal records
finished parts and objects so a killed transfer resumes::

    from omnicloud.transfer import copy, sync, verify

    copy("/data/model.bin", "s3://bucket/models/")
    summary = sync("gs://src/data/", "az://dst/data/", delete=True)
    print(summary.copied, summary.skipped, summary.deleted, summary.bytes)
    verify("gs://src/data/", "az://dst/data/").raise_for_problems()

See docs/transfer.md for the digest, the diff rules, resume and tuning.
"""

from omnicloud.transfer._context import StoreOpener
from omnicloud.transfer._digest import CHUNK_SIZE, DIGEST_ALGORITHM, digest_bytes
from omnicloud.transfer._engine import Location, bulk_download, copy, sync, verify
from omnicloud.transfer._journal import Journal
from omnicloud.transfer._options import TransferOptions
from omnicloud.transfer._progress import JsonLinesProgress, NullProgress, Progress, RichProgress
from omnicloud.transfer._results import (
    DownloadResult,
    ObjectResult,
    TransferSummary,
    VerifyEntry,
    VerifyReport,
)

__all__ = [
    "CHUNK_SIZE",
    "DIGEST_ALGORITHM",
    "DownloadResult",
    "Journal",
    "JsonLinesProgress",
    "Location",
    "NullProgress",
    "ObjectResult",
    "Progress",
    "RichProgress",
    "StoreOpener",
    "TransferOptions",
    "TransferSummary",
    "VerifyEntry",
    "VerifyReport",
    "bulk_download",
    "copy",
    "digest_bytes",
    "sync",
    "verify",
]
