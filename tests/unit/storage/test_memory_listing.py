"""Memory listings page through keys: whole pages under the prefix and the page where it ends."""

from __future__ import annotations

import pytest

from omnicloud.storage.memory import MemoryNamespace, MemoryStore

KEYS = ["a", "p", "p/0", "p/1", "p/2", "p/3/x", "p/4", "p0", "pa/1", "q", "q/1"]


@pytest.mark.parametrize("page_size", [1, 2, 3, 4, 1000])
@pytest.mark.parametrize("prefix", ["", "p", "p/", "p/3", "pa/", "q/", "z"])
def test_list_yields_exactly_the_keys_under_the_prefix_whatever_the_page_size(
    page_size: int, prefix: str
) -> None:
    store = MemoryStore("b", namespace=MemoryNamespace(), page_size=page_size)
    store.create_bucket()
    for key in reversed(KEYS):
        store.put(key, key.encode())
    assert [info.key for info in store.list(prefix)] == [k for k in KEYS if k.startswith(prefix)]
    assert [info.size for info in store.list(prefix)] == [len(k) for k in KEYS if k.startswith(prefix)]


def test_a_delimited_listing_still_rolls_up_prefixes_page_by_page() -> None:
    store = MemoryStore("b", namespace=MemoryNamespace(), page_size=2)
    store.create_bucket()
    for key in KEYS:
        store.put(key, b"")
    rolled = [(i.key, i.is_prefix) for i in store.list("p/", delimiter="/")]
    assert rolled == [("p/0", False), ("p/1", False), ("p/2", False), ("p/3/", True), ("p/4", False)]
