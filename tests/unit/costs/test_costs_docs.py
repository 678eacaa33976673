"""The overrides example in docs/costs.md is a valid overrides file."""

from __future__ import annotations

import re
from pathlib import Path

from omnicloud.costs import estimate_transfer, load_catalog

DOC = Path(__file__).resolve().parents[3] / "docs" / "costs.md"


def test_the_documented_overrides_example_loads_and_applies(tmp_path: Path) -> None:
    blocks = re.findall(r"```toml\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.DOTALL)
    assert len(blocks) == 1
    path = tmp_path / "prices.toml"
    path.write_text(blocks[0], encoding="utf-8")
    catalog = load_catalog(path)
    assert "+overrides:" in catalog.version
    # 278 GB at the example's $0.07 tier 1, no free allowance, minus the 12% discount: 19.46 x 0.88.
    estimate = estimate_transfer("s3://bucket-a/x", "az://box/x", "278GB", catalog=catalog)
    assert str(estimate.total.amount) == "17.1248"
