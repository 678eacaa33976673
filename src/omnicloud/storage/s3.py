"""S3 storage: AWS and every S3-compatible endpoint (MinIO, OCI's S3 API, Spaces, moto).

The endpoint follows the AWS SDK's own variables: ``AWS_ENDPOINT_URL_S3``,
then ``AWS_ENDPOINT_URL``; the option ``endpoint_url`` wins over both.
Credentials come from an omnicloud ``Credentials`` object when given, else
from the options, else from boto3's default chain. Every botocore and obstore
error is translated to :mod:`omnicloud.errors` here and nowhere else.

Three planes, all signing as the same identity:

- **Our own signed requests** (``_s3_rest``: HeadObject, GetObject,
  DeleteObject, ListObjectsV2 and the multipart calls, SigV4 over
  ``http.client``), when omnicloud's credentials or key options, a region
  and an endpoint are all that shape a request: ``cp``, ``sync``, ``ls``,
  ``stat``, ``cat`` and ``rm`` then load no boto3, whose import and client
  took ~0.4 s of every process here. Not with ``data_plane="sdk"``, a ``profile`` option,
  anonymous access, OCI's S3 API, a proxy, FIPS or dual-stack endpoints, S3
  settings in the AWS config profile, an endpoint with a path, or a region
  outside the commercial partition; and a bucket that answers from another
  region than the one signed for moves the store to boto3 for good.
- **obstore** for puts of up to 8 MiB of bytes when it is installed
  (``data_plane="auto"``; ``"sdk"`` keeps them on boto3). Measured on a moto
  server with 2 cores: syncing 2,000 files of 4 KiB cost the client about
  1.8 ms of CPU per object with obstore puts against 4-5 ms with boto3 puts,
  and obstore holds no GIL while a request is in flight.
- **boto3** for everything else (server-side copies,
  bucket administration, conditional and managed puts, ListParts when an
  upload resumes), its client made at the first call that needs it. Without
  our own requests, streamed reads (``open_read``) are GETs of URLs boto3
  presigns, made by ``_streamed_get`` so the body still lands in the
  reader's buffer (not behind a proxy, on OCI's S3 API or with
  ``data_plane="sdk"``).

Multipart uploads declare part checksums, as boto3's own transfer manager
does, but CRC32C where boto3 sends CRC32: google-crc32c's C extension
computes it at ~5.8 GiB/s on one core here, zlib's CRC32 runs at ~2.2 GiB/s
(without the extension, the checksum is CRC32). S3 checks each part's on
arrival and rejects a part damaged on the wire, and the finished object has
a composite checksum. ``part_checksums=False`` turns this off for
S3-compatible services that reject checksum headers; the OCI S3 API does so
by default.
"""

from __future__ import annotations

import base64
import builtins
import functools
import importlib.util
import io
import os
import re
import threading
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, ClassVar, NoReturn, TypeVar, cast
from urllib.parse import urlsplit

from omnicloud._log_redaction import redact_sdk_logs
from omnicloud.errors import (
    AuthenticationError,
    ConfigError,
    CredentialsNotFoundError,
    NotFoundError,
    OmniCloudError,
    PermissionDeniedError,
    PreconditionFailedError,
    TransientError,
)
from omnicloud.storage._common import (
    ClosesOnExit,
    ErrorMappingStream,
    SpooledUpload,
    check_options,
    exists_via_stat,
    normalize_metadata,
    obstore_can_name,
    obstore_put_info,
    read_body,
)
from omnicloud.storage._s3_rest import ObjectRequests
from omnicloud.storage._streamed_get import StreamedGets, proxy_for
from omnicloud.storage._types import (
    Admin,
    ByteRange,
    Deleter,
    GetWithInfo,
    Lister,
    Multipart,
    ObjectInfo,
    PartInfo,
    Reader,
    ServerSideCopy,
    Stat,
    Writer,
)
from omnicloud.uri import ObjectURI

if TYPE_CHECKING:
    from boto3.session import Session as Boto3Session
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

__all__ = ["S3Store"]

T = TypeVar("T")

_MiB = 1024 * 1024
_GiB = 1024 * _MiB
# Bodies above this size go through boto3's managed (multipart) upload.
_SINGLE_PUT_LIMIT = 64 * _MiB
# Bodies up to this size go through obstore when the data plane allows: below it a put's cost is
# the client's per-request work, above it the bytes.
_OBSTORE_PUT_LIMIT = 8 * _MiB
# How long obstore may keep keys of a session whose keys botocore refreshes before asking again.
_REFRESHING_KEYS_TTL = timedelta(minutes=5)
_DATA_PLANES = ("auto", "obstore", "sdk")
_PRESIGN_SECONDS = 3600  # a streamed read's URL is made for one GET, used at once
_UNREACHABLE_HINT = "check the network and AWS_ENDPOINT_URL / endpoint_url"

_NOT_FOUND = {"NoSuchKey", "NotFound", "404", "NoSuchUpload", "NoSuchVersion"}
_NO_BUCKET = {"NoSuchBucket"}
_DENIED = {"AccessDenied", "403", "Forbidden", "AllAccessDisabled", "AccountProblem"}
_AUTH = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "TokenRefreshRequired",
    "AuthorizationHeaderMalformed",
    "InvalidClientTokenId",
}
_PRECONDITION = {
    "PreconditionFailed",
    "412",
    "ConditionalRequestConflict",
    "BucketAlreadyExists",
    "BucketAlreadyOwnedByYou",
    "BucketNotEmpty",
    "EntityTooSmall",
    "InvalidPart",
    "InvalidPartOrder",
}
_TRANSIENT = {
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestTimeout",
    "RequestTimeTooSkewed",
    "InternalError",
    "ServiceUnavailable",
    "500",
    "502",
    "503",
    "504",
    "429",
}


