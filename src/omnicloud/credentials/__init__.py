"""One credential story for AWS, GCP, Azure and OCI.

``resolve(provider, auth=None, **params)`` walks explicit parameters, then
the environment, then the provider's config files, then the platform's
metadata service, and returns :class:`Credentials` that say where they came
from (``.source``) and who they are (``.identity``, never a secret)::

    creds = resolve("aws", auth="access_key", access_key_id="AKIA...", secret_access_key="...")
    session = creds.boto3_session()

Auth types per provider (``auth_types(provider)`` lists them with summaries):

========  ====================================================================================
aws       access_key, assume_role, web_identity, iam_role, profile, anonymous
gcp       service_account, workload_identity, application_default, anonymous
azure     connection_string, account_key, sas, service_principal, workload_identity,
          managed_identity, cli, anonymous
oci       instance_principal, user_principal, resource_principal, security_token
========  ====================================================================================

Secrets are held in :class:`Secret`, which shows ``***`` in every text form.
Profiles (:func:`load_profiles`) map URI prefixes to credentials; a
:class:`StorageSpec` carries a URI and string parameters as in deployment
manifests. No SDK is imported until an adapter (``boto3_session()``,
``google_credentials()``, ``azure_credential()``, ``oci_config_and_signer()``)
is called.
"""

from typing import TYPE_CHECKING, Any

from omnicloud._lazy import lazy_attribute

if TYPE_CHECKING:
    from omnicloud.credentials._aws import (
        AwsAccessKey,
        AwsAnonymous,
        AwsAssumeRole,
        AwsIamRole,
        AwsKeys,
        AwsProfile,
        AwsWebIdentity,
        S3CredentialProvider,
    )
    from omnicloud.credentials._azure import (
        AzureAccountKey,
        AzureAnonymous,
        AzureCli,
        AzureConnectionString,
        AzureManagedIdentity,
        AzureSas,
        AzureServicePrincipal,
        AzureWorkloadIdentity,
    )
    from omnicloud.credentials._base import (
        DEFAULT_METADATA_TIMEOUT,
        DEFAULT_REFRESH_MARGIN,
        AuthConfig,
        Credentials,
    )
    from omnicloud.credentials._gcp import (
        GcpAnonymous,
        GcpApplicationDefault,
        GcpServiceAccount,
        GcpWorkloadIdentity,
    )
    from omnicloud.credentials._oci import (
        OciInstancePrincipal,
        OciResourcePrincipal,
        OciSecurityToken,
        OciUserPrincipal,
    )
    from omnicloud.credentials._profiles import (
        EnvReference,
        FileReference,
        Profile,
        Profiles,
        credentials_for,
        default_profile_path,
        load_profiles,
    )
    from omnicloud.credentials._refresh import Expiring, RefreshingValue
    from omnicloud.credentials._resolve import (
        CLOUD_PROVIDERS,
        CheckResult,
        auth_types,
        check_providers,
        resolve,
    )
    from omnicloud.credentials._secret import Secret
    from omnicloud.credentials._spec import StorageSpec


__all__ = [
    "CLOUD_PROVIDERS",
    "DEFAULT_METADATA_TIMEOUT",
    "DEFAULT_REFRESH_MARGIN",
    "AuthConfig",
    "AwsAccessKey",
    "AwsAnonymous",
    "AwsAssumeRole",
    "AwsIamRole",
    "AwsKeys",
    "AwsProfile",
    "AwsWebIdentity",
    "AzureAccountKey",
    "AzureAnonymous",
    "AzureCli",
    "AzureConnectionString",
    "AzureManagedIdentity",
    "AzureSas",
    "AzureServicePrincipal",
    "AzureWorkloadIdentity",
    "CheckResult",
    "Credentials",
    "EnvReference",
    "Expiring",
    "FileReference",
    "GcpAnonymous",
    "GcpApplicationDefault",
    "GcpServiceAccount",
    "GcpWorkloadIdentity",
    "OciInstancePrincipal",
    "OciResourcePrincipal",
    "OciSecurityToken",
    "OciUserPrincipal",
    "Profile",
    "Profiles",
    "RefreshingValue",
    "S3CredentialProvider",
    "Secret",
    "StorageSpec",
    "auth_types",
    "check_providers",
    "credentials_for",
    "default_profile_path",
    "load_profiles",
    "resolve",
]

# Each name is imported from its module when first used: a command that
# touches one cloud loads that cloud's credential code only.
_MODULES = {
    "AuthConfig": "omnicloud.credentials._base",
    "AwsAccessKey": "omnicloud.credentials._aws",
    "AwsAnonymous": "omnicloud.credentials._aws",
    "AwsAssumeRole": "omnicloud.credentials._aws",
    "AwsIamRole": "omnicloud.credentials._aws",
    "AwsKeys": "omnicloud.credentials._aws",
    "AwsProfile": "omnicloud.credentials._aws",
    "AwsWebIdentity": "omnicloud.credentials._aws",
    "AzureAccountKey": "omnicloud.credentials._azure",
    "AzureAnonymous": "omnicloud.credentials._azure",
    "AzureCli": "omnicloud.credentials._azure",
    "AzureConnectionString": "omnicloud.credentials._azure",
    "AzureManagedIdentity": "omnicloud.credentials._azure",
    "AzureSas": "omnicloud.credentials._azure",
    "AzureServicePrincipal": "omnicloud.credentials._azure",
    "AzureWorkloadIdentity": "omnicloud.credentials._azure",
    "CLOUD_PROVIDERS": "omnicloud.credentials._resolve",
    "CheckResult": "omnicloud.credentials._resolve",
    "Credentials": "omnicloud.credentials._base",
    "DEFAULT_METADATA_TIMEOUT": "omnicloud.credentials._base",
    "DEFAULT_REFRESH_MARGIN": "omnicloud.credentials._base",
    "EnvReference": "omnicloud.credentials._profiles",
    "Expiring": "omnicloud.credentials._refresh",
    "FileReference": "omnicloud.credentials._profiles",
    "GcpAnonymous": "omnicloud.credentials._gcp",
    "GcpApplicationDefault": "omnicloud.credentials._gcp",
    "GcpServiceAccount": "omnicloud.credentials._gcp",
    "GcpWorkloadIdentity": "omnicloud.credentials._gcp",
    "OciInstancePrincipal": "omnicloud.credentials._oci",
    "OciResourcePrincipal": "omnicloud.credentials._oci",
    "OciSecurityToken": "omnicloud.credentials._oci",
    "OciUserPrincipal": "omnicloud.credentials._oci",
    "Profile": "omnicloud.credentials._profiles",
    "Profiles": "omnicloud.credentials._profiles",
    "RefreshingValue": "omnicloud.credentials._refresh",
    "S3CredentialProvider": "omnicloud.credentials._aws",
    "Secret": "omnicloud.credentials._secret",
    "StorageSpec": "omnicloud.credentials._spec",
    "auth_types": "omnicloud.credentials._resolve",
    "check_providers": "omnicloud.credentials._resolve",
    "credentials_for": "omnicloud.credentials._profiles",
    "default_profile_path": "omnicloud.credentials._profiles",
    "load_profiles": "omnicloud.credentials._profiles",
    "resolve": "omnicloud.credentials._resolve",
}


def __getattr__(name: str) -> Any:
    return lazy_attribute(__name__, _MODULES, name)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
