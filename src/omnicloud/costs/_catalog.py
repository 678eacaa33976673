"""The price catalog: the packaged CSV/TOML data files, user overrides, and lookups.

:func:`load_catalog` returns a :class:`Catalog` the caller holds. The packaged
files are parsed once per process (a private ``lru_cache``); everything else
(overrides, extra instance price sources) lives in the ``Catalog`` object.

``Catalog.version`` names exactly the prices used: the snapshot date and a
content hash of the packaged data files, ``+overrides:<hash>`` when a user TOML
was applied, and ``+instances:<version>`` per extra instance price source.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, Protocol, runtime_checkable

from omnicloud.costs._money import ROUNDING_RULE, exact, to_decimal
from omnicloud.costs._sizes import BILLING_UNITS
from omnicloud.errors import ConfigError

__all__ = [
    "PRICED_PROVIDERS",
    "Catalog",
    "CatalogFile",
    "ConnectionPrice",
    "FlatPrice",
    "InstancePrice",
    "InstancePriceSource",
    "PriceSource",
    "ProviderInfo",
    "RequestPrice",
    "ServerlessPrice",
    "StoragePrice",
    "Tier",
    "TieredPrice",
    "load_catalog",
    "normalize_storage_class",
]

PRICED_PROVIDERS: Final = ("aws", "gcp", "azure", "oci")
CONNECTION_KINDS: Final = ("vpn", "interconnect")
OVERRIDES_ENV: Final = "OMNICLOUD_PRICE_OVERRIDES"

_DATA_PACKAGE: Final = "omnicloud.costs"
_DATA_DIR: Final = "data"


# --- value types ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PriceSource:
    """Where one price comes from: the page, the snapshot date, and whether it was confirmed there.

    For a user override, ``url`` is ``override:<file>``, ``snapshot`` is None and
    ``confirmed`` is True (the user's own figure).
    """

    url: str
    snapshot: date | None
    confirmed: bool
    note: str = ""

    @property
    def is_override(self) -> bool:
        return self.url.startswith("override:")


@dataclass(frozen=True, slots=True)
class Tier:
    """One volume tier: ``price`` per unit for the monthly volume below ``upto`` (None: no bound)."""

    upto: Decimal | None
    price: Decimal
    source: PriceSource


@dataclass(frozen=True, slots=True)
class TieredPrice:
    """A monthly volume schedule: a free allowance, then tiers over the cumulative monthly volume."""

    unit: str
    tiers: tuple[Tier, ...]
    free: Decimal = Decimal(0)
    free_source: PriceSource | None = None


@dataclass(frozen=True, slots=True)
class FlatPrice:
    """A single price per unit, with the rule that chose it."""

    price: Decimal
    unit: str
    source: PriceSource
    rule: str = ""


@dataclass(frozen=True, slots=True)
class StoragePrice:
    """Object storage for one provider, class and region."""

    provider: str
    storage_class: str
    region: str
    schedule: TieredPrice
    min_days: int
    retrieval: Decimal
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RequestPrice:
    """Request prices per ``per`` requests; free grants per month."""

    provider: str
    storage_class: str
    class_a: Decimal
    class_b: Decimal
    per: int
    free_class_a: int
    free_class_b: int
    free_any: int
    source: PriceSource


@dataclass(frozen=True, slots=True)
class ServerlessPrice:
    """Serverless functions: $/GB-second (GB = 1024 MB), $/vCPU-second, $/million requests."""

    provider: str
    service: str
    per_gb_second: Decimal
    per_vcpu_second: Decimal
    per_million_requests: Decimal
    free_gb_seconds: Decimal
    free_vcpu_seconds: Decimal
    free_requests: int
    default_vcpus: Decimal
    source: PriceSource


@dataclass(frozen=True, slots=True)
class InstancePrice:
    """An on-demand VM price per hour."""

    provider: str
    instance_type: str
    price_hour: Decimal
    region: str
    vcpus: Decimal
    memory_gib: Decimal
    source: PriceSource


@dataclass(frozen=True, slots=True)
class ConnectionPrice:
    """A private connection between clouds: a fixed $/hour, and $/unit for egress over it.

    ``per_unit`` None means traffic over it is billed at internet egress rates.
    """

    provider: str
    kind: str
    product: str
    hourly: Decimal
    per_unit: Decimal | None
    unit: str
    source: PriceSource


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    name: str
    display_name: str
    default_region: str
    default_storage_class: str


@dataclass(frozen=True, slots=True)
class CatalogFile:
    name: str
    title: str
    sources: tuple[str, ...]
    sha256: str
    rows: int


@runtime_checkable
class InstancePriceSource(Protocol):
    """Anything that can price a VM type, e.g. the compute size catalogs once they exist.

    ``version`` identifies the data (it becomes part of ``Catalog.version``).
    """

    @property
    def version(self) -> str: ...

    def instance_price(
        self, provider: str, instance_type: str, region: str | None
    ) -> InstancePrice | None: ...


@dataclass(frozen=True, slots=True)
class _InterRegionRule:
    provider: str
    src: str
    dst: str
    price: Decimal
    unit: str
    source: PriceSource


@dataclass(frozen=True, slots=True)
class _PriceRow:
    """One priced row of the catalog, for `omnicloud cost catalog` and confirmation reports."""

    file: str
    label: str
    source: PriceSource


@dataclass(frozen=True)
class _Tables:
    snapshot_date: date
    currency: str
    content_hash: str
    files: tuple[CatalogFile, ...]
    providers: Mapping[str, ProviderInfo]
    egress: Mapping[tuple[str, str], TieredPrice]
    inter_region: tuple[_InterRegionRule, ...]
    continents: Mapping[tuple[str, str], str]
    storage: Mapping[tuple[str, str, str], StoragePrice]
    storage_aliases: Mapping[tuple[str, str], str]
    requests: Mapping[tuple[str, str], RequestPrice]
    serverless: Mapping[str, ServerlessPrice]
    instances: Mapping[tuple[str, str], InstancePrice]
    connections: Mapping[tuple[str, str], ConnectionPrice]
    discounts: Mapping[str, Decimal]
    rows: tuple[_PriceRow, ...]


# --- the catalog ----------------------------------------------------------------


@dataclass(frozen=True)
class Catalog:
    """Dated, versioned prices. Get one with :func:`load_catalog`; pass it to the estimators."""

    _tables: _Tables = field(repr=False)
    version: str
    overrides: Path | None = None
    instance_sources: tuple[InstancePriceSource, ...] = field(default=(), repr=False)

    @property
    def snapshot_date(self) -> date:
        return self._tables.snapshot_date

    @property
    def currency(self) -> str:
        return self._tables.currency

    @property
    def files(self) -> tuple[CatalogFile, ...]:
        return self._tables.files

    @property
    def providers(self) -> Mapping[str, ProviderInfo]:
        return self._tables.providers

    def provider(self, name: str) -> ProviderInfo:
        info = self._tables.providers.get(name)
        if info is None:
            raise ConfigError(
                f"no prices for provider {name!r}",
                hint=f"priced providers: {', '.join(PRICED_PROVIDERS)}",
            )
        return info

    def default_region(self, provider: str) -> str:
        return self.provider(provider).default_region

    def continent(self, provider: str, region: str) -> str | None:
        return self._tables.continents.get((provider, region))

    def discount(self, provider: str) -> Decimal:
        """The negotiated discount for ``provider`` as a fraction (0 when none)."""
        return self._tables.discounts.get(provider, Decimal(0))

    def internet_egress(self, provider: str, region: str | None = None) -> TieredPrice:
        self.provider(provider)
        tables = self._tables
        found = tables.egress.get((provider, region or "*")) or tables.egress.get((provider, "*"))
        if found is None:
            raise ConfigError(f"the catalog has no internet egress prices for {provider}")
        return found

    def inter_region(self, provider: str, src_region: str, dst_region: str) -> FlatPrice:
        """The price of moving data between two regions of ``provider`` (most specific rule wins)."""
        self.provider(provider)
        best: tuple[int, _InterRegionRule] | None = None
        for rule in self._tables.inter_region:
            if rule.provider != provider:
                continue
            src_score = self._region_match(provider, rule.src, src_region)
            dst_score = self._region_match(provider, rule.dst, dst_region)
            if src_score < 0 or dst_score < 0:
                continue
            score = src_score + dst_score
            if best is None or score > best[0]:
                best = (score, rule)
        if best is None:
            raise ConfigError(f"the catalog has no inter-region price for {provider}")
        rule = best[1]
        return FlatPrice(rule.price, rule.unit, rule.source, rule=f"{rule.src} -> {rule.dst}")

    def _region_match(self, provider: str, pattern: str, region: str) -> int:
        if pattern == "*":
            return 0
        if pattern.startswith("@"):
            return 1 if self.continent(provider, region) == pattern[1:] else -1
        return 2 if pattern == region else -1

    def storage_classes(self, provider: str) -> tuple[str, ...]:
        self.provider(provider)
        return tuple(dict.fromkeys(cls for (p, cls, _r) in self._tables.storage if p == provider))

    def storage(self, provider: str, storage_class: str, region: str | None = None) -> StoragePrice:
        """Storage prices for a class; the catalog's own region when ``region`` has no prices."""
        canonical = self.resolve_storage_class(provider, storage_class)
        rows = {r: p for (pv, c, r), p in self._tables.storage.items() if pv == provider and c == canonical}
        if region is not None and region in rows:
            return rows[region]
        return next(iter(rows.values()))

    def resolve_storage_class(self, provider: str, storage_class: str) -> str:
        self.provider(provider)
        wanted = normalize_storage_class(storage_class)
        canonical = self._tables.storage_aliases.get((provider, wanted))
        if canonical is None:
            raise ConfigError(
                f"unknown storage class {storage_class!r} for {provider}",
                hint=f"known classes: {', '.join(self.storage_classes(provider))}",
            )
        return canonical

    def requests(self, provider: str, storage_class: str) -> RequestPrice:
        canonical = self.resolve_storage_class(provider, storage_class)
        found = self._tables.requests.get((provider, canonical))
        if found is None:
            raise ConfigError(f"the catalog has no request prices for {provider} {canonical}")
        return found

    def serverless(self, provider: str) -> ServerlessPrice:
        self.provider(provider)
        found = self._tables.serverless.get(provider)
        if found is None:
            raise ConfigError(f"the catalog has no serverless prices for {provider}")
        return found

    def instance(self, provider: str, instance_type: str, region: str | None = None) -> InstancePrice:
        """The hourly price of ``instance_type``: extra sources first, then the catalog's instances.csv."""
        self.provider(provider)
        for source in self.instance_sources:
            found = source.instance_price(provider, instance_type, region)
            if found is not None:
                return found
        price = self._tables.instances.get((provider, instance_type.lower()))
        if price is None:
            known = sorted(
                p.instance_type for (pv, _t), p in self._tables.instances.items() if pv == provider
            )
            raise ConfigError(
                f"no price for {provider} instance type {instance_type!r}",
                hint=f'priced types: {", ".join(known)}; add one with [instances.{provider}."TYPE"] '
                "in a price overrides file",
            )
        return price

    def connection(self, provider: str, kind: str) -> ConnectionPrice:
        self.provider(provider)
        found = self._tables.connections.get((provider, kind))
        if found is None:
            raise ConfigError(
                f"unknown connection kind {kind!r} for {provider}",
                hint=f"kinds: {', '.join(CONNECTION_KINDS)}",
            )
        return found

    def with_instance_source(self, source: InstancePriceSource) -> Catalog:
        """A catalog that asks ``source`` for VM prices before its own instances.csv."""
        return replace(
            self,
            instance_sources=(source, *self.instance_sources),
            version=f"{self.version}+instances:{source.version}",
        )

    def unconfirmed(self) -> list[dict[str, str]]:
        """Every catalog price not confirmed against the provider's page, with its note."""
        return [
            {"file": row.file, "price": row.label, "source": row.source.url, "note": row.source.note}
            for row in self._tables.rows
            if not row.source.confirmed
        ]

    def describe(self) -> dict[str, Any]:
        """Versions, dates and sources, as plain JSON-ready values."""
        tables = self._tables
        files = []
        for f in tables.files:
            rows = [r for r in tables.rows if r.file == f.name]
            files.append(
                {
                    "name": f.name,
                    "title": f.title,
                    "sources": list(f.sources),
                    "sha256": f.sha256,
                    "rows": f.rows,
                    "prices": len(rows),
                    "unconfirmed": sum(1 for r in rows if not r.source.confirmed),
                }
            )
        return {
            "version": self.version,
            "snapshot_date": tables.snapshot_date.isoformat(),
            "currency": tables.currency,
            "rounding": ROUNDING_RULE,
            "overrides": str(self.overrides) if self.overrides else None,
            "instance_sources": [s.version for s in self.instance_sources],
            "providers": {
                name: {
                    "name": info.display_name,
                    "default_region": info.default_region,
                    "default_storage_class": info.default_storage_class,
                    "discount": str(self.discount(name)),
                }
                for name, info in tables.providers.items()
            },
            "files": files,
        }


def normalize_storage_class(name: str) -> str:
    """``'STANDARD_IA'``, ``'Standard-IA'`` and ``'standard ia'`` all become ``'standard_ia'``."""
    return "_".join(name.strip().lower().replace("-", " ").replace("_", " ").split())


def load_catalog(overrides: Path | str | None = None) -> Catalog:
    """The packaged price catalog, with the user TOML ``overrides`` applied when given.

    Raises :class:`~omnicloud.errors.ConfigError` for a missing or invalid
    overrides file, naming the offending key.
    """
    tables = _packaged_tables()
    version = f"{tables.snapshot_date.isoformat()}+sha256:{tables.content_hash[:12]}"
    if overrides is None:
        return Catalog(tables, version)
    path = Path(overrides)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise ConfigError(f"cannot read price overrides {str(path)!r}: {err.strerror or err}") from err
    tables = _apply_overrides(tables, raw, path)
    digest = hashlib.sha256(raw).hexdigest()[:12]
    return Catalog(tables, f"{version}+overrides:{digest}", overrides=path)


# --- reading the packaged data -------------------------------------------------------

_COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    "internet_egress.csv": (
        "provider",
        "region",
        "tier",
        "upto",
        "price",
        "unit",
        "confirmed",
        "source",
        "snapshot",
        "note",
    ),
    "inter_region.csv": (
        "provider",
        "src",
        "dst",
        "price",
        "unit",
        "confirmed",
        "source",
        "snapshot",
        "note",
    ),
    "regions.csv": ("provider", "region", "continent", "source", "snapshot"),
    "storage.csv": (
        "provider",
        "storage_class",
        "aliases",
        "region",
        "upto",
        "price",
        "unit",
        "min_days",
        "retrieval",
        "confirmed",
        "source",
        "snapshot",
        "note",
    ),
    "requests.csv": (
        "provider",
        "storage_class",
        "class_a",
        "class_b",
        "per",
        "free_class_a",
        "free_class_b",
        "free_any",
        "confirmed",
        "source",
        "snapshot",
        "note",
    ),
    "serverless.csv": (
        "provider",
        "service",
        "per_gb_second",
        "per_vcpu_second",
        "per_million_requests",
        "free_gb_seconds",
        "free_vcpu_seconds",
        "free_requests",
        "default_vcpus",
        "confirmed",
        "source",
        "snapshot",
        "note",
    ),
    "instances.csv": (
        "provider",
        "instance_type",
        "vcpus",
        "memory_gib",
        "price_hour",
        "region",
        "confirmed",
        "source",
        "snapshot",
        "note",
    ),
    "connections.csv": (
        "provider",
        "kind",
        "product",
        "hourly",
        "per_unit",
        "unit",
        "confirmed",
        "source",
        "snapshot",
        "note",
    ),
}