class S3Store(ClosesOnExit):
    """One S3 bucket."""

    LISTS_METADATA: ClassVar[bool] = False  # listings carry no digest: see Lister
    CAPABILITIES: ClassVar[tuple[type, ...]] = (
        Reader,
        GetWithInfo,
        Writer,
        Lister,
        Deleter,
        Stat,
        ServerSideCopy,
        Multipart,
        Admin,
    )
    OPTIONS: ClassVar[tuple[str, ...]] = (
        "endpoint_url",
        "region",
        "access_key_id",
        "secret_access_key",
        "session_token",
        "profile",
        "addressing_style",
        "max_pool_connections",
        "page_size",
        "max_attempts",
        "data_plane",
        "part_checksums",
    )

    min_part_size = 5 * _MiB
    max_part_size = 5 * _GiB
    max_parts = 10_000

    def __init__(
        self,
        bucket: str,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        credentials: Any = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        session_token: str | None = None,
        profile: str | None = None,
        addressing_style: str | None = None,
        max_pool_connections: int = 32,
        page_size: int = 1000,
        max_attempts: int = 3,
        data_plane: str = "auto",
        part_checksums: bool | str = True,
        display_uri: ObjectURI | None = None,
    ) -> None:
        redact_sdk_logs()  # botocore logs headers and signatures at DEBUG
        # S3-compatible services (OCI's S3 API) show the URI the user gave.
        self._uri = display_uri or ObjectURI("aws", bucket)
        self._bucket = bucket
        # A profile's endpoint (carried by the credentials) is more specific than the environment's.
        self.endpoint_url = (
            endpoint_url
            or getattr(credentials, "endpoint", None)
            or os.environ.get("AWS_ENDPOINT_URL_S3")
            or os.environ.get("AWS_ENDPOINT_URL")
            or None
        )
        region = region or getattr(credentials, "region", None)
        self._region = region
        self._page_size = page_size
        if data_plane not in _DATA_PLANES:
            raise ConfigError(f"data_plane must be auto, obstore or sdk, not {data_plane!r}", provider="aws")
        self._sdk_options: dict[str, Any] = {
            "region": region,
            "endpoint_url": self.endpoint_url,
            "credentials": credentials,
            "access_key_id": access_key_id,
            "secret_access_key": secret_access_key,
            "session_token": session_token,
            "profile": profile,
            "addressing_style": addressing_style,
            "max_pool_connections": max_pool_connections,
            "max_attempts": max_attempts,
        }
        self._sdk: tuple[S3Client, Boto3Session] | None = None
        self._sdk_lock = threading.Lock()
        self._addressing_style = addressing_style
        self._part_checksums = _flag("part_checksums", part_checksums)
        self._max_attempts = max_attempts
        self._small_puts: Any = None  # the obstore store, made on the first small put
        # Streamed reads (ranged downloads) go through _streamed_get, one per endpoint, unless
        # the data plane is the SDK's. OCI's S3 API keeps boto3: it is not known to take
        # presigned URLs.
        self._streams_reads = data_plane != "sdk" and self._uri.provider == "aws"
        self._gets: dict[str, StreamedGets | None] = {}
        self._gets_lock = threading.Lock()
        self._pool_size = max_pool_connections
        self._small_puts_lock = threading.Lock()
        self._data_plane = data_plane
        # The calls of a one-object transfer, signed here, when nothing but keys, a region and an
        # endpoint shape them; boto3 then loads only if another call needs it.
        self._rest = (
            None
            if data_plane == "sdk" or profile or (credentials is None and not access_key_id)
            else _object_requests(
                bucket,
                self._uri,
                credentials=credentials
                if credentials is not None
                else _StaticKeys(access_key_id, secret_access_key, session_token),
                region=region,
                endpoint_url=self.endpoint_url,
                addressing_style=addressing_style,
                retry_total=max(0, max_attempts - 1),
                pool_size=max_pool_connections,
            )
        )
        if self._rest is not None:  # obstore takes the same keys
            can_sign = importlib.util.find_spec("obstore") is not None
        else:
            self._sdk_client()  # a configuration problem shows when the store opens
            can_sign = not getattr(credentials, "is_anonymous", False) and _obstore_can_sign(self._session)
        if data_plane == "auto" and not can_sign:
            self._data_plane = "sdk"
        elif data_plane == "obstore" and not can_sign:
            raise ConfigError(
                "the obstore data plane needs obstore and keys to sign with",
                provider="aws",
                hint="pip install obstore, or use data_plane='sdk'",
            )

    @classmethod
    def from_uri(cls, uri: ObjectURI, *, credentials: Any = None, **options: Any) -> S3Store:
        if "endpoint" in options:
            # The name storage specs and profiles use for every provider.
            options.setdefault("endpoint_url", options.pop("endpoint"))
        check_options("s3", options, cls.OPTIONS)
        options.setdefault("region", uri.region)
        return cls(uri.bucket, credentials=credentials, **options)

    @property
    def uri(self) -> ObjectURI:
        return self._uri

    @property
    def client(self) -> S3Client:
        """The boto3 client, for control-plane features omnicloud does not wrap."""
        return self._client

    @property
    def _client(self) -> S3Client:
        return self._sdk_client()[0]

    @property
    def _session(self) -> Boto3Session:
        return self._sdk_client()[1]

    def _sdk_client(self) -> tuple[S3Client, Boto3Session]:
        """boto3's client and session, made at the first call that needs them (~0.4 s here)."""
        with self._sdk_lock:
            if self._sdk is None:
                self._sdk = _make_client(**self._sdk_options)
            return self._sdk

    def close(self) -> None:
        with self._gets_lock:
            opened, self._gets = list(self._gets.values()), {}
        for gets in opened:
            if gets is not None:
                gets.close()
        rest, self._rest = self._rest, None
        if rest is not None:
            rest.close()
        with self._sdk_lock:
            sdk = self._sdk
        if sdk is not None:
            sdk[0].close()

    def _signed_or_sdk(self, signed: Callable[[ObjectRequests], T], sdk: Callable[[], T]) -> T:
        """``signed(requests)`` on our own signed requests when the store has them, else ``sdk()``.

        A bucket that answers from another region than the one signed for moves
        the store to boto3 for good: boto3 finds the bucket's region and follows it.
        """
        rest = self._rest
        if rest is not None:
            try:
                return signed(rest)
            except _ElsewhereError:
                self._rest = None
        return sdk()

    def __repr__(self) -> str:
        endpoint = f", endpoint={self.endpoint_url!r}" if self.endpoint_url else ""
        return f"S3Store({str(self._uri)!r}{endpoint})"

    def _no_bucket(self, op: str, key: str) -> OmniCloudError:
        """The error for a bucket found missing by ``op`` on ``key`` (a 404 without a body)."""
        fields = {"op": op, "uri": str(self._uri.with_key(key)), "provider": self._uri.provider}
        return _map_code("NoSuchBucket", "", op, fields)

    def _fail(self, err: Exception, op: str, key: str = "") -> NoReturn:
        mapped = _map_error(err, op, str(self._uri.with_key(key)))
        mapped.provider = self._uri.provider
        raise mapped from err

    # --- Reader --------------------------------------------------------------

    def get(self, key: str, *, range: ByteRange | None = None) -> bytes:
        args: dict[str, Any] = {"Bucket": self._bucket, "Key": key}
        if range is not None:
            start, end = range
            if end <= start:
                return b""
            args["Range"] = f"bytes={start}-{end - 1}"
        return self._signed_or_sdk(
            lambda rest: _read_all(rest.open_read(key, range)), lambda: self._sdk_get(key, args)
        )

    def _sdk_get(self, key: str, args: dict[str, Any]) -> bytes:
        try:
            body = self._client.get_object(**args)["Body"]
            try:
                return body.read()
            finally:
                body.close()
        except Exception as err:
            if "Range" in args and _code(err) == "InvalidRange":
                return b""
            self._fail(err, "get", key)

    def get_with_info(self, key: str) -> tuple[bytes, ObjectInfo]:
        return self._signed_or_sdk(lambda rest: rest.get_with_info(key), lambda: self._sdk_get_with_info(key))

    def _sdk_get_with_info(self, key: str) -> tuple[bytes, ObjectInfo]:
        try:
            answer = self._client.get_object(Bucket=self._bucket, Key=key)
            body = answer["Body"]
            try:
                return body.read(), _answered_info(key, answer)
            finally:
                body.close()
        except Exception as err:
            self._fail(err, "get", key)

    def open_read(self, key: str, *, range: ByteRange | None = None) -> IO[bytes]:
        args: dict[str, Any] = {"Bucket": self._bucket, "Key": key}
        if range is not None:
            if range[1] <= range[0]:
                return io.BytesIO()
            args["Range"] = f"bytes={range[0]}-{range[1] - 1}"
        return self._signed_or_sdk(
            lambda rest: rest.open_read(key, range), lambda: self._sdk_open_read(key, args)
        )

    def _sdk_open_read(self, key: str, args: dict[str, Any]) -> IO[bytes]:
        if self._streams_reads:
            try:
                streamed = self._streamed_read(key, args.get("Range"))
            except _ElsewhereError:
                streamed = None  # the bucket is in another region than the client's: boto3 follows it
            if streamed is not None:
                return streamed
        try:
            body = self._client.get_object(**args)["Body"]
        except Exception as err:
            if "Range" in args and _code(err) == "InvalidRange":
                return io.BytesIO()
            self._fail(err, "get", key)
        return io.BufferedReader(
            ErrorMappingStream(body, lambda err: self._fail(err, "get", key)), buffer_size=_MiB
        )

    def _streamed_read(self, key: str, byte_range: str | None) -> IO[bytes] | None:
        """GET through ``_streamed_get`` (the body fills the caller's buffers) with a presigned URL.

        ``None`` behind a proxy, where boto3's path, which knows the proxy, reads instead.
        """
        try:
            url = self._client.generate_presigned_url(
                "get_object", Params={"Bucket": self._bucket, "Key": key}, ExpiresIn=_PRESIGN_SECONDS
            )
        except Exception as err:
            self._fail(err, "get", key)
        parts = urlsplit(url)
        gets = self._streamed_gets(f"{parts.scheme}://{parts.netloc}")
        if gets is None:
            return None
        headers = {} if byte_range is None else {"Range": byte_range}
        target = f"{parts.path}?{parts.query}" if parts.query else parts.path
        uri = str(self._uri.with_key(key))
        return gets.open(lambda: (target, headers), {"op": "get", "uri": uri, "provider": self._uri.provider})

    def _streamed_gets(self, endpoint: str) -> StreamedGets | None:
        with self._gets_lock:
            if endpoint not in self._gets:
                bundle = _ca_bundle(self._session) if endpoint.startswith("https:") else None
                self._gets[endpoint] = (
                    None
                    if proxy_for(endpoint)
                    else StreamedGets(
                        endpoint,
                        service="S3",
                        error=_answer_error,
                        hint=_UNREACHABLE_HINT,
                        retry_total=max(0, self._max_attempts - 1),
                        pool_size=self._pool_size,
                        ca_bundle=str(bundle) if bundle else None,
                    )
                )
            return self._gets[endpoint]

    # --- Writer --------------------------------------------------------------

    def put(
        self,
        key: str,
        data: bytes | IO[bytes],
        *,
        metadata: Mapping[str, str] | None = None,
        content_type: str | None = None,
        if_absent: bool = False,
    ) -> ObjectInfo:
        meta = normalize_metadata(metadata)
        extra: dict[str, Any] = {"Metadata": meta, "ContentType": content_type or "application/octet-stream"}
        size = _size_of(data)
        if (
            self._data_plane != "sdk"
            and not if_absent
            and isinstance(data, bytes | bytearray | memoryview)
            and len(data) <= _OBSTORE_PUT_LIMIT
            and obstore_can_name(key)
        ):
            return self._small_put(key, data, meta, extra["ContentType"])
        # A conditional put must be one request: only put_object carries If-None-Match.
        if not if_absent and (size is None or size > _SINGLE_PUT_LIMIT):
            return self._managed_upload(key, data, extra)
        body = read_body(data)
        if if_absent:
            extra["IfNoneMatch"] = "*"
        try:
            response = self._client.put_object(Bucket=self._bucket, Key=key, Body=body, **extra)
        except Exception as err:
            self._fail(err, "put", key)
        return ObjectInfo(
            key=key,
            size=len(body),
            etag=response.get("ETag"),
            metadata=meta,
            content_type=extra["ContentType"],
            version=response.get("VersionId"),
        )

    def _small_put(
        self, key: str, data: bytes | bytearray | memoryview, meta: dict[str, str], content_type: str
    ) -> ObjectInfo:
        import obstore

        store = self._obstore()
        try:
            result = obstore.put(
                store,
                key,
                data,
                # Metadata keys hold no '-', so none is taken for an attribute such as Cache-Control.
                attributes={**meta, "Content-Type": content_type},
                use_multipart=False,
            )
        except Exception as err:
            self._fail(err, "put", key)
        return obstore_put_info(key, len(data), result, meta, content_type)

    def _obstore(self) -> Any:
        with self._small_puts_lock:
            if self._small_puts is None:
                rest = self._rest
                bundle: str | Path | None
                if rest is not None:  # the same keys, region and CA bundle as our own requests
                    keys: Any = rest.keys
                    region, bundle = rest.region, rest.ca_bundle
                else:
                    keys, region = _SessionKeys(self._session), self._client.meta.region_name
                    bundle = _ca_bundle(self._session)
                self._small_puts = _make_obstore(
                    self._bucket,
                    keys=keys,
                    ca_bundle=bundle,
                    region=region,
                    endpoint_url=self.endpoint_url,
                    addressing_style=self._addressing_style,
                    max_attempts=self._max_attempts,
                )
            return self._small_puts

    def _managed_upload(self, key: str, data: bytes | IO[bytes], extra: dict[str, Any]) -> ObjectInfo:
        from boto3.s3.transfer import TransferConfig

        fileobj: IO[bytes] = io.BytesIO(data) if isinstance(data, bytes | bytearray | memoryview) else data
        config = TransferConfig(multipart_threshold=_SINGLE_PUT_LIMIT, multipart_chunksize=16 * _MiB)
        try:
            self._client.upload_fileobj(fileobj, self._bucket, key, ExtraArgs=extra, Config=config)
        except Exception as err:
            self._fail(err, "put", key)
        return self.stat(key)

    def open_write(
        self,
        key: str,
        *,
        metadata: Mapping[str, str] | None = None,
        content_type: str | None = None,
    ) -> IO[bytes]:
        return SpooledUpload(  # type: ignore[return-value]
            lambda f: self.put(key, f, metadata=metadata, content_type=content_type)
        )

    # --- Lister --------------------------------------------------------------

    def list(self, prefix: str = "", *, delimiter: str | None = None) -> Iterator[ObjectInfo]:
        rest = self._rest
        if rest is not None:
            pages = rest.list_pages(prefix, delimiter, self._page_size)
            try:
                first = next(pages, [])
            except _ElsewhereError:
                self._rest = None
            else:
                yield from first
                for page in pages:
                    yield from page
                return
        yield from self._sdk_list(prefix, delimiter)

    def _sdk_list(self, prefix: str, delimiter: str | None) -> Iterator[ObjectInfo]:
        args: dict[str, Any] = {"Bucket": self._bucket, "Prefix": prefix, "MaxKeys": self._page_size}
        if delimiter:
            args["Delimiter"] = delimiter
        while True:
            try:
                page = self._client.list_objects_v2(**args)
            except Exception as err:
                self._fail(err, "list", prefix)
            entries = [
                ObjectInfo(
                    key=item["Key"],
                    size=item["Size"],
                    etag=item.get("ETag"),
                    last_modified=item.get("LastModified"),
                    storage_class=item.get("StorageClass"),
                )
                for item in page.get("Contents", [])
            ]
            entries.extend(
                ObjectInfo(key=p["Prefix"], size=0, is_prefix=True) for p in page.get("CommonPrefixes", [])
            )
            entries.sort(key=lambda e: e.key)
            yield from entries
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return
            args["ContinuationToken"] = token

    # --- Deleter, Stat, ServerSideCopy ----------------------------------------

    def delete(self, key: str, *, missing_ok: bool = False) -> None:
        # S3 deletes are idempotent; a missing key is reported only on request.
        if not missing_ok:
            self.stat(key)
        self._signed_or_sdk(lambda rest: self._signed_delete(rest, key), lambda: self._sdk_delete(key))

    def _signed_delete(self, rest: ObjectRequests, key: str) -> None:
        if not rest.delete(key):
            raise self._no_bucket("delete", key)

    def _sdk_delete(self, key: str) -> None:
        try:
            self._client.delete_object(Bucket=self._bucket, Key=key)
        except Exception as err:
            self._fail(err, "delete", key)

    def stat(self, key: str) -> ObjectInfo:
        return self._signed_or_sdk(lambda rest: self._signed_stat(rest, key), lambda: self._sdk_stat(key))

    def _signed_stat(self, rest: ObjectRequests, key: str) -> ObjectInfo:
        try:
            return rest.head(key)
        except NotFoundError as err:
            # A HEAD's 404 has no body to say whether the object or its bucket is missing: ask.
            if not rest.bucket_exists():
                raise self._no_bucket("stat", key) from err
            raise

    def _sdk_stat(self, key: str) -> ObjectInfo:
        try:
            head = self._client.head_object(Bucket=self._bucket, Key=key)
        except Exception as err:
            # A HEAD's 404 has no body to say whether the object or its bucket is missing: ask.
            if _code(err) in _NOT_FOUND and not self.bucket_exists():
                raise self._no_bucket("stat", key) from err
            self._fail(err, "stat", key)
        return _answered_info(key, head)

    def exists(self, key: str) -> bool:
        return exists_via_stat(self.stat, key)

    def copy(self, src_key: str, dst_key: str) -> ObjectInfo:
        try:
            # The managed copy switches to multipart copy above 5 GiB.
            self._client.copy(
                {"Bucket": self._bucket, "Key": src_key},
                self._bucket,
                dst_key,
            )
        except Exception as err:
            self._fail(err, "copy", src_key)
        return self.stat(dst_key)

    # --- Multipart -----------------------------------------------------------

    def create_multipart(
        self,
        key: str,
        *,
        metadata: Mapping[str, str] | None = None,
        content_type: str | None = None,
    ) -> str:
        meta = normalize_metadata(metadata)
        kind = content_type or "application/octet-stream"
        algorithm = _part_checksum()[0] if self._part_checksums else None
        return self._signed_or_sdk(
            lambda rest: rest.create_multipart(key, meta, kind, algorithm),
            lambda: self._sdk_create_multipart(key, meta, kind, algorithm),
        )

    def _sdk_create_multipart(
        self, key: str, metadata: dict[str, str], content_type: str, algorithm: str | None
    ) -> str:
        extra: dict[str, Any] = {"ChecksumAlgorithm": algorithm} if algorithm else {}
        try:
            response = self._client.create_multipart_upload(
                Bucket=self._bucket, Key=key, Metadata=metadata, ContentType=content_type, **extra
            )
        except Exception as err:
            self._fail(err, "create_multipart", key)
        return response["UploadId"]

    def upload_part(self, key: str, upload_id: str, number: int, data: bytes) -> PartInfo:
        checksum = part_checksum(data) if self._part_checksums else None
        field = _checksum_field()
        etag = self._signed_or_sdk(
            lambda rest: rest.upload_part(key, upload_id, number, data, field, checksum),
            lambda: self._sdk_upload_part(key, upload_id, number, data, field, checksum),
        )
        return PartInfo(number, etag, len(data), checksum)

    def _sdk_upload_part(
        self, key: str, upload_id: str, number: int, data: bytes, field: str, checksum: str | None
    ) -> str:
        extra: dict[str, Any] = {field: checksum} if checksum else {}
        try:
            response = self._client.upload_part(
                Bucket=self._bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data, **extra
            )
        except Exception as err:
            self._fail(err, "upload_part", key)
        return response["ETag"]

    def complete_multipart(self, key: str, upload_id: str, parts: Sequence[PartInfo]) -> ObjectInfo:
        ordered = sorted(parts, key=lambda p: p.number)
        if any(p.checksum is None for p in ordered):
            # Parts sent by an earlier process (a resumed upload): S3 kept their checksums.
            ordered = self._with_stored_checksums(key, upload_id, ordered)
        field = _checksum_field()
        self._signed_or_sdk(
            lambda rest: rest.complete_multipart(key, upload_id, ordered, field),
            lambda: self._sdk_complete_multipart(key, upload_id, ordered, field),
        )
        return self.stat(key)

    def _sdk_complete_multipart(
        self, key: str, upload_id: str, parts: Sequence[PartInfo], field: str
    ) -> None:
        listed: builtins.list[CompletedPartTypeDef] = []
        for part in parts:
            entry: CompletedPartTypeDef = {"PartNumber": part.number, "ETag": part.etag}
            if part.checksum:
                entry[field] = part.checksum  # type: ignore[literal-required]
            listed.append(entry)
        try:
            self._client.complete_multipart_upload(
                Bucket=self._bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": listed}
            )
        except Exception as err:
            self._fail(err, "complete_multipart", key)

    def _with_stored_checksums(
        self, key: str, upload_id: str, parts: Sequence[PartInfo]
    ) -> builtins.list[PartInfo]:
        stored: dict[int, str] = {}
        field = _checksum_field()
        try:
            pages = self._client.get_paginator("list_parts").paginate(
                Bucket=self._bucket, Key=key, UploadId=upload_id
            )
            for page in pages:
                for part in page.get("Parts", []):
                    if part.get(field):
                        stored[part["PartNumber"]] = part[field]  # type: ignore[literal-required]
        except Exception as err:
            self._fail(err, "complete_multipart", key)
        return [p if p.checksum else PartInfo(p.number, p.etag, p.size, stored.get(p.number)) for p in parts]

    def abort_multipart(self, key: str, upload_id: str) -> None:
        self._signed_or_sdk(
            lambda rest: rest.abort_multipart(key, upload_id),
            lambda: self._sdk_abort_multipart(key, upload_id),
        )

    def _sdk_abort_multipart(self, key: str, upload_id: str) -> None:
        try:
            self._client.abort_multipart_upload(Bucket=self._bucket, Key=key, UploadId=upload_id)
        except Exception as err:
            if _code(err) in _NOT_FOUND:
                return
            self._fail(err, "abort_multipart", key)

    # --- Admin ---------------------------------------------------------------

    def create_bucket(self, *, exist_ok: bool = False) -> None:
        args: dict[str, Any] = {"Bucket": self._bucket}
        region = self._client.meta.region_name
        if region and region != "us-east-1":
            args["CreateBucketConfiguration"] = {"LocationConstraint": region}
        # us-east-1 answers 200 to re-creating one's own bucket; make it explicit.
        if self.bucket_exists():
            if exist_ok:
                return
            raise PreconditionFailedError(
                "bucket already exists", op="create_bucket", uri=str(self._uri), provider="aws"
            )
        try:
            self._client.create_bucket(**args)
        except Exception as err:
            if exist_ok and _code(err) == "BucketAlreadyOwnedByYou":
                return
            self._fail(err, "create_bucket")

    def delete_bucket(self, *, force: bool = False) -> None:
        if force:
            self._empty_bucket()
        try:
            self._client.delete_bucket(Bucket=self._bucket)
        except Exception as err:
            self._fail(err, "delete_bucket")

    def _empty_bucket(self) -> None:
        try:
            uploads = self._client.list_multipart_uploads(Bucket=self._bucket).get("Uploads", [])
            for upload in uploads:
                self.abort_multipart(upload["Key"], upload["UploadId"])
            batch: list[Any] = []
            for info in self.list():
                batch.append({"Key": info.key})
                if len(batch) == 1000:
                    self._client.delete_objects(Bucket=self._bucket, Delete={"Objects": batch, "Quiet": True})
                    batch = []
            if batch:
                self._client.delete_objects(Bucket=self._bucket, Delete={"Objects": batch, "Quiet": True})
        except OmniCloudError:
            raise
        except Exception as err:
            self._fail(err, "delete_bucket")

    def bucket_exists(self) -> bool:
        try:
            self._client.head_bucket(Bucket=self._bucket)
        except Exception as err:
            if _code(err) in _NOT_FOUND | _NO_BUCKET:
                return False
            self._fail(err, "bucket_exists")
        return True


