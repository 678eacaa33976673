"""S3 multipart uploads carry part checksums (CRC32C, where boto3's transfer manager sends CRC32).

On moto the object then reports a composite CRC32C (the CRC32C of the parts' CRC32Cs);
with ``part_checksums=False`` it does not. Without google-crc32c's C extension the
checksum is CRC32. Parts known only from the journal
(a resumed upload) take their checksums from ListParts; moto's ListParts leaves
them out, so that exchange is checked with botocore's Stubber playing S3's
documented responses.
"""

from __future__ import annotations

import base64
import os
import uuid
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.stub import Stubber

from omnicloud.errors import ConfigError
from omnicloud.sandbox import Emulator
from omnicloud.storage._types import PartInfo
from omnicloud.storage.s3 import S3Store, _part_checksum, part_checksum

MiB = 1 << 20


def _store(moto_server: Emulator, bucket: str, **options: Any) -> S3Store:
    return S3Store(
        bucket,
        endpoint_url=moto_server.endpoint,
        access_key_id="testing",
        secret_access_key="testing",
        **options,
    )


@pytest.fixture
def bucket(moto_server: Emulator) -> Iterator[str]:
    name = f"oc-crc-{uuid.uuid4().hex[:10]}"
    store = _store(moto_server, name)
    store.create_bucket()
    yield name
    store.delete_bucket(force=True)


def _upload_two_parts(store: S3Store, key: str) -> tuple[bytes, bytes, list[PartInfo]]:
    first, second = os.urandom(5 * MiB), os.urandom(MiB)
    upload = store.create_multipart(key)
    parts = [store.upload_part(key, upload, 1, first), store.upload_part(key, upload, 2, second)]
    store.complete_multipart(key, upload, parts)
    return first, second, parts


ALGORITHM, CHECKSUM = _part_checksum()
FIELD = f"Checksum{ALGORITHM}"


def _composite(*parts: bytes) -> str:
    digests = b"".join(CHECKSUM(p).to_bytes(4, "big") for p in parts)
    return base64.b64encode(CHECKSUM(digests).to_bytes(4, "big")).decode()


def test_the_checksum_is_crc32c_where_google_crc32c_has_its_c_extension() -> None:
    import google_crc32c

    assert google_crc32c.implementation == "c"  # the wheels installed here have it
    assert ALGORITHM == "CRC32C"


def test_the_checksum_is_base64_of_the_big_endian_value() -> None:
    # CRC32C("hello world") = 0xc99465aa, CRC32("hello world") = 0x0d4a1185
    value = "c99465aa" if ALGORITHM == "CRC32C" else "0d4a1185"
    assert part_checksum(b"hello world") == base64.b64encode(bytes.fromhex(value)).decode()
    assert part_checksum(bytearray(b"hello world")) == part_checksum(b"hello world")


def test_without_the_c_extension_the_checksum_is_crc32(monkeypatch: pytest.MonkeyPatch) -> None:
    import google_crc32c

    monkeypatch.setattr(google_crc32c, "implementation", "python")
    _part_checksum.cache_clear()
    try:
        assert _part_checksum() == ("CRC32", zlib.crc32)
    finally:
        _part_checksum.cache_clear()


def test_parts_carry_their_checksum_and_the_object_a_composite(moto_server: Emulator, bucket: str) -> None:
    store = _store(moto_server, bucket)
    first, second, parts = _upload_two_parts(store, "big.bin")
    assert [p.checksum for p in parts] == [part_checksum(first), part_checksum(second)]
    head = store.client.head_object(Bucket=bucket, Key="big.bin", ChecksumMode="ENABLED")
    assert head[FIELD].partition("-")[0] == _composite(first, second)
    assert store.get("big.bin") == first + second


def test_part_checksums_can_be_turned_off(moto_server: Emulator, bucket: str) -> None:
    store = _store(moto_server, bucket, part_checksums="false")
    _, _, parts = _upload_two_parts(store, "plain.bin")
    assert [p.checksum for p in parts] == [None, None]
    head = store.client.head_object(Bucket=bucket, Key="plain.bin", ChecksumMode="ENABLED")
    assert not [name for name in head if name.startswith("Checksum")]


def test_a_bad_flag_is_a_config_error(moto_server: Emulator) -> None:
    with pytest.raises(ConfigError, match="part_checksums must be true or false"):
        _store(moto_server, "any-bucket", part_checksums="maybe")


def test_oci_s3_api_sends_no_part_checksums() -> None:
    from omnicloud.storage.oci_s3 import open_oci_store
    from omnicloud.uri import parse_uri

    store = open_oci_store(
        parse_uri("oci://ns@us-ashburn-1/bucket/key"), access_key_id="a", secret_access_key="b"
    )
    assert isinstance(store, S3Store)
    assert store._part_checksums is False


def test_resumed_parts_take_their_checksums_from_list_parts(moto_server: Emulator) -> None:
    # boto3's plane, for the Stubber (ListParts is boto3's on both planes; the merged list is
    # what our own CompleteMultipartUpload sends too).
    store = _store(moto_server, "any-bucket", data_plane="sdk")
    stubber = Stubber(store.client)
    stubber.add_response(
        "list_parts",
        {"Parts": [{"PartNumber": 1, "ETag": '"e1"', "Size": 5 * MiB, FIELD: "AAAAAQ=="}]},
        {"Bucket": "any-bucket", "Key": "k", "UploadId": "u"},
    )
    stubber.add_response(
        "complete_multipart_upload",
        {},
        {
            "Bucket": "any-bucket",
            "Key": "k",
            "UploadId": "u",
            "MultipartUpload": {
                "Parts": [
                    {"PartNumber": 1, "ETag": '"e1"', FIELD: "AAAAAQ=="},
                    {"PartNumber": 2, "ETag": '"e2"', FIELD: "AAAAAg=="},
                ]
            },
        },
    )
    stubber.add_response(
        "head_object",
        {"ContentLength": 5 * MiB + 1, "ETag": '"x-2"', "LastModified": "2026-11-25T00:00:00Z"},
        {"Bucket": "any-bucket", "Key": "k"},
    )
    with stubber:
        store.complete_multipart("k", "u", [PartInfo(2, '"e2"', 1, "AAAAAg=="), PartInfo(1, '"e1"', 5 * MiB)])
    stubber.assert_no_pending_responses()
