"""``omnicloud cost``: what transfers, storage, requests, functions and VMs cost, from the price catalog.

Every command prints an itemised estimate (or JSON with ``--json``) and the
catalog version it used. ``--catalog-overrides FILE`` (or the environment
variable ``OMNICLOUD_PRICE_OVERRIDES``) applies a user price TOML. This module
imports no cloud SDK.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from omnicloud.cli._output import console, print_json, reporting_errors

if TYPE_CHECKING:
    from omnicloud.costs import Catalog, Estimate

__all__ = ["app"]

app = typer.Typer(
    name="cost",
    help="Estimate costs from the bundled, dated price catalog (USD list prices).",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)

# The catalog loads only when a command runs; the option texts need these two
# values before that (a test checks they match omnicloud.costs).
OVERRIDES_ENV = "OMNICLOUD_PRICE_OVERRIDES"
HOURS_PER_MONTH = 730
_OVERRIDES_HELP = f"A price overrides TOML (negotiated prices, discounts). Also ${OVERRIDES_ENV}."


def _overrides_option() -> Any:
    return typer.Option(
        None, "--catalog-overrides", envvar=OVERRIDES_ENV, metavar="FILE", help=_OVERRIDES_HELP
    )


def _json_option() -> Any:
    return typer.Option(False, "--json", help="Print the estimate as JSON (decimals as strings).")


def _free_tier_option() -> Any:
    return typer.Option(
        True, "--free-tier/--no-free-tier", help="Apply the providers' monthly free allowances."
    )


def _catalog(overrides: Path | None) -> Catalog:
    from omnicloud.costs import load_catalog

    if overrides is not None and str(overrides) == "":
        overrides = None
    return load_catalog(overrides)


@app.command("transfer")
def transfer_command(
    src: str = typer.Argument(
        ..., help="Source URI, e.g. s3://bucket/key or aws://us-east-1/bucket/prefix/."
    ),
    dst: str = typer.Argument(..., help="Destination URI."),
    size: str = typer.Option(
        ..., "--size", "-s", help="Bytes to move: 278GB (10^9), 1.5TiB (2^40), 1048576."
    ),
    free_tier: bool = _free_tier_option(),
    month_volume: str = typer.Option(
        "0", "--month-volume", help="Already sent from the source provider this month (for tiers), e.g. 12TB."
    ),
    src_region: str | None = typer.Option(None, "--src-region", help="Source region when the URI has none."),
    dst_region: str | None = typer.Option(
        None, "--dst-region", help="Destination region when the URI has none."
    ),
    route: str = typer.Option("internet", "--route", help="internet, vpn or interconnect."),
    objects: int = typer.Option(
        0, "--objects", min=0, help="Objects moved: adds a GET and a PUT request each."
    ),
    src_class: str | None = typer.Option(None, "--src-class", help="Source storage class (retrieval fees)."),
    dst_class: str | None = typer.Option(None, "--dst-class", help="Destination storage class (PUT price)."),
    as_json: bool = _json_option(),
    overrides: Path | None = _overrides_option(),
) -> None:
    """What copying SIZE from SRC to DST costs: egress, inter-region or free."""
    from omnicloud.costs import estimate_transfer, parse_size

    with reporting_errors():
        catalog = _catalog(overrides)
        estimate = estimate_transfer(
            src,
            dst,
            parse_size(size),
            catalog=catalog,
            free_tier=free_tier,
            monthly_volume_bytes=parse_size(month_volume),
            src_region=src_region,
            dst_region=dst_region,
            route=route,
            objects=objects,
            src_storage_class=src_class,
            dst_storage_class=dst_class,
        )
        _show(estimate, as_json)


@app.command("storage")
def storage_command(
    provider: str = typer.Argument(..., help="aws, gcp, azure or oci."),
    storage_class: str = typer.Argument(
        ..., metavar="CLASS", help="e.g. standard, standard_ia, nearline, cool."
    ),
    size: str = typer.Option(..., "--size", "-s", help="Stored size: 1TB, 500GiB, ..."),
    months: str = typer.Option("1", "--months", help="How many months (decimals allowed)."),
    region: str | None = typer.Option(
        None, "--region", help="Region (default: the catalog's reference region)."
    ),
    as_json: bool = _json_option(),
    overrides: Path | None = _overrides_option(),
) -> None:
    """What keeping SIZE in a storage class costs."""
    from omnicloud.costs import estimate_storage, parse_size

    with reporting_errors():
        catalog = _catalog(overrides)
        estimate = estimate_storage(
            provider, storage_class, parse_size(size), months=months, region=region, catalog=catalog
        )
        _show(estimate, as_json)


@app.command("requests")
def requests_command(
    provider: str = typer.Argument(..., help="aws, gcp, azure or oci."),
    storage_class: str = typer.Argument(..., metavar="CLASS", help="Storage class of the bucket."),
    class_a: int = typer.Option(
        0, "--class-a", min=0, help="PUT, COPY, POST and LIST requests in the month."
    ),
    class_b: int = typer.Option(0, "--class-b", min=0, help="GET and HEAD requests in the month."),
    free_tier: bool = _free_tier_option(),
    as_json: bool = _json_option(),
    overrides: Path | None = _overrides_option(),
) -> None:
    """What a month of object storage requests costs."""
    from omnicloud.costs import estimate_requests

    with reporting_errors():
        catalog = _catalog(overrides)
        estimate = estimate_requests(
            provider, storage_class, class_a=class_a, class_b=class_b, free_tier=free_tier, catalog=catalog
        )
        _show(estimate, as_json)


@app.command("serverless")
def serverless_command(
    provider: str = typer.Argument(..., help="aws, gcp, azure or oci."),
    invocations: int = typer.Option(..., "--invocations", min=0, help="Calls in the month."),
    duration_ms: str = typer.Option(
        ..., "--duration-ms", help="Average duration of one call, in milliseconds."
    ),
    memory_mb: int = typer.Option(
        ..., "--memory-mb", min=0, help="Memory per instance, MB (1 GB = 1024 MB)."
    ),
    vcpus: str | None = typer.Option(
        None, "--vcpus", help="vCPUs per instance where billed separately (gcp)."
    ),
    free_tier: bool = _free_tier_option(),
    as_json: bool = _json_option(),
    overrides: Path | None = _overrides_option(),
) -> None:
    """What a month of serverless function calls costs."""
    from omnicloud.costs import estimate_serverless

    with reporting_errors():
        catalog = _catalog(overrides)
        estimate = estimate_serverless(
            provider,
            invocations=invocations,
            duration_ms=duration_ms,
            memory_mb=memory_mb,
            vcpus=vcpus,
            free_tier=free_tier,
            catalog=catalog,
        )
        _show(estimate, as_json)


@app.command("instance")
def instance_command(
    provider: str = typer.Argument(..., help="aws, gcp, azure or oci."),
    instance_type: str = typer.Argument(..., metavar="TYPE", help="e.g. t3.micro, e2-small, Standard_B1s."),
    hours: str = typer.Option(str(HOURS_PER_MONTH), "--hours", help="Hours running (730 = a month)."),
    region: str | None = typer.Option(None, "--region", help="Region (default: the catalog's)."),
    as_json: bool = _json_option(),
    overrides: Path | None = _overrides_option(),
) -> None:
    """What running one on-demand VM costs."""
    from omnicloud.costs import estimate_instance

    with reporting_errors():
        catalog = _catalog(overrides)
        _show(estimate_instance(provider, instance_type, hours, region, catalog=catalog), as_json)


@app.command("connection")
def connection_command(
    provider: str = typer.Argument(..., help="aws, gcp, azure or oci."),
    kind: str = typer.Argument(..., help="vpn or interconnect."),
    hours: str = typer.Option(str(HOURS_PER_MONTH), "--hours", help="Hours (730 = a month)."),
    as_json: bool = _json_option(),
    overrides: Path | None = _overrides_option(),
) -> None:
    """The fixed charge of one side of a VPN or interconnect between clouds."""
    from omnicloud.costs import estimate_connection

    with reporting_errors():
        catalog = _catalog(overrides)
        _show(estimate_connection(provider, kind, hours, catalog=catalog), as_json)


@app.command("catalog")
def catalog_command(
    unconfirmed: bool = typer.Option(
        False, "--unconfirmed", help="List every price not confirmed against the provider's page."
    ),
    as_json: bool = _json_option(),
    overrides: Path | None = _overrides_option(),
) -> None:
    """The price catalog: version, snapshot date, files and their sources."""
    from rich.markup import escape

    with reporting_errors():
        catalog = _catalog(overrides)
        description = catalog.describe()
        if unconfirmed:
            description["unconfirmed_prices"] = catalog.unconfirmed()
        if as_json:
            print_json(description)
            return
        console.print(f"[bold]price catalog[/] {escape(catalog.version)}")
        console.print(f"snapshot date {description['snapshot_date']}, {description['currency']} list prices")
        console.print(f"rounding: {description['rounding']}")
        if catalog.overrides is not None:
            console.print(f"overrides: {escape(str(catalog.overrides))}")
        for entry in description["files"]:
            counts = (
                f"{entry['prices']} prices, {entry['unconfirmed']} unconfirmed"
                if entry["prices"]
                else "no prices"
            )
            console.print(f"[bold]{escape(entry['name'])}[/] ({counts}): {escape(entry['title'])}")
            for url in entry["sources"]:
                console.print(f"    {escape(url)}")
        defaults = ", ".join(
            f"{name} {info['default_region']}" for name, info in description["providers"].items()
        )
        console.print(f"default regions: {defaults}")
        if unconfirmed:
            for row in description["unconfirmed_prices"]:
                note = f": {row['note']}" if row["note"] else ""
                console.print(f"  {escape(row['file'])} {escape(row['price'])}{escape(note)}")


def _show(estimate: Estimate, as_json: bool) -> None:
    if as_json:
        print_json(estimate.to_dict())
        return
    from rich.markup import escape
    from rich.table import Table

    table = Table(show_edge=False, pad_edge=False)
    table.add_column("item")
    table.add_column("quantity", justify="right")
    table.add_column("unit price", justify="right")
    table.add_column("amount", justify="right")
    unconfirmed = False
    for item in estimate.items:
        mark = "" if item.confirmed else "*"
        unconfirmed = unconfirmed or not item.confirmed
        table.add_row(
            escape(item.what),
            escape(_quantity_with_unit(item.quantity, item.unit)),
            escape(f"{item.unit_price.unit_price_text()}{mark}"),
            escape(str(item.amount)),
        )
    console.print(table)
    console.print(f"[bold]total {escape(str(estimate.total))}[/] (exact {estimate.total.exact_text()} USD)")
    for note in estimate.assumptions:
        console.print(f"assuming: {escape(note)}")
    if unconfirmed:
        console.print("* list price not confirmed against the provider's page on the catalog's snapshot date")
    console.print(f"catalog {escape(estimate.catalog_version)}")


_PLURAL_UNITS = frozenset({"hour", "GB-second", "vCPU-second"})


def _quantity_with_unit(value: Decimal, unit: str) -> str:
    if unit[:1].isdigit():
        # Prices per 1,000 or 10,000 requests: "5 x 1,000 requests".
        return f"{_quantity(value)} \u00d7 {unit}"
    if unit in _PLURAL_UNITS and value != 1:
        unit += "s"
    return f"{_quantity(value)} {unit}"


def _quantity(value: Decimal) -> str:
    if value == value.to_integral_value():
        return f"{int(value):,}"
    shown = value.quantize(Decimal("0.000001")).normalize()
    return format(shown, ",f")
