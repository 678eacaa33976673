"""``omnicloud cost``: transfer, storage, requests, serverless, instance, connection and catalog."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from omnicloud.cli import cost

runner = CliRunner()

# The cost group mounted on a bare root, so these tests do not depend on other command groups.
root = typer.Typer()
root.add_typer(cost.app, name="cost")


@root.callback()
def _root() -> None:
    """A root with a callback keeps `cost` as a sub-command."""


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = runner.invoke(root, ["cost", *args], env=env)
    return result.exit_code, result.stdout, result.stderr


def test_transfer_prints_the_itemised_estimate() -> None:
    code, out, _ = invoke(
        "transfer", "s3://bucket-a/x", "az://container/x", "--size", "278GB", "--no-free-tier"
    )
    assert code == 0
    assert "internet egress from aws" in out
    assert "$25.02" in out
    assert "catalog 2026-11-25+sha256:" in out
    assert "assuming: free allowances switched off" in out


def test_transfer_json() -> None:
    code, out, _ = invoke("transfer", "s3://bucket-a/x", "az://container/x", "--size", "278GB", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["total"] == "16.02"
    assert [item["quantity"] for item in data["items"]] == ["100", "178"]
    assert data["catalog_version"].startswith("2026-11-25+sha256:")


def test_transfer_with_month_volume_regions_and_objects() -> None:
    code, out, _ = invoke(
        "transfer", "s3://bucket-a/x", "s3://bucket-b/x", "--size", "100GB", "--src-region", "us-east-1",
        "--dst-region", "us-west-2", "--objects", "1000", "--json",
    )  # fmt: skip
    assert code == 0
    # 100 GB x 0.02 + 1,000 GETs (0.0004) + 1,000 PUTs (0.005).
    assert json.loads(out)["total_exact"] == "2.0054"
    code, out, _ = invoke(
        "transfer",
        "s3://bucket-a/x",
        "gs://bucket-b/x",
        "--size",
        "50GB",
        "--month-volume",
        "10200GB",
        "--json",
    )
    assert json.loads(out)["total"] == "4.45"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("transfer", "s3://bucket-a/x", "az://container/x", "--size", "27xGB"), "unknown size unit"),
        (("transfer", "ftp://nowhere/x", "az://container/x", "--size", "1GB"), "unknown scheme"),
        (
            ("transfer", "s3://bucket-a/x", "az://container/x", "--size", "1GB", "--route", "sea"),
            "unknown route",
        ),
        (("storage", "ibm", "standard", "--size", "1TB"), "no prices for provider"),
        (("storage", "aws", "platinum", "--size", "1TB"), "unknown storage class"),
        (("instance", "aws", "x9.huge"), "no price for aws instance type"),
    ],
)
def test_bad_input_exits_2_with_one_line_on_stderr(args: tuple[str, ...], message: str) -> None:
    code, out, err = invoke(*args)
    assert code == 2
    assert message in err
    assert "Traceback" not in err + out


def test_storage_requests_serverless_instance_and_connection() -> None:
    assert "$23.00" in invoke("storage", "aws", "STANDARD", "--size", "1TB")[1]
    assert (
        json.loads(invoke("storage", "gcp", "nearline", "--size", "1TiB", "--months", "3", "--json")[1])[
            "total"
        ]
        == "30.72"
    )
    assert (
        "$9.00" in invoke("requests", "aws", "standard", "--class-a", "1000000", "--class-b", "10000000")[1]
    )
    serverless = invoke(
        "serverless",
        "aws",
        "--invocations",
        "3000000",
        "--duration-ms",
        "1000",
        "--memory-mb",
        "512",
        "--json",
    )[1]
    assert json.loads(serverless)["total_exact"] == "18.73337"
    assert "$7.59" in invoke("instance", "aws", "t3.micro")[1]
    assert "$36.50" in invoke("connection", "aws", "vpn")[1]


def test_catalog_shows_version_date_and_sources() -> None:
    code, out, _ = invoke("catalog")
    assert code == 0
    assert "price catalog 2026-11-25+sha256:" in out
    assert "snapshot date 2026-11-25" in out
    assert "https://aws.amazon.com/s3/pricing/" in out


def test_catalog_json_and_unconfirmed_list() -> None:
    code, out, _ = invoke("catalog", "--json", "--unconfirmed")
    assert code == 0
    data = json.loads(out)
    assert data["snapshot_date"] == "2026-11-25"
    assert {entry["name"] for entry in data["files"]} >= {
        "internet_egress.csv",
        "storage.csv",
        "instances.csv",
    }
    assert data["unconfirmed_prices"]
    assert all(entry["note"] for entry in data["unconfirmed_prices"])


def test_overrides_from_option_and_environment(tmp_path: Path) -> None:
    path = tmp_path / "prices.toml"
    path.write_text('[discounts]\naws = "50%"\n', encoding="utf-8")
    args = ("transfer", "s3://bucket-a/x", "az://container/x", "--size", "278GB", "--no-free-tier", "--json")
    by_option = json.loads(invoke(*args, "--catalog-overrides", str(path))[1])
    by_env = json.loads(invoke(*args, env={"OMNICLOUD_PRICE_OVERRIDES": str(path)})[1])
    assert by_option["total_exact"] == by_env["total_exact"] == "12.51"
    assert "+overrides:" in by_option["catalog_version"]


def test_bad_overrides_file_exits_2_naming_the_key(tmp_path: Path) -> None:
    path = tmp_path / "prices.toml"
    path.write_text("[storage.aws.standard]\nprce = 1\n", encoding="utf-8")
    code, _, err = invoke("catalog", "--catalog-overrides", str(path))
    assert code == 2
    assert "storage.aws.standard.prce" in err


def test_the_cost_group_is_registered_on_the_omnicloud_command() -> None:
    from omnicloud.cli._app import app

    result = runner.invoke(
        app, ["cost", "transfer", "az://box/x", "s3://bucket-b/x", "--size", "57GB", "--no-free-tier"]
    )
    assert result.exit_code == 0, result.output
    assert "$4.96" in result.stdout


def test_python_dash_m_runs_the_cost_command() -> None:
    command = [
        sys.executable,
        "-m",
        "omnicloud.cli",
        "cost",
        "storage",
        "aws",
        "standard",
        "--size",
        "1TB",
        "--json",
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["total"] == "23.00"


def test_importing_the_cost_cli_loads_no_cloud_sdk() -> None:
    heavy = ("boto3", "botocore", "google", "azure", "oci", "libcloud", "pulumi", "dask", "obstore")
    probe = "import sys, omnicloud.cli.cost, omnicloud.costs\nprint('\\n'.join(sys.modules))"
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split()
    assert sorted(m for m in loaded if m.split(".")[0] in heavy) == []