@functools.cache
def _part_checksum() -> tuple[str, Callable[[bytes], int]]:
    """``(S3's name, function)`` of the part checksum: CRC32C when google-crc32c has its C extension.

    Its pure-Python fallback would take seconds per part, so without the extension it is CRC32.
    """
    try:
        import google_crc32c
    except ImportError:
        return "CRC32", zlib.crc32
    if google_crc32c.implementation != "c":
        return "CRC32", zlib.crc32
    return "CRC32C", google_crc32c.value


def _checksum_field() -> str:
    """A part checksum's field in S3's requests and answers: ``ChecksumCRC32C`` (or ``ChecksumCRC32``)."""
    return f"Checksum{_part_checksum()[0]}"


def part_checksum(data: bytes) -> str:
    """A part's checksum as S3 wants it: the four big-endian bytes of its CRC32C (or CRC32), base64."""
    value = _part_checksum()[1](data if isinstance(data, bytes) else bytes(data))
    return base64.b64encode(value.to_bytes(4, "big")).decode("ascii")


def _flag(name: str, value: bool | str) -> bool:
    if isinstance(value, bool):
        return value
    lowered = str(value).strip().lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, not {value!r}", provider="aws")


def _size_of(data: bytes | IO[bytes]) -> int | None:
    if isinstance(data, bytes | bytearray | memoryview):
        return len(data)
    try:
        position = data.tell()
        end = data.seek(0, os.SEEK_END)
        data.seek(position)
    except (OSError, AttributeError, ValueError):
        return None
    return end - position


