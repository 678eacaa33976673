"""What moving, storing and running things will cost, before it runs.

A dated, versioned price catalog ships as data files in ``omnicloud/costs/data``
(each price with its source page, snapshot date and whether it was confirmed
there). Estimators return an itemised :class:`Estimate` in exact USD::

    >>> from omnicloud.costs import estimate_transfer, load_catalog
    >>> catalog = load_catalog()
    >>> estimate = estimate_transfer("s3://bucket-a/x", "az://box/x", "278GB", catalog=catalog,
    ...                              free_tier=False)
    >>> str(estimate.total)
    '$25.02'

Sizes: GB = 10^9 bytes, GiB = 2^30 bytes; each price row says which one its
provider bills in (AWS, Azure, OCI per GB; Google per GiB). Money is
:class:`decimal.Decimal` throughout and rounds half to even to cents only for
display. Users override any price with a TOML file
(``load_catalog(overrides=path)``, or ``OMNICLOUD_PRICE_OVERRIDES`` on the CLI);
see ``docs/costs.md``.
"""

from __future__ import annotations

from omnicloud.costs._catalog import (
    OVERRIDES_ENV,
    PRICED_PROVIDERS,
    Catalog,
    CatalogFile,
    ConnectionPrice,
    FlatPrice,
    InstancePrice,
    InstancePriceSource,
    PriceSource,
    ProviderInfo,
    RequestPrice,
    ServerlessPrice,
    StoragePrice,
    Tier,
    TieredPrice,
    load_catalog,
)
from omnicloud.costs._estimate import (
    HOURS_PER_MONTH,
    ROUTES,
    Estimate,
    LineItem,
    TransferFlow,
    estimate_connection,
    estimate_instance,
    estimate_monthly_transfers,
    estimate_requests,
    estimate_serverless,
    estimate_storage,
    estimate_transfer,
)
from omnicloud.costs._money import CURRENCY, ROUNDING_RULE, Money
from omnicloud.costs._sizes import BYTES_PER_UNIT, format_size, parse_size

__all__ = [
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
]
