"""Azure: connection strings, account keys, SAS, service principals, workload and managed identity, az CLI.

Discovery uses only the standard library; azure-identity and azure-core are
reached through :mod:`omnicloud.credentials._azure_sdk` when an adapter is called.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

from omnicloud.credentials._base import (
    AuthConfig,
    Credentials,
    FindResult,
    ProviderChain,
    ResolveContext,
    Source,
    display_path,
)
from omnicloud.credentials._http import MetadataUnavailable, http_request
from omnicloud.credentials._secret import Secret
from omnicloud.errors import ConfigError

__all__ = [
    "CHAIN",
    "DEVSTORE_ACCOUNT",
    "AzureAccountKey",
    "AzureAnonymous",
    "AzureCli",
    "AzureConnectionString",
    "AzureManagedIdentity",
    "AzureSas",
    "AzureServicePrincipal",
    "AzureWorkloadIdentity",
    "parse_connection_string",
]

IMDS_DEFAULT_HOST = "http://169.254.169.254"
STORAGE_RESOURCE = "https://storage.azure.com/"
DEVSTORE_ACCOUNT = "devstoreaccount1"
# Azurite's well-known development key, published in Microsoft's documentation;
# UseDevelopmentStorage=true means exactly this account and key.
_DEVSTORE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
_DEVSTORE_BLOB_ENDPOINT = "http://127.0.0.1:10000/devstoreaccount1"


@dataclass(frozen=True, slots=True)
class ConnectionStringParts:
    """The non-secret parts of a connection string, and its secret ones wrapped."""

    account: str | None
    blob_endpoint: str | None
    account_key: Secret | None
    sas_token: Secret | None


def parse_connection_string(secret: Secret) -> ConnectionStringParts:
    """Split ``Key=Value;...``; errors never quote the string, which holds a key."""
    fields: dict[str, str] = {}
    for part in secret.reveal().split(";"):
        part = part.strip()
        if not part:
            continue
        name, sep, value = part.partition("=")
        if not sep or not name.strip():
            raise ConfigError(
                "the Azure connection string is malformed (expected Name=Value;...)", provider="azure"
            )
        fields[name.strip().lower()] = value.strip()
    if fields.get("usedevelopmentstorage", "").lower() == "true":
        endpoint = fields.get("developmentstorageproxyuri")
        return ConnectionStringParts(
            DEVSTORE_ACCOUNT,
            f"{endpoint.rstrip('/')}/{DEVSTORE_ACCOUNT}" if endpoint else _DEVSTORE_BLOB_ENDPOINT,
            Secret(_DEVSTORE_KEY),
            None,
        )
    account = fields.get("accountname") or None
    endpoint = fields.get("blobendpoint") or None
    if endpoint is None and account:
        protocol = fields.get("defaultendpointsprotocol", "https")
        suffix = fields.get("endpointsuffix", "core.windows.net")
        endpoint = f"{protocol}://{account}.blob.{suffix}"
    key = fields.get("accountkey")
    sas = fields.get("sharedaccesssignature")
    if not endpoint:
        raise ConfigError(
            "the Azure connection string names neither AccountName nor BlobEndpoint", provider="azure"
        )
    return ConnectionStringParts(
        account, endpoint.rstrip("/"), Secret(key) if key else None, Secret(sas.lstrip("?")) if sas else None
    )


# --- auth configs -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AzureConnectionString(AuthConfig):
    provider: ClassVar[str] = "azure"
    auth: ClassVar[str] = "connection_string"
    summary: ClassVar[str] = "a storage connection string (account key or SAS inside)"
    params: ClassVar[frozenset[str]] = frozenset({"connection_string"})

    connection_string: Secret

    def identity(self) -> str:
        parts = parse_connection_string(self.connection_string)
        how = "account key" if parts.account_key else "SAS" if parts.sas_token else "no key"
        return f"account {parts.account or '?'} ({how}, connection string)"

    def azure_credential(self, credentials: Credentials) -> Any:
        from omnicloud.credentials import _azure_sdk

        parts = parse_connection_string(self.connection_string)
        if parts.account_key is not None:
            return _azure_sdk.named_key(parts.account or credentials.account or "", parts.account_key)
        if parts.sas_token is not None:
            return _azure_sdk.sas(parts.sas_token)
        return None


@dataclass(frozen=True, slots=True)
class AzureAccountKey(AuthConfig):
    provider: ClassVar[str] = "azure"
    auth: ClassVar[str] = "account_key"
    summary: ClassVar[str] = "a storage account name and key"
    params: ClassVar[frozenset[str]] = frozenset({"account_key"})

    account: str
    account_key: Secret

    def identity(self) -> str:
        return f"account {self.account} (account key)"

    def azure_credential(self, credentials: Credentials) -> Any:
        from omnicloud.credentials import _azure_sdk

        return _azure_sdk.named_key(self.account, self.account_key)


@dataclass(frozen=True, slots=True)
class AzureSas(AuthConfig):
    provider: ClassVar[str] = "azure"
    auth: ClassVar[str] = "sas"
    summary: ClassVar[str] = "a shared access signature token"
    params: ClassVar[frozenset[str]] = frozenset({"sas_token"})

    sas_token: Secret

    def identity(self) -> str:
        return "shared access signature"

    def azure_credential(self, credentials: Credentials) -> Any:
        from omnicloud.credentials import _azure_sdk

        return _azure_sdk.sas(self.sas_token)


@dataclass(frozen=True, slots=True)
class AzureServicePrincipal(AuthConfig):
    provider: ClassVar[str] = "azure"
    auth: ClassVar[str] = "service_principal"
    summary: ClassVar[str] = "an Entra ID app: tenant, client id and a secret or certificate"
    params: ClassVar[frozenset[str]] = frozenset(
        {"tenant_id", "client_id", "client_secret", "client_certificate_path", "authority_host"}
    )

    tenant_id: str
    client_id: str
    client_secret: Secret | None = None
    certificate_path: str | None = None
    authority_host: str | None = None

    def identity(self) -> str:
        return f"client {self.client_id} (tenant {self.tenant_id})"

    def details(self) -> dict[str, str]:
        return {"credential": "certificate" if self.certificate_path else "client secret"}

    def azure_credential(self, credentials: Credentials) -> Any:
        from omnicloud.credentials import _azure_sdk

        return _azure_sdk.service_principal(self)


@dataclass(frozen=True, slots=True)
class AzureWorkloadIdentity(AuthConfig):
    provider: ClassVar[str] = "azure"
    auth: ClassVar[str] = "workload_identity"
    summary: ClassVar[str] = "AKS workload identity (federated token file)"
    params: ClassVar[frozenset[str]] = frozenset({"tenant_id", "client_id", "federated_token_file"})

    tenant_id: str
    client_id: str
    token_file: str

    def identity(self) -> str:
        return f"client {self.client_id} (tenant {self.tenant_id}, workload identity)"

    def azure_credential(self, credentials: Credentials) -> Any:
        from omnicloud.credentials import _azure_sdk

        return _azure_sdk.workload_identity(self)


@dataclass(frozen=True, slots=True)
class AzureManagedIdentity(AuthConfig):
    provider: ClassVar[str] = "azure"
    auth: ClassVar[str] = "managed_identity"
    summary: ClassVar[str] = "the VM's or service's managed identity (IMDS, App Service)"
    params: ClassVar[frozenset[str]] = frozenset({"client_id"})

    client_id: str | None = None
    endpoint: str = field(default=IMDS_DEFAULT_HOST)

    def identity(self) -> str:
        return f"managed identity {self.client_id}" if self.client_id else "system-assigned managed identity"

    def azure_credential(self, credentials: Credentials) -> Any:
        from omnicloud.credentials import _azure_sdk

        return _azure_sdk.managed_identity(self)


@dataclass(frozen=True, slots=True)
class AzureCli(AuthConfig):
    provider: ClassVar[str] = "azure"
    auth: ClassVar[str] = "cli"
    summary: ClassVar[str] = "the account `az login` signed in"
    params: ClassVar[frozenset[str]] = frozenset()

    user: str | None = None
    subscription: str | None = None

    def identity(self) -> str:
        return f"{self.user or 'az login user'} (az CLI)"

    def details(self) -> dict[str, str]:
        return {"subscription": self.subscription} if self.subscription else {}

    def azure_credential(self, credentials: Credentials) -> Any:
        from omnicloud.credentials import _azure_sdk

        return _azure_sdk.cli()


@dataclass(frozen=True, slots=True)
class AzureAnonymous(AuthConfig):
    provider: ClassVar[str] = "azure"
    auth: ClassVar[str] = "anonymous"
    summary: ClassVar[str] = "no credentials (public containers)"
    params: ClassVar[frozenset[str]] = frozenset()

    def identity(self) -> str:
        return "anonymous"

    def azure_credential(self, credentials: Credentials) -> Any:
        return None


# --- sources ----------------------------------------------------------------------


def _from_params(ctx: ResolveContext) -> FindResult:
    auth = ctx.auth
    source = "explicit parameters"
    if auth == "anonymous":
        return Credentials(AzureAnonymous(), source)
    connection_string = ctx.secret_param("connection_string")
    if connection_string is not None and auth in (None, "connection_string"):
        return _connection_string_credentials(connection_string, source)
    key = ctx.secret_param("account_key")
    if key is not None and auth in (None, "account_key"):
        account = ctx.param("account") or ctx.env("AZURE_STORAGE_ACCOUNT")
        if not account:
            raise ConfigError("auth account_key needs the account as well", provider="azure")
        return Credentials(AzureAccountKey(account, key), source, account=account)
    sas = ctx.secret_param("sas_token")
    if sas is not None and auth in (None, "sas"):
        return Credentials(AzureSas(Secret(sas.reveal().lstrip("?"))), source)
    token_file = ctx.param("federated_token_file")
    if token_file and auth in (None, "workload_identity"):
        tenant, client = ctx.param("tenant_id"), ctx.param("client_id")
        if not tenant or not client:
            raise ConfigError("auth workload_identity needs tenant_id and client_id", provider="azure")
        return Credentials(AzureWorkloadIdentity(tenant, client, token_file), source)
    secret = ctx.secret_param("client_secret")
    certificate = ctx.param("client_certificate_path")
    if (secret is not None or certificate) and auth in (None, "service_principal"):
        tenant, client = ctx.param("tenant_id"), ctx.param("client_id")
        if not tenant or not client:
            raise ConfigError("auth service_principal needs tenant_id and client_id", provider="azure")
        config = AzureServicePrincipal(tenant, client, secret, certificate, ctx.param("authority_host"))
        return Credentials(config, source)
    return None


def _connection_string_credentials(secret: Secret, source: str) -> Credentials:
    parts = parse_connection_string(secret)
    return Credentials(
        AzureConnectionString(secret), source, account=parts.account, endpoint=parts.blob_endpoint
    )


def _from_env_connection_string(ctx: ResolveContext) -> FindResult:
    value = ctx.env("AZURE_STORAGE_CONNECTION_STRING")
    if not value:
        return None
    return _connection_string_credentials(Secret(value), "environment: AZURE_STORAGE_CONNECTION_STRING")


def _from_env_account_key(ctx: ResolveContext) -> FindResult:
    key = ctx.env("AZURE_STORAGE_KEY")
    if not key:
        return None
    account = ctx.param("account") or ctx.env("AZURE_STORAGE_ACCOUNT")
    if not account:
        return "AZURE_STORAGE_KEY is set but AZURE_STORAGE_ACCOUNT is not"
    return Credentials(
        AzureAccountKey(account, Secret(key)), "environment: AZURE_STORAGE_KEY", account=account
    )


def _from_env_sas(ctx: ResolveContext) -> FindResult:
    sas = ctx.env("AZURE_STORAGE_SAS_TOKEN")
    if not sas:
        return None
    return Credentials(AzureSas(Secret(sas.lstrip("?"))), "environment: AZURE_STORAGE_SAS_TOKEN")


def _from_env_service_principal(ctx: ResolveContext) -> FindResult:
    tenant, client = ctx.env("AZURE_TENANT_ID"), ctx.env("AZURE_CLIENT_ID")
    secret, certificate = ctx.env("AZURE_CLIENT_SECRET"), ctx.env("AZURE_CLIENT_CERTIFICATE_PATH")
    if not (secret or certificate):
        return None
    if not tenant or not client:
        return "a client secret or certificate is set without AZURE_TENANT_ID and AZURE_CLIENT_ID"
    config = AzureServicePrincipal(
        tenant, client, Secret(secret) if secret else None, certificate, ctx.env("AZURE_AUTHORITY_HOST")
    )
    return Credentials(config, "environment: AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_CLIENT_SECRET")


def _from_env_workload_identity(ctx: ResolveContext) -> FindResult:
    token_file = ctx.env("AZURE_FEDERATED_TOKEN_FILE")
    if not token_file:
        return None
    tenant, client = ctx.env("AZURE_TENANT_ID"), ctx.env("AZURE_CLIENT_ID")
    if not tenant or not client:
        return "AZURE_FEDERATED_TOKEN_FILE is set without AZURE_TENANT_ID and AZURE_CLIENT_ID"
    return Credentials(
        AzureWorkloadIdentity(tenant, client, token_file), "environment: AZURE_FEDERATED_TOKEN_FILE"
    )


def _from_env_managed_identity(ctx: ResolveContext) -> FindResult:
    # App Service, Functions, Container Apps and Arc publish their identity endpoint here.
    for name in ("IDENTITY_ENDPOINT", "MSI_ENDPOINT"):
        endpoint = ctx.env(name)
        if endpoint:
            client_id = ctx.param("client_id") or ctx.env("AZURE_CLIENT_ID")
            return Credentials(AzureManagedIdentity(client_id, endpoint), f"environment: {name}")
    return None


def _azure_config_dir(ctx: ResolveContext) -> Path:
    return Path(ctx.env("AZURE_CONFIG_DIR") or ctx.home / ".azure").expanduser()


def _from_cli_profile(ctx: ResolveContext) -> FindResult:
    path = _azure_config_dir(ctx) / "azureProfile.json"
    try:
        # The az CLI writes this file with a byte-order mark.
        document = json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return f"cannot read {display_path(path, ctx.home)}"
    subscriptions = document.get("subscriptions") if isinstance(document, dict) else None
    if not isinstance(subscriptions, list) or not subscriptions:
        return "not logged in (no subscriptions)"
    chosen = next((s for s in subscriptions if isinstance(s, dict) and s.get("isDefault")), subscriptions[0])
    user = chosen.get("user", {}).get("name") if isinstance(chosen, dict) else None
    subscription = chosen.get("name") if isinstance(chosen, dict) else None
    return Credentials(AzureCli(user, subscription), f"file: {display_path(path, ctx.home)}")


def imds_host(ctx: ResolveContext) -> str:
    # azure-identity honours the same variable, so probe and credential talk to one endpoint.
    return (ctx.env("AZURE_POD_IDENTITY_AUTHORITY_HOST") or IMDS_DEFAULT_HOST).rstrip("/")


def _from_imds(ctx: ResolveContext) -> FindResult:
    if not ctx.metadata.enabled:
        return f"skipped: {ctx.metadata.disabled_by}"
    host = imds_host(ctx)
    client_id = ctx.param("client_id") or ctx.env("AZURE_CLIENT_ID")
    resource = quote(STORAGE_RESOURCE, safe="")
    url = f"{host}/metadata/identity/oauth2/token?api-version=2018-02-01&resource={resource}"
    if client_id:
        url += f"&client_id={quote(client_id, safe='')}"
    try:
        # Asking for a token is the only way to learn whether an identity is assigned;
        # the token itself is dropped here and fetched again by azure-identity.
        answer = http_request("GET", url, timeout=ctx.metadata.timeout, headers={"Metadata": "true"})
    except MetadataUnavailable as err:
        return str(err)
    if not answer.ok:
        return f"no managed identity (HTTP {answer.status})"
    return Credentials(AzureManagedIdentity(client_id, host), "metadata: Azure IMDS")


def _complete(ctx: ResolveContext, found: Credentials) -> Credentials:
    account = ctx.param("account") or found.account or ctx.env("AZURE_STORAGE_ACCOUNT")
    endpoint = ctx.param("endpoint") or found.endpoint
    return found.with_settings(account=account, endpoint=endpoint, region=ctx.param("region"))


CHAIN = ProviderChain(
    provider="azure",
    configs=(
        AzureConnectionString,
        AzureAccountKey,
        AzureSas,
        AzureServicePrincipal,
        AzureWorkloadIdentity,
        AzureManagedIdentity,
        AzureCli,
        AzureAnonymous,
    ),
    params=frozenset(
        {
            "account",
            "tenant_id",
            "client_id",
            "client_certificate_path",
            "authority_host",
            "federated_token_file",
        }
    ),
    secret_params=frozenset({"connection_string", "account_key", "sas_token", "client_secret"}),
    sources=(
        Source(
            "explicit",
            frozenset(
                {
                    "connection_string",
                    "account_key",
                    "sas",
                    "service_principal",
                    "workload_identity",
                    "anonymous",
                }
            ),
            lambda ctx: "explicit parameters",
            _from_params,
        ),
        Source(
            "environment",
            frozenset({"connection_string"}),
            lambda ctx: "environment: AZURE_STORAGE_CONNECTION_STRING",
            _from_env_connection_string,
        ),
        Source(
            "environment",
            frozenset({"account_key"}),
            lambda ctx: "environment: AZURE_STORAGE_ACCOUNT, AZURE_STORAGE_KEY",
            _from_env_account_key,
        ),
        Source(
            "environment",
            frozenset({"sas"}),
            lambda ctx: "environment: AZURE_STORAGE_SAS_TOKEN",
            _from_env_sas,
        ),
        Source(
            "environment",
            frozenset({"service_principal"}),
            lambda ctx: "environment: AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_CLIENT_SECRET",
            _from_env_service_principal,
        ),
        Source(
            "environment",
            frozenset({"workload_identity"}),
            lambda ctx: "environment: AZURE_FEDERATED_TOKEN_FILE",
            _from_env_workload_identity,
        ),
        Source(
            "environment",
            frozenset({"managed_identity"}),
            lambda ctx: "environment: IDENTITY_ENDPOINT",
            _from_env_managed_identity,
        ),
        Source(
            "file",
            frozenset({"cli"}),
            lambda ctx: f"file: {display_path(_azure_config_dir(ctx) / 'azureProfile.json', ctx.home)}",
            _from_cli_profile,
        ),
        Source("metadata", frozenset({"managed_identity"}), lambda ctx: "metadata: Azure IMDS", _from_imds),
    ),
    complete=_complete,
    hint="set AZURE_STORAGE_CONNECTION_STRING (or AZURE_STORAGE_ACCOUNT and AZURE_STORAGE_KEY), "
    "run `az login`, or pass auth=... parameters",
)
