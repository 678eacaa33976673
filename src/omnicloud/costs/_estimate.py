"""Estimators: what moving, storing, requesting and running will cost, as an itemised :class:`Estimate`.

Every estimator takes an optional ``catalog`` (default: the packaged catalog)
and returns an :class:`Estimate` whose line items say what is charged, how
much of it, at what unit price, from which source, and whose
``catalog_version`` names the prices used. Assumptions the estimate had to make
(a default region, a destination outside the clouds) are listed with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from omnicloud.costs._catalog import (
    PRICED_PROVIDERS,
    Catalog,
    PriceSource,
    TieredPrice,
    load_catalog,
)
from omnicloud.costs._money import CURRENCY, ROUNDING_RULE, Money, exact, to_decimal
from omnicloud.costs._sizes import bytes_in_unit, format_size, parse_size
from omnicloud.costs._tiers import split_into_tiers, tier_label
from omnicloud.errors import ConfigError
from omnicloud.uri import ObjectURI, parse_uri

__all__ = [
    "HOURS_PER_MONTH",
    "ROUTES",
    "Estimate",
    "LineItem",
    "TransferFlow",
    "estimate_connection",
    "estimate_instance",
    "estimate_monthly_transfers",
    "estimate_requests",
    "estimate_serverless",
    "estimate_storage",
    "estimate_transfer",
]

# The monthly hour count the providers' own calculators use.
HOURS_PER_MONTH: Final = 730
ROUTES: Final = ("internet", "vpn", "interconnect")
_NO_CLOUD: Final = ("local", "memory")


@dataclass(frozen=True, slots=True)
class LineItem:
    """One charge: ``quantity`` ``unit`` at ``unit_price`` each makes ``amount`` (exact)."""

    what: str
    quantity: Decimal
    unit: str
    unit_price: Money
    amount: Money
    provider: str = ""
    source: str = ""
    confirmed: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "what": self.what,
            "provider": self.provider,
            "quantity": _plain(self.quantity),
            "unit": self.unit,
            "unit_price": self.unit_price.exact_text(),
            "amount": str(self.amount.rounded()),
            "amount_exact": self.amount.exact_text(),
            "source": self.source,
            "confirmed": self.confirmed,
        }


@dataclass(frozen=True, slots=True)
class Estimate:
    """An itemised estimate in USD; ``total`` is the exact sum of the items."""

    kind: str
    items: tuple[LineItem, ...]
    catalog_version: str
    assumptions: tuple[str, ...] = ()

    @property
    def total(self) -> Money:
        return sum((item.amount for item in self.items), Money.zero())

    @property
    def currency(self) -> str:
        return CURRENCY

    def __add__(self, other: Estimate) -> Estimate:
        if not isinstance(other, Estimate):
            return NotImplemented
        if other.catalog_version != self.catalog_version:
            raise ValueError(
                "cannot add estimates from different catalogs "
                f"({self.catalog_version} and {other.catalog_version})"
            )
        return Estimate(
            kind=self.kind if self.kind == other.kind else "combined",
            items=self.items + other.items,
            catalog_version=self.catalog_version,
            assumptions=tuple(dict.fromkeys(self.assumptions + other.assumptions)),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: decimals as strings so that nothing is lost to floats."""
        total = self.total
        return {
            "kind": self.kind,
            "currency": CURRENCY,
            "total": str(total.rounded()),
            "total_exact": total.exact_text(),
            "catalog_version": self.catalog_version,
            "rounding": ROUNDING_RULE,
            "items": [item.to_dict() for item in self.items],
            "assumptions": list(self.assumptions),
        }

    def __str__(self) -> str:
        return str(self.total)


@dataclass(frozen=True, slots=True)
class TransferFlow:
    """One flow of a month, for :func:`estimate_monthly_transfers`."""

    src: str | ObjectURI
    dst: str | ObjectURI
    size_bytes: int | str
    src_region: str | None = None
    dst_region: str | None = None


# --- transfer ---------------------------------------------------------------------------


