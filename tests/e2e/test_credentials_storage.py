"""Credentials meet storage: specs, parameters, profiles and OCI's S3 API on the emulators."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from omnicloud import open_store
from omnicloud.credentials import StorageSpec
from omnicloud.sandbox import AZURITE_ACCOUNT, Emulator, start_moto

CLI = [sys.executable, "-m", "omnicloud.cli"]


def _bucket() -> str:
    return f"oc-cred-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No ambient cloud credentials or endpoints: everything must come from the test's own settings."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "AZURE_", "GOOGLE_", "OCI_", "STORAGE_EMULATOR")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("OMNICLOUD_CONFIG", str(tmp_path / "no-profiles.toml"))
    (tmp_path / "no-profiles.toml").write_text("")


@pytest.fixture
def second_moto() -> Iterator[Emulator]:
    emulator = start_moto()
    try:
        yield emulator
    finally:
        emulator.stop()


def test_storage_spec_with_access_key_parameters_opens_s3(moto_server: Emulator, clean_env: None) -> None:
    spec = StorageSpec.from_mapping(
        {
            "storageUri": f"s3://{_bucket()}/models/my-model/",
            "parameters": {
                "auth": "access_key",
                "access_key_id": "testing",
                "secret_access_key": "spec-secret-value",
                "region": "us-west-2",
                "endpoint": moto_server.endpoint,
            },
        }
    )
    store: Any = open_store(spec)
    store.create_bucket()
    store.put("models/my-model/config.json", b"{}")
    assert store.get("models/my-model/config.json") == b"{}"
    assert "spec-secret-value" not in repr(spec)
    assert "spec-secret-value" not in repr(store)


def test_missing_credentials_name_every_source_tried(clean_env: None) -> None:
    from omnicloud.errors import CredentialsNotFoundError

    with pytest.raises(CredentialsNotFoundError) as caught:
        open_store("s3://some-bucket/")
    text = str(caught.value)
    assert "AWS_ACCESS_KEY_ID" in text
    assert "metadata" in text


def test_unknown_auth_type_lists_the_valid_ones(clean_env: None) -> None:
    from omnicloud.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        open_store("gs://some-bucket", parameters={"auth": "kerberos"})
    assert "service_account" in str(caught.value)


def test_azure_sas_token_reaches_azurite_on_both_data_planes(
    azurite: Emulator, clean_env: None, azurite_sas: Callable[..., tuple[str, str]]
) -> None:
    container, sas = azurite_sas(read=True, write=True, list=True, delete=True)
    for plane in ("obstore", "sdk"):
        store: Any = open_store(
            f"azure://{AZURITE_ACCOUNT}/{container}",
            parameters={"auth": "sas", "sas_token": sas, "endpoint": f"{azurite.endpoint}/{AZURITE_ACCOUNT}"},
            data_plane=plane,
        )
        store.put(f"{plane}.txt", b"signed")
        assert store.get(f"{plane}.txt") == b"signed"
        assert [i.key for i in store.list(plane)] == [f"{plane}.txt"]


def test_azure_connection_string_from_the_environment(
    azurite: Emulator, clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite.env["AZURE_STORAGE_CONNECTION_STRING"])
    store: Any = open_store(f"az://{_bucket()}")
    store.create_bucket()
    store.put("k", b"v")
    assert store.get("k") == b"v"


def test_oci_uri_through_the_s3_compatibility_api_on_moto(moto_server: Emulator, clean_env: None) -> None:
    bucket = _bucket()
    spec = StorageSpec.from_mapping(
        {
            "storage_uri": f"oci://n/mytenancy/b/{bucket}/o/models/",
            "parameters": {
                "api": "s3",
                "access_key_id": "testing",
                "secret_access_key": "testing",
                "region": "us-ashburn-1",
                "endpoint": moto_server.endpoint,
            },
        }
    )
    store: Any = open_store(spec)
    assert str(store.uri).startswith("oci://")
    store.create_bucket()
    store.put("models/weights.bin", b"\x01" * 1000, metadata={"omnicloud_digest": "sha256:00"})
    assert store.get("models/weights.bin") == b"\x01" * 1000
    assert store.stat("models/weights.bin").digest == "sha256:00"
    long_form: Any = open_store(
        f"oci://mytenancy@us-ashburn-1/{bucket}",
        api="s3",
        endpoint_url=moto_server.endpoint,
        access_key_id="testing",
        secret_access_key="testing",
    )
    assert [i.key for i in long_form.list()] == ["models/weights.bin"]


def test_oci_s3_api_defaults_to_the_compat_endpoint_of_namespace_and_region() -> None:
    from omnicloud.storage.oci_s3 import compat_endpoint

    assert compat_endpoint("axaxnpcrorw5", "us-ashburn-1") == (
        "https://axaxnpcrorw5.compat.objectstorage.us-ashburn-1.oraclecloud.com"
    )


def test_profiles_let_one_command_read_with_one_identity_and_write_with_another(
    moto_server: Emulator, second_moto: Emulator, tmp_path: Path
) -> None:
    """Two S3 "accounts" (two moto servers) reached through one `omnicloud cp`, chosen by URI prefix."""
    source_bucket, target_bucket = _bucket(), _bucket()
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[profiles."s3://{source_bucket}/"]
auth = "access_key"
access_key_id = "team-a-key"
secret_access_key = {{ env = "TEAM_A_SECRET" }}
endpoint = "{moto_server.endpoint}"

[profiles."s3://{target_bucket}/"]
auth = "access_key"
access_key_id = "team-b-key"
secret_access_key = {{ env = "TEAM_B_SECRET" }}
endpoint = "{second_moto.endpoint}"
"""
    )
    config.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "AZURE_", "GOOGLE_"))}
    env.update(
        {
            "OMNICLOUD_CONFIG": str(config),
            "TEAM_A_SECRET": "team-a-secret-value",
            "TEAM_B_SECRET": "team-b-secret-value",
            "HOME": str(tmp_path),
        }
    )

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*CLI, *args], env=env, capture_output=True, text=True, timeout=120, check=False
        )

    assert cli("mb", f"s3://{source_bucket}").returncode == 0
    assert cli("mb", f"s3://{target_bucket}").returncode == 0
    (tmp_path / "f.txt").write_text("cross-account")
    assert cli("cp", str(tmp_path / "f.txt"), f"s3://{source_bucket}/f.txt").returncode == 0
    copied = cli("cp", f"s3://{source_bucket}/f.txt", f"s3://{target_bucket}/f.txt", "--json")
    assert copied.returncode == 0, copied.stderr
    # Each bucket exists only on its own server: the profile picked the endpoint per URI.
    a: Any = open_store(
        f"s3://{target_bucket}", endpoint_url=moto_server.endpoint, access_key_id="x", secret_access_key="x"
    )
    b: Any = open_store(
        f"s3://{target_bucket}", endpoint_url=second_moto.endpoint, access_key_id="x", secret_access_key="x"
    )
    assert not a.bucket_exists()
    assert b.get("f.txt") == b"cross-account"
    whoami = cli("auth", "whoami", f"s3://{target_bucket}/f.txt", "--json")
    assert whoami.returncode == 0, whoami.stderr
    described = json.loads(whoami.stdout)
    assert "profile" in json.dumps(described)
    for output in (copied.stdout, copied.stderr, whoami.stdout, whoami.stderr):
        assert "team-a-secret-value" not in output
        assert "team-b-secret-value" not in output


