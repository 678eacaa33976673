"""Properties of the tier arithmetic that must hold for any volume."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from omnicloud.costs import Money, estimate_storage, estimate_transfer, load_catalog

CATALOG = load_catalog()
SOURCES = {
    "aws": "s3://source-bucket/x",
    "gcp": "gs://source-bucket/x",
    "azure": "az://container/x",
    "oci": "oci://n/tenancy/b/bucket/o/x",
}
DESTINATION = "file:///tmp/x"
volumes = st.integers(min_value=0, max_value=10**15)  # up to 1 PB
providers = st.sampled_from(sorted(SOURCES))


@settings(max_examples=200)
@given(providers, volumes, volumes, volumes, st.booleans())
def test_cost_is_monotone_in_bytes(provider: str, a: int, b: int, already: int, free_tier: bool) -> None:
    low, high = sorted((a, b))
    cost = [
        estimate_transfer(
            SOURCES[provider],
            DESTINATION,
            size,
            catalog=CATALOG,
            free_tier=free_tier,
            monthly_volume_bytes=already,
        ).total
        for size in (low, high)
    ]
    assert cost[0] <= cost[1]


@settings(max_examples=200)
@given(providers, volumes, volumes, volumes, st.booleans())
def test_two_marginal_estimates_add_up_to_one_combined_estimate(
    provider: str, a: int, b: int, already: int, free_tier: bool
) -> None:
    src = SOURCES[provider]

    def cost(size: int, before: int) -> Money:
        return estimate_transfer(
            src, DESTINATION, size, catalog=CATALOG, free_tier=free_tier, monthly_volume_bytes=before
        ).total

    assert cost(a, already) + cost(b, already + a) == cost(a + b, already)


@given(providers, volumes, volumes)
def test_free_allowances_never_raise_the_cost(provider: str, size: int, already: int) -> None:
    on = estimate_transfer(
        SOURCES[provider], DESTINATION, size, catalog=CATALOG, monthly_volume_bytes=already
    )
    off = estimate_transfer(
        SOURCES[provider], DESTINATION, size, catalog=CATALOG, monthly_volume_bytes=already, free_tier=False
    )
    assert on.total <= off.total


@given(volumes, st.integers(min_value=1, max_value=36))
def test_storage_scales_linearly_with_months(size: int, months: int) -> None:
    one = estimate_storage("aws", "standard", size, catalog=CATALOG).total
    assert estimate_storage("aws", "standard", size, months=months, catalog=CATALOG).total == one * months
