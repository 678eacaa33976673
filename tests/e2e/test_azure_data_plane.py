"""Azure with a shared key or a SAS: our own requests and obstore move the bytes, the SDK stays unloaded.

``azure.storage.blob`` takes ~0.4 s to import; a store that only reads and
writes, lists, stats and deletes blobs, staged blocks included, must not pay
it. Other control-plane calls still use the SDK, which then loads on first use.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, quote

import pytest

from omnicloud.errors import (
    AuthenticationError,
    NotFoundError,
    PermissionDeniedError,
    PreconditionFailedError,
)
from omnicloud.sandbox import AZURITE_ACCOUNT, Emulator
from omnicloud.storage import PartInfo, open_store

_SCRIPT = """
import sys
from omnicloud.storage import open_store
store = open_store(sys.argv[1])
store.put("k.bin", b"x" * 1000, metadata={"owner": "data"})
info = store.stat("k.bin")
assert (info.size, info.metadata["owner"]) == (1000, "data"), info
assert store.get("k.bin", range=(10, 20)) == b"x" * 10
with store.open_read("k.bin") as reader:
    assert reader.read() == b"x" * 1000
# Staged blocks are signed requests of their own; keys that need escaping included.
for key in ("big/a b+c=d&e?.bin", "ünï/çödé.bin", "pct%20literal.bin"):
    upload = store.create_multipart(key, metadata={"owner": "data"}, content_type="text/plain")
    parts = [store.upload_part(key, upload, n, bytes([n]) * 2000) for n in (2, 1, 3)]
    done = store.complete_multipart(key, upload, parts)
    seen = store.stat(key)
    assert store.get(key) == b"\x01" * 2000 + b"\x02" * 2000 + b"\x03" * 2000
    assert (done.size, done.etag, done.last_modified) == (6000, seen.etag, seen.last_modified), (done, seen)
    assert (done.metadata, done.content_type) == (seen.metadata, seen.content_type)
    assert (done.metadata, done.content_type) == ({"owner": "data"}, "text/plain")
# Listings (flat and delimited) carry metadata and content types, and no SDK either.
listed = {info.key: info for info in store.list("")}
assert listed["k.bin"].metadata == {"owner": "data"} and listed["k.bin"].etag == info.etag, listed["k.bin"]
assert listed["big/a b+c=d&e?.bin"].content_type == "text/plain"
# The stat names the access tier, as the listing does.
assert store.stat("k.bin").storage_class == listed["k.bin"].storage_class == "Hot", store.stat("k.bin")
assert [(i.key, i.is_prefix) for i in store.list("", delimiter="/")][:2] == [("big/", True), ("k.bin", False)]
# A missing blob and a missing container are told apart; deletes say whether anything was there.
from omnicloud.errors import NotFoundError
absent = open_store(sys.argv[1] + "-absent")
for missing, words in ((store, "no such object"), (absent, "container does not exist")):
    try:
        missing.stat("missing.bin")
    except NotFoundError as err:
        assert words in str(err) and err.op == "stat", err
    else:
        raise AssertionError("stat of a missing blob answered")
store.delete("k.bin")
store.delete("k.bin", missing_ok=True)
try:
    store.delete("k.bin")
except NotFoundError as err:
    assert "no such object" in str(err) and err.op == "delete", err
else:
    raise AssertionError("delete of a missing blob passed")
