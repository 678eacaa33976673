"""Real emulators for the whole test session, one set per pytest-xdist worker.

Backends are tested against processes that speak each provider's wire
protocol (moto, Azurite, gcp-storage-emulator), never against mocks of our
code. Each fixture starts its emulator the first time a test asks for it, on a
port the kernel picks (so ``pytest -n 2`` workers never collide), and stops it
by PID when the session ends.

The emulators' variables are *not* put into ``os.environ`` for the session:
tests pass endpoints explicitly, so a test that forgets to cannot silently
reach a real cloud through the ambient environment. Tests that exercise the
SDKs' own discovery ask for ``sandbox_env``, which sets all of them for that
test only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from omnicloud.errors import OmniCloudError
from omnicloud.sandbox import Emulator, start_azurite, start_gcs, start_moto

_EMULATOR_FIXTURES = frozenset({"moto_server", "azurite", "gcs_emulator", "sandbox_env"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses an emulator, so ``-m "not emulator"`` gives a quick pure run."""
    for item in items:
        if _EMULATOR_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.emulator)


def _running(start: Callable[[], Emulator]) -> Iterator[Emulator]:
    try:
        emulator = start()
    except OmniCloudError as err:
        # The message already says what is missing and how to install it; a traceback adds nothing.
        pytest.fail(f"cannot start the emulator: {err}", pytrace=False)
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[Emulator]:
    """moto (S3, EC2, STS, IAM, Lambda) for this worker; reset it with ``omnicloud.sandbox.reset_moto``."""
    yield from _running(start_moto)


@pytest.fixture(scope="session")
def azurite() -> Iterator[Emulator]:
    """Azurite's Blob service, in memory, for this worker (needs ``npm install`` in the project)."""
    yield from _running(start_azurite)


@pytest.fixture(scope="session")
def gcs_emulator() -> Iterator[Emulator]:
    """gcp-storage-emulator, in memory, for this worker; wipe it with ``omnicloud.sandbox.reset_gcs``."""
    yield from _running(start_gcs)


@pytest.fixture
def sandbox_env(
    monkeypatch: pytest.MonkeyPatch, moto_server: Emulator, azurite: Emulator, gcs_emulator: Emulator
) -> dict[str, str]:
    """Point every SDK at this worker's emulators for one test, through the variables the SDKs read."""
    merged: dict[str, str] = {}
    for emulator in (moto_server, azurite, gcs_emulator):
        merged.update(emulator.env)
    # A developer's own endpoint overrides and profiles must not redirect the SDKs elsewhere.
    for name in ("AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in merged.items():
        monkeypatch.setenv(name, value)
    return merged


@pytest.fixture(autouse=True, scope="session")
def _no_cloud_metadata_probes() -> Iterator[None]:
    """No test may reach a cloud metadata service (169.254.169.254 is not loopback).

    Credential resolution ends with the platform metadata services; with this
    set, it skips them unless a test points them at its own fake on 127.0.0.1.
    Subprocesses (CLI tests) inherit the setting.
    """
    import os

    previous = os.environ.get("OMNICLOUD_NO_METADATA")
    os.environ["OMNICLOUD_NO_METADATA"] = "1"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("OMNICLOUD_NO_METADATA", None)
        else:
            os.environ["OMNICLOUD_NO_METADATA"] = previous


@pytest.fixture
def azurite_sas(azurite: Emulator) -> Callable[..., tuple[str, str]]:
    """``make(container=None, **permissions)``: ``(container, SAS)``; a new container unless one is named."""
    import uuid
    from datetime import UTC, datetime, timedelta

    from azure.storage.blob import BlobServiceClient, ContainerSasPermissions, generate_container_sas

    from omnicloud.sandbox import AZURITE_ACCOUNT, AZURITE_ACCOUNT_KEY

    service = BlobServiceClient.from_connection_string(azurite.env["AZURE_STORAGE_CONNECTION_STRING"])

    def make(container: str | None = None, **permissions: bool) -> tuple[str, str]:
        if container is None:
            container = f"oc-sas-{uuid.uuid4().hex[:10]}"
            service.create_container(container)
        sas = generate_container_sas(
            AZURITE_ACCOUNT,
            container,
            account_key=AZURITE_ACCOUNT_KEY,
            permission=ContainerSasPermissions(**permissions),
            expiry=datetime.now(UTC) + timedelta(hours=1),
        )
        return container, sas

    return make