@functools.lru_cache(maxsize=1)
def _packaged_tables() -> _Tables:
    """Parse the packaged data files once per process (they never change while it runs)."""
    folder = resources.files(_DATA_PACKAGE).joinpath(_DATA_DIR)
    raw: dict[str, bytes] = {}
    for name in ("catalog.toml", *_COLUMNS):
        raw[name] = folder.joinpath(name).read_bytes()
    return _build_tables(raw)


def _build_tables(raw: Mapping[str, bytes]) -> _Tables:
    meta = tomllib.loads(raw["catalog.toml"].decode("utf-8"))
    snapshot = meta.get("snapshot_date")
    if not isinstance(snapshot, date):
        raise ConfigError("catalog.toml needs snapshot_date = YYYY-MM-DD")
    hasher = hashlib.sha256()
    for name in sorted(raw):
        hasher.update(name.encode() + b"\0" + raw[name] + b"\0")
    tables: dict[str, list[dict[str, str]]] = {name: _read_csv(name, raw[name]) for name in _COLUMNS}
    file_meta = meta.get("files", {})
    files = tuple(
        CatalogFile(
            name=name,
            title=str(file_meta.get(name, {}).get("title", "")),
            sources=tuple(str(s) for s in file_meta.get(name, {}).get("sources", ())),
            sha256=hashlib.sha256(raw[name]).hexdigest(),
            rows=len(tables[name]),
        )
        for name in _COLUMNS
    )
    providers = {
        name: ProviderInfo(
            name=name,
            display_name=str(info["name"]),
            default_region=str(info["default_region"]),
            default_storage_class=str(info["default_storage_class"]),
        )
        for name, info in meta["providers"].items()
    }
    rows: list[_PriceRow] = []
    builder = _TableBuilder(providers, rows)
    return _Tables(
        snapshot_date=snapshot,
        currency=str(meta.get("currency", "USD")),
        content_hash=hasher.hexdigest(),
        files=files,
        providers=MappingProxyType(providers),
        egress=MappingProxyType(builder.egress(tables["internet_egress.csv"])),
        inter_region=builder.inter_region(tables["inter_region.csv"]),
        continents=MappingProxyType(
            {(r["provider"], r["region"]): r["continent"] for r in tables["regions.csv"]}
        ),
        storage=MappingProxyType(builder.storage(tables["storage.csv"])),
        storage_aliases=MappingProxyType(builder.storage_aliases),
        requests=MappingProxyType(builder.requests(tables["requests.csv"])),
        serverless=MappingProxyType(builder.serverless(tables["serverless.csv"])),
        instances=MappingProxyType(builder.instances(tables["instances.csv"])),
        connections=MappingProxyType(builder.connections(tables["connections.csv"])),
        discounts=MappingProxyType({}),
        rows=tuple(rows),
    )


