"""Transfer estimates, pinned with hand-computed cases.

Internet egress from AWS (GB = 10^9 bytes): first 100 GB/month free, then
$0.09 up to 10,240 GB, $0.085 up to 51,200 GB, $0.07 up to 153,600 GB, $0.05
beyond. Tiers count the month's cumulative volume per source provider.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from omnicloud.costs import Catalog, Money, TransferFlow, estimate_monthly_transfers, estimate_transfer
from omnicloud.errors import ConfigError, InvalidURIError
from omnicloud.uri import parse_uri

S3 = "s3://source-bucket/data/"
GCS = "gs://dest-bucket/data/"
AZ = "az://container/data/"
GB = 10**9
GIB = 2**30
TB = 10**12


# --- the tier arithmetic -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "free_on", "free_off"),
    [
        # 0 GB: nothing.
        (0, "0", "0"),
        # 50 GB: inside the free allowance; 50 x 0.09 without it.
        (50 * GB, "0", "4.50"),
        # exactly 100 GB: the whole allowance, not a byte more; 100 x 0.09 without it.
        (100 * GB, "0", "9.00"),
        # 10 TB = 10,000 GB, all in tier 1: (10,000 - 100) x 0.09; 10,000 x 0.09.
        (10 * TB, "891.00", "900.00"),
        # 200 TB = 200,000 GB across every tier:
        #   free 100 + (10,240 - 100) x 0.09 = 912.60, 40,960 x 0.085 = 3,481.60,
        #   102,400 x 0.07 = 7,168.00, (200,000 - 153,600) x 0.05 = 2,320.00 -> 13,882.20;
        #   without the allowance tier 1 is 10,240 x 0.09 = 921.60 -> 13,891.20.
        (200 * TB, "13882.20", "13891.20"),
    ],
)
def test_aws_internet_egress_tiers(catalog: Catalog, size: int, free_on: str, free_off: str) -> None:
    assert estimate_transfer(S3, GCS, size, catalog=catalog).total.amount == Decimal(free_on)
    assert estimate_transfer(S3, GCS, size, catalog=catalog, free_tier=False).total.amount == Decimal(
        free_off
    )


def test_200_tb_from_aws_is_itemised_per_tier(catalog: Catalog) -> None:
    estimate = estimate_transfer(S3, GCS, "200TB", catalog=catalog)
    rows = [(item.quantity, item.unit_price.amount, item.amount.amount) for item in estimate.items]
    assert rows == [
        (Decimal(100), Decimal(0), Decimal(0)),
        (Decimal(10140), Decimal("0.09"), Decimal("912.60")),
        (Decimal(40960), Decimal("0.085"), Decimal("3481.600")),
        (Decimal(102400), Decimal("0.07"), Decimal("7168.00")),
        (Decimal(46400), Decimal("0.05"), Decimal("2320.00")),
    ]
    assert "free allowance" in estimate.items[0].what
    assert "tier 4 (over 153,600 GB/month)" in estimate.items[-1].what
    assert str(estimate.total) == "$13,882.20"


def test_zero_bytes_still_shows_the_price_that_would_apply(catalog: Catalog) -> None:
    estimate = estimate_transfer(S3, GCS, 0, catalog=catalog, free_tier=False)
    assert len(estimate.items) == 1
    assert estimate.items[0].unit_price.amount == Decimal("0.09")
    assert estimate.total == Money.zero()


def test_gcp_bills_per_gib_across_its_tiers(catalog: Catalog) -> None:
    # 200 TB = 186,264.514923095703125 GiB: 1,024 x 0.12 = 122.88, 9,216 x 0.11 = 1,013.76,
    # (186,264.514923095703125 - 10,240) x 0.08 = 14,081.96119384765625.
    estimate = estimate_transfer(GCS, S3, "200TB", catalog=catalog, free_tier=False)
    assert estimate.total.exact_text() == "15218.60119384765625"
    assert str(estimate.total) == "$15,218.60"
    assert {item.unit for item in estimate.items} == {"GiB"}


def test_gcp_one_tib_with_the_free_allowance(catalog: Catalog) -> None:
    # 1 TiB = 1,024 GiB: 100 GiB free, 924 x 0.12 = 110.88.
    assert estimate_transfer(GCS, S3, "1TiB", catalog=catalog).total.amount == Decimal("110.88")


def test_azure_and_oci_tiers(catalog: Catalog) -> None:
    # Azure 200 TB: 100 free, 10,140 x 0.087 = 882.18, 40,960 x 0.083 = 3,399.68,
    # 102,400 x 0.07 = 7,168, 46,400 x 0.05 = 2,320 -> 13,769.86.
    assert estimate_transfer(AZ, S3, "200TB", catalog=catalog).total.amount == Decimal("13769.86")
    # OCI 200 TB: first 10,240 GB free, 189,760 x 0.0085 = 1,612.96.
    oci = "oci://n/tenancy/b/bucket/o/data/"
    assert estimate_transfer(oci, S3, "200TB", catalog=catalog).total.amount == Decimal("1612.96")


def test_monthly_volume_makes_the_estimate_marginal(catalog: Catalog) -> None:
    # 10,200 GB already sent: 40 GB still in tier 1 (x 0.09 = 3.60), 10 GB in tier 2 (x 0.085 = 0.85).
    estimate = estimate_transfer(S3, GCS, "50GB", catalog=catalog, monthly_volume_bytes=10_200 * GB)
    assert estimate.total.amount == Decimal("4.45")
    assert any("already sent from aws this month" in note for note in estimate.assumptions)


def test_the_free_allowance_is_used_once_per_month(catalog: Catalog) -> None:
    # 80 GB sent earlier used 80 of the 100 free GB: 20 free, 30 x 0.09 = 2.70.
    estimate = estimate_transfer(S3, GCS, "50GB", catalog=catalog, monthly_volume_bytes=80 * GB)
    assert estimate.total.amount == Decimal("2.70")


# --- same region, inter-region, cross-cloud ---------------------------------------------


def test_same_region_transfer_is_free(catalog: Catalog) -> None:
    estimate = estimate_transfer(
        "aws://us-east-1/bucket-a/x", "aws://us-east-1/bucket-b/x", "500GB", catalog=catalog
    )
    assert estimate.total == Money.zero()
    assert "same region is free" in estimate.items[0].what


def test_without_regions_both_sides_assume_the_default_region_and_say_so(catalog: Catalog) -> None:
    estimate = estimate_transfer("s3://bucket-a/x", "s3://bucket-b/x", "500GB", catalog=catalog)
    assert estimate.total == Money.zero()
    assert any("assumed us-east-1" in note for note in estimate.assumptions)


@pytest.mark.parametrize(
    ("src", "dst", "kwargs", "expected"),
    [
        # AWS us-east-1 -> us-west-2: 100 GB x 0.02.
        ("aws://us-east-1/bucket-a/x", "aws://us-west-2/bucket-b/x", {}, "2.00"),
        # AWS us-east-1 -> us-east-2 has its own rate: 100 GB x 0.01.
        ("aws://us-east-1/bucket-a/x", "aws://us-east-2/bucket-b/x", {}, "1.00"),
        # GCS within North America: 100 GiB x 0.02; across continents: 100 GiB x 0.08.
        (
            "gs://bucket-a/x",
            "gs://bucket-b/x",
            {"src_region": "us-central1", "dst_region": "us-east1"},
            "2.00",
        ),
        (
            "gs://bucket-a/x",
            "gs://bucket-b/x",
            {"src_region": "us-central1", "dst_region": "europe-west1"},
            "8.00",
        ),
        # Azure within North America 100 GB x 0.02; to Europe 100 GB x 0.05.
        ("az://box-a/x", "az://box-b/x", {"src_region": "eastus", "dst_region": "westus2"}, "2.00"),
        ("az://box-a/x", "az://box-b/x", {"src_region": "eastus", "dst_region": "westeurope"}, "5.00"),
        # OCI between regions: 100 GB x 0.0085.
        ("oci://ns@us-ashburn-1/bucket/x", "oci://ns@eu-frankfurt-1/bucket/x", {}, "0.85"),
    ],
)
def test_inter_region_transfer(
    catalog: Catalog, src: str, dst: str, kwargs: dict[str, str], expected: str
) -> None:
    size = "100GiB" if src.startswith("gs://") else "100GB"
    estimate = estimate_transfer(
        src,
        dst,
        size,
        catalog=catalog,
        src_region=kwargs.get("src_region"),
        dst_region=kwargs.get("dst_region"),
    )
    assert estimate.total.amount == Decimal(expected)


def test_cross_cloud_is_billed_as_the_source_providers_internet_egress(catalog: Catalog) -> None:
    estimate = estimate_transfer(S3, AZ, "1000GB", catalog=catalog, free_tier=False)
    assert {item.provider for item in estimate.items} == {"aws"}
    assert estimate.total.amount == Decimal("90.00")
    assert any("billed as aws's internet egress" in note for note in estimate.assumptions)


def test_uploads_from_local_and_memory_cost_nothing(catalog: Catalog) -> None:
    assert estimate_transfer("file:///data/x", S3, "1TB", catalog=catalog).total == Money.zero()
    assert estimate_transfer("mem://scratch/x", GCS, "1TB", catalog=catalog).total == Money.zero()
    assert estimate_transfer("mem://scratch/x", "file:///tmp/x", "1TB", catalog=catalog).total == Money.zero()


def test_downloads_to_local_are_internet_egress(catalog: Catalog) -> None:
    estimate = estimate_transfer(S3, "file:///tmp/x", "278GB", catalog=catalog, free_tier=False)
    assert estimate.total.amount == Decimal("25.02")
    assert any("outside aws" in note for note in estimate.assumptions)


def test_object_uris_are_accepted_as_well_as_text(catalog: Catalog) -> None:
    by_text = estimate_transfer(S3, AZ, "278GB", catalog=catalog)
    by_uri = estimate_transfer(parse_uri(S3), parse_uri(AZ), 278 * GB, catalog=catalog)
    assert by_text == by_uri


# --- the seed document's networking lines (004, "Cost Tracking for Multi-Cloud") ------------


def test_seed_278_gb_aws_to_azure_at_0_09_is_25_02(catalog: Catalog) -> None:
    estimate = estimate_transfer(S3, AZ, "278GB", catalog=catalog, free_tier=False)
    assert estimate.total.amount == Decimal("25.02")
    assert str(estimate.total) == "$25.02"


def test_seed_125_gb_aws_to_gcp_is_billed_at_aws_egress(catalog: Catalog) -> None:
    # The seed writes "$15.00, 125GB @ $0.12/GB"; $0.12 is Google's rate, but AWS bills the
    # egress of an AWS -> GCP flow: 125 x 0.09 = 11.25.
    assert estimate_transfer(S3, GCS, "125GB", catalog=catalog, free_tier=False).total.amount == Decimal(
        "11.25"
    )


def test_seed_15_dollar_figure_is_what_125_gib_cost_leaving_gcp(catalog: Catalog) -> None:
    assert estimate_transfer(GCS, S3, "125GiB", catalog=catalog, free_tier=False).total.amount == Decimal(
        "15.00"
    )


def test_seed_57_gb_azure_to_aws_at_0_087(catalog: Catalog) -> None:
    estimate = estimate_transfer(AZ, S3, "57GB", catalog=catalog, free_tier=False)
    assert estimate.total.amount == Decimal("4.959")  # exact, no float error
    assert str(estimate.total) == "$4.96"  # the seed rounds it to $5


def test_seed_lines_with_free_tiers_on_each_alone(catalog: Catalog) -> None:
    # 278 GB: 100 free, 178 x 0.09 = 16.02; 125 GB: 25 x 0.09 = 2.25; 57 GB: inside Azure's 100 GB.
    assert estimate_transfer(S3, AZ, "278GB", catalog=catalog).total.amount == Decimal("16.02")
    assert estimate_transfer(S3, GCS, "125GB", catalog=catalog).total.amount == Decimal("2.25")
    assert estimate_transfer(AZ, S3, "57GB", catalog=catalog).total.amount == Decimal(0)


SEED_FLOWS = [(S3, AZ, "278GB"), (S3, GCS, "125GB"), (AZ, S3, "57GB")]


def test_seed_month_without_free_tiers(catalog: Catalog) -> None:
    # 25.02 + 11.25 + 4.959 = 41.229 (the seed's $45 uses $0.12 for the AWS -> GCP line).
    estimate = estimate_monthly_transfers(SEED_FLOWS, catalog=catalog, free_tier=False)
    assert estimate.total.amount == Decimal("41.229")
    assert str(estimate.total) == "$41.23"


def test_seed_month_with_free_tiers_uses_each_providers_allowance_once(catalog: Catalog) -> None:
    # AWS sends 278 + 125 = 403 GB in the month: one 100 GB allowance, 303 x 0.09 = 27.27.
    # Azure sends 57 GB: free.
    estimate = estimate_monthly_transfers(SEED_FLOWS, catalog=catalog)
    assert estimate.total.amount == Decimal("27.27")
    aws_to_gcp = [item for item in estimate.items if "dest-bucket" in item.what]
    assert [item.amount.amount for item in aws_to_gcp] == [Decimal("11.25")]


def test_monthly_flows_accept_flow_objects_with_regions(catalog: Catalog) -> None:
    flows = [TransferFlow("gs://bucket-a/x", "gs://bucket-b/x", "100GiB", "us-central1", "europe-west1")]
    assert estimate_monthly_transfers(flows, catalog=catalog).total.amount == Decimal("8.00")
    assert estimate_monthly_transfers([], catalog=catalog).total == Money.zero()


# --- routes, requests, retrieval ---------------------------------------------------------------


def test_interconnect_route_uses_its_flat_egress_price(catalog: Catalog) -> None:
    estimate = estimate_transfer(S3, AZ, "1000GB", catalog=catalog, route="interconnect")
    assert estimate.total.amount == Decimal("20.00")  # 1,000 GB x 0.02 over Direct Connect


def test_vpn_route_is_billed_at_internet_rates(catalog: Catalog) -> None:
    over_vpn = estimate_transfer(S3, AZ, "278GB", catalog=catalog, route="vpn", free_tier=False)
    assert over_vpn.total.amount == Decimal("25.02")
    assert any("internet egress rates" in note for note in over_vpn.assumptions)


def test_unknown_route_is_a_config_error(catalog: Catalog) -> None:
    with pytest.raises(ConfigError, match="unknown route"):
        estimate_transfer(S3, AZ, "1GB", catalog=catalog, route="carrier-pigeon")


def test_objects_add_a_get_at_the_source_and_a_put_at_the_destination(catalog: Catalog) -> None:
    # 1 GB x 0.09 + 1,000 GETs on S3 (0.0004 per 1,000) + 1,000 PUTs on GCS (0.005 per 1,000).
    estimate = estimate_transfer(S3, GCS, "1GB", catalog=catalog, free_tier=False, objects=1000)
    assert estimate.total.amount == Decimal("0.0954")
    # With free tiers: the GB is free and GCS's 5,000 free class A operations cover the PUTs.
    assert estimate_transfer(S3, GCS, "1GB", catalog=catalog, objects=1000).total.amount == Decimal("0.0004")


def test_source_storage_class_adds_its_retrieval_fee(catalog: Catalog) -> None:
    # 100 GB x 0.09 egress + 100 GB x 0.03 Glacier Instant Retrieval retrieval.
    estimate = estimate_transfer(
        S3, GCS, "100GB", catalog=catalog, free_tier=False, src_storage_class="GLACIER_IR"
    )
    assert estimate.total.amount == Decimal("12.00")


def test_invalid_uri_raises_invalid_uri_error(catalog: Catalog) -> None:
    with pytest.raises(InvalidURIError):
        estimate_transfer("ftp://nope/x", S3, "1GB", catalog=catalog)


def test_negative_volumes_are_config_errors(catalog: Catalog) -> None:
    with pytest.raises(ConfigError):
        estimate_transfer(S3, AZ, "1GB", catalog=catalog, monthly_volume_bytes=-1)
    with pytest.raises(ConfigError):
        estimate_transfer(S3, AZ, -5, catalog=catalog)


def test_estimate_records_the_catalog_version(catalog: Catalog) -> None:
    assert estimate_transfer(S3, AZ, "1GB", catalog=catalog).catalog_version == catalog.version


def test_default_catalog_is_the_packaged_one(catalog: Catalog) -> None:
    assert estimate_transfer(S3, AZ, "278GB") == estimate_transfer(S3, AZ, "278GB", catalog=catalog)
