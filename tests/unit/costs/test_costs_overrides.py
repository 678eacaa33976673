"""User price overrides: a documented TOML schema, exact decimals, errors that name the key."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from omnicloud.costs import (
    Catalog,
    estimate_instance,
    estimate_requests,
    estimate_storage,
    estimate_transfer,
    load_catalog,
)
from omnicloud.errors import ConfigError

Write = Callable[[str], Path]
S3, AZ, GCS = "s3://source-bucket/x", "az://container/x", "gs://dest-bucket/x"


def test_overrides_change_the_version_by_their_content_hash(catalog: Catalog, write_overrides: Write) -> None:
    path = write_overrides("[discounts]\naws = 0.1\n")
    overridden = load_catalog(path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    assert overridden.version == f"{catalog.version}+overrides:{digest}"
    assert load_catalog(write_overrides("[discounts]\naws = 0.2\n")).version != overridden.version
    assert overridden.overrides == path


def test_an_empty_overrides_file_still_marks_the_version(catalog: Catalog, write_overrides: Write) -> None:
    assert "+overrides:" in load_catalog(write_overrides("")).version


def test_egress_tiers_and_allowance_can_be_replaced(write_overrides: Write) -> None:
    path = write_overrides(
        "[internet_egress.aws]\nfree = 0\ntiers = [ { upto = 10240, price = 0.07 }, { price = 0.05 } ]\n"
    )
    estimate = estimate_transfer(S3, AZ, "278GB", catalog=load_catalog(path))
    assert estimate.total.amount == Decimal("19.46")  # 278 x 0.07, no free allowance
    assert estimate.items[0].source.startswith("override:")
    assert estimate.items[0].confirmed


def test_toml_floats_are_read_as_exact_decimals(write_overrides: Write) -> None:
    path = write_overrides("[internet_egress.aws]\nfree = 0\ntiers = [ { price = 0.1 } ]\n")
    estimate = estimate_transfer(S3, AZ, "3GB", catalog=load_catalog(path))
    assert estimate.total.amount == Decimal("0.3")  # 3 x 0.1 in floats would be 0.30000000000000004


def test_storage_request_instance_and_region_overrides(write_overrides: Write) -> None:
    path = write_overrides(
        """
[providers.aws]
default_region = "us-west-2"

[storage.aws.STANDARD]
price = "0.02"

[requests.gcp.standard]
class_a = 0.004
free_class_a = 0

[instances.aws."m7i.large"]
price_hour = 0.1008

[inter_region.aws]
"us-west-2->us-east-1" = 0.015
"""
    )
    catalog = load_catalog(path)
    assert estimate_storage("aws", "standard", "1TB", catalog=catalog).total.amount == Decimal("20.00")
    assert estimate_requests("gcp", "standard", class_a=1000, catalog=catalog).total.amount == Decimal(
        "0.004"
    )
    instance = estimate_instance("aws", "m7i.large", 10, catalog=catalog)
    assert instance.total.amount == Decimal("1.008")
    assert "us-west-2" in instance.items[0].what  # a new type takes the overridden default region
    moved = estimate_transfer("s3://bucket-a/x", "aws://us-east-1/bucket-b/x", "100GB", catalog=catalog)
    assert moved.total.amount == Decimal("1.500")  # source region defaults to us-west-2 now


def test_a_discount_is_its_own_line_per_provider(write_overrides: Write) -> None:
    catalog = load_catalog(write_overrides('[discounts]\nazure = "10%"\n'))
    # 578 GB from Azure: 100 free, 478 x 0.087 = 41.586, minus 10% = 37.4274.
    estimate = estimate_transfer(AZ, S3, "578GB", catalog=catalog)
    assert estimate.total.amount == Decimal("37.4274")
    discount = estimate.items[-1]
    assert discount.what == "negotiated discount on azure (10%)"
    assert discount.quantity * discount.unit_price.amount == discount.amount.amount == Decimal("-4.1586")
    assert estimate_transfer(S3, AZ, "578GB", catalog=catalog).items[-1].what.startswith("internet egress")


def test_a_fraction_discount_is_accepted(write_overrides: Write) -> None:
    catalog = load_catalog(write_overrides("[discounts]\naws = 0.25\n"))
    assert estimate_instance("aws", "t3.micro", 100, catalog=catalog).total.amount == Decimal("0.78")


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[stroage]\n", "'stroage'"),
        ("[storage.aws.standard]\nprce = 1\n", "storage.aws.standard.prce"),
        ("[storage.ibm.standard]\nprice = 1\n", "storage.ibm"),
        ("[storage.aws.platinum]\nprice = 1\n", "storage.aws.platinum"),
        ("[internet_egress.aws]\nfee = 0\n", "internet_egress.aws.fee"),
        ("[internet_egress.aws]\ntiers = [ { upto = 5, cost = 1 } ]\n", "internet_egress.aws.tiers[0].cost"),
        ("[requests.aws.standard]\nclass_c = 1\n", "requests.aws.standard.class_c"),
        ("[serverless.aws]\nper_gb_hour = 1\n", "serverless.aws.per_gb_hour"),
        ('[instances.aws."t3.micro"]\nprice = 1\n', "instances.aws.t3.micro.price"),
        ("[connections.aws.satellite]\nhourly = 1\n", "connections.aws.satellite"),
        ('[providers.aws]\nregion = "x"\n', "providers.aws.region"),
        ("[inter_region.aws]\nsomewhere = 0.01\n", "inter_region.aws.somewhere"),
    ],
)
def test_unknown_keys_raise_config_error_naming_the_key(
    write_overrides: Write, text: str, named: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_catalog(write_overrides(text))
    assert named in str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[storage.aws.standard]\nprice = -1\n", "must not be negative"),
        ("[storage.aws.standard]\nprice = true\n", "must be a number"),
        ('[storage.aws.standard]\nprice = "cheap"\n', "not a decimal number"),
        ("[storage.aws.standard]\nprice = 1\ntiers = [ { price = 1 } ]\n", "either price or tiers"),
        (
            "[internet_egress.aws]\ntiers = [ { upto = 10, price = 1 } ]\n",
            "last tier must have no upper bound",
        ),
        (
            "[internet_egress.aws]\n"
            "tiers = [ { upto = 10, price = 1 }, { upto = 5, price = 1 }, { price = 1 } ]\n",
            "increasing",
        ),
        ('[discounts]\naws = "150%"\n', "below"),
        ('[instances.aws."x9.huge"]\nvcpus = 4\n', "needs price_hour"),
        ("[storage\n", "not valid TOML"),
    ],
)
def test_invalid_values_raise_config_error(write_overrides: Write, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("[", r"\[")):
        load_catalog(write_overrides(text))


def test_a_missing_overrides_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read price overrides"):
        load_catalog(tmp_path / "nope.toml")


def test_overrides_leave_the_packaged_catalog_untouched(catalog: Catalog, write_overrides: Write) -> None:
    load_catalog(write_overrides("[storage.aws.standard]\nprice = 1\n"))
    assert estimate_storage("aws", "standard", "1TB", catalog=load_catalog()).total.amount == Decimal(
        "23.000"
    )