def _read_csv(name: str, data: bytes) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(data.decode("utf-8")))
    expected = _COLUMNS[name]
    if tuple(reader.fieldnames or ()) != expected:
        raise ConfigError(f"catalog file {name} has columns {reader.fieldnames}, expected {list(expected)}")
    rows = []
    for number, row in enumerate(reader, start=2):
        if None in row or any(value is None for value in row.values()):
            raise ConfigError(f"catalog file {name} line {number} does not have {len(expected)} fields")
        rows.append({key: value.strip() for key, value in row.items()})
    return rows


class _TableBuilder:
    """Turns CSV rows into the typed tables, recording each priced row."""

    def __init__(self, providers: Mapping[str, ProviderInfo], rows: list[_PriceRow]) -> None:
        self._providers = providers
        self._rows = rows
        self.storage_aliases: dict[tuple[str, str], str] = {}

    def _source(self, file: str, row: Mapping[str, str], label: str) -> PriceSource:
        where = f"{file} {label}"
        if row["provider"] not in self._providers:
            raise ConfigError(f"{where}: unknown provider {row['provider']!r}")
        if row["confirmed"] not in ("true", "false"):
            raise ConfigError(f"{where}: confirmed must be true or false")
        if not row["source"].startswith("https://"):
            raise ConfigError(f"{where}: source must be the https URL of the pricing page")
        source = PriceSource(
            url=row["source"],
            snapshot=date.fromisoformat(row["snapshot"]),
            confirmed=row["confirmed"] == "true",
            note=row.get("note", ""),
        )
        self._rows.append(_PriceRow(file, label, source))
        return source

    def egress(self, rows: list[dict[str, str]]) -> dict[tuple[str, str], TieredPrice]:
        grouped: dict[tuple[str, str], list[dict[str, str]]] = {}
        for row in rows:
            grouped.setdefault((row["provider"], row["region"]), []).append(row)
        result = {}
        for key, group in grouped.items():
            free = Decimal(0)
            free_source = None
            tiers: list[Tier] = []
            units = {r["unit"] for r in group}
            if len(units) != 1:
                raise ConfigError(f"internet_egress.csv: {key} mixes units {sorted(units)}")
            for row in group:
                label = f"{row['provider']} {row['region']} tier {row['tier']}"
                source = self._source("internet_egress.csv", row, label)
                if row["tier"] == "free":
                    free, free_source = _decimal(row["upto"], label), source
                else:
                    tiers.append(
                        Tier(_optional_decimal(row["upto"], label), _decimal(row["price"], label), source)
                    )
            result[key] = TieredPrice(
                _unit(units.pop(), key), _checked_tiers(tiers, str(key)), free, free_source
            )
        return result

    def inter_region(self, rows: list[dict[str, str]]) -> tuple[_InterRegionRule, ...]:
        rules = []
        for row in rows:
            label = f"{row['provider']} {row['src']} -> {row['dst']}"
            source = self._source("inter_region.csv", row, label)
            rules.append(
                _InterRegionRule(
                    row["provider"],
                    row["src"],
                    row["dst"],
                    _decimal(row["price"], label),
                    _unit(row["unit"], label),
                    source,
                )
            )
        return tuple(rules)

    def storage(self, rows: list[dict[str, str]]) -> dict[tuple[str, str, str], StoragePrice]:
        grouped: dict[tuple[str, str, str], list[dict[str, str]]] = {}
        for row in rows:
            grouped.setdefault((row["provider"], row["storage_class"], row["region"]), []).append(row)
        result = {}
        for key, group in grouped.items():
            provider, storage_class, region = key
            first = group[0]
            tiers = []
            for row in group:
                label = f"{provider} {storage_class} {region} up to {row['upto'] or 'any volume'}"
                source = self._source("storage.csv", row, label)
                tiers.append(
                    Tier(_optional_decimal(row["upto"], label), _decimal(row["price"], label), source)
                )
            aliases = tuple(a for a in first["aliases"].split(";") if a)
            for name in (storage_class, *aliases):
                self.storage_aliases[(provider, normalize_storage_class(name))] = storage_class
            result[key] = StoragePrice(
                provider=provider,
                storage_class=storage_class,
                region=region,
                schedule=TieredPrice(_unit(first["unit"], str(key)), _checked_tiers(tiers, str(key))),
                min_days=int(first["min_days"]),
                retrieval=_decimal(first["retrieval"], str(key)),
                aliases=aliases,
            )
        return result

    def requests(self, rows: list[dict[str, str]]) -> dict[tuple[str, str], RequestPrice]:
        result = {}
        for row in rows:
            label = f"{row['provider']} {row['storage_class']}"
            source = self._source("requests.csv", row, label)
            result[(row["provider"], row["storage_class"])] = RequestPrice(
                provider=row["provider"],
                storage_class=row["storage_class"],
                class_a=_decimal(row["class_a"], label),
                class_b=_decimal(row["class_b"], label),
                per=int(row["per"]),
                free_class_a=int(row["free_class_a"]),
                free_class_b=int(row["free_class_b"]),
                free_any=int(row["free_any"]),
                source=source,
            )
        return result

    def serverless(self, rows: list[dict[str, str]]) -> dict[str, ServerlessPrice]:
        result = {}
        for row in rows:
            label = f"{row['provider']} {row['service']}"
            source = self._source("serverless.csv", row, label)
            result[row["provider"]] = ServerlessPrice(
                provider=row["provider"],
                service=row["service"],
                per_gb_second=_decimal(row["per_gb_second"], label),
                per_vcpu_second=_decimal(row["per_vcpu_second"], label),
                per_million_requests=_decimal(row["per_million_requests"], label),
                free_gb_seconds=_decimal(row["free_gb_seconds"], label),
                free_vcpu_seconds=_decimal(row["free_vcpu_seconds"], label),
                free_requests=int(row["free_requests"]),
                default_vcpus=_decimal(row["default_vcpus"], label),
                source=source,
            )
        return result

    def instances(self, rows: list[dict[str, str]]) -> dict[tuple[str, str], InstancePrice]:
        result = {}
        for row in rows:
            label = f"{row['provider']} {row['instance_type']} {row['region']}"
            source = self._source("instances.csv", row, label)
            result[(row["provider"], row["instance_type"].lower())] = InstancePrice(
                provider=row["provider"],
                instance_type=row["instance_type"],
                price_hour=_decimal(row["price_hour"], label),
                region=row["region"],
                vcpus=_decimal(row["vcpus"], label),
                memory_gib=_decimal(row["memory_gib"], label),
                source=source,
            )
        return result

    def connections(self, rows: list[dict[str, str]]) -> dict[tuple[str, str], ConnectionPrice]:
        result = {}
        for row in rows:
            label = f"{row['provider']} {row['kind']}"
            if row["kind"] not in CONNECTION_KINDS:
                raise ConfigError(f"connections.csv {label}: kind must be one of {CONNECTION_KINDS}")
            source = self._source("connections.csv", row, label)
            result[(row["provider"], row["kind"])] = ConnectionPrice(
                provider=row["provider"],
                kind=row["kind"],
                product=row["product"],
                hourly=_decimal(row["hourly"], label),
                per_unit=_optional_decimal(row["per_unit"], label),
                unit=_unit(row["unit"], label),
                source=source,
            )
        return result