def estimate_transfer(
    src: str | ObjectURI,
    dst: str | ObjectURI,
    size_bytes: int | str,
    /,
    *,
    catalog: Catalog | None = None,
    free_tier: bool = True,
    monthly_volume_bytes: int = 0,
    src_region: str | None = None,
    dst_region: str | None = None,
    route: str = "internet",
    objects: int = 0,
    src_storage_class: str | None = None,
    dst_storage_class: str | None = None,
) -> Estimate:
    """What copying ``size_bytes`` from ``src`` to ``dst`` costs.

    - Leaving ``local``/``memory`` costs nothing (ingress is free everywhere).
    - Within one provider: same region is free, otherwise the inter-region price.
      A URI without a region uses ``src_region``/``dst_region`` or the provider's
      default region (stated in the assumptions).
    - To another cloud or to ``local``/``memory`` (a download, assumed to leave
      the cloud): the source provider's internet egress, tiered over the month.
      ``monthly_volume_bytes`` is what that provider already sent this month, so
      the estimate is the marginal cost and the free allowance is used once.
    - ``route`` ``vpn`` or ``interconnect`` prices egress over that connection
      (its hourly charge is :func:`estimate_connection`).
    - ``objects`` adds one class B request (GET) at the source and one class A
      request (PUT) at the destination per object; ``src_storage_class`` adds the
      retrieval fee of a cold class.

    ``size_bytes`` is an int or text such as ``"278GB"`` (see ``parse_size``).
    """
    catalog = catalog or load_catalog()
    estimate, _ = _transfer(
        catalog,
        parse_uri(src),
        parse_uri(dst),
        parse_size(size_bytes),
        free_tier=free_tier,
        monthly_volume_bytes=_non_negative_int(monthly_volume_bytes, "monthly_volume_bytes"),
        src_region=src_region,
        dst_region=dst_region,
        route=route,
        objects=_non_negative_int(objects, "objects"),
        src_storage_class=src_storage_class,
        dst_storage_class=dst_storage_class,
    )
    return estimate


def estimate_monthly_transfers(
    flows: Iterable[TransferFlow | tuple[str | ObjectURI, str | ObjectURI, int | str]],
    *,
    catalog: Catalog | None = None,
    free_tier: bool = True,
    route: str = "internet",
) -> Estimate:
    """One month of flows: internet egress tiers and free allowances accumulate per source provider.

    Flows are priced in the order given; the first flows of a provider use its
    free allowance. The result is the sum of the marginal estimates.
    """
    catalog = catalog or load_catalog()
    sent: dict[str, int] = {}
    combined: Estimate | None = None
    for flow in flows:
        item = flow if isinstance(flow, TransferFlow) else TransferFlow(*flow)
        src, dst = parse_uri(item.src), parse_uri(item.dst)
        size = parse_size(item.size_bytes)
        estimate, egress_provider = _transfer(
            catalog,
            src,
            dst,
            size,
            free_tier=free_tier,
            monthly_volume_bytes=sent.get(src.provider, 0),
            src_region=item.src_region,
            dst_region=item.dst_region,
            route=route,
            objects=0,
            src_storage_class=None,
            dst_storage_class=None,
            label=f"{src} -> {dst}: ",
        )
        if egress_provider is not None:
            sent[egress_provider] = sent.get(egress_provider, 0) + size
        combined = estimate if combined is None else combined + estimate
    if combined is None:
        return Estimate("transfers", (), catalog.version)
    return Estimate("transfers", combined.items, combined.catalog_version, combined.assumptions)


