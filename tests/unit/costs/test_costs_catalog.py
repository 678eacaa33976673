"""The packaged catalog: data files with sources and dates, a content-hash version, lookups."""

from __future__ import annotations

import csv
import io
import tomllib
from datetime import date
from decimal import Decimal
from importlib import resources

import pytest

from omnicloud.costs import Catalog, InstancePrice, PriceSource, load_catalog
from omnicloud.costs._catalog import _packaged_tables, iter_price_sources
from omnicloud.errors import ConfigError

DATA = resources.files("omnicloud.costs").joinpath("data")
PRICE_FILES = (
    "internet_egress.csv",
    "inter_region.csv",
    "storage.csv",
    "requests.csv",
    "serverless.csv",
    "instances.csv",
    "connections.csv",
)


def _rows(name: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(DATA.joinpath(name).read_text(encoding="utf-8"))))


def test_version_is_the_snapshot_date_and_a_content_hash(catalog: Catalog) -> None:
    assert catalog.snapshot_date == date(2026, 11, 25)
    day, _, digest = catalog.version.partition("+sha256:")
    assert day == "2026-11-25"
    assert len(digest) == 12
    assert int(digest, 16) >= 0


def test_loading_twice_gives_equal_versions_but_separate_catalog_objects() -> None:
    first, second = load_catalog(), load_catalog()
    assert first.version == second.version
    assert first is not second


def test_the_content_hash_covers_every_data_file() -> None:
    from omnicloud.costs._catalog import _build_tables

    raw = {name: DATA.joinpath(name).read_bytes() for name in ("catalog.toml", *PRICE_FILES, "regions.csv")}
    base = _build_tables(raw).content_hash
    assert base == _packaged_tables().content_hash
    for name in raw:
        changed = dict(raw, **{name: raw[name] + b"\n"})
        assert _build_tables(changed).content_hash != base, name


def test_every_data_file_is_listed_in_catalog_toml_with_sources() -> None:
    meta = tomllib.loads(DATA.joinpath("catalog.toml").read_text(encoding="utf-8"))
    on_disk = {entry.name for entry in DATA.iterdir() if entry.name.endswith(".csv")}
    assert set(meta["files"]) == on_disk
    for name, info in meta["files"].items():
        assert info["title"], name
        assert info["sources"] and all(url.startswith("https://") for url in info["sources"]), name


@pytest.mark.parametrize("name", PRICE_FILES)
def test_every_price_row_has_a_source_page_a_snapshot_date_and_a_confirmation_flag(name: str) -> None:
    for row in _rows(name):
        assert row["source"].startswith("https://"), row
        assert row["snapshot"] == "2026-11-25", row
        assert row["confirmed"] in ("true", "false"), row
        if row["confirmed"] == "false":
            assert row["note"].strip(), f"unconfirmed price without a note: {row}"


def test_every_price_is_a_decimal_never_a_float(catalog: Catalog) -> None:
    def walk(value: object) -> None:
        assert not isinstance(value, float), value
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)
        elif hasattr(value, "__dataclass_fields__"):
            for field_name in value.__dataclass_fields__:
                walk(getattr(value, field_name))

    tables = _packaged_tables()
    walk([dict(tables.egress), dict(tables.storage), dict(tables.requests), dict(tables.serverless)])
    walk([dict(tables.instances), dict(tables.connections), list(tables.inter_region)])
    assert isinstance(catalog.internet_egress("aws").tiers[0].price, Decimal)


def test_unconfirmed_lists_exactly_the_rows_marked_false(catalog: Catalog) -> None:
    marked = sum(1 for name in PRICE_FILES for row in _rows(name) if row["confirmed"] == "false")
    assert len(catalog.unconfirmed()) == marked
    assert all(entry["note"] for entry in catalog.unconfirmed())


def test_describe_reports_versions_dates_sources_and_defaults(catalog: Catalog) -> None:
    description = catalog.describe()
    assert description["version"] == catalog.version
    assert description["snapshot_date"] == "2026-11-25"
    assert description["currency"] == "USD"
    assert description["providers"]["aws"]["default_region"] == "us-east-1"
    names = [entry["name"] for entry in description["files"]]
    assert set(PRICE_FILES) <= set(names)
    assert all(entry["sha256"] and entry["sources"] for entry in description["files"])


def test_price_sources_iterate_with_their_files(catalog: Catalog) -> None:
    sources = list(iter_price_sources(catalog))
    assert {file for file, _label, _src in sources} == set(PRICE_FILES)
    assert all(isinstance(src, PriceSource) for _f, _l, src in sources)


def test_provider_defaults(catalog: Catalog) -> None:
    assert catalog.default_region("gcp") == "us-central1"
    assert catalog.default_region("azure") == "eastus"
    assert catalog.provider("oci").default_storage_class == "standard"


def test_unknown_provider_is_a_config_error(catalog: Catalog) -> None:
    with pytest.raises(ConfigError, match="no prices for provider 'ibm'"):
        catalog.internet_egress("ibm")


@pytest.mark.parametrize(
    ("provider", "name", "canonical"),
    [
        ("aws", "STANDARD_IA", "standard_ia"),
        ("aws", "Standard-IA", "standard_ia"),
        ("aws", "GLACIER_DEEP_ARCHIVE", "deep_archive"),
        ("gcp", "NEARLINE", "nearline"),
        ("azure", "Cool", "cool"),
        ("oci", "InfrequentAccess", "infrequent_access"),
    ],
)
def test_storage_classes_resolve_from_provider_spellings(
    catalog: Catalog, provider: str, name: str, canonical: str
) -> None:
    assert catalog.resolve_storage_class(provider, name) == canonical


def test_unknown_storage_class_lists_the_known_ones(catalog: Catalog) -> None:
    with pytest.raises(ConfigError, match="known classes: standard, standard_ia"):
        catalog.storage("aws", "platinum")


def test_inter_region_prefers_the_most_specific_rule(catalog: Catalog) -> None:
    assert catalog.inter_region("aws", "us-east-1", "us-east-2").price == Decimal("0.01")
    assert catalog.inter_region("aws", "us-east-1", "eu-west-1").price == Decimal("0.02")
    assert catalog.inter_region("gcp", "us-central1", "us-west1").rule == "@northamerica -> @northamerica"
    # An unknown region has no continent: the cross-continent rule applies.
    assert catalog.inter_region("gcp", "us-central1", "mars-north1").price == Decimal("0.08")


class _SizesCatalog:
    """Stands in for the compute size catalogs, which will implement InstancePriceSource."""

    version = "sizes-2026-12-01"

    def instance_price(self, provider: str, instance_type: str, region: str | None) -> InstancePrice | None:
        if (provider, instance_type) != ("aws", "t3.micro"):
            return None
        source = PriceSource("https://example.invalid/sizes.csv", date(2026, 12, 1), True)
        return InstancePrice(
            "aws", "t3.micro", Decimal("0.0100"), region or "us-east-1", Decimal(2), Decimal(1), source
        )


def test_instance_sources_are_asked_first_and_change_the_version(catalog: Catalog) -> None:
    extended = catalog.with_instance_source(_SizesCatalog())
    assert extended.version == f"{catalog.version}+instances:sizes-2026-12-01"
    assert extended.instance("aws", "t3.micro").price_hour == Decimal("0.0100")
    assert extended.instance("aws", "t3.small").price_hour == Decimal("0.0208")  # falls back to instances.csv
    assert catalog.instance("aws", "t3.micro").price_hour == Decimal("0.0104")  # the original is unchanged
