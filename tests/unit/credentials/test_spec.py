"""Storage specs as source document 003 writes them: storageUri plus string parameters."""

from __future__ import annotations

import json

import pytest
import yaml

from omnicloud.credentials import Secret, StorageSpec
from omnicloud.errors import ConfigError, CredentialsNotFoundError, InvalidURIError

DOCUMENT_003 = """
apiVersion: ome.io/v1beta1
kind: BaseModel
metadata:
  name: my-model
spec:
  storage:
    storageUri: "s3://my-bucket/models/my-model"
    parameters:
      auth: "iam_role"
      region: "us-west-2"
"""


def test_the_yaml_spec_of_document_003_is_accepted() -> None:
    spec = StorageSpec.from_mapping(yaml.safe_load(DOCUMENT_003)["spec"]["storage"])
    assert spec.uri.provider == "aws"
    assert spec.uri.bucket == "my-bucket"
    assert spec.auth == "iam_role"
    assert spec.credential_parameters() == {"region": "us-west-2"}


def test_iam_role_spec_asks_only_the_instance_metadata_service() -> None:
    spec = StorageSpec.from_mapping(yaml.safe_load(DOCUMENT_003)["spec"]["storage"])
    with pytest.raises(CredentialsNotFoundError) as info:
        spec.credentials()
    assert "of auth type iam_role" in str(info.value)
    assert "metadata: EC2 IMDSv2" in str(info.value)
    assert "AWS_ACCESS_KEY_ID" not in str(info.value)


def test_snake_case_key_and_json_are_accepted() -> None:
    data = json.loads(
        '{"storage_uri": "oci://n/ns1/b/models/o/llama", '
        '"parameters": {"auth": "user_principal", "region": "us-ashburn-1", '
        '"compartment_id": "ocid1.compartment.oc1..c"}}'
    )
    spec = StorageSpec.from_mapping(data)
    assert spec.uri.namespace == "ns1"
    assert spec.store_options() == {"compartment_id": "ocid1.compartment.oc1..c"}
    assert spec.credential_parameters() == {"region": "us-ashburn-1"}


def test_spec_resolves_credentials_with_its_parameters() -> None:
    spec = StorageSpec(
        "s3://my-bucket/data/",
        {
            "auth": "access_key",
            "access_key_id": "AKIAIOSFODNN7EXAMPLE",
            "secret_access_key": "spec-secret-value",
            "region": "us-west-2",
        },
    )
    creds = spec.credentials()
    assert creds.auth == "access_key"
    assert creds.region == "us-west-2"
    assert creds.source == "explicit parameters"


def test_secret_parameters_are_wrapped_and_hidden_in_repr() -> None:
    spec = StorageSpec.from_mapping(
        {
            "storageUri": "az://box/k",
            "parameters": {
                "auth": "connection_string",
                "connection_string": "AccountName=a;AccountKey=c2VjcmV0",
            },
        }
    )
    assert isinstance(spec.parameters["connection_string"], Secret)
    assert "c2VjcmV0" not in repr(spec)
    assert spec.credentials().account == "a"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "needs storageUri"),
        ({"storageUri": "s3://bkt1/x", "storage_uri": "s3://bkt1/x"}, "both storageUri and storage_uri"),
        ({"storageUri": "s3://bkt1/x", "extra": 1}, "unknown key"),
        ({"storageUri": 5}, "must be a string"),
        ({"storageUri": "s3://bkt1/x", "parameters": ["auth"]}, "must be a mapping"),
        ({"storageUri": "s3://bkt1/x", "parameters": {"region": {"nested": "x"}}}, "must be a string"),
    ],
)
def test_malformed_specs_are_config_errors(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        StorageSpec.from_mapping(data)


def test_invalid_uri_is_an_invalid_uri_error() -> None:
    with pytest.raises(InvalidURIError):
        StorageSpec("s3://Bad_Bucket/x")


def test_unknown_auth_in_a_spec_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match="valid auth types for gcp"):
        StorageSpec("gs://my-bucket/x", {"auth": "iam_role"}).credentials()


def test_booleans_and_numbers_become_strings() -> None:
    spec = StorageSpec("s3://bkt1/x", {"duration_seconds": 900, "metadata": False})  # type: ignore[dict-item]
    assert spec.parameters == {"duration_seconds": "900", "metadata": "false"}