def _transfer(
    catalog: Catalog,
    src: ObjectURI,
    dst: ObjectURI,
    size: int,
    *,
    free_tier: bool,
    monthly_volume_bytes: int,
    src_region: str | None,
    dst_region: str | None,
    route: str,
    objects: int,
    src_storage_class: str | None,
    dst_storage_class: str | None,
    label: str = "",
) -> tuple[Estimate, str | None]:
    """The estimate, and the provider whose internet egress tiers it used (None when none)."""
    if route not in ROUTES:
        raise ConfigError(f"unknown route {route!r}", hint=f"routes: {', '.join(ROUTES)}")
    items: list[LineItem] = []
    notes: list[str] = []
    egress_provider: str | None = None
    sp, dp = src.provider, dst.provider
    if not free_tier:
        notes.append("free allowances switched off")

    if sp in _NO_CLOUD:
        what = (
            f"{label}upload from {sp} to {dp}" if dp not in _NO_CLOUD else f"{label}copy within this machine"
        )
        items.append(_line(f"{what} (ingress is free)", bytes_in_unit(size, "GB"), "GB", Decimal(0)))
    elif sp == dp:
        s_region = _region(catalog, sp, src_region, src.region, "source", notes)
        d_region = _region(catalog, dp, dst_region, dst.region, "destination", notes)
        if s_region == d_region:
            items.append(
                _line(
                    f"{label}transfer within {sp} {s_region} (same region is free)",
                    bytes_in_unit(size, "GB"),
                    "GB",
                    Decimal(0),
                    provider=sp,
                )
            )
        else:
            rate = catalog.inter_region(sp, s_region, d_region)
            items.append(
                _line(
                    f"{label}inter-region transfer {sp} {s_region} -> {d_region}",
                    bytes_in_unit(size, rate.unit),
                    rate.unit,
                    rate.price,
                    provider=sp,
                    source=rate.source,
                )
            )
    else:
        if dp in _NO_CLOUD:
            notes.append(f"destination {dp} is assumed to be outside {sp}: billed as internet egress")
        else:
            notes.append(
                f"cloud-to-cloud traffic is billed as {sp}'s internet egress; ingress to {dp} is free"
            )
        egress_provider = _egress(
            catalog,
            items,
            notes,
            sp,
            src_region or src.region,
            size,
            monthly_volume_bytes,
            free_tier=free_tier,
            route=route,
            label=label,
        )

    if objects:
        if sp not in _NO_CLOUD:
            items.extend(
                _request_lines(catalog, sp, src_storage_class, 0, objects, free_tier, label, "GET at source")
            )
        if dp not in _NO_CLOUD:
            items.extend(
                _request_lines(
                    catalog, dp, dst_storage_class, objects, 0, free_tier, label, "PUT at destination"
                )
            )
        notes.append("one GET and one PUT per object; multipart parts and listings are not counted")
    if src_storage_class is not None and sp not in _NO_CLOUD:
        storage = catalog.storage(sp, src_storage_class, src_region or src.region)
        if storage.retrieval:
            unit = storage.schedule.unit
            items.append(
                _line(
                    f"{label}retrieval from {sp} {storage.storage_class}",
                    bytes_in_unit(size, unit),
                    unit,
                    storage.retrieval,
                    provider=sp,
                    source=storage.schedule.tiers[0].source,
                )
            )
    items = _with_discounts(catalog, items)
    return Estimate("transfer", tuple(items), catalog.version, tuple(notes)), egress_provider


def _egress(
    catalog: Catalog,
    items: list[LineItem],
    notes: list[str],
    provider: str,
    region: str | None,
    size: int,
    monthly_volume_bytes: int,
    *,
    free_tier: bool,
    route: str,
    label: str,
) -> str | None:
    if route != "internet":
        connection = catalog.connection(provider, route)
        if connection.per_unit is not None:
            notes.append(f"{route} hourly charges are not included (see estimate_connection)")
            items.append(
                _line(
                    f"{label}egress from {provider} over {connection.product}",
                    bytes_in_unit(size, connection.unit),
                    connection.unit,
                    connection.per_unit,
                    provider=provider,
                    source=connection.source,
                )
            )
            return None
        notes.append(
            f"traffic over {provider}'s {route} is billed at internet egress rates; "
            "hourly charges are not included"
        )
    schedule = catalog.internet_egress(provider, region)
    if monthly_volume_bytes:
        notes.append(
            f"{format_size(monthly_volume_bytes)} already sent from {provider} this month: "
            "its tiers and free allowance count from there"
        )
    items.extend(
        _tier_lines(
            schedule,
            start=bytes_in_unit(monthly_volume_bytes, schedule.unit),
            quantity=bytes_in_unit(size, schedule.unit),
            free_tier=free_tier,
            what=f"{label}internet egress from {provider}",
            provider=provider,
            unit=schedule.unit,
        )
    )
    return provider