def _decimal(text: str, where: str) -> Decimal:
    try:
        value = to_decimal(text, what=where)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    if value < 0:
        raise ConfigError(f"{where}: a price or quantity must not be negative, got {text}")
    return value


def _optional_decimal(text: str, where: str) -> Decimal | None:
    return None if text == "" else _decimal(text, where)


def _unit(unit: str, where: object) -> str:
    if unit not in BILLING_UNITS:
        raise ConfigError(f"{where}: unit must be one of {', '.join(BILLING_UNITS)}, got {unit!r}")
    return unit


def _checked_tiers(tiers: list[Tier], where: str) -> tuple[Tier, ...]:
    if not tiers:
        raise ConfigError(f"{where}: at least one priced tier is needed")
    if tiers[-1].upto is not None:
        raise ConfigError(f"{where}: the last tier must have no upper bound")
    bounds = [t.upto for t in tiers[:-1]]
    if any(b is None for b in bounds):
        raise ConfigError(f"{where}: only the last tier may have no upper bound")
    numbers = [b for b in bounds if b is not None]
    if numbers != sorted(numbers) or len(set(numbers)) != len(numbers) or any(b <= 0 for b in numbers):
        raise ConfigError(f"{where}: tier bounds must be positive and increasing")
    return tuple(tiers)


