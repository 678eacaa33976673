"""Streamed reads (what ranged downloads use) on S3 and Azure: straight into the caller's buffer.

They go through ``omnicloud.storage._streamed_get`` (presigned GETs on S3,
signed Get Blob on Azure), not through the SDKs; the contract suite checks
what they read, these check how: kept connections, a stream abandoned half
way, and no signature in any error.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest

from omnicloud.errors import NotFoundError
from omnicloud.storage import open_store
from omnicloud.storage._streamed_get import StreamedGets


def _gets(store: Any) -> StreamedGets:
    if hasattr(store, "_rest"):
        gets = store._rest._gets
    else:
        (gets,) = store._gets.values()
    assert isinstance(gets, StreamedGets)
    return gets


@pytest.mark.parametrize("scheme", ["s3", "az"])
def test_streamed_reads_fill_the_callers_buffer_and_keep_their_connection(
    sandbox_env: dict[str, str], scheme: str
) -> None:
    store: Any = open_store(f"{scheme}://oc-stream-{uuid.uuid4().hex[:10]}")
    store.create_bucket()
    data = os.urandom(3 * 1024 * 1024 + 17)
    store.put("dir/big.bin", data)
    with store.open_read("dir/big.bin") as reader:
        assert reader.read() == data
    gets = _gets(store)
    # Read to its end, the connection is kept, where the server allows: moto
    # (werkzeug) answers every request with "Connection: close", Azurite keeps it.
    kept = list(gets._idle)
    assert len(kept) == (1 if scheme == "az" else 0)
    with store.open_read("dir/big.bin", range=(1000, 2_000_000)) as reader:
        view = bytearray(2_000_000)
        assert reader.readinto(view) == 1_999_000
        assert view[:1_999_000] == data[1000:2_000_000]
        assert reader.read() == b""
    assert gets._idle == kept  # and used again
    with store.open_read("dir/big.bin") as reader:  # left half-read: closed, not drained
        assert reader.read(10) == data[:10]
    assert gets._idle == []
    with store.open_read("dir/big.bin", range=(len(data), len(data) + 5)) as reader:
        assert reader.read() == b""  # a range past the end reads nothing (416)
    with pytest.raises(NotFoundError, match="no such object") as missing:
        store.open_read("dir/absent.bin")
    assert (missing.value.op, missing.value.uri) == ("get", f"{store.uri.with_key('dir/absent.bin')}")
    shown = f"{missing.value} {missing.value!r} {missing.value.hint}"
    for secret in ("Signature", "sig=", "Credential", "X-Amz", sandbox_env.get("AWS_SECRET_ACCESS_KEY", "?")):
        assert secret not in shown
    reading = store.open_read("dir/big.bin")
    store.close()
    assert reading.read() == data  # a body still open when the store closes reads on
    reading.close()
    assert gets._idle == []  # and its connection is closed, not kept by a closed store


@pytest.mark.parametrize("scheme", ["s3", "az"])
def test_streamed_reads_of_keys_that_need_escaping(sandbox_env: dict[str, str], scheme: str) -> None:
    store: Any = open_store(f"{scheme}://oc-stream-{uuid.uuid4().hex[:10]}")
    store.create_bucket()
    for key in ("a b+c=d&e?.bin", "ünï/çödé.bin", "pct%20literal.bin", "x#y;z,@!$'()*.bin", "~t/..dots"):
        data = key.encode() * 3
        store.put(key, data)
        with store.open_read(key) as reader:
            assert reader.read() == data, key
        with store.open_read(key, range=(1, 5)) as reader:
            assert reader.read() == data[1:5], key
    store.close()