def test_credentials_never_reach_the_journal_or_the_manifest(moto_server: Emulator, tmp_path: Path) -> None:
    """A sync driven by a profile with a known secret leaves no trace of it in any file it writes."""
    secret = "journal-must-not-see-this-secret"
    bucket = _bucket()
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[profiles."s3://{bucket}/"]
auth = "access_key"
access_key_id = "AKIAJOURNALTEST0001"
secret_access_key = {{ env = "JOURNAL_TEST_SECRET" }}
endpoint = "{moto_server.endpoint}"
"""
    )
    config.chmod(0o600)
    state = tmp_path / "state"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "AZURE_", "GOOGLE_"))}
    env.update(
        {
            "OMNICLOUD_CONFIG": str(config),
            "OMNICLOUD_STATE_DIR": str(state),
            "JOURNAL_TEST_SECRET": secret,
            "HOME": str(tmp_path),
        }
    )
    source = tmp_path / "src"
    source.mkdir()
    for i in range(5):
        (source / f"f{i}.bin").write_bytes(os.urandom(2000))
    manifest = tmp_path / "manifest.json"

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*CLI, *args], env=env, capture_output=True, text=True, timeout=120, check=False
        )

    assert cli("mb", f"s3://{bucket}").returncode == 0
    synced = cli("sync", f"{source}/", f"s3://{bucket}/data/", "--manifest", str(manifest), "--json")
    assert synced.returncode == 0, synced.stderr
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p != config]
    assert manifest in written
    assert any(p.suffix == ".sqlite" or "journal" in p.name for p in written)
    for path in written:
        data = path.read_bytes()
        assert secret.encode() not in data, path
    assert secret not in synced.stdout + synced.stderr