def _region(
    catalog: Catalog, provider: str, given: str | None, in_uri: str | None, side: str, notes: list[str]
) -> str:
    if given:
        return given
    if in_uri:
        return in_uri
    region = catalog.default_region(provider)
    notes.append(
        f"{side} region is not in the URI: assumed {region} ({provider}'s default); "
        f"pass {'src' if side == 'source' else 'dst'}_region to change it"
    )
    return region


# --- storage, requests, serverless, instances, connections -------------------------------


def estimate_storage(
    provider: str,
    storage_class: str,
    size_bytes: int | str,
    *,
    months: Decimal | int | str = 1,
    region: str | None = None,
    catalog: Catalog | None = None,
) -> Estimate:
    """Keeping ``size_bytes`` in ``storage_class`` for ``months`` months (tiers apply per month)."""
    catalog = catalog or load_catalog()
    price = catalog.storage(provider, storage_class, region)
    size = parse_size(size_bytes)
    month_count = _non_negative(months, "months")
    notes = []
    if region is None:
        notes.append(f"{provider} {price.region} list prices (no region given)")
    elif region != price.region:
        notes.append(f"no {provider} storage prices for {region} in the catalog: used {price.region}")
    with exact():
        days = month_count * 30
    if price.min_days and days < price.min_days:
        notes.append(
            f"{price.storage_class} bills at least {price.min_days} days per object: "
            "deleting earlier is charged as if kept that long"
        )
    schedule = price.schedule
    unit = schedule.unit
    items = []
    for line in _tier_lines(
        schedule,
        start=Decimal(0),
        quantity=bytes_in_unit(size, unit),
        free_tier=False,
        what=f"{provider} {price.storage_class} storage ({price.region})",
        provider=provider,
        unit=unit,
        per="/month",
    ):
        with exact():
            quantity = line.quantity * month_count
        items.append(
            _line(
                line.what,
                quantity,
                f"{unit}-month",
                line.unit_price.amount,
                provider=provider,
                source_text=line.source,
                confirmed=line.confirmed,
            )
        )
    return Estimate("storage", tuple(_with_discounts(catalog, items)), catalog.version, tuple(notes))


def estimate_requests(
    provider: str,
    storage_class: str,
    *,
    class_a: int = 0,
    class_b: int = 0,
    free_tier: bool = True,
    catalog: Catalog | None = None,
) -> Estimate:
    """``class_a`` writes/lists (PUT, COPY, POST, LIST) and ``class_b`` reads (GET, HEAD) in one month."""
    catalog = catalog or load_catalog()
    items = _request_lines(
        catalog,
        provider,
        storage_class,
        _non_negative_int(class_a, "class_a"),
        _non_negative_int(class_b, "class_b"),
        free_tier,
        "",
        "",
    )
    notes = () if free_tier else ("free allowances switched off",)
    return Estimate("requests", tuple(_with_discounts(catalog, items)), catalog.version, notes)