def _make_client(
    *,
    region: str | None,
    endpoint_url: str | None,
    credentials: Any,
    access_key_id: str | None,
    secret_access_key: str | None,
    session_token: str | None,
    profile: str | None,
    addressing_style: str | None,
    max_pool_connections: int,
    max_attempts: int,
) -> tuple[S3Client, Boto3Session]:
    try:
        import boto3
        from botocore.config import Config
    except ImportError as err:
        raise ConfigError("S3 needs boto3", provider="aws", hint="pip install 'omnicloud[aws]'") from err

    anonymous = bool(getattr(credentials, "is_anonymous", False))
    if credentials is not None and not anonymous and hasattr(credentials, "boto3_session"):
        session = credentials.boto3_session()
    elif anonymous:
        session = boto3.Session()
    else:
        try:
            session = boto3.Session(
                aws_access_key_id=_reveal(access_key_id),
                aws_secret_access_key=_reveal(secret_access_key),
                aws_session_token=_reveal(session_token),
                profile_name=profile,
            )
        except Exception as err:
            raise _map_error(err, "connect", None) from err
    region = region or session.region_name or "us-east-1"
    config = Config(
        region_name=region,
        max_pool_connections=max_pool_connections,
        retries={"mode": "standard", "max_attempts": max_attempts},
        connect_timeout=10,
        read_timeout=60,
        s3=cast(
            Any,
            {
                "addressing_style": addressing_style or ("path" if endpoint_url else "auto"),
                # No SHA-256 of every body for the signature (botocore does it on plain-HTTP
                # endpoints): the transfer engine already hashes what it sends, and over HTTPS
                # S3 skips it anyway.
                "payload_signing_enabled": False,
            },
        ),
        # Checksums on every request cost CPU and some S3-compatible services reject them.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    if anonymous:
        from botocore import UNSIGNED

        config = config.merge(Config(signature_version=UNSIGNED))
    client: S3Client = session.client("s3", endpoint_url=endpoint_url, config=config)
    return client, session


def _obstore_can_sign(session: Boto3Session) -> bool:
    """Whether obstore can send this session's puts: installed, with keys to sign them."""
    try:
        import obstore  # noqa: F401
    except ImportError:
        return False
    try:
        return session.get_credentials() is not None
    except Exception:
        return False  # the SDK reports the problem on its first request, in its own words


class _SessionKeys:
    """obstore's ``credential_provider``: the keys the boto3 session signs with, refreshed with it."""

    def __init__(self, session: Boto3Session) -> None:
        self._session = session

    def __call__(self) -> dict[str, Any]:
        found = self._session.get_credentials()
        if found is None:
            raise CredentialsNotFoundError("no AWS credentials found", provider="aws")
        frozen = found.get_frozen_credentials()
        # Keys botocore refreshes are asked for again after a while; static keys never expire.
        refreshes = hasattr(found, "refresh_needed")
        return {
            "access_key_id": frozen.access_key,
            "secret_access_key": frozen.secret_key,
            "token": frozen.token,
            "expires_at": datetime.now(UTC) + _REFRESHING_KEYS_TTL if refreshes else None,
        }


def _ca_bundle(session: Any) -> Path | None:
    """The CA bundle botocore verifies with (AWS_CA_BUNDLE, a profile's ca_bundle), if one is set.

    Our own requests trust it too; only the botocore session below boto3's knows that setting.
    """
    bundle = session._session.get_config_variable("ca_bundle")
    return Path(bundle).expanduser() if bundle else None


def _make_obstore(
    bucket: str,
    *,
    keys: Callable[[], Mapping[str, Any]],
    ca_bundle: str | Path | None,
    region: str,
    endpoint_url: str | None,
    addressing_style: str | None,
    max_attempts: int,
) -> Any:
    from obstore.store import S3Store as ObstoreS3

    # The same addressing as the boto3 client: path style on custom endpoints, virtual hosts on AWS.
    virtual = addressing_style == "virtual" or (
        addressing_style in (None, "auto") and endpoint_url is None and "." not in bucket
    )
    settings: dict[str, Any] = {
        "region": region,
        "virtual_hosted_style_request": virtual,
        "skip_signature": False,
        "request_payer": False,
    }
    if endpoint_url:
        settings["endpoint"] = endpoint_url
    plain_http = bool(endpoint_url and endpoint_url.startswith("http://"))
    client: dict[str, Any] = {
        "allow_http": plain_http,
        "connect_timeout": timedelta(seconds=10),
        "timeout": timedelta(seconds=60),
    }
    bundle = None if plain_http or not ca_bundle else Path(ca_bundle)
    if bundle:
        try:
            client["root_certificate"] = bundle.read_bytes()
        except OSError as err:
            raise ConfigError(f"cannot read the CA bundle {bundle}: {err.strerror}", provider="aws") from err
    return ObstoreS3(
        bucket,
        credential_provider=keys,  # type: ignore[arg-type]
        client_options=client,  # type: ignore[arg-type]
        retry_config={
            "max_retries": max(0, max_attempts - 1),
            "retry_timeout": timedelta(seconds=60),
            "backoff": {
                "init_backoff": timedelta(milliseconds=100),
                "max_backoff": timedelta(seconds=20),
                "base": 2,
            },
        },
        **settings,
    )


# Settings of an AWS config profile that change how S3 is reached; with any of them boto3 reaches it.
_SDK_PROFILE_SETTINGS = (
    "ca_bundle",
    "s3",
    "use_fips_endpoint",
    "use_dualstack_endpoint",
    "services",
    "endpoint_url",
    "ignore_configured_endpoint_urls",
)
_SDK_ENVIRONMENT = (
    "AWS_USE_FIPS_ENDPOINT",
    "AWS_USE_DUALSTACK_ENDPOINT",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
)
# Regions of the commercial partition, whose endpoints are s3.REGION.amazonaws.com.
_COMMERCIAL_REGION = re.compile(r"(us|eu|ap|sa|ca|me|af|il|mx)-[a-z]+-\d")
_DNS_BUCKET = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")


def _object_requests(
    bucket: str,
    uri: ObjectURI,
    *,
    credentials: Any,
    region: str | None,
    endpoint_url: str | None,
    addressing_style: str | None,
    retry_total: int,
    pool_size: int,
) -> ObjectRequests | None:
    """Our own signed requests for the store, when keys (omnicloud's ``Credentials``, or the
    ``_StaticKeys`` given as options), a region and an endpoint are all that shape them;
    ``None`` where boto3 knows something they would miss.

    That is: anonymous or other credentials, a proxy, FIPS or dual-stack endpoints, S3 settings
    in the AWS config profile, an endpoint with a path, a region outside the commercial
    partition (China, GovCloud, isolated regions), or a store that is not AWS's (OCI's S3 API).
    """
    from omnicloud.credentials import Credentials
    from omnicloud.credentials._aws import S3CredentialProvider

    keys: Callable[[], Mapping[str, Any]]
    if isinstance(credentials, _StaticKeys):
        if credentials.incomplete:
            return None  # boto3 says which key is missing
        keys, profile = credentials, None
        region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    elif (
        isinstance(credentials, Credentials)
        and credentials.provider == "aws"
        and not credentials.is_anonymous
    ):
        keys, profile = S3CredentialProvider(credentials), credentials.profile
        region = region or credentials.region
    else:
        return None
    if uri.provider != "aws" or any(_truthy(os.environ.get(name)) for name in _SDK_ENVIRONMENT):
        return None
    if _profile_shapes_s3(profile):
        return None
    region = region or "us-east-1"
    if endpoint_url:
        endpoint, virtual = endpoint_url.rstrip("/"), addressing_style == "virtual"
    elif _COMMERCIAL_REGION.fullmatch(region):
        endpoint = f"https://s3.{region}.amazonaws.com"
        virtual = addressing_style != "path" and _DNS_BUCKET.fullmatch(bucket) is not None
    else:
        return None
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or parts.path or parts.query or proxy_for(endpoint):
        return None
    bundle = os.environ.get("AWS_CA_BUNDLE") or None
    return ObjectRequests(
        endpoint,
        bucket,
        uri,
        region=region,
        keys=keys,
        virtual=virtual,
        error=_signed_answer_error(region),
        hint=_UNREACHABLE_HINT,
        retry_total=retry_total,
        pool_size=pool_size,
        ca_bundle=str(Path(bundle).expanduser()) if bundle and endpoint.startswith("https:") else None,
    )


class _StaticKeys:
    """Keys given to the store as options, in the shape obstore and ``_s3_rest`` ask for them."""

    def __init__(self, access_key_id: str | None, secret_access_key: Any, session_token: Any) -> None:
        self._keys = {
            "access_key_id": _reveal(access_key_id),
            "secret_access_key": _reveal(secret_access_key),
            "token": _reveal(session_token),
            "expires_at": None,
        }
        self.incomplete = not (self._keys["access_key_id"] and self._keys["secret_access_key"])

    def __call__(self) -> dict[str, Any]:
        return dict(self._keys)

    def __repr__(self) -> str:
        return "_StaticKeys(...)"


def _truthy(value: str | None) -> bool:
    return bool(value) and str(value).strip().lower() not in ("false", "0", "no", "off")


def _profile_shapes_s3(profile: str | None) -> bool:
    """Whether the AWS config file's profile in use holds a setting that changes how S3 is reached."""
    from omnicloud.credentials._aws import _read_ini  # the credential chain's reading of the same file

    name = profile or os.environ.get("AWS_PROFILE") or os.environ.get("AWS_DEFAULT_PROFILE") or "default"
    path = Path(os.environ.get("AWS_CONFIG_FILE") or "~/.aws/config").expanduser()
    try:
        parser = _read_ini(path)
    except (ConfigError, UnicodeDecodeError):
        return True  # let boto3 read it, and say what is wrong with it
    for section in ("default", "profile default") if name == "default" else (f"profile {name}",):
        if parser.has_section(section) and any(parser.has_option(section, k) for k in _SDK_PROFILE_SETTINGS):
            return True
    return False


def _signed_answer_error(region: str) -> Callable[[int, Any, bytes, dict[str, Any]], OmniCloudError]:
    """``_answer_error``, and an answer naming another region than ``region`` sends boto3 there."""

    def error(status: int, headers: Any, body: bytes, fields: dict[str, Any]) -> OmniCloudError:
        answered = headers.get("x-amz-bucket-region")
        if answered and answered != region:
            raise _ElsewhereError
        return _answer_error(status, headers, body, fields)

    return error


def _read_all(stream: IO[bytes]) -> bytes:
    with stream:
        return stream.read()


class _ElsewhereError(Exception):
    """A streamed read that boto3 must make instead: the bucket answered from another region."""


# Answers that send a request to the bucket's own region; boto3 follows them, a presigned URL cannot.
_ELSEWHERE = {"PermanentRedirect", "TemporaryRedirect", "AuthorizationHeaderMalformed", "301", "307"}


def _answer_error(status: int, headers: Any, body: bytes, fields: dict[str, Any]) -> OmniCloudError:
    """An S3 error answer to a streamed read, by its XML ``Code`` (or status) through the shared table."""
    text = body.decode("utf-8", "replace")
    found = _OBSTORE_CODE.search(text)
    code = found.group(1) if found else str(status)
    if code in _ELSEWHERE or 300 <= status < 400:
        raise _ElsewhereError
    return _map_xml_code(code, text, str(fields["op"]), fields)


def _reveal(value: Any) -> str | None:
    if value is None:
        return None
    reveal = getattr(value, "reveal", None)
    return str(reveal() if callable(reveal) else value)


def _code(err: Exception) -> str:
    response = getattr(err, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        if code:
            return str(code)
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if status:
            return str(status)
    return ""


def _map_error(err: Exception, op: str, uri: str | None) -> OmniCloudError:
    from botocore import exceptions as bx

    if isinstance(err, OmniCloudError):
        return err
    fields: dict[str, Any] = {"op": op, "uri": uri, "provider": "aws"}
    if isinstance(err, bx.NoCredentialsError | bx.PartialCredentialsError):
        return CredentialsNotFoundError(
            "no AWS credentials found",
            hint="set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or an omnicloud profile",
            **fields,
        )
    if isinstance(err, bx.ProfileNotFound):
        return ConfigError(f"AWS profile not found: {err.kwargs.get('profile')}", **fields)
    if isinstance(err, bx.EndpointConnectionError | bx.ConnectTimeoutError | bx.ConnectionClosedError):
        return TransientError(
            "cannot reach the S3 endpoint",
            hint=_UNREACHABLE_HINT,
            **fields,
        )
    if isinstance(err, bx.ReadTimeoutError | bx.ResponseStreamingError | bx.IncompleteReadError):
        return TransientError("the S3 connection broke while reading", **fields)
    if isinstance(err, bx.ParamValidationError):
        return ConfigError(f"invalid request: {err}", **fields)
    if isinstance(err, bx.ClientError):
        code = _code(err)
        return _map_code(code, err.response.get("Error", {}).get("Message") or code, op, fields)
    if isinstance(err, bx.BotoCoreError):
        return OmniCloudError(f"S3 client error: {err}", **fields)
    if _is_obstore_error(err):
        return _map_obstore_error(err, op, fields)
    return OmniCloudError(f"unexpected S3 failure: {type(err).__name__}: {err}", **fields)


def _map_code(code: str, message: str, op: str, fields: dict[str, Any]) -> OmniCloudError:
    """An S3 error code (or bare HTTP status), from either client, as an omnicloud error."""
    if code in _NO_BUCKET:
        return NotFoundError("bucket does not exist", hint="create it with `omnicloud mb`", **fields)
    if code in _NOT_FOUND:
        return NotFoundError("no such object", **fields)
    if code in _AUTH:
        return AuthenticationError(f"AWS rejected the credentials ({code})", **fields)
    if code in _DENIED:
        return PermissionDeniedError(f"access denied ({code})", **fields)
    if code in _PRECONDITION:
        text = "object already exists" if code in ("PreconditionFailed", "412") and op == "put" else message
        return PreconditionFailedError(f"{text} ({code})", **fields)
    if code in _TRANSIENT:
        return TransientError(f"S3 is busy or failing ({code}): {message}", **fields)
    return OmniCloudError(f"S3 error {code}: {message}", **fields)


# obstore reports the service's answer as text: the status line and the S3 XML error body.
_OBSTORE_STATUS = re.compile(r"status code: (\d{3})")
_OBSTORE_CODE = re.compile(r"<Code>([^<]{1,100})</Code>")
_OBSTORE_MESSAGE = re.compile(r"<Message>([^<]{1,300})</Message>")
_OBSTORE_UNREACHABLE = ("error sending request", "connect", "timed out", "timeout", "connection")


def _map_xml_code(code: str, text: str, op: str, fields: dict[str, Any]) -> OmniCloudError:
    """``_map_code`` with the ``<Message>`` of an S3 XML error body in ``text``, or the code."""
    message = _OBSTORE_MESSAGE.search(text)
    return _map_code(code, message.group(1) if message else code, op, fields)


def _is_obstore_error(err: Exception) -> bool:
    # obstore raises its own classes, and Python's FileNotFoundError / PermissionError for some answers.
    return type(err).__module__.startswith("obstore") or isinstance(err, FileNotFoundError | PermissionError)


def _map_obstore_error(err: Exception, op: str, fields: dict[str, Any]) -> OmniCloudError:
    """The S3 code in obstore's error text through the same table as botocore's; never echoes the text."""
    text = str(err)
    found = _OBSTORE_CODE.search(text) or _OBSTORE_STATUS.search(text)
    if found:
        return _map_xml_code(found.group(1), text, op, fields)
    if isinstance(err, FileNotFoundError):
        return NotFoundError("no such object", **fields)
    if isinstance(err, PermissionError):
        return PermissionDeniedError("access denied", **fields)
    if type(err).__name__ == "UnauthenticatedError":
        return AuthenticationError("AWS rejected the credentials", **fields)
    if type(err).__name__ in ("AlreadyExistsError", "PreconditionError"):
        return PreconditionFailedError(
            "object already exists" if op == "put" else "precondition failed", **fields
        )
    if any(marker in text.lower() for marker in _OBSTORE_UNREACHABLE):
        return TransientError(
            "cannot reach the S3 endpoint",
            hint=_UNREACHABLE_HINT,
            **fields,
        )
    return OmniCloudError(f"S3 request failed ({type(err).__name__})", **fields)


def _answered_info(key: str, answer: Mapping[str, Any]) -> ObjectInfo:
    """The ObjectInfo in the headers of a HEAD or a whole-object GET."""
    return ObjectInfo(
        key=key,
        size=answer["ContentLength"],
        etag=answer.get("ETag"),
        last_modified=answer.get("LastModified"),
        metadata={k.lower(): v for k, v in answer.get("Metadata", {}).items()},
        content_type=answer.get("ContentType"),
        storage_class=answer.get("StorageClass", "STANDARD"),
        version=answer.get("VersionId"),
    )
