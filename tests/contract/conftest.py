"""One contract suite, run unchanged over every backend.

``store`` is a fresh, empty bucket on each backend: memory, local, S3 on a
moto server, GCS on gcp-storage-emulator and Azure on Azurite. Emulators are
session fixtures (tests/conftest.py) started only when a test asks for them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from omnicloud.storage import Store
from omnicloud.storage.memory import MemoryNamespace, MemoryStore

# "azure-sdk" runs the Azure backend with its SDK data plane (used with Azure AD
# credentials) instead of obstore (used with keys and SAS); "s3-sdk" runs S3 with
# boto3 for small puts too (without obstore installed, or with a custom CA bundle).
BACKENDS = ["memory", "local", "s3", "s3-sdk", "gcs", "azure", "azure-sdk"]


@dataclass
class Backend:
    name: str
    make: Callable[[str], Store]
    """Open a store on a bucket name (which need not exist)."""
    has_buckets: bool = True
    endpoint: str | None = None
    options: dict[str, Any] | None = None


def _backend(name: str, request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if name == "memory":
        namespace = MemoryNamespace()
        return Backend(name, lambda bucket: MemoryStore(bucket, namespace=namespace, page_size=250))
    if name == "local":
        from omnicloud.storage.local import LocalStore

        return Backend(name, lambda bucket: LocalStore(tmp_path / "root"), has_buckets=False)
    if name in ("s3", "s3-sdk"):
        from omnicloud.storage.s3 import S3Store

        emu = request.getfixturevalue("moto_server")
        options = {
            "endpoint_url": emu.endpoint,
            "access_key_id": "testing",
            "secret_access_key": "testing",
            "data_plane": "obstore" if name == "s3" else "sdk",
        }
        return Backend(
            name, lambda bucket: S3Store(bucket, **options), endpoint=emu.endpoint, options=options
        )
    if name == "gcs":
        from omnicloud.storage.gcs import GCSStore

        emu = request.getfixturevalue("gcs_emulator")
        options = {"endpoint": emu.endpoint, "project": "omnicloud-tests"}
        return Backend(
            name, lambda bucket: GCSStore(bucket, **options), endpoint=emu.endpoint, options=options
        )
    if name in ("azure", "azure-sdk"):
        from omnicloud.storage.azure import AzureStore

        emu = request.getfixturevalue("azurite")
        options = {
            "connection_string": emu.env["AZURE_STORAGE_CONNECTION_STRING"],
            "data_plane": "obstore" if name == "azure" else "sdk",
        }
        return Backend(
            name, lambda bucket: AzureStore(bucket, **options), endpoint=emu.endpoint, options=options
        )
    raise AssertionError(name)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    return _backend(request.param, request, tmp_path)


@pytest.fixture
def bucket_name() -> str:
    return f"oc-contract-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def store(backend: Backend, bucket_name: str) -> Iterator[Any]:
    """A new empty bucket on the backend, deleted afterwards."""
    from omnicloud.storage import Admin

    opened = backend.make(bucket_name)
    if isinstance(opened, Admin):
        opened.create_bucket()
    try:
        yield opened
    finally:
        if isinstance(opened, Admin) and opened.bucket_exists():
            opened.delete_bucket(force=True)
        opened.close()
