"""The public surface of omnicloud.costs is what we meant."""

from __future__ import annotations

import inspect

import omnicloud.costs as costs

EXPECTED = {
    "BYTES_PER_UNIT",
    "CURRENCY",
    "HOURS_PER_MONTH",
    "OVERRIDES_ENV",
    "PRICED_PROVIDERS",
    "ROUNDING_RULE",
    "ROUTES",
    "Catalog",
    "CatalogFile",
    "ConnectionPrice",
    "Estimate",
    "FlatPrice",
    "InstancePrice",
    "InstancePriceSource",
    "LineItem",
    "Money",
    "PriceSource",
    "ProviderInfo",
    "RequestPrice",
    "ServerlessPrice",
    "StoragePrice",
    "Tier",
    "TieredPrice",
    "TransferFlow",
    "estimate_connection",
    "estimate_instance",
    "estimate_monthly_transfers",
    "estimate_requests",
    "estimate_serverless",
    "estimate_storage",
    "estimate_transfer",
    "format_size",
    "load_catalog",
    "parse_size",
}


def test_public_names_are_exactly_the_curated_list() -> None:
    assert set(costs.__all__) == EXPECTED
    assert all(hasattr(costs, name) for name in costs.__all__)


def test_estimate_transfer_signature() -> None:
    parameters = inspect.signature(costs.estimate_transfer).parameters
    assert list(parameters)[:3] == ["src", "dst", "size_bytes"]
    assert all(
        parameters[name].kind is inspect.Parameter.POSITIONAL_ONLY for name in ("src", "dst", "size_bytes")
    )
    for name, default in {"catalog": None, "free_tier": True, "monthly_volume_bytes": 0}.items():
        assert parameters[name].default == default
        assert parameters[name].kind is inspect.Parameter.KEYWORD_ONLY


def test_load_catalog_takes_an_optional_overrides_path() -> None:
    assert inspect.signature(costs.load_catalog).parameters["overrides"].default is None