def _request_lines(
    catalog: Catalog,
    provider: str,
    storage_class: str | None,
    class_a: int,
    class_b: int,
    free_tier: bool,
    label: str,
    context: str,
) -> list[LineItem]:
    price = catalog.requests(provider, storage_class or catalog.provider(provider).default_storage_class)
    free_a = min(class_a, price.free_class_a) if free_tier else 0
    free_b = min(class_b, price.free_class_b) if free_tier else 0
    shared = price.free_any if free_tier else 0
    shared_a = min(class_a - free_a, shared)
    shared_b = min(class_b - free_b, shared - shared_a)
    unit = f"{price.per:,} requests"
    lines = []
    suffix = f", {context}" if context else ""
    for name, kinds, count, free, rate in (
        ("class A", "PUT, COPY, POST, LIST", class_a, free_a + shared_a, price.class_a),
        ("class B", "GET, HEAD", class_b, free_b + shared_b, price.class_b),
    ):
        if count == 0:
            continue
        what = f"{label}{provider} {price.storage_class} {name} requests ({kinds}{suffix})"
        with exact():
            if free:
                lines.append(
                    _line(
                        f"{what}, free grant",
                        Decimal(free) / price.per,
                        unit,
                        Decimal(0),
                        provider=provider,
                        source=price.source,
                    )
                )
            if count - free:
                lines.append(
                    _line(
                        what,
                        Decimal(count - free) / price.per,
                        unit,
                        rate,
                        provider=provider,
                        source=price.source,
                    )
                )
    return lines


def estimate_serverless(
    provider: str,
    *,
    invocations: int,
    duration_ms: Decimal | int | str,
    memory_mb: int,
    vcpus: Decimal | int | str | None = None,
    free_tier: bool = True,
    catalog: Catalog | None = None,
) -> Estimate:
    """A month of ``invocations`` serverless function calls of ``duration_ms`` each with ``memory_mb``.

    GB-seconds use GB = 1024 MB, as every provider bills them. Providers' own
    rounding (per-ms, 100 ms minimums, 128 MB memory steps) is not applied.
    """
    catalog = catalog or load_catalog()
    price = catalog.serverless(provider)
    calls = _non_negative_int(invocations, "invocations")
    duration = _non_negative(duration_ms, "duration_ms")
    memory = _non_negative_int(memory_mb, "memory_mb")
    notes: list[str] = [] if free_tier else ["free allowances switched off"]
    with exact():
        seconds = Decimal(calls) * duration / 1000
        gb_seconds = seconds * memory / 1024
    items: list[LineItem] = []
    service = f"{provider} {price.service}"
    items.extend(
        _allowance_lines(
            f"{service} compute",
            gb_seconds,
            "GB-second",
            price.per_gb_second,
            price.free_gb_seconds if free_tier else Decimal(0),
            provider,
            price.source,
        )
    )
    if price.per_vcpu_second:
        if vcpus is None:
            cpu = price.default_vcpus
            notes.append(
                f"{cpu} vCPU per instance assumed ({price.service} default); pass vcpus to change it"
            )
        else:
            cpu = _non_negative(vcpus, "vcpus")
        with exact():
            vcpu_seconds = seconds * cpu
        items.extend(
            _allowance_lines(
                f"{service} CPU",
                vcpu_seconds,
                "vCPU-second",
                price.per_vcpu_second,
                price.free_vcpu_seconds if free_tier else Decimal(0),
                provider,
                price.source,
            )
        )
    with exact():
        millions = Decimal(calls) / 1_000_000
        free_millions = Decimal(price.free_requests if free_tier else 0) / 1_000_000
    items.extend(
        _allowance_lines(
            f"{service} requests",
            millions,
            "million requests",
            price.per_million_requests,
            free_millions,
            provider,
            price.source,
        )
    )
    return Estimate("serverless", tuple(_with_discounts(catalog, items)), catalog.version, tuple(notes))


def estimate_instance(
    provider: str,
    instance_type: str,
    hours: Decimal | int | str = HOURS_PER_MONTH,
    region: str | None = None,
    *,
    catalog: Catalog | None = None,
) -> Estimate:
    """Running one on-demand VM of ``instance_type`` for ``hours`` (default: a 730-hour month).

    Prices come from the catalog's instance price sources (the compute size
    catalogs, once attached with ``Catalog.with_instance_source``), then from
    the packaged ``instances.csv``.
    """
    catalog = catalog or load_catalog()
    price = catalog.instance(provider, instance_type, region)
    duration = _non_negative(hours, "hours")
    notes = ["on-demand Linux list price; disks, addresses and traffic are not included"]
    if region is not None and region != price.region:
        notes.append(f"no {instance_type} price for {region} in the catalog: used {price.region}")
    line = _line(
        f"{provider} {price.instance_type} ({price.region})",
        duration,
        "hour",
        price.price_hour,
        provider=provider,
        source=price.source,
    )
    return Estimate("instance", tuple(_with_discounts(catalog, [line])), catalog.version, tuple(notes))


