"""Storage, request, serverless, instance and connection estimates, with hand-computed values."""

from __future__ import annotations

from decimal import Decimal

import pytest

from omnicloud.costs import (
    Catalog,
    Estimate,
    Money,
    estimate_connection,
    estimate_instance,
    estimate_requests,
    estimate_serverless,
    estimate_storage,
    estimate_transfer,
    load_catalog,
)
from omnicloud.errors import ConfigError

# --- storage ----------------------------------------------------------------------------------


def test_one_tb_of_s3_standard_for_a_month(catalog: Catalog) -> None:
    estimate = estimate_storage("aws", "STANDARD", "1TB", catalog=catalog)
    assert estimate.total.amount == Decimal("23.000")  # 1,000 GB x 0.023
    assert estimate.items[0].unit == "GB-month"


def test_s3_standard_storage_tiers_apply_to_the_size_per_month(catalog: Catalog) -> None:
    # 100 TB = 100,000 GB: 51,200 x 0.023 = 1,177.60 and 48,800 x 0.022 = 1,073.60, for 2 months.
    estimate = estimate_storage("aws", "standard", "100TB", months=2, catalog=catalog)
    assert estimate.total.amount == Decimal("4502.40")
    assert [item.quantity for item in estimate.items] == [Decimal(102400), Decimal(97600)]


def test_gcs_bills_storage_per_gib(catalog: Catalog) -> None:
    # 1 TiB = 1,024 GiB x 0.010 x 3 months.
    assert estimate_storage("gcp", "nearline", "1TiB", months=3, catalog=catalog).total.amount == Decimal(
        "30.72"
    )


def test_fractional_months(catalog: Catalog) -> None:
    assert estimate_storage(
        "oci", "standard", "100GB", months="0.5", catalog=catalog
    ).total.amount == Decimal("1.275")


def test_short_stays_in_cold_classes_mention_the_minimum_duration(catalog: Catalog) -> None:
    estimate = estimate_storage("azure", "archive", "1TB", catalog=catalog)
    assert any("at least 180 days" in note for note in estimate.assumptions)
    assert not any("at least" in note for note in estimate_storage("azure", "hot", "1TB").assumptions)


def test_an_unpriced_region_falls_back_and_says_so(catalog: Catalog) -> None:
    estimate = estimate_storage("aws", "standard", "1TB", region="eu-west-1", catalog=catalog)
    assert any("no aws storage prices for eu-west-1" in note for note in estimate.assumptions)


def test_negative_months_are_refused(catalog: Catalog) -> None:
    with pytest.raises(ConfigError):
        estimate_storage("aws", "standard", "1TB", months=-1, catalog=catalog)


# --- requests ------------------------------------------------------------------------------------


def test_s3_requests(catalog: Catalog) -> None:
    # 1M PUTs at 0.005 per 1,000 = 5.00; 10M GETs at 0.0004 per 1,000 = 4.00.
    estimate = estimate_requests("aws", "standard", class_a=1_000_000, class_b=10_000_000, catalog=catalog)
    assert estimate.total.amount == Decimal("9.00")


def test_gcs_free_operations_come_off_first(catalog: Catalog) -> None:
    # 10,000 class A: 5,000 free, 5,000 x 0.005 per 1,000 = 0.025; 50,000 class B: all free.
    estimate = estimate_requests("gcp", "standard", class_a=10_000, class_b=50_000, catalog=catalog)
    assert estimate.total.amount == Decimal("0.025")
    off = estimate_requests(
        "gcp", "standard", class_a=10_000, class_b=50_000, free_tier=False, catalog=catalog
    )
    assert off.total.amount == Decimal("0.070")


def test_oci_free_requests_are_shared_by_all_types(catalog: Catalog) -> None:
    # 80,000 requests, 50,000 free, 30,000 x 0.0034 per 10,000 = 0.0102.
    estimate = estimate_requests("oci", "standard", class_a=40_000, class_b=40_000, catalog=catalog)
    assert estimate.total.amount == Decimal("0.0102")


def test_azure_prices_per_ten_thousand(catalog: Catalog) -> None:
    estimate = estimate_requests("azure", "hot", class_a=20_000, catalog=catalog)
    assert estimate.items[0].unit == "10,000 requests"
    assert estimate.total.amount == Decimal("0.10")


# --- serverless ---------------------------------------------------------------------------------


def test_lambda_matches_the_providers_worked_example(catalog: Catalog) -> None:
    # 3M calls of 1 s at 512 MB = 1,500,000 GB-s; 400,000 free; 1,100,000 x 0.0000166667 = 18.33337.
    # 3M requests, 1M free: 2 x 0.20 = 0.40. (AWS's page rounds the rate to 0.00001667: $18.74.)
    estimate = estimate_serverless(
        "aws", invocations=3_000_000, duration_ms=1000, memory_mb=512, catalog=catalog
    )
    assert estimate.total.amount == Decimal("18.73337")
    off = estimate_serverless(
        "aws", invocations=3_000_000, duration_ms=1000, memory_mb=512, free_tier=False, catalog=catalog
    )
    assert off.total.amount == Decimal("25.60005")  # 1.5M x 0.0000166667 + 3 x 0.20


