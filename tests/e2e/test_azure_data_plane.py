"""Azure with a shared key or a SAS: obstore moves the bytes and the SDK stays unloaded.

``azure.storage.blob`` takes ~0.4 s to import; a store that only reads and
writes blobs (and stats them) must not pay it. Control-plane calls still use
the SDK, which then loads on first use.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest

from omnicloud.errors import NotFoundError
from omnicloud.storage import open_store

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
print("sdk loaded:", "azure.storage.blob" in sys.modules)
"""


@pytest.fixture
def container(sandbox_env: dict[str, str]) -> str:
    uri = f"az://oc-dp-{uuid.uuid4().hex[:10]}"
    open_store(uri).create_bucket()  # type: ignore[attr-defined]
    return uri


def test_reads_writes_and_stats_do_not_load_the_sdk(container: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, container], capture_output=True, text=True, env=os.environ, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "sdk loaded: False"


def test_stat_of_a_blob_in_a_missing_container_still_names_the_container(sandbox_env: dict[str, str]) -> None:
    store = open_store(f"az://oc-missing-{uuid.uuid4().hex[:10]}")
    with pytest.raises(NotFoundError, match="container does not exist"):
        store.stat("k.bin")  # type: ignore[attr-defined]