assert not store.exists("k.bin")
print("sdk loaded:", "azure.storage.blob" in sys.modules)
"""


@pytest.fixture
def container(sandbox_env: dict[str, str]) -> str:
    uri = f"az://oc-dp-{uuid.uuid4().hex[:10]}"
    open_store(uri).create_bucket()  # type: ignore[attr-defined]
    return uri


def test_reads_writes_listings_stats_and_deletes_do_not_load_the_sdk(container: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, container], capture_output=True, text=True, env=os.environ, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "sdk loaded: False"


@pytest.mark.parametrize("data_plane", ["auto", "sdk"])
def test_listings_follow_continuation_markers_across_pages(container: str, data_plane: str) -> None:
    store: Any = open_store(container, page_size=2, data_plane=data_plane)
    keys = [f"p/{i:02d}{suffix}" for i in range(5) for suffix in ("", "/x")]
    for key in keys:
        store.put(key, b"1")
    assert [info.key for info in store.list("p/")] == sorted(keys)
    top = [(info.key, info.is_prefix) for info in store.list("p/", delimiter="/")]
    assert top == [(f"p/{i:02d}{s}", s == "/") for i in range(5) for s in ("", "/")]


def test_stat_of_a_blob_in_a_missing_container_still_names_the_container(sandbox_env: dict[str, str]) -> None:
    store = open_store(f"az://oc-missing-{uuid.uuid4().hex[:10]}")
    with pytest.raises(NotFoundError, match="container does not exist"):
        store.stat("k.bin")  # type: ignore[attr-defined]


def test_staged_blocks_with_a_sas_token_and_their_errors_never_show_it(
    azurite: Emulator, azurite_sas: Callable[..., tuple[str, str]]
) -> None:
    container, sas = azurite_sas(read=True, write=True, list=True)
    signature = parse_qs(sas)["sig"][0]
    store: Any = open_store(
        f"azure://{AZURITE_ACCOUNT}/{container}",
        parameters={"auth": "sas", "sas_token": sas, "endpoint": f"{azurite.endpoint}/{AZURITE_ACCOUNT}"},
    )
    upload = store.create_multipart("big.bin")
    parts = [store.upload_part("big.bin", upload, n, b"%d" % n * 1000) for n in (1, 2)]
    assert store.complete_multipart("big.bin", upload, parts).size == 2000
    assert store.get("big.bin") == b"1" * 1000 + b"2" * 1000

    # A commit naming a block never staged is refused by Azure; the SAS is in no message.
    unknown = store.create_multipart("other.bin")
    with pytest.raises(PreconditionFailedError, match="InvalidBlockList") as caught:
        store.complete_multipart("other.bin", unknown, [PartInfo(1, "x", 10)])
    assert caught.value.op == "complete_multipart"
    # Without write permission the same requests are refused, and say so.
    _, read_only = azurite_sas(container, read=True)
    reader: Any = open_store(
        f"azure://{AZURITE_ACCOUNT}/{container}",
        parameters={
            "auth": "sas",
            "sas_token": read_only,
            "endpoint": f"{azurite.endpoint}/{AZURITE_ACCOUNT}",
        },
    )
    with pytest.raises((PermissionDeniedError, AuthenticationError)) as denied:
        reader.upload_part("big.bin", reader.create_multipart("big.bin"), 1, b"x")
    with pytest.raises(PermissionDeniedError) as unlisted:
        list(reader.list("big"))  # no list permission
    assert unlisted.value.op == "list"
    assert [info.key for info in store.list("")] == ["big.bin"]
    read_signature = parse_qs(read_only)["sig"][0]
    shown_texts = (str(caught.value), repr(caught.value), str(denied.value), str(unlisted.value))
    for shown in (*shown_texts, repr(store), repr(reader)):
        assert signature not in shown and quote(signature, safe="") not in shown
        assert read_signature not in shown and quote(read_signature, safe="") not in shown
    assert denied.value.__cause__ is None and caught.value.__cause__ is None


def test_streamed_reads_with_a_sas_token_and_their_errors_never_show_it(
    azurite: Emulator, azurite_sas: Callable[..., tuple[str, str]]
) -> None:
    container, sas = azurite_sas(read=True, write=True, list=True)
    endpoint = f"{azurite.endpoint}/{AZURITE_ACCOUNT}"
    store: Any = open_store(
        f"azure://{AZURITE_ACCOUNT}/{container}",
        parameters={"auth": "sas", "sas_token": sas, "endpoint": endpoint},
    )
    data = os.urandom(100_000)
    store.put("big.bin", data)
    with store.open_read("big.bin", range=(10, 90_000)) as reader:
        assert reader.read() == data[10:90_000]
    with pytest.raises(NotFoundError, match="no such object") as missing:
        store.open_read("absent.bin")
    # Without read permission: refused at the open, and the SAS shows nowhere.
    _, no_read = azurite_sas(container, list=True)
    reader_store: Any = open_store(
        f"azure://{AZURITE_ACCOUNT}/{container}",
        parameters={"auth": "sas", "sas_token": no_read, "endpoint": endpoint},
    )
    with pytest.raises((PermissionDeniedError, AuthenticationError)) as denied:
        reader_store.open_read("big.bin")
    assert denied.value.op == "get"
    for token in (sas, no_read):
        signature = parse_qs(token)["sig"][0]
        for shown in (str(denied.value), repr(denied.value), str(missing.value)):
            assert signature not in shown and quote(signature, safe="") not in shown


_READS_ONLY = """
import sys
from omnicloud.storage import open_store
store = open_store(sys.argv[1])
assert store.get("r.bin") == b"r" * 100 and store.get("r.bin", range=(1, 3)) == b"rr"
with store.open_read("r.bin") as reader:
    assert reader.read() == b"r" * 100
assert [info.key for info in store.list("")] == ["r.bin"] and store.stat("r.bin").size == 100
print("obstore loaded:", "obstore" in sys.modules)
store.put("w.bin", b"w")
print("obstore loaded:", "obstore" in sys.modules)
"""


def test_obstore_is_loaded_only_by_the_first_small_put(container: str) -> None:
    open_store(container).put("r.bin", b"r" * 100)
    done = subprocess.run(
        [sys.executable, "-c", _READS_ONLY, container], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split("\n")[:2] == ["obstore loaded: False", "obstore loaded: True"]
