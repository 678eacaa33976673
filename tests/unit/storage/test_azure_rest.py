"""Azure's own requests: List Blobs answers as the service documents them, and the status table.

The requests themselves (signing, escaping, errors) run against Azurite in
tests/e2e/test_azure_data_plane.py and the contract suites; these cases are
the answers Azurite never gives (percent-encoded names, version ids).
"""

from __future__ import annotations

from datetime import UTC, datetime
from xml.etree import ElementTree

import pytest

from omnicloud.errors import (
    AuthenticationError,
    NotFoundError,
    OmniCloudError,
    PermissionDeniedError,
    PreconditionFailedError,
    TransientError,
)
from omnicloud.storage._azure_rest import _listed, status_error

_PAGE = """<?xml version="1.0" encoding="utf-8"?>
<EnumerationResults ServiceEndpoint="https://acct.blob.core.windows.net/" ContainerName="c">
  <Prefix>logs/</Prefix>
  <Blobs>
    <Blob>
      <Name Encoded="true">logs/bell%07.txt</Name>
      <VersionId>2026-11-25T10:00:00.0000000Z</VersionId>
      <Properties>
        <Last-Modified>Wed, 25 Nov 2026 10:00:00 GMT</Last-Modified>
        <Etag>0x8DCA1B2C3D4E5F6</Etag>
        <Content-Length>1234</Content-Length>
        <Content-Type>text/plain</Content-Type>
        <BlobType>BlockBlob</BlobType>
        <AccessTier>Cool</AccessTier>
      </Properties>
      <Metadata><Owner>data</Owner><omnicloud_digest>blake3-c8m:ab</omnicloud_digest></Metadata>
    </Blob>
    <BlobPrefix><Name>logs/2026/</Name></BlobPrefix>
    <Blob>
      <Name>logs/a.txt</Name>
      <Properties><Content-Length>0</Content-Length></Properties>
    </Blob>
  </Blobs>
  <NextMarker>2!92!MDAwMDI</NextMarker>
</EnumerationResults>
"""


def test_a_documented_list_blobs_page_becomes_object_infos() -> None:
    root = ElementTree.fromstring(_PAGE)
    blob, prefix, empty = (_listed(item) for item in root.iterfind("Blobs/*"))
    assert blob.key == "logs/bell\x07.txt"
    assert (blob.size, blob.etag, blob.content_type) == (1234, '"0x8DCA1B2C3D4E5F6"', "text/plain")
    assert blob.last_modified == datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    assert blob.metadata == {"owner": "data", "omnicloud_digest": "blake3-c8m:ab"}
    assert blob.digest == "blake3-c8m:ab"
    assert (blob.storage_class, blob.version) == ("Cool", "2026-11-25T10:00:00.0000000Z")
    assert (prefix.key, prefix.is_prefix, prefix.size) == ("logs/2026/", True, 0)
    assert (empty.key, empty.size, empty.etag, empty.last_modified, empty.metadata) == (
        "logs/a.txt",
        0,
        None,
        None,
        {},
    )


@pytest.mark.parametrize(
    ("status", "code", "expected", "words"),
    [
        (403, "AuthenticationFailed", AuthenticationError, "rejected the credentials"),
        (403, "AuthorizationPermissionMismatch", PermissionDeniedError, "access denied"),
        (404, "ContainerNotFound", NotFoundError, "container does not exist"),
        (404, "BlobNotFound", NotFoundError, "no such object"),
        (400, "InvalidBlockList", PreconditionFailedError, "block list rejected"),
        (409, "LeaseIdMissing", PreconditionFailedError, "precondition failed"),
        (412, "ConditionNotMet", PreconditionFailedError, "precondition failed"),
        (503, "ServerBusy", TransientError, "busy"),
        (500, "InternalError", TransientError, "busy"),
        (429, "", TransientError, "busy"),
        (400, "InvalidQueryParameterValue", OmniCloudError, "InvalidQueryParameterValue"),
    ],
)
def test_statuses_and_error_codes_map_to_omnicloud_errors(
    status: int, code: str, expected: type[OmniCloudError], words: str
) -> None:
    error = status_error(status, code, {"op": "list", "uri": "azure://c/k", "provider": "azure"})
    assert type(error) is expected
    assert words in str(error)
    assert error.retryable == (expected is TransientError)


@pytest.mark.parametrize(
    "text",
    [
        "Wed, 25 Nov 2026 10:00:00 GMT",
        "Thu, 01 Jan 1970 00:00:00 GMT",
        "Mon, 29 Feb 2028 23:59:59 GMT",
        "Wed, 25 Nov 2026 10:00:00 +0100",  # not Azure's form: the general parser
    ],
)
def test_listed_dates_parse_as_the_email_parser_reads_them(text: str) -> None:
    from email.utils import parsedate_to_datetime

    from omnicloud.storage._azure_rest import _http_date

    assert _http_date(text) == parsedate_to_datetime(text)
    assert _http_date(text).utcoffset() == parsedate_to_datetime(text).utcoffset()


def test_a_listed_date_that_is_no_date_raises_value_error() -> None:
    from omnicloud.storage._azure_rest import _http_date

    with pytest.raises(ValueError):
        _http_date("Wed, 25 Foo 2026 10:00:00 GMT")