def test_cloud_run_functions_bill_cpu_separately_with_one_vcpu_by_default(catalog: Catalog) -> None:
    # 1M calls x 200 ms = 200,000 s: 100,000 GiB-s (free), 200,000 vCPU-s - 180,000 free = 20,000 x 0.000024.
    estimate = estimate_serverless(
        "gcp", invocations=1_000_000, duration_ms=200, memory_mb=512, catalog=catalog
    )
    assert estimate.total.amount == Decimal("0.48")
    assert any("1 vCPU per instance assumed" in note for note in estimate.assumptions)
    two = estimate_serverless(
        "gcp", invocations=1_000_000, duration_ms=200, memory_mb=512, vcpus=2, catalog=catalog
    )
    assert two.total.amount == Decimal("5.28")  # 400,000 - 180,000 = 220,000 x 0.000024


# --- instances and connections ----------------------------------------------------------------


def test_a_month_of_t3_micro(catalog: Catalog) -> None:
    estimate = estimate_instance("aws", "T3.MICRO", catalog=catalog)
    assert estimate.total.amount == Decimal("7.5920")  # 730 h x 0.0104
    assert str(estimate.total) == "$7.59"


def test_unknown_instance_types_list_the_priced_ones(catalog: Catalog) -> None:
    with pytest.raises(ConfigError, match=r"priced types: c5\.large"):
        estimate_instance("aws", "x9.huge", 1, catalog=catalog)


def test_instance_in_an_unpriced_region_says_which_price_was_used(catalog: Catalog) -> None:
    estimate = estimate_instance("gcp", "e2-small", 10, "europe-west1", catalog=catalog)
    assert any("used us-central1" in note for note in estimate.assumptions)


def test_a_vpn_side_costs_about_36_dollars_a_month_as_the_seed_says(catalog: Catalog) -> None:
    assert estimate_connection("aws", "vpn", catalog=catalog).total.amount == Decimal("36.50")
    with pytest.raises(ConfigError, match="unknown connection kind"):
        estimate_connection("aws", "satellite", catalog=catalog)


# --- the estimate type -----------------------------------------------------------------------------


def test_estimates_add_up_and_keep_their_catalog_version(catalog: Catalog) -> None:
    storage = estimate_storage("aws", "standard", "1TB", catalog=catalog)
    egress = estimate_transfer("s3://bucket-a/x", "gs://bucket-b/x", "278GB", catalog=catalog)
    combined = storage + egress
    assert combined.total == storage.total + egress.total
    assert combined.kind == "combined"
    assert combined.catalog_version == catalog.version


def test_estimates_from_different_catalogs_do_not_add(catalog: Catalog) -> None:
    other = Estimate("storage", (), "another-version")
    with pytest.raises(ValueError, match="different catalogs"):
        estimate_storage("aws", "standard", "1TB", catalog=catalog) + other


def test_json_form_keeps_decimals_as_strings(catalog: Catalog) -> None:
    data = estimate_transfer(
        "az://box/x", "s3://bucket-b/x", "57GB", catalog=catalog, free_tier=False
    ).to_dict()
    assert data["total"] == "4.96"
    assert data["total_exact"] == "4.959"
    assert data["currency"] == "USD"
    assert data["catalog_version"] == catalog.version
    item = data["items"][0]
    assert item == {
        "what": "internet egress from azure, tier 1 (up to 10,240 GB/month)",
        "provider": "azure",
        "quantity": "57",
        "unit": "GB",
        "unit_price": "0.087",
        "amount": "4.96",
        "amount_exact": "4.959",
        "source": "https://azure.microsoft.com/en-us/pricing/details/bandwidth/",
        "confirmed": False,
    }


def test_every_line_amount_is_quantity_times_unit_price(catalog: Catalog) -> None:
    estimates = [
        estimate_transfer("gs://bucket-a/x", "s3://bucket-b/x", "200TB", catalog=catalog),
        estimate_storage("aws", "standard", "700TB", catalog=catalog),
        estimate_serverless("gcp", invocations=10**8, duration_ms=123, memory_mb=2048, catalog=catalog),
        estimate_requests("oci", "archive", class_a=123_456, class_b=7, catalog=catalog),
    ]
    for estimate in estimates:
        for item in estimate.items:
            assert item.quantity * item.unit_price.amount == item.amount.amount, item
        assert estimate.total == sum((i.amount for i in estimate.items), Money.zero())


def test_the_default_catalog_is_used_when_none_is_given() -> None:
    assert estimate_storage("aws", "standard", "1TB").catalog_version == load_catalog().version