# --- user overrides -------------------------------------------------------------------

_OVERRIDE_SECTIONS: Final = (
    "internet_egress",
    "inter_region",
    "storage",
    "requests",
    "serverless",
    "instances",
    "connections",
    "discounts",
    "providers",
)


def _apply_overrides(tables: _Tables, raw: bytes, path: Path) -> _Tables:
    try:
        document = tomllib.loads(raw.decode("utf-8"), parse_float=Decimal)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"price overrides {str(path)!r} are not valid TOML: {err}") from None
    applier = _OverrideApplier(tables, path)
    # Provider defaults first: other sections (new instance types) read them.
    ordered = sorted(document.items(), key=lambda item: item[0] != "providers")
    for key, value in ordered:
        if key not in _OVERRIDE_SECTIONS:
            raise ConfigError(
                f"unknown key {key!r} in price overrides {str(path)!r}",
                hint=f"top-level tables: {', '.join(_OVERRIDE_SECTIONS)}",
            )
        section = _table(value, key)
        handler: Callable[[str, Mapping[str, Any]], None] = getattr(applier, key)
        for provider, body in section.items():
            handler(applier.provider(provider, key), body)
    return applier.result()


def _table(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where} in price overrides must be a table")
    return value


def _check_keys(body: Mapping[str, Any], allowed: Iterable[str], where: str) -> None:
    allowed = tuple(allowed)
    for key in body:
        if key not in allowed:
            raise ConfigError(
                f"unknown key {where}.{key} in price overrides", hint=f"allowed here: {', '.join(allowed)}"
            )


