"""``omnicloud demo``: a short scripted tour on embedded defaults and local emulators.

It writes a small tree to ``file://``, syncs it with the transfer engine to
``s3://`` (moto), ``gs://`` (gcp-storage-emulator), ``az://`` (Azurite) and
``mem://``, lists it, reads every byte back and compares digests, says what
moving it between clouds would cost, and says what it did. The
emulators it starts are stopped before it returns, whatever happens.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from omnicloud.cli._output import console, err_console, print_json, reporting_errors

# The tree the tour writes: names chosen to exercise nesting, spaces and unicode.
_TREE: dict[str, int] = {
    "README.txt": 600,
    "data/2026/11/events.csv": 48_000,
    "data/2026/11/events with space.csv": 12_000,
    "models/tiny/weights.bin": 6 * 1024 * 1024,
    "models/tiny/config.json": 900,
    "notes/unicodé.md": 2_000,
}


@dataclass
class Leg:
    """One destination of the tour and what happened there."""

    target: str
    objects: int = 0
    bytes: int = 0
    seconds: float = 0.0
    verified: bool = False
    skipped: str | None = None


def demo(
    only: str = typer.Option(
        "s3,gcs,azure,memory",
        "--only",
        help="Comma-separated destinations among s3, gcs, azure, memory.",
    ),
    keep: bool = typer.Option(False, "--keep", help="Keep the local tree (its path is printed)."),
    json_output: bool = typer.Option(False, "--json", help="Print a JSON summary instead of text."),
) -> None:
    """Tour omnicloud on local emulators: file:// -> s3://, gs://, az://, mem://, read back and verified."""
    with reporting_errors():
        wanted = [name.strip() for name in only.split(",") if name.strip()]
        unknown = sorted(set(wanted) - {"s3", "gcs", "azure", "memory"})
        if unknown:
            from omnicloud.errors import ConfigError

            raise ConfigError(
                f"unknown demo destination(s): {', '.join(unknown)}", hint="use s3, gcs, azure, memory"
            )
        legs = run_tour(wanted, keep=keep, say=(lambda _msg: None) if json_output else _say)
        costs = egress_costs(sum(_TREE.values()))
        if json_output:
            print_json(
                {
                    "legs": [leg.__dict__ for leg in legs],
                    "egress": costs,
                    "ok": all(leg.verified for leg in legs),
                }
            )
        else:
            _print_summary(legs)
            _print_costs(costs)
        if not all(leg.verified for leg in legs):
            raise typer.Exit(1)


def run_tour(wanted: list[str], *, keep: bool = False, say: Any = None) -> list[Leg]:
    """Run the tour and return one :class:`Leg` per destination."""
    import tempfile

    say = say or (lambda _msg: None)
    workdir = Path(tempfile.mkdtemp(prefix="omnicloud-demo-"))
    source = workdir / "tree"
    digests = _write_tree(source)
    say(f"wrote {len(digests)} files ({sum(_TREE.values()):,} bytes) under file://{source}/")
    legs: list[Leg] = []
    with ExitStack() as stack:
        for name in wanted:
            try:
                target, parameters = stack.enter_context(_destination(name, say))
            except Exception as err:  # an emulator that cannot start skips its leg, with the reason
                from omnicloud.errors import OmniCloudError

                if not isinstance(err, OmniCloudError):
                    raise
                legs.append(Leg(target=name, skipped=str(err)))
                say(f"[yellow]skipped {name}[/]: {err}")
                continue
            legs.append(_copy_and_verify(source, target, parameters, digests, say))
    if not keep:
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)
    else:
        say(f"kept the local tree at {source}")
    return legs