def estimate_connection(
    provider: str,
    kind: str,
    hours: Decimal | int | str = HOURS_PER_MONTH,
    *,
    catalog: Catalog | None = None,
) -> Estimate:
    """The fixed charge of one ``vpn`` or ``interconnect`` connection on ``provider`` for ``hours``."""
    catalog = catalog or load_catalog()
    price = catalog.connection(provider, kind)
    duration = _non_negative(hours, "hours")
    line = _line(
        f"{provider} {price.product}", duration, "hour", price.hourly, provider=provider, source=price.source
    )
    notes = ("one side of the connection; the other cloud charges for its own side",)
    return Estimate("connection", tuple(_with_discounts(catalog, [line])), catalog.version, notes)


# --- helpers ----------------------------------------------------------------------------------


def _line(
    what: str,
    quantity: Decimal,
    unit: str,
    unit_price: Decimal,
    *,
    provider: str = "",
    source: PriceSource | None = None,
    source_text: str | None = None,
    confirmed: bool | None = None,
) -> LineItem:
    with exact():
        amount = quantity * unit_price
    return LineItem(
        what=what,
        quantity=quantity,
        unit=unit,
        unit_price=Money(unit_price),
        amount=Money(amount),
        provider=provider,
        source=source.url if source is not None else (source_text or ""),
        confirmed=source.confirmed if source is not None else (True if confirmed is None else confirmed),
    )


def _tier_lines(
    schedule: TieredPrice,
    *,
    start: Decimal,
    quantity: Decimal,
    free_tier: bool,
    what: str,
    provider: str,
    unit: str,
    per: str = "/month",
) -> list[LineItem]:
    return [
        _line(
            f"{what}, {tier_label(schedule, segment, per=per)}",
            segment.quantity,
            unit,
            segment.price,
            provider=provider,
            source=segment.source,
        )
        for segment in split_into_tiers(schedule, start, quantity, free_tier=free_tier)
    ]


def _allowance_lines(
    what: str, used: Decimal, unit: str, rate: Decimal, free: Decimal, provider: str, source: PriceSource
) -> list[LineItem]:
    covered = min(used, free)
    with exact():
        billable = used - covered
    lines = []
    if covered:
        lines.append(
            _line(f"{what}, free grant", covered, unit, Decimal(0), provider=provider, source=source)
        )
    if billable or not covered:
        lines.append(_line(what, billable, unit, rate, provider=provider, source=source))
    return lines


def _with_discounts(catalog: Catalog, items: Sequence[LineItem]) -> list[LineItem]:
    result = list(items)
    for provider in dict.fromkeys(item.provider for item in items):
        if provider not in PRICED_PROVIDERS:
            continue
        rate = catalog.discount(provider)
        subtotal = sum((i.amount for i in items if i.provider == provider), Money.zero())
        if rate and subtotal.amount:
            with exact():
                percent = rate * 100
            # quantity x unit price = amount: the subtotal in USD times minus the discount rate.
            result.append(
                _line(
                    f"negotiated discount on {provider} ({_plain(percent)}%)",
                    subtotal.amount,
                    "USD",
                    -rate,
                    provider=provider,
                    source_text=f"override:{catalog.overrides}",
                )
            )
    return result


def _non_negative(value: Decimal | int | str, what: str) -> Decimal:
    try:
        number = to_decimal(value, what=what)
    except (TypeError, ValueError) as err:
        raise ConfigError(str(err)) from None
    if number < 0:
        raise ConfigError(f"{what} must not be negative, got {value}")
    return number


def _non_negative_int(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{what} must be a whole number of zero or more, got {value!r}")
    return value


def _plain(value: Decimal) -> str:
    if value == 0:
        return "0"
    return format(value.normalize(), "f")
