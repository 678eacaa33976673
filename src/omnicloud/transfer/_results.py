"""What a transfer reports: one record per object and a summary."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from omnicloud.errors import IntegrityError

__all__ = [
    "Action",
    "DownloadResult",
    "ObjectResult",
    "TransferSummary",
    "VerifyEntry",
    "VerifyReport",
    "VerifyStatus",
]

Action = Literal["copy", "skip", "delete"]
Outcome = Literal["copied", "skipped", "deleted", "failed", "planned", "resumed"]
VerifyStatus = Literal["ok", "mismatch", "missing", "extra"]


@dataclass(frozen=True, slots=True)
class ObjectResult:
    """What happened to one object. ``source``/``destination`` are canonical URIs.

    ``verify`` reports each object it compared as action ``"verify"`` with its
    status as the outcome (and why it differs as ``reason``).
    """

    source: str | None
    destination: str
    action: Action | Literal["verify"]
    outcome: Outcome | VerifyStatus
    size: int = 0
    digest: str | None = None
    error: str | None = None
    resumed_parts: int = 0
    reason: str = ""
    restarted: str = ""  # why an interrupted transfer of this object was started over, not resumed


@dataclass(slots=True)
class TransferSummary:
    """Counts for a copy or sync; ``results`` lists every object that was not skipped.

    In a dry run nothing is written: ``copied``/``deleted`` count what would be,
    and ``estimated_cost`` holds the egress estimate when the cost catalog can
    price the route.
    """

    copied: int = 0
    skipped: int = 0
    deleted: int = 0
    failed: int = 0
    bytes: int = 0
    elapsed: float = 0.0
    dry_run: bool = False
    estimated_cost: Any = None
    results: list[ObjectResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failed == 0

    def add(self, result: ObjectResult) -> None:
        if result.outcome == "skipped":
            self.skipped += 1
            return
        self.results.append(result)
        if result.outcome == "failed":
            self.failed += 1
        elif result.action == "delete":
            self.deleted += 1
        else:
            self.copied += 1
            self.bytes += result.size

    def merge(self, other: TransferSummary) -> None:
        self.copied += other.copied
        self.skipped += other.skipped
        self.deleted += other.deleted
        self.failed += other.failed
        self.bytes += other.bytes
        self.results.extend(other.results)

    def counts(self) -> dict[str, Any]:
        """The summary object the CLI prints last with ``--json``."""
        summary: dict[str, Any] = {
            "type": "summary",
            "copied": self.copied,
            "skipped": self.skipped,
            "deleted": self.deleted,
            "failed": self.failed,
            "bytes": self.bytes,
            "elapsed": round(self.elapsed, 3),
            "dry_run": self.dry_run,
        }
        if self.estimated_cost is not None:
            summary["estimated_cost"] = self.estimated_cost
        return summary


@dataclass(frozen=True, slots=True)
class VerifyEntry:
    key: str
    status: VerifyStatus
    source_digest: str | None = None
    destination_digest: str | None = None
    recomputed: bool = False

    @property
    def problem(self) -> str | None:
        """Why the two sides differ, in a few words; ``None`` when they match."""
        if self.status == "missing":
            return "not at the destination"
        if self.status == "extra":
            return "not in the source"
        if self.status == "ok":
            return None
        if self.source_digest is None or self.destination_digest is None:
            return "sizes differ"  # found without reading either side
        return f"source {self.source_digest}, destination {self.destination_digest}"


@dataclass(slots=True)
class VerifyReport:
    """Source and destination compared object by object by canonical digest.

    ``entries`` holds the objects that differ, are missing or are extra;
    matches are only counted (``matched``), so a tree of any size is
    verified in flat memory. ``recomputed`` counts the objects compared by
    reading at least one side (no digest recorded there, or ``recompute``).
    """

    matched: int = 0
    recomputed: int = 0
    entries: list[VerifyEntry] = field(default_factory=list)

    @property
    def mismatched(self) -> list[VerifyEntry]:
        return [e for e in self.entries if e.status == "mismatch"]

    @property
    def missing(self) -> list[VerifyEntry]:
        return [e for e in self.entries if e.status == "missing"]

    @property
    def extra(self) -> list[VerifyEntry]:
        """Destination objects the source lacks."""
        return [e for e in self.entries if e.status == "extra"]

    @property
    def ok(self) -> bool:
        return not self.entries

    def add(self, entry: VerifyEntry) -> None:
        self.recomputed += entry.recomputed
        if entry.status == "ok":
            self.matched += 1
        else:
            self.entries.append(entry)

    def raise_for_problems(self) -> None:
        """``IntegrityError`` when an object differs or is missing; extra objects (which a copy
        without deletions leaves) do not raise, though they make ``ok`` false."""
        bad = [e for e in self.entries if e.status in ("mismatch", "missing")]
        if bad:
            first = bad[0]
            raise IntegrityError(
                f"{len(bad)} object(s) differ or are missing; first: {first.key} ({first.status})",
                op="verify",
            )


@dataclass(frozen=True, slots=True)
class DownloadResult:
    """One URI of a bulk download: where it went, or why not."""

    source: str
    path: str | None
    size: int = 0
    digest: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None
