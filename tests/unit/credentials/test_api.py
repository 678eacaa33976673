"""The credentials package's surface is what we meant, its configs are typed, and it loads no SDK."""

from __future__ import annotations

import dataclasses
import pickle
import subprocess
import sys

import pytest

import omnicloud.credentials as credentials
from omnicloud.credentials import AuthConfig, Secret, auth_types, resolve
from omnicloud.errors import ConfigError

HEAVY = ("boto3", "botocore", "google", "azure", "oci", "obstore")


def test_public_names_are_the_curated_list() -> None:
    assert set(credentials.__all__) == {
        "CLOUD_PROVIDERS", "DEFAULT_METADATA_TIMEOUT", "DEFAULT_REFRESH_MARGIN", "AuthConfig",
        "AwsAccessKey", "AwsAnonymous", "AwsAssumeRole", "AwsIamRole", "AwsKeys", "AwsProfile",
        "AwsWebIdentity",
        "AzureAccountKey", "AzureAnonymous", "AzureCli", "AzureConnectionString", "AzureManagedIdentity",
        "AzureSas", "AzureServicePrincipal", "AzureWorkloadIdentity", "CheckResult", "Credentials",
        "EnvReference", "Expiring", "FileReference", "GcpAnonymous", "GcpApplicationDefault",
        "GcpServiceAccount", "GcpWorkloadIdentity", "OciInstancePrincipal", "OciResourcePrincipal",
        "OciSecurityToken", "OciUserPrincipal", "Profile", "Profiles", "RefreshingValue",
        "S3CredentialProvider", "Secret", "StorageSpec", "auth_types", "check_providers",
        "credentials_for", "default_profile_path", "load_profiles", "resolve",
    }  # fmt: skip
    for name in credentials.__all__:
        assert hasattr(credentials, name)


def test_source_documents_auth_types_are_all_there() -> None:
    assert {"instance_principal", "user_principal", "resource_principal"} <= set(auth_types("oci"))
    assert {"iam_role", "access_key", "assume_role", "profile", "web_identity"} <= set(auth_types("aws"))
    assert {"service_account", "workload_identity", "application_default"} <= set(auth_types("gcp"))
    assert {"managed_identity", "service_principal", "cli", "connection_string", "sas"} <= set(
        auth_types("azure")
    )


def _config_classes() -> list[type[AuthConfig]]:
    found = [getattr(credentials, name) for name in credentials.__all__]
    return [
        obj
        for obj in found
        if isinstance(obj, type) and issubclass(obj, AuthConfig) and obj is not AuthConfig
    ]


@pytest.mark.parametrize("config", _config_classes(), ids=lambda c: c.__name__)
def test_every_config_is_a_frozen_dataclass_with_secrets_typed(config: type[AuthConfig]) -> None:
    assert dataclasses.is_dataclass(config)
    assert config.__dataclass_params__.frozen  # type: ignore[attr-defined]
    assert config.auth in auth_types(config.provider)
    secretish = (
        "secret",
        "key_content",
        "pass_phrase",
        "sas_token",
        "connection_string",
        "rpst",
        "private_pem",
    )
    for field in dataclasses.fields(config):
        if any(word in field.name for word in secretish) and field.name != "client_secret_file":
            assert "Secret" in str(field.type), f"{config.__name__}.{field.name} should be a Secret"


def test_unknown_provider_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="one of aws, gcp, azure, oci"):
        resolve("ibm")


def test_scheme_names_are_accepted_for_providers() -> None:
    assert resolve("s3", auth="anonymous").provider == "aws"
    assert resolve("gs", auth="anonymous").provider == "gcp"
    assert resolve("mem").auth == "none"


def test_credentials_pickle_without_their_secrets() -> None:
    creds = resolve("aws", access_key_id="AKIAIOSFODNN7EXAMPLE", secret_access_key="pickle-secret-value")
    payload = pickle.dumps(creds)
    assert b"pickle-secret-value" not in payload
    assert pickle.loads(payload).identity == creds.identity


def test_configs_compare_and_hash_by_value() -> None:
    one = resolve("azure", sas_token="sig=1")
    two = resolve("azure", sas_token="sig=1")
    assert one == two and hash(one.config) == hash(two.config)
    assert isinstance(one.config.sas_token, Secret)  # type: ignore[attr-defined]


def test_resolving_imports_no_cloud_sdk() -> None:
    code = (
        "import os, sys\n"
        "os.environ['OMNICLOUD_NO_METADATA'] = '1'\n"
        "import omnicloud.credentials as c\n"
        "c.resolve('aws', access_key_id='AKIAIOSFODNN7EXAMPLE', secret_access_key='s')\n"
        "c.resolve('azure', connection_string='UseDevelopmentStorage=true')\n"
        "c.resolve('gcp', auth='anonymous')\n"
        "print('\\n'.join(sys.modules))\n"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = [m for m in output.split() if any(m == h or m.startswith(h + ".") for h in HEAVY)]
    assert loaded == []