class _OverrideApplier:
    """Applies one overrides document to copies of the packaged tables."""

    def __init__(self, tables: _Tables, path: Path) -> None:
        self._base = tables
        self._source = PriceSource(
            url=f"override:{path}", snapshot=None, confirmed=True, note="user override"
        )
        self._providers = dict(tables.providers)
        self._egress = dict(tables.egress)
        self._inter_region: list[_InterRegionRule] = []
        self._storage = dict(tables.storage)
        self._requests = dict(tables.requests)
        self._serverless = dict(tables.serverless)
        self._instances = dict(tables.instances)
        self._connections = dict(tables.connections)
        self._discounts: dict[str, Decimal] = dict(tables.discounts)
        self._aliases = dict(tables.storage_aliases)

    def result(self) -> _Tables:
        return replace(
            self._base,
            providers=MappingProxyType(self._providers),
            egress=MappingProxyType(self._egress),
            # Override rules come first so they win over packaged rules of the same specificity.
            inter_region=(*self._inter_region, *self._base.inter_region),
            storage=MappingProxyType(self._storage),
            storage_aliases=MappingProxyType(self._aliases),
            requests=MappingProxyType(self._requests),
            serverless=MappingProxyType(self._serverless),
            instances=MappingProxyType(self._instances),
            connections=MappingProxyType(self._connections),
            discounts=MappingProxyType(self._discounts),
        )

    def provider(self, name: str, section: str) -> str:
        if name not in self._providers:
            raise ConfigError(
                f"unknown provider {section}.{name} in price overrides",
                hint=f"priced providers: {', '.join(PRICED_PROVIDERS)}",
            )
        return name

    def _storage_class(self, provider: str, name: str, where: str) -> str:
        canonical = self._aliases.get((provider, normalize_storage_class(name)))
        if canonical is None:
            known = sorted({c for (p, c, _r) in self._storage if p == provider})
            raise ConfigError(
                f"unknown storage class {where} in price overrides", hint=f"known classes: {', '.join(known)}"
            )
        return canonical

    def internet_egress(self, provider: str, body: Mapping[str, Any]) -> None:
        where = f"internet_egress.{provider}"
        body = _table(body, where)
        _check_keys(body, ("unit", "free", "tiers"), where)
        for key, current in [(k, v) for k, v in self._egress.items() if k[0] == provider]:
            unit = _unit(str(body.get("unit", current.unit)), f"{where}.unit")
            free = _price(body["free"], f"{where}.free") if "free" in body else current.free
            tiers = self._tiers(body["tiers"], f"{where}.tiers") if "tiers" in body else current.tiers
            self._egress[key] = TieredPrice(
                unit, tiers, free, self._source if "free" in body else current.free_source
            )

    def inter_region(self, provider: str, body: Mapping[str, Any]) -> None:
        where = f"inter_region.{provider}"
        body = _table(body, where)
        unit = next(r.unit for r in self._base.inter_region if r.provider == provider)
        if "unit" in body:
            unit = _unit(str(body["unit"]), f"{where}.unit")
        for key, value in body.items():
            if key == "unit":
                continue
            if key == "default":
                src, dst = "*", "*"
            else:
                src, sep, dst = (part.strip() for part in key.partition("->"))
                if not sep or not src or not dst:
                    raise ConfigError(
                        f"unknown key {where}.{key} in price overrides",
                        hint='use "default" or "SRC->DST" with a region, @continent or *',
                    )
            price = _price(value, f"{where}.{key}")
            self._inter_region.append(_InterRegionRule(provider, src, dst, price, unit, self._source))

    def storage(self, provider: str, body: Mapping[str, Any]) -> None:
        for name, settings in _table(body, f"storage.{provider}").items():
            where = f"storage.{provider}.{name}"
            canonical = self._storage_class(provider, name, where)
            settings = _table(settings, where)
            _check_keys(settings, ("price", "tiers", "unit", "min_days", "retrieval"), where)
            if "price" in settings and "tiers" in settings:
                raise ConfigError(f"{where}: give either price or tiers, not both")
            for key, current in [(k, v) for k, v in self._storage.items() if k[:2] == (provider, canonical)]:
                schedule = current.schedule
                if "price" in settings:
                    tiers: tuple[Tier, ...] = (
                        Tier(None, _price(settings["price"], f"{where}.price"), self._source),
                    )
                    schedule = TieredPrice(schedule.unit, tiers)
                elif "tiers" in settings:
                    schedule = TieredPrice(schedule.unit, self._tiers(settings["tiers"], f"{where}.tiers"))
                if "unit" in settings:
                    schedule = replace(schedule, unit=_unit(str(settings["unit"]), f"{where}.unit"))
                self._storage[key] = replace(
                    current,
                    schedule=schedule,
                    min_days=_count(settings.get("min_days", current.min_days), f"{where}.min_days"),
                    retrieval=_price(settings["retrieval"], f"{where}.retrieval")
                    if "retrieval" in settings
                    else current.retrieval,
                )

    def requests(self, provider: str, body: Mapping[str, Any]) -> None:
        for name, settings in _table(body, f"requests.{provider}").items():
            where = f"requests.{provider}.{name}"
            canonical = self._storage_class(provider, name, where)
            settings = _table(settings, where)
            fields = ("class_a", "class_b", "per", "free_class_a", "free_class_b", "free_any")
            _check_keys(settings, fields, where)
            current = self._requests[(provider, canonical)]
            changes: dict[str, Any] = {"source": self._source}
            for key in ("class_a", "class_b"):
                if key in settings:
                    changes[key] = _price(settings[key], f"{where}.{key}")
            for key in ("per", "free_class_a", "free_class_b", "free_any"):
                if key in settings:
                    changes[key] = _count(settings[key], f"{where}.{key}")
            if changes.get("per", current.per) <= 0:
                raise ConfigError(f"{where}.per must be a positive number of requests")
            self._requests[(provider, canonical)] = replace(current, **changes)

    def serverless(self, provider: str, body: Mapping[str, Any]) -> None:
        where = f"serverless.{provider}"
        body = _table(body, where)
        decimals = (
            "per_gb_second",
            "per_vcpu_second",
            "per_million_requests",
            "free_gb_seconds",
            "free_vcpu_seconds",
            "default_vcpus",
        )
        _check_keys(body, (*decimals, "free_requests"), where)
        changes: dict[str, Any] = {"source": self._source}
        for key in decimals:
            if key in body:
                changes[key] = _price(body[key], f"{where}.{key}")
        if "free_requests" in body:
            changes["free_requests"] = _count(body["free_requests"], f"{where}.free_requests")
        self._serverless[provider] = replace(self._serverless[provider], **changes)

    def instances(self, provider: str, body: Mapping[str, Any]) -> None:
        for name, settings in _table(body, f"instances.{provider}").items():
            where = f"instances.{provider}.{name}"
            settings = _table(settings, where)
            _check_keys(settings, ("price_hour", "vcpus", "memory_gib", "region"), where)
            current = self._instances.get((provider, name.lower()))
            if current is None:
                if "price_hour" not in settings:
                    raise ConfigError(f"{where}: a new instance type needs price_hour")
                current = InstancePrice(
                    provider,
                    name,
                    Decimal(0),
                    self._providers[provider].default_region,
                    Decimal(0),
                    Decimal(0),
                    self._source,
                )
            changes: dict[str, Any] = {"source": self._source}
            for key in ("price_hour", "vcpus", "memory_gib"):
                if key in settings:
                    changes[key] = _price(settings[key], f"{where}.{key}")
            if "region" in settings:
                changes["region"] = str(settings["region"])
            self._instances[(provider, name.lower())] = replace(current, **changes)

    def connections(self, provider: str, body: Mapping[str, Any]) -> None:
        for kind, settings in _table(body, f"connections.{provider}").items():
            where = f"connections.{provider}.{kind}"
            if kind not in CONNECTION_KINDS:
                raise ConfigError(
                    f"unknown key {where} in price overrides", hint=f"kinds: {', '.join(CONNECTION_KINDS)}"
                )
            settings = _table(settings, where)
            _check_keys(settings, ("hourly", "per_unit", "product"), where)
            current = self._connections[(provider, kind)]
            changes: dict[str, Any] = {"source": self._source}
            if "hourly" in settings:
                changes["hourly"] = _price(settings["hourly"], f"{where}.hourly")
            if "per_unit" in settings:
                changes["per_unit"] = _price(settings["per_unit"], f"{where}.per_unit")
            if "product" in settings:
                changes["product"] = str(settings["product"])
            self._connections[(provider, kind)] = replace(current, **changes)

    def discounts(self, provider: str, value: Any) -> None:
        where = f"discounts.{provider}"
        text = value.strip() if isinstance(value, str) else value
        percent = isinstance(text, str) and text.endswith("%")
        number = _price(text[:-1] if percent else text, where)
        with exact():
            fraction = number / 100 if percent else number
        if not 0 <= fraction < 1:
            raise ConfigError(f'{where} must be a fraction below 1 (0.12) or a percentage below 100% ("12%")')
        self._discounts[provider] = fraction

    def providers(self, provider: str, body: Mapping[str, Any]) -> None:
        where = f"providers.{provider}"
        body = _table(body, where)
        _check_keys(body, ("default_region", "default_storage_class"), where)
        info = self._providers[provider]
        if "default_storage_class" in body:
            self._storage_class(
                provider, str(body["default_storage_class"]), f"{where}.default_storage_class"
            )
        self._providers[provider] = replace(
            info,
            default_region=str(body.get("default_region", info.default_region)),
            default_storage_class=str(body.get("default_storage_class", info.default_storage_class)),
        )

    def _tiers(self, value: Any, where: str) -> tuple[Tier, ...]:
        if not isinstance(value, list) or not value:
            raise ConfigError(f"{where} must be a list of {{ upto = ..., price = ... }} tables")
        tiers = []
        for index, item in enumerate(value):
            item_where = f"{where}[{index}]"
            item = _table(item, item_where)
            _check_keys(item, ("upto", "price"), item_where)
            if "price" not in item:
                raise ConfigError(f"{item_where} needs a price")
            upto = _price(item["upto"], f"{item_where}.upto") if "upto" in item else None
            tiers.append(Tier(upto, _price(item["price"], f"{item_where}.price"), self._source))
        return _checked_tiers(tiers, where)


def _price(value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise ConfigError(f"{where} must be a number, got {type(value).__name__}")
    try:
        number = to_decimal(value, what=where)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    if number < 0:
        raise ConfigError(f"{where} must not be negative")
    return number


def _count(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{where} must be a whole number of zero or more")
    return value


def iter_price_sources(catalog: Catalog) -> Iterator[tuple[str, str, PriceSource]]:
    """(file, price label, source) for every packaged price row (used by tests and docs)."""
    for row in catalog._tables.rows:
        yield row.file, row.label, row.source
