"""Azure: connection strings, keys, SAS, service principals, workload and managed identity, az CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from omnicloud.credentials import (
    AzureAccountKey,
    AzureCli,
    AzureConnectionString,
    AzureManagedIdentity,
    AzureSas,
    AzureServicePrincipal,
    AzureWorkloadIdentity,
    resolve,
)
from omnicloud.errors import ConfigError, CredentialsNotFoundError

from .conftest import FakeAzureImds, FakeServer, Recorded

# Azurite's published development account key (not a secret anywhere).
DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
SAS = "sv=2024-11-04&ss=b&srt=sco&sp=rl&se=2030-01-01T00:00:00Z&sig=c2lnbmF0dXJlLXZhbHVl"


def azurite_connection_string(endpoint: str) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={DEV_KEY};"
        f"BlobEndpoint={endpoint}/devstoreaccount1;"
    )


def test_connection_string_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite_connection_string("http://127.0.0.1:10000"))
    creds = resolve("azure")
    assert isinstance(creds.config, AzureConnectionString)
    assert creds.source == "environment: AZURE_STORAGE_CONNECTION_STRING"
    assert creds.account == "devstoreaccount1"
    assert creds.identity == "account devstoreaccount1 (account key, connection string)"
    assert creds.azure_account_url() == "http://127.0.0.1:10000/devstoreaccount1"
    credential = creds.azure_credential()
    from azure.core.credentials import AzureNamedKeyCredential

    assert isinstance(credential, AzureNamedKeyCredential)
    assert credential.named_key.name == "devstoreaccount1"
    assert DEV_KEY not in repr(creds)


def test_use_development_storage_means_azurite() -> None:
    creds = resolve("azure", connection_string="UseDevelopmentStorage=true")
    assert creds.account == "devstoreaccount1"
    assert creds.azure_account_url() == "http://127.0.0.1:10000/devstoreaccount1"


def test_connection_string_without_blob_endpoint_uses_the_public_one() -> None:
    creds = resolve(
        "azure",
        connection_string=f"AccountName=prodstore01;AccountKey={DEV_KEY};EndpointSuffix=core.windows.net",
    )
    assert creds.azure_account_url() == "https://prodstore01.blob.core.windows.net"


def test_connection_string_with_sas_gives_a_sas_credential() -> None:
    creds = resolve(
        "azure",
        connection_string=f"BlobEndpoint=https://acct1.blob.core.windows.net;SharedAccessSignature=?{SAS}",
    )
    from azure.core.credentials import AzureSasCredential

    credential = creds.azure_credential()
    assert isinstance(credential, AzureSasCredential)
    assert credential.signature == SAS


def test_malformed_connection_string_is_reported_without_its_content() -> None:
    with pytest.raises(ConfigError) as info:
        resolve("azure", connection_string=f"{DEV_KEY}")
    assert DEV_KEY not in str(info.value)


def test_account_and_key_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT", "prodstore01")
    monkeypatch.setenv("AZURE_STORAGE_KEY", DEV_KEY)
    creds = resolve("azure")
    assert isinstance(creds.config, AzureAccountKey)
    assert creds.account == "prodstore01"
    assert creds.azure_account_url() == "https://prodstore01.blob.core.windows.net"
    assert creds.azure_credential().named_key == ("prodstore01", DEV_KEY)


def test_key_without_account_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_STORAGE_KEY", DEV_KEY)
    with pytest.raises(
        CredentialsNotFoundError, match="AZURE_STORAGE_KEY is set but AZURE_STORAGE_ACCOUNT is not"
    ):
        resolve("azure", metadata=False)


def test_sas_token_from_environment_drops_the_question_mark(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_STORAGE_SAS_TOKEN", "?" + SAS)
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT", "acct1")
    creds = resolve("azure")
    assert isinstance(creds.config, AzureSas)
    assert creds.azure_credential().signature == SAS
    assert creds.azure_account_url() == "https://acct1.blob.core.windows.net"


def test_service_principal_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_TENANT_ID", "11111111-2222-3333-4444-555555555555")
    monkeypatch.setenv("AZURE_CLIENT_ID", "66666666-7777-8888-9999-000000000000")
    monkeypatch.setenv("AZURE_CLIENT_SECRET", "client-secret-value")
    creds = resolve("azure", account="acct1")
    assert isinstance(creds.config, AzureServicePrincipal)
    assert (
        creds.identity
        == "client 66666666-7777-8888-9999-000000000000 (tenant 11111111-2222-3333-4444-555555555555)"
    )
    from azure.identity import ClientSecretCredential

    assert isinstance(creds.azure_credential(), ClientSecretCredential)


def test_service_principal_parameters_need_tenant_and_client() -> None:
    with pytest.raises(ConfigError, match="needs tenant_id and client_id"):
        resolve("azure", client_secret="x")


def test_workload_identity_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("header.payload.signature")
    monkeypatch.setenv("AZURE_FEDERATED_TOKEN_FILE", str(token))
    monkeypatch.setenv("AZURE_TENANT_ID", "tenant-1")
    monkeypatch.setenv("AZURE_CLIENT_ID", "client-1")
    creds = resolve("azure")
    assert isinstance(creds.config, AzureWorkloadIdentity)
    from azure.identity import WorkloadIdentityCredential

    assert isinstance(creds.azure_credential(), WorkloadIdentityCredential)


def test_az_login_profile_is_cli(isolated_environment: Path) -> None:
    profile = {
        "installationId": "x",
        "subscriptions": [
            {"id": "sub-1", "name": "Dev", "isDefault": False, "user": {"name": "other@example.com"}},
            {
                "id": "sub-2",
                "name": "Prod",
                "isDefault": True,
                "user": {"name": "ops@example.com", "type": "user"},
            },
        ],
    }
    path = isolated_environment / ".azure" / "azureProfile.json"
    path.parent.mkdir()
    path.write_text(json.dumps(profile), encoding="utf-8-sig")
    creds = resolve("azure")
    assert isinstance(creds.config, AzureCli)
    assert creds.source == "file: ~/.azure/azureProfile.json"
    assert creds.identity == "ops@example.com (az CLI)"
    assert creds.describe()["subscription"] == "Prod"
    from azure.identity import AzureCliCredential

    assert isinstance(creds.azure_credential(), AzureCliCredential)


def test_managed_identity_from_imds_and_azure_identity_gets_a_token(azure_imds: FakeAzureImds) -> None:
    creds = resolve("azure", account="acct1")
    assert isinstance(creds.config, AzureManagedIdentity)
    assert creds.source == "metadata: Azure IMDS"
    assert creds.identity == "system-assigned managed identity"
    token = creds.azure_credential().get_token("https://storage.azure.com/.default")
    assert token.token.startswith("azure-imds-token-")
    assert all(r.headers.get("metadata") == "true" for r in azure_imds.fake.requests if r.query)


def test_user_assigned_identity_passes_its_client_id(azure_imds: FakeAzureImds) -> None:
    creds = resolve("azure", auth="managed_identity", client_id="abc-client")
    assert creds.identity == "managed identity abc-client"
    assert azure_imds.fake.requests[-1].query["client_id"] == ["abc-client"]


def test_no_identity_on_the_vm_is_not_found(azure_imds: FakeAzureImds) -> None:
    azure_imds.has_identity = False
    with pytest.raises(CredentialsNotFoundError, match=r"Azure IMDS \(no managed identity \(HTTP 400\)\)"):
        resolve("azure")


def test_named_key_signs_blob_requests_with_shared_key(fake_server: FakeServer) -> None:
    seen: list[Recorded] = []

    def record(request: Recorded) -> tuple[int, dict[str, str], bytes]:
        seen.append(request)
        return 404, {"x-ms-error-code": "ContainerNotFound"}, b""

    fake_server.route("GET", "/devstoreaccount1/box", record)
    creds = resolve("azure", connection_string=azurite_connection_string(fake_server.url))
    from azure.core.exceptions import ResourceNotFoundError
    from azure.storage.blob import BlobServiceClient

    client = BlobServiceClient(creds.azure_account_url(), credential=creds.azure_credential())
    with pytest.raises(ResourceNotFoundError):
        client.get_container_client("box").get_container_properties()
    assert seen[0].headers["authorization"].startswith("SharedKey devstoreaccount1:")


def test_sas_credential_is_sent_in_the_query(fake_server: FakeServer) -> None:
    seen: list[Recorded] = []

    def record(request: Recorded) -> tuple[int, dict[str, str], bytes]:
        seen.append(request)
        return 404, {"x-ms-error-code": "ContainerNotFound"}, b""

    fake_server.route("GET", "/acct1/box", record)
    creds = resolve("azure", sas_token=SAS, endpoint=f"{fake_server.url}/acct1")
    from azure.core.exceptions import ResourceNotFoundError
    from azure.storage.blob import BlobServiceClient

    client = BlobServiceClient(creds.azure_account_url(), credential=creds.azure_credential())
    with pytest.raises(ResourceNotFoundError):
        client.get_container_client("box").get_container_properties()
    assert seen[0].query["sig"] == ["c2lnbmF0dXJlLXZhbHVl"]
    assert "authorization" not in seen[0].headers


def test_account_url_needs_an_account() -> None:
    creds = resolve("azure", sas_token=SAS)
    with pytest.raises(ConfigError, match="no Azure storage account"):
        creds.azure_account_url()


def test_azure_adapter_refuses_other_providers() -> None:
    creds = resolve("gcp", auth="anonymous")
    with pytest.raises(ConfigError, match="cannot make an Azure credential"):
        creds.azure_credential()
