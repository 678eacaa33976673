"""The boundary mappers turn each SDK's failures into omnicloud errors.

Emulators cannot produce every failure (gcp-storage-emulator never
authenticates, moto never throttles), so these cases feed the SDKs' own
exception objects, shaped as the providers document them, to the mappers.
"""

from __future__ import annotations

import pytest

from omnicloud.errors import (
    AuthenticationError,
    CredentialsNotFoundError,
    NotFoundError,
    PermissionDeniedError,
    PreconditionFailedError,
    TransientError,
)


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("NoSuchKey", 404, NotFoundError),
        ("NoSuchBucket", 404, NotFoundError),
        ("AccessDenied", 403, PermissionDeniedError),
        ("InvalidAccessKeyId", 403, AuthenticationError),
        ("SignatureDoesNotMatch", 403, AuthenticationError),
        ("ExpiredToken", 400, AuthenticationError),
        ("PreconditionFailed", 412, PreconditionFailedError),
        ("SlowDown", 503, TransientError),
        ("InternalError", 500, TransientError),
    ],
)
def test_s3_error_codes_map_to_omnicloud_errors(code: str, status: int, expected: type) -> None:
    from botocore.exceptions import ClientError

    from omnicloud.storage.s3 import _map_error

    err = ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}, "GetObject"
    )
    mapped = _map_error(err, "get", "s3://b/k")
    assert type(mapped) is expected
    assert mapped.provider == "aws"
    assert mapped.op == "get"


def test_s3_missing_credentials_map_to_credentials_not_found() -> None:
    from botocore.exceptions import NoCredentialsError

    from omnicloud.storage.s3 import _map_error

    assert isinstance(_map_error(NoCredentialsError(), "get", None), CredentialsNotFoundError)


@pytest.mark.parametrize(
    ("exception_name", "expected"),
    [
        ("NotFound", NotFoundError),
        ("Unauthorized", AuthenticationError),
        ("Forbidden", PermissionDeniedError),
        ("PreconditionFailed", PreconditionFailedError),
        ("TooManyRequests", TransientError),
        ("ServiceUnavailable", TransientError),
        ("InternalServerError", TransientError),
    ],
)
def test_gcs_api_errors_map_to_omnicloud_errors(exception_name: str, expected: type) -> None:
    from google.api_core import exceptions as gx

    from omnicloud.storage.gcs import _map_error

    mapped = _map_error(getattr(gx, exception_name)("m"), "get", "gs://b/k")
    assert type(mapped) is expected
    assert mapped.provider == "gcp"


def test_gcs_refresh_failure_is_an_authentication_error() -> None:
    from google.auth.exceptions import RefreshError

    from omnicloud.storage.gcs import _map_error

    assert isinstance(_map_error(RefreshError("bad grant"), "get", None), AuthenticationError)


def test_azure_authentication_failed_is_an_authentication_error() -> None:
    from azure.core.exceptions import ClientAuthenticationError

    from omnicloud.storage.azure import _map_error

    err = ClientAuthenticationError(message="Server failed to authenticate the request")
    assert isinstance(_map_error(err, "get", None), AuthenticationError)


def test_azure_malformed_connection_string_never_echoes_its_text() -> None:
    from omnicloud.errors import ConfigError
    from omnicloud.storage.azure import AzureStore

    secret = "AccountKey=c2VjcmV0LXZhbHVlLXRoYXQtbXVzdC1ub3QtbGVhaw=="
    with pytest.raises(ConfigError) as caught:
        AzureStore("container", connection_string=f"garbage;{secret}")
    assert "c2VjcmV0" not in str(caught.value)


_S3_ERROR = (
    '<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{message}</Message></Error>'
)


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("NoSuchKey", 404, NotFoundError),
        ("NoSuchBucket", 404, NotFoundError),
        ("AccessDenied", 403, PermissionDeniedError),
        ("SignatureDoesNotMatch", 403, AuthenticationError),
        ("SlowDown", 503, TransientError),
        ("", 500, TransientError),  # no body: the status decides
    ],
)
def test_s3_answers_to_a_streamed_read_map_by_their_xml_code(code: str, status: int, expected: type) -> None:
    from omnicloud.storage.s3 import _answer_error

    body = _S3_ERROR.format(code=code, message="it went wrong").encode() if code else b""
    fields = {"op": "get", "uri": "s3://b/k", "provider": "aws"}
    err = _answer_error(status, {}, body, fields)
    assert isinstance(err, expected)
    assert (err.op, err.uri) == ("get", "s3://b/k")


@pytest.mark.parametrize(
    ("code", "status"), [("PermanentRedirect", 301), ("AuthorizationHeaderMalformed", 400)]
)
def test_an_s3_answer_naming_another_region_hands_the_read_to_boto3(code: str, status: int) -> None:
    from omnicloud.storage.s3 import _answer_error, _ElsewhereError

    with pytest.raises(_ElsewhereError):
        _answer_error(status, {}, _S3_ERROR.format(code=code, message="elsewhere").encode(), {"op": "get"})
