"""Transfer commands: cp (one object or -r), sync, verify, download.

With ``--json`` the commands print JSON lines (progress records and one
record per object) and end with a summary object; a single-object ``cp``
prints progress records and ends with its result. Rich progress bars appear
only on an interactive terminal outside CI.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer

from omnicloud.cli._output import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    console,
    err_console,
    print_json,
    print_json_lines,
    print_lines,
    reporting_errors,
)

if TYPE_CHECKING:
    from omnicloud.transfer import TransferOptions, TransferSummary

__all__ = ["cp", "download", "parse_size", "register", "sync", "verify"]

JSON_OPTION = typer.Option(False, "--json", help="JSON lines for scripts; the last is the summary.")
QUIET_OPTION = typer.Option(
    False, "--quiet", "-q", help="No progress bars and no report of what went well; errors still on stderr."
)
CONCURRENCY_OPTION = typer.Option(None, "--concurrency", "-c", help="Objects in flight at once (default 16).")
PART_CONCURRENCY_OPTION = typer.Option(
    None,
    "--part-concurrency",
    help="Parts or ranges of large objects in flight at once (default 8); to GCS, parts per request.",
)
PART_SIZE_OPTION = typer.Option(
    None, "--part-size", help="Part size (16MiB); objects of two parts or more go in parts (default 64MiB)."
)
MAX_MEMORY_OPTION = typer.Option(
    None, "--max-memory", help="Bytes held in part buffers at most, e.g. 64MiB (default)."
)
BWLIMIT_OPTION = typer.Option(None, "--bwlimit", help="Bandwidth limit in bytes per second, e.g. 10MiB.")
JOURNAL_OPTION = typer.Option(
    None,
    "--journal",
    help="Journal file for resume (default: $OMNICLOUD_STATE_DIR or ~/.local/state/omnicloud).",
)
RETRIES_OPTION = typer.Option(None, "--retries", help="Attempts per request on throttling and outages (5).")
NO_JOURNAL_OPTION = typer.Option(False, "--no-journal", help="No journal: an interrupted run starts over.")
INCLUDE_OPTION = typer.Option(None, "--include", help="Only keys matching this glob (repeatable).")
EXCLUDE_OPTION = typer.Option(None, "--exclude", help="Skip keys matching this glob (repeatable).")
DRY_RUN_OPTION = typer.Option(False, "--dry-run", "-n", help="Print the plan and its egress cost only.")
MANIFEST_OPTION = typer.Option(None, "--manifest", help="Write a JSON record of what was done to FILE.")

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)(b?)\s*$", re.IGNORECASE)
_UNITS = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4}


def parse_size(text: str) -> int:
    """``"16MiB"``, ``"16M"`` and ``"16MB"`` -> bytes. Single letters and ``iB`` are powers of
    1024 (as rclone reads them); ``kB``/``MB``/``GB`` are powers of 1000."""
    from omnicloud.errors import ConfigError

    match = _SIZE.match(text)
    if not match:
        raise ConfigError(f"not a size: {text!r}", hint="use a number with an optional unit: 512k, 16MiB, 1G")
    number, unit, binary, byte = match.groups()
    base = 1000 if (byte and not binary and unit) else 1024
    return int(float(number) * base ** _UNITS[unit.lower()])


def _options(
    *,
    concurrency: int | None,
    part_concurrency: int | None,
    part_size: str | None,
    max_memory: str | None,
    bwlimit: str | None,
    journal: str | None,
    no_journal: bool,
    retries: int | None = None,
) -> TransferOptions:
    from omnicloud.transfer import TransferOptions

    settings: dict[str, Any] = {}
    if concurrency is not None:
        settings["concurrency"] = concurrency
    if part_concurrency is not None:
        settings["part_concurrency"] = part_concurrency
    if part_size is not None:
        settings["part_size"] = parse_size(part_size)
        # Objects of two parts or more go in parts.
        settings["multipart_threshold"] = settings["part_size"] * 2
    if max_memory is not None:
        settings["max_memory"] = parse_size(max_memory)
    if retries is not None:
        settings["retries"] = retries
    if bwlimit is not None:
        settings["bwlimit"] = float(parse_size(bwlimit))
    if no_journal:
        settings["journal"] = False
    elif journal is not None:
        settings["journal"] = journal
    return TransferOptions(**settings)


# The options that tune a transfer, the same on every command that moves bytes (see _tuned).
_TUNING = tuple(
    inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=kind)
    for name, option, kind in (
        ("concurrency", CONCURRENCY_OPTION, int),
        ("part_concurrency", PART_CONCURRENCY_OPTION, int),
        ("part_size", PART_SIZE_OPTION, str),
        ("max_memory", MAX_MEMORY_OPTION, str),
        ("bwlimit", BWLIMIT_OPTION, str),
        ("journal", JOURNAL_OPTION, str),
        ("no_journal", NO_JOURNAL_OPTION, bool),
        ("retries", RETRIES_OPTION, int),
    )
)


def _tuned(command: Callable[..., None]) -> Callable[..., None]:
    """``command`` as Typer sees it: its ``options`` parameter becomes the tuning options.

    Typer builds a command's options from its signature, so the wrapper shows
    the tuning parameters in place of ``options``, and hands the command the
    TransferOptions made from them.
    """
    signature = inspect.signature(command)
    kept = [parameter for name, parameter in signature.parameters.items() if name != "options"]

    @functools.wraps(command)
    def run(**arguments: Any) -> None:
        with reporting_errors():
            options = _options(**{parameter.name: arguments.pop(parameter.name) for parameter in _TUNING})
        command(**arguments, options=options)

    run.__signature__ = signature.replace(parameters=[*kept, *_TUNING])  # type: ignore[attr-defined]
    hints = {name: hint for name, hint in command.__annotations__.items() if name != "options"}
    run.__annotations__ = hints | {parameter.name: parameter.annotation for parameter in _TUNING}
    return run


def _human_size(size: float) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def _print_summary(summary: TransferSummary, *, json_output: bool, verb: str, quiet: bool = False) -> None:
    if quiet and not json_output and not summary.dry_run:  # a dry run's plan is what was asked for
        _print_failures(summary)
    elif json_output:
        if summary.dry_run:  # the plan, one line per object, as a run reports what it did
            from omnicloud.transfer._progress import object_record

            print_json_lines(object_record(result) for result in summary.results)
        print_json(summary.counts())
    else:
        if summary.dry_run:
            print_lines(
                (
                    f"would {result.action} {result.source} -> {result.destination}"
                    if result.source
                    else f"would {result.action} {result.destination}"
                )
                + (" (if the digests differ)" if result.reason == "checksum" else "")
                for result in summary.results
            )
        rate = summary.bytes / summary.elapsed if summary.elapsed > 0 else 0.0
        what = "would copy" if summary.dry_run else verb
        line = (
            f"{what} {summary.copied}, skipped {summary.skipped}, "
            f"{'would delete' if summary.dry_run else 'deleted'} {summary.deleted}, "
            f"{_human_size(summary.bytes)}"
        )
        if not summary.dry_run:
            line += f" in {summary.elapsed:.1f} s ({_human_size(rate)}/s)"
        if summary.failed:
            line += f", {summary.failed} FAILED"
        console.print(line, markup=False)
        if summary.estimated_cost is not None:
            cost = summary.estimated_cost
            console.print(
                f"estimated egress cost: ${cost.get('total', '?')} ({cost.get('catalog_version', '')})",
                markup=False,
            )
        elif summary.dry_run:
            console.print("estimated egress cost: not available for this route", markup=False)
        _print_failures(summary)
    if summary.failed:
        raise typer.Exit(EXIT_FAILURE)


def _print_failures(summary: TransferSummary) -> None:
    for result in summary.results:
        if result.outcome == "failed":
            err_console.print(f"failed: {result.destination}: {result.error}", markup=False)


def _interrupted_hint(options: TransferOptions) -> NoReturn:
    """The one line a transfer stopped by Ctrl-C ends with (the exit status says it was interrupted)."""
    if options.journal_path() is None:
        err_console.print("stopped; with --no-journal nothing was kept to resume from", markup=False)
    else:
        err_console.print("stopped; run the same command again to resume", markup=False)
    raise typer.Exit(EXIT_INTERRUPTED)


@_tuned
def cp(
    src: str = typer.Argument(..., help="Source: a URI or a local path (a prefix or directory with -r)."),
    dst: str = typer.Argument(..., help="Destination URI or local path; a trailing / means 'into'."),
    recursive: bool = typer.Option(False, "--recursive", "-r", help="Copy every object below the prefix."),
    include: list[str] = INCLUDE_OPTION,
    exclude: list[str] = EXCLUDE_OPTION,
    dry_run: bool = DRY_RUN_OPTION,
    manifest: Path = MANIFEST_OPTION,
    json_output: bool = JSON_OPTION,
    quiet: bool = QUIET_OPTION,
    *,
    options: TransferOptions,
) -> None:
    """Copy one object, or with -r every object below a prefix; verified by digest, resumable."""
    from omnicloud.transfer import copy
    from omnicloud.transfer._progress import JsonLinesProgress, choose_progress

    with reporting_errors():
        # One object with --json: progress lines, then its result (no object line to repeat it).
        progress = (
            JsonLinesProgress(objects=False)
            if json_output and not recursive and not dry_run
            else choose_progress(json_lines=json_output and recursive, quiet=quiet or json_output)
        )
        try:
            summary = copy(
                src,
                dst,
                recursive=recursive,
                include=include or (),
                exclude=exclude or (),
                dry_run=dry_run,
                options=options,
                progress=progress,
                manifest=manifest,
            )
        except KeyboardInterrupt:
            _interrupted_hint(options)
        if not recursive:
            result = summary.results[0]
            if json_output:
                record: dict[str, Any] = {
                    "type": "result",
                    "source": result.source,
                    "destination": result.destination,
                    "size": result.size,
                    "digest": result.digest,
                    "resumed_parts": result.resumed_parts,
                }
                if result.restarted:
                    record["restarted"] = result.restarted
                if dry_run:
                    record["dry_run"] = True
                    record["estimated_cost"] = summary.estimated_cost
                print_json(record)
            elif dry_run:
                _print_summary(summary, json_output=False, verb="copied")
            elif not quiet:
                console.print(
                    f"copied {result.source} -> {result.destination} ({_human_size(result.size)})",
                    markup=False,
                )
            return
        _print_summary(summary, json_output=json_output, verb="copied", quiet=quiet)


@_tuned
def sync(
    src: str = typer.Argument(..., help="Source prefix, bucket or directory."),
    dst: str = typer.Argument(..., help="Destination prefix, bucket or directory."),
    delete: bool = typer.Option(False, "--delete", help="Delete what the source lacks."),
    checksum: bool = typer.Option(
        False,
        "--checksum",
        help="Compare digests, not size and time.",
    ),
    include: list[str] = INCLUDE_OPTION,
    exclude: list[str] = EXCLUDE_OPTION,
    dry_run: bool = DRY_RUN_OPTION,
    manifest: Path = MANIFEST_OPTION,
    executor: str = typer.Option(
        None,
        "--executor",
        help="'dask' for a local Dask cluster, or a Dask scheduler address (tcp://host:8786): "
        "partitions the sync by top-level prefix across workers.",
    ),
    json_output: bool = JSON_OPTION,
    quiet: bool = QUIET_OPTION,
    *,
    options: TransferOptions,
) -> None:
    """Make DST hold what SRC holds, copying only what differs."""
    from omnicloud.transfer import sync as run_sync
    from omnicloud.transfer._progress import choose_progress

    with reporting_errors():
        try:
            summary = run_sync(
                src,
                dst,
                delete=delete,
                checksum=checksum,
                include=include or (),
                exclude=exclude or (),
                dry_run=dry_run,
                options=options,
                progress=choose_progress(json_lines=json_output, quiet=quiet or dry_run),
                manifest=manifest,
                executor=executor,
            )
        except KeyboardInterrupt:
            _interrupted_hint(options)
        _print_summary(summary, json_output=json_output, verb="copied", quiet=quiet)


def verify(
    src: str = typer.Argument(..., help="Source object or prefix."),
    dst: str = typer.Argument(..., help="Destination object or prefix."),
    recursive: bool = typer.Option(
        None,
        "--recursive/--single",
        "-r",
        help="Compare prefixes (default: if SRC is one).",
    ),
    recompute: bool = typer.Option(
        False, "--recompute", help="Read and hash both sides even where digests are recorded."
    ),
    include: list[str] = INCLUDE_OPTION,
    exclude: list[str] = EXCLUDE_OPTION,
    json_output: bool = JSON_OPTION,
    quiet: bool = QUIET_OPTION,
    concurrency: int = typer.Option(
        None, "--concurrency", "-c", help="Objects compared at once where that reads them (default 16)."
    ),
    retries: int = RETRIES_OPTION,
) -> None:
    """Compare source and destination by digest; exit 1 if anything differs, is missing or is extra."""
    from omnicloud.transfer import verify as run_verify
    from omnicloud.transfer._progress import choose_progress

    with reporting_errors():
        options = _options(
            concurrency=concurrency,
            part_concurrency=None,
            part_size=None,
            max_memory=None,
            bwlimit=None,
            journal=None,
            no_journal=True,  # a verify writes nothing to resume
            retries=retries,
        )
        report = run_verify(
            src,
            dst,
            recursive=recursive,
            recompute=recompute,
            include=include or (),
            exclude=exclude or (),
            options=options,
            progress=choose_progress(json_lines=json_output, quiet=quiet),
        )
        problems = report.entries
        if json_output:  # the progress printed a line per object that differs
            print_json(
                {
                    "type": "summary",
                    "ok": report.ok,
                    "matched": report.matched,
                    "mismatched": len(report.mismatched),
                    "missing": len(report.missing),
                    "extra": len(report.extra),
                    "recomputed": report.recomputed,
                    "problems": problems,
                }
            )
        else:
            for entry in problems:
                detail = f" ({entry.problem})" if entry.status == "mismatch" else ""
                console.print(f"{entry.status:<8} {entry.key}{detail}", markup=False)
            if not quiet or problems:
                console.print(
                    f"{'OK' if report.ok else 'DIFFERENT'}: {report.matched} matched, "
                    f"{len(report.mismatched)} mismatched, {len(report.missing)} missing, "
                    f"{len(report.extra)} extra",
                    markup=False,
                )
        if not report.ok:
            raise typer.Exit(EXIT_FAILURE)


@_tuned
def download(
    uris: list[str] = typer.Argument(None, help="Object URIs to download."),
    to: Path = typer.Option(..., "--to", "-d", help="Local directory; each object lands at DIR/<key>."),
    from_file: Path = typer.Option(None, "--from-file", "-f", help="Read more URIs from FILE, one per line."),
    json_output: bool = JSON_OPTION,
    quiet: bool = QUIET_OPTION,
    *,
    options: TransferOptions,
) -> None:
    """Download many objects into a directory, concurrently; one result per object."""
    from omnicloud.errors import ConfigError
    from omnicloud.transfer import bulk_download
    from omnicloud.transfer._progress import choose_progress

    with reporting_errors():
        wanted = list(uris or [])
        if from_file is not None:
            try:
                lines = from_file.read_text(encoding="utf-8").splitlines()
            except OSError as err:
                raise ConfigError(f"cannot read {from_file}: {err.strerror}") from err
            wanted.extend(line.strip() for line in lines if line.strip() and not line.startswith("#"))
        if not wanted:
            raise ConfigError("nothing to download", hint="name object URIs or pass --from-file FILE")
        try:
            results = bulk_download(
                wanted, to, options=options, progress=choose_progress(json_lines=json_output, quiet=quiet)
            )
        except KeyboardInterrupt:
            _interrupted_hint(options)
        failed = [r for r in results if not r.ok]
        if json_output:
            for result in failed:
                print_json(
                    {"type": "object", "outcome": "failed", "source": result.source, "error": result.error}
                )
            print_json(
                {
                    "type": "summary",
                    "downloaded": len(results) - len(failed),
                    "failed": len(failed),
                    "bytes": sum(r.size for r in results),
                }
            )
        else:
            for result in results:
                if result.ok and not quiet:
                    console.print(
                        f"{result.source} -> {result.path} ({_human_size(result.size)})", markup=False
                    )
                elif not result.ok:
                    err_console.print(f"failed: {result.source}: {result.error}", markup=False)
        if failed:
            raise typer.Exit(EXIT_FAILURE)


def register(app: typer.Typer) -> None:
    for command in (cp, sync, verify, download):
        app.command()(command)
