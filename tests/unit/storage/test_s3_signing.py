"""Our Signature Version 4 for S3 signs exactly as botocore does, for the requests we send.

moto does not check signatures, so this comparison is what keeps ``_s3_rest``'s
requests acceptable to S3: the same canonical request, byte for byte, gives the
same ``Authorization`` header.
"""

from __future__ import annotations

from datetime import UTC, datetime
from unittest import mock
from urllib.parse import quote

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from omnicloud.storage._s3_rest import canonical_query, signed_headers

NOW = datetime(2026, 11, 27, 3, 4, 5, tzinfo=UTC)
KEYS = {"access_key_id": "AKIDEXAMPLE", "secret_access_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}


def _botocore(
    method: str, url: str, headers: dict[str, str], keys: dict[str, str | None], region: str
) -> dict[str, str]:
    request = AWSRequest(method=method, url=url, headers=headers, data=b"")
    # As the S3 client here is configured: no SHA-256 of bodies in the signature.
    request.context["client_config"] = Config(s3={"payload_signing_enabled": False})
    creds = Credentials(keys["access_key_id"], keys["secret_access_key"], keys.get("token"))
    with mock.patch("botocore.auth.get_current_datetime", return_value=NOW.replace(tzinfo=None)):
        S3SigV4Auth(creds, "s3", region).add_auth(request)
    return dict(request.headers.items())


@pytest.mark.parametrize(
    ("method", "key", "query", "headers"),
    [
        ("HEAD", "plain.bin", {}, {}),
        ("GET", "dir/with space+plus&amp=equals?.bin", {}, {"Range": "bytes=0-8388607"}),
        ("GET", "ünïcødé/日本語 ~tilde*star", {}, {}),
        (
            "POST",
            "big/file.bin",
            {"uploads": ""},
            {
                "Content-Type": "application/octet-stream",
                "x-amz-meta-omnicloud_digest": "blake3:abc",
                "x-amz-checksum-algorithm": "CRC32C",
            },
        ),
        (
            "PUT",
            "big/file.bin",
            {"partNumber": "12", "uploadId": "a/b+c=d~e"},
            {"x-amz-checksum-crc32c": "AAAAAA=="},
        ),
        ("POST", "big/file.bin", {"uploadId": "xyz"}, {"Content-Type": "application/xml"}),
        ("DELETE", "big/file.bin", {"uploadId": "xyz"}, {}),
    ],
)
@pytest.mark.parametrize("token", [None, "IQoJb3JpZ2luX2VjE//token+with/slashes="])
@pytest.mark.parametrize(
    ("host", "prefix"), [("127.0.0.1:9000", "/bucket"), ("bucket.s3.eu-west-1.amazonaws.com", "")]
)
def test_the_authorization_is_botocores(
    method: str,
    key: str,
    query: dict[str, str],
    headers: dict[str, str],
    token: str | None,
    host: str,
    prefix: str,
) -> None:
    keys = {**KEYS, "token": token}
    path = f"{prefix}/{quote(key, safe='/~')}"
    text = canonical_query(query)
    scheme = "http" if host.startswith("127.") else "https"
    url = f"{scheme}://{host}{path}" + (f"?{text}" if text else "")
    ours = signed_headers(method, path, query, headers, host=host, keys=keys, region="eu-west-1", now=NOW)
    theirs = _botocore(method, url, {**headers, "Host": host}, keys, "eu-west-1")
    assert ours["Authorization"] == theirs["Authorization"]
    assert ours["x-amz-date"] == theirs["X-Amz-Date"] == "20261127T030405Z"
    assert ours["x-amz-content-sha256"] == "UNSIGNED-PAYLOAD"
    assert ours.get("x-amz-security-token") == theirs.get("X-Amz-Security-Token")


def test_another_secret_or_region_signs_differently() -> None:
    base = signed_headers("HEAD", "/b/k", {}, {}, host="h", keys=KEYS, region="us-east-1", now=NOW)
    other_secret = {**KEYS, "secret_access_key": KEYS["secret_access_key"][:-1] + "Z"}
    assert (
        signed_headers("HEAD", "/b/k", {}, {}, host="h", keys=other_secret, region="us-east-1", now=NOW)[
            "Authorization"
        ]
        != base["Authorization"]
    )
    assert (
        signed_headers("HEAD", "/b/k", {}, {}, host="h", keys=KEYS, region="us-west-2", now=NOW)[
            "Authorization"
        ]
        != base["Authorization"]
    )
    assert KEYS["secret_access_key"] not in repr(base)


def test_the_query_is_sorted_and_encoded_as_sigv4_wants() -> None:
    assert canonical_query({"uploadId": "a/b c", "partNumber": "2"}) == "partNumber=2&uploadId=a%2Fb%20c"
    assert canonical_query({"uploads": ""}) == "uploads="
