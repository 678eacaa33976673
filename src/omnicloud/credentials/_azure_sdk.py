"""azure-core / azure-identity adapters for Azure credentials; imported only when an adapter is called."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from azure.core.credentials import AzureNamedKeyCredential, AzureSasCredential

from omnicloud.errors import ConfigError

if TYPE_CHECKING:
    from omnicloud.credentials._azure import (
        AzureManagedIdentity,
        AzureServicePrincipal,
        AzureWorkloadIdentity,
    )
    from omnicloud.credentials._secret import Secret


def named_key(account: str, key: Secret) -> Any:
    if not account:
        raise ConfigError("an account key needs the storage account name", provider="azure")
    return AzureNamedKeyCredential(account, key.reveal())


def sas(token: Secret) -> Any:
    return AzureSasCredential(token.reveal().lstrip("?"))


def _identity() -> Any:
    try:
        import azure.identity
    except ImportError as err:
        raise ConfigError(
            "Azure token credentials need azure-identity",
            provider="azure",
            hint="pip install 'omnicloud[azure]'",
        ) from err
    return azure.identity


def service_principal(config: AzureServicePrincipal) -> Any:
    identity = _identity()
    options: dict[str, Any] = {}
    if config.authority_host:
        options["authority"] = config.authority_host
    if config.certificate_path:
        return identity.CertificateCredential(
            config.tenant_id, config.client_id, certificate_path=config.certificate_path, **options
        )
    if config.client_secret is None:
        raise ConfigError(
            "auth service_principal needs client_secret or client_certificate_path", provider="azure"
        )
    return identity.ClientSecretCredential(
        config.tenant_id, config.client_id, config.client_secret.reveal(), **options
    )


def workload_identity(config: AzureWorkloadIdentity) -> Any:
    return _identity().WorkloadIdentityCredential(
        tenant_id=config.tenant_id, client_id=config.client_id, token_file_path=config.token_file
    )


def managed_identity(config: AzureManagedIdentity) -> Any:
    # azure-identity picks IMDS, App Service, Arc or Cloud Shell from the environment,
    # honouring AZURE_POD_IDENTITY_AUTHORITY_HOST as the probe did.
    if config.client_id:
        return _identity().ManagedIdentityCredential(client_id=config.client_id)
    return _identity().ManagedIdentityCredential()


def cli() -> Any:
    return _identity().AzureCliCredential()