@contextmanager
def _destination(name: str, say: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """Start the emulator behind a destination and yield (bucket URI, storage parameters)."""
    from omnicloud import sandbox

    bucket = f"omnicloud-demo-{os.getpid()}"
    if name == "memory":
        yield f"mem://{bucket}/", {}
        return
    starters = {"s3": sandbox.start_moto, "gcs": sandbox.start_gcs, "azure": sandbox.start_azurite}
    say(f"starting the {name} emulator ...")
    emulator = starters[name]()
    try:
        say(f"  {emulator.name} listens on {emulator.endpoint} (pid {emulator.pid})")
        # Storage-spec parameters, as a deployment manifest would carry them.
        if name == "s3":
            yield (
                f"s3://{bucket}/",
                {
                    "auth": "access_key",
                    "endpoint": emulator.endpoint,
                    "access_key_id": emulator.env["AWS_ACCESS_KEY_ID"],
                    "secret_access_key": emulator.env["AWS_SECRET_ACCESS_KEY"],
                },
            )
        elif name == "gcs":
            yield (
                f"gs://{bucket}/",
                {"auth": "anonymous", "endpoint": emulator.endpoint, "project": "omnicloud-demo"},
            )
        else:
            yield (
                f"az://{bucket}/",
                {
                    "auth": "connection_string",
                    "connection_string": emulator.env["AZURE_STORAGE_CONNECTION_STRING"],
                },
            )
    finally:
        emulator.stop()
        say(f"  stopped {emulator.name}")


def _write_tree(root: Path) -> dict[str, str]:
    import hashlib

    digests: dict[str, str] = {}
    for index, (relative, size) in enumerate(sorted(_TREE.items())):
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        data = _content(index, size)
        path.write_bytes(data)
        digests[relative] = hashlib.sha256(data).hexdigest()
    return digests


def _content(seed: int, size: int) -> bytes:
    import hashlib

    block = hashlib.sha256(str(seed).encode()).digest() * 2048
    return (block * (size // len(block) + 1))[:size]


def _copy_and_verify(
    source: Path, target: str, parameters: dict[str, Any], digests: dict[str, str], say: Any
) -> Leg:
    """Sync the tree to ``target`` with the transfer engine, then verify it by reading every byte back."""
    from omnicloud.storage import Admin, Store, open_store
    from omnicloud.transfer import TransferOptions, sync, verify
    from omnicloud.uri import ObjectURI, parse_uri

    leg = Leg(target=target)
    destination = parse_uri(target)

    def opener(uri: ObjectURI) -> Store:
        # The emulator's endpoint and keys apply to the destination's provider only.
        if uri.provider == destination.provider and parameters:
            return open_store(uri, parameters=parameters)
        return open_store(uri)

    store: Any = opener(destination)
    started = time.perf_counter()
    try:
        if isinstance(store, Admin):
            store.create_bucket(exist_ok=True)
        settings = TransferOptions(journal=False)
        summary = sync(f"file://{source}/", target, options=settings, opener=opener)
        leg.objects, leg.bytes = summary.copied, summary.bytes
        report = verify(f"file://{source}/", target, recompute=True, options=settings, opener=opener)
        listed = {info.key: info.size for info in store.list()}
        matches = report.ok and sorted(listed) == sorted(digests) and summary.copied == len(digests)
        leg.verified = matches
        leg.seconds = time.perf_counter() - started
        mark = "[green]verified[/]" if matches else "[red]MISMATCH[/]"
        say(
            f"synced {leg.objects} objects ({leg.bytes:,} bytes) to {target} "
            f"in {leg.seconds:.2f} s, listed, read back and digests compared: {mark}"
        )
        for key in sorted(listed)[:3]:
            say(f"    {target}{key}  {listed[key]:,} bytes")
    finally:
        if isinstance(store, Admin) and store.bucket_exists():
            store.delete_bucket(force=True)
        store.close()
    return leg


_ROUTES = (
    ("s3://omnicloud-demo/", "gs://omnicloud-demo/"),
    ("gs://omnicloud-demo/", "az://omnicloud-demo/"),
    ("az://omnicloud-demo/", "s3://omnicloud-demo/"),
)
_TB = 10**12


def egress_costs(tree_bytes: int) -> list[dict[str, str]]:
    """What moving the tree (and a terabyte) between the clouds would cost, from the price catalog."""
    from omnicloud.costs import estimate_transfer

    rows = []
    for src, dst in _ROUTES:
        tree = estimate_transfer(src, dst, tree_bytes, free_tier=False)
        terabyte = estimate_transfer(src, dst, _TB, free_tier=False)
        rows.append(
            {
                "route": f"{src.split(':')[0]} -> {dst.split(':')[0]}",
                "tree": f"${tree.total.amount:.5f}",
                "per_tb": str(terabyte.total),
                "catalog": tree.catalog_version,
            }
        )
    return rows


def _print_costs(rows: list[dict[str, str]]) -> None:
    from rich.table import Table

    table = Table(title="egress if this tree moved between clouds (list prices, free tiers off)")
    for column in ("route", "this tree", "per TB"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["route"], row["tree"], row["per_tb"])
    console.print(table)
    console.print(f"prices: catalog {rows[0]['catalog']}; `omnicloud cost catalog` shows sources and dates")


def _say(message: str) -> None:
    err_console.print(message)


def _print_summary(legs: list[Leg]) -> None:
    from rich.table import Table

    table = Table(title="omnicloud demo")
    for column in ("destination", "objects", "bytes", "seconds", "result"):
        table.add_column(column)
    for leg in legs:
        result = f"skipped: {leg.skipped}" if leg.skipped else ("verified" if leg.verified else "MISMATCH")
        table.add_row(leg.target, str(leg.objects), f"{leg.bytes:,}", f"{leg.seconds:.2f}", result)
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command()(demo)
