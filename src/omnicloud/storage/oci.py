"""OCI Object Storage through the official ``oci`` SDK, for OCI's own auth types.

The namespace comes from the URI (``oci://n/NAMESPACE/b/BUCKET/o/KEY`` or
``oci://NAMESPACE@REGION/BUCKET/KEY``); the region from the URI, the options
or the credentials. Credentials come from :mod:`omnicloud.credentials`
(instance, user and resource principals, session tokens), so one signer is
built per store and refreshes itself. OCI buckets reached through the S3
compatibility API use the ``s3`` backend instead.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import IO, Any, ClassVar, NoReturn

from omnicloud.errors import (
    AuthenticationError,
    ConfigError,
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
    normalize_metadata,
)
from omnicloud.storage._types import (
    Admin,
    ByteRange,
    Deleter,
    Lister,
    Multipart,
    ObjectInfo,
    PartInfo,
    Reader,
    Stat,
    Writer,
)
from omnicloud.uri import ObjectURI

__all__ = ["OCIStore"]

_MiB = 1024 * 1024
_GiB = 1024 * _MiB
_META_PREFIX = "opc-meta-"
_LIST_FIELDS = "name,size,etag,timeModified,storageTier"


class OCIStore(ClosesOnExit):
    """One OCI Object Storage bucket."""

    # Server-side copy is not declared: OCI's CopyObject is an asynchronous work
    # request, not the synchronous copy the ServerSideCopy Protocol promises.
    LISTS_METADATA: ClassVar[bool] = False  # listings carry no digest: see Lister
    CAPABILITIES: ClassVar[tuple[type, ...]] = (Reader, Writer, Lister, Deleter, Stat, Multipart, Admin)
    OPTIONS: ClassVar[tuple[str, ...]] = (
        "endpoint",
        "region",
        "compartment_id",
        "page_size",
        "retries",
        "timeout",
    )

    # OCI multipart: up to 10,000 parts of at most 50 GiB; all but the last at least 10 MiB.
    min_part_size = 10 * _MiB
    max_part_size = 50 * _GiB
    max_parts = 10_000

    def __init__(
        self,
        bucket: str,
        *,
        namespace: str,
        credentials: Any = None,
        region: str | None = None,
        endpoint: str | None = None,
        compartment_id: str | None = None,
        page_size: int = 1000,
        retries: int = 3,
        timeout: float = 60.0,
    ) -> None:
        self._uri = ObjectURI("oci", bucket, namespace=namespace)
        self._namespace = namespace
        self._bucket = bucket
        self._page_size = page_size
        self._compartment_id = compartment_id
        if credentials is None:
            from omnicloud.credentials import credentials_for

            parameters = {"region": region, "endpoint": endpoint}
            credentials = credentials_for(self._uri, parameters={k: v for k, v in parameters.items() if v})
        self.credentials = credentials
        self._client = _make_client(
            credentials,
            region=region or getattr(credentials, "region", None),
            endpoint=endpoint or getattr(credentials, "endpoint", None),
            retries=retries,
            timeout=timeout,
        )

    @classmethod
    def from_uri(cls, uri: ObjectURI, *, credentials: Any = None, **options: Any) -> OCIStore:
        check_options("oci", options, cls.OPTIONS)
        if uri.namespace is None:
            raise ConfigError("OCI URIs need a namespace", uri=str(uri), provider="oci")
        options.setdefault("region", uri.region)
        return cls(uri.bucket, namespace=uri.namespace, credentials=credentials, **options)

    @property
    def uri(self) -> ObjectURI:
        return self._uri

    @property
    def client(self) -> Any:
        """The ``ObjectStorageClient``, for features omnicloud does not wrap."""
        return self._client

    def close(self) -> None:
        session = getattr(getattr(self._client, "base_client", None), "session", None)
        if session is not None:
            session.close()

    def __repr__(self) -> str:
        return f"OCIStore({str(self._uri)!r})"

    def _fail(self, err: Exception, op: str, key: str = "") -> NoReturn:
        raise _map_error(err, op, str(self._uri.with_key(key))) from err

    # --- Reader --------------------------------------------------------------

    def get(self, key: str, *, range: ByteRange | None = None) -> bytes:
        options: dict[str, Any] = {}
        if range is not None:
            start, end = range
            if end <= start:
                return b""
            options["range"] = f"bytes={start}-{end - 1}"
        try:
            response = self._client.get_object(self._namespace, self._bucket, key, **options)
            data: bytes = response.data.content
            return data
        except Exception as err:
            if range is not None and getattr(err, "status", None) == 416:
                return b""
            self._fail(err, "get", key)

    def open_read(self, key: str, *, range: ByteRange | None = None) -> IO[bytes]:
        options: dict[str, Any] = {}
        if range is not None:
            if range[1] <= range[0]:
                return io.BytesIO()
            options["range"] = f"bytes={range[0]}-{range[1] - 1}"
        try:
            response = self._client.get_object(self._namespace, self._bucket, key, **options)
        except Exception as err:
            if range is not None and getattr(err, "status", None) == 416:
                return io.BytesIO()
            self._fail(err, "get", key)
        stream = ErrorMappingStream(response.data.raw, lambda err: self._fail(err, "get", key))
        return io.BufferedReader(stream, buffer_size=4 * _MiB)

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
        ctype = content_type or "application/octet-stream"
        body, size = _body_and_size(data)
        options: dict[str, Any] = {"content_type": ctype, "content_length": size}
        if meta:
            options["opc_meta"] = meta
        if if_absent:
            options["if_none_match"] = "*"
        try:
            response = self._client.put_object(self._namespace, self._bucket, key, body, **options)
        except Exception as err:
            self._fail(err, "put", key)
        headers = response.headers
        return ObjectInfo(
            key=key,
            size=size,
            etag=headers.get("etag"),
            last_modified=_http_date(headers.get("last-modified")),
            metadata=meta,
            content_type=ctype,
            version=headers.get("version-id"),
        )

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
        if delimiter not in (None, "/"):
            raise ConfigError("OCI Object Storage lists with delimiter '/' only", provider="oci")
        options: dict[str, Any] = {"limit": self._page_size, "fields": _LIST_FIELDS}
        if prefix:
            options["prefix"] = prefix
        if delimiter:
            options["delimiter"] = delimiter
        start: str | None = None
        while True:
            try:
                page = self._client.list_objects(
                    self._namespace, self._bucket, **options, **({"start": start} if start else {})
                ).data
            except Exception as err:
                self._fail(err, "list", prefix)
            entries = [_summary_info(item) for item in page.objects or []]
            entries += [ObjectInfo(key=name, size=0, is_prefix=True) for name in page.prefixes or []]
            # A page holds objects and prefixes apart; merge them in key order.
            entries.sort(key=lambda entry: entry.key)
            yield from entries
            start = page.next_start_with
            if not start:
                return

    # --- Deleter, Stat -------------------------------------------------------

    def delete(self, key: str, *, missing_ok: bool = False) -> None:
        try:
            self._client.delete_object(self._namespace, self._bucket, key)
        except Exception as err:
            if (
                missing_ok
                and getattr(err, "status", None) == 404
                and getattr(err, "code", "") != "BucketNotFound"
            ):
                return
            self._fail(err, "delete", key)

    def stat(self, key: str) -> ObjectInfo:
        try:
            response = self._client.head_object(self._namespace, self._bucket, key)
        except Exception as err:
            self._fail(err, "stat", key)
        return _head_info(key, response.headers)

    def exists(self, key: str) -> bool:
        try:
            self.stat(key)
        except NotFoundError:
            return False
        return True

    # --- Multipart -----------------------------------------------------------

    def create_multipart(
        self,
        key: str,
        *,
        metadata: Mapping[str, str] | None = None,
        content_type: str | None = None,
    ) -> str:
        from oci.object_storage.models import CreateMultipartUploadDetails

        meta = normalize_metadata(metadata)
        details = CreateMultipartUploadDetails(
            object=key,
            content_type=content_type or "application/octet-stream",
            # Unlike put_object's opc_meta, these keys carry the header prefix.
            metadata={_META_PREFIX + name: value for name, value in meta.items()} or None,
        )
        try:
            upload = self._client.create_multipart_upload(self._namespace, self._bucket, details).data
        except Exception as err:
            self._fail(err, "create_multipart", key)
        upload_id: str = upload.upload_id
        return upload_id

    def upload_part(self, key: str, upload_id: str, number: int, data: bytes) -> PartInfo:
        try:
            response = self._client.upload_part(
                self._namespace, self._bucket, key, upload_id, number, data, content_length=len(data)
            )
        except Exception as err:
            self._fail(err, "upload_part", key)
        return PartInfo(number, response.headers["etag"], len(data))

    def complete_multipart(self, key: str, upload_id: str, parts: Sequence[PartInfo]) -> ObjectInfo:
        from oci.object_storage.models import CommitMultipartUploadDetails, CommitMultipartUploadPartDetails

        ordered = sorted(parts, key=lambda part: part.number)
        details = CommitMultipartUploadDetails(
            parts_to_commit=[
                CommitMultipartUploadPartDetails(part_num=p.number, etag=p.etag) for p in ordered
            ]
        )
        try:
            self._client.commit_multipart_upload(self._namespace, self._bucket, key, upload_id, details)
        except Exception as err:
            self._fail(err, "complete_multipart", key)
        return self.stat(key)

    def abort_multipart(self, key: str, upload_id: str) -> None:
        try:
            self._client.abort_multipart_upload(self._namespace, self._bucket, key, upload_id)
        except Exception as err:
            self._fail(err, "abort_multipart", key)

    # --- Admin ---------------------------------------------------------------

    def create_bucket(self, *, exist_ok: bool = False) -> None:
        from oci.object_storage.models import CreateBucketDetails

        if not self._compartment_id:
            raise ConfigError(
                "creating an OCI bucket needs a compartment",
                op="create_bucket",
                uri=str(self._uri),
                provider="oci",
                hint="pass compartment_id=... (a storage spec's parameters may carry it)",
            )
        details = CreateBucketDetails(name=self._bucket, compartment_id=self._compartment_id)
        try:
            self._client.create_bucket(self._namespace, details)
        except Exception as err:
            if exist_ok and getattr(err, "status", None) == 409:
                return
            self._fail(err, "create_bucket")

    def delete_bucket(self, *, force: bool = False) -> None:
        try:
            if force:
                for info in self.list():
                    self.delete(info.key, missing_ok=True)
                for upload in self._client.list_multipart_uploads(self._namespace, self._bucket).data or []:
                    self.abort_multipart(upload.object, upload.upload_id)
            self._client.delete_bucket(self._namespace, self._bucket)
        except OmniCloudError:
            raise
        except Exception as err:
            if getattr(err, "status", None) == 409:
                raise PreconditionFailedError(
                    "bucket is not empty",
                    op="delete_bucket",
                    uri=str(self._uri),
                    provider="oci",
                    hint="delete its objects first or pass force",
                ) from err
            self._fail(err, "delete_bucket")

    def bucket_exists(self) -> bool:
        try:
            self._client.head_bucket(self._namespace, self._bucket)
        except Exception as err:
            if getattr(err, "status", None) == 404:
                return False
            self._fail(err, "bucket_exists")
        return True


# --- helpers -------------------------------------------------------------------------


def _make_client(
    credentials: Any, *, region: str | None, endpoint: str | None, retries: int, timeout: float
) -> Any:
    try:
        import oci
    except ImportError as err:
        raise ConfigError(
            "OCI needs the oci SDK", provider="oci", hint="pip install 'omnicloud[oci]'"
        ) from err
    if not hasattr(credentials, "oci_config_and_signer"):
        raise ConfigError(
            "OCI storage needs omnicloud OCI credentials (omnicloud.credentials)", provider="oci"
        )
    config, signer = credentials.oci_config_and_signer()
    if region:
        config = {**config, "region": region}
    if not config.get("region") and not endpoint:
        raise ConfigError(
            "no OCI region is known",
            provider="oci",
            hint="use oci://NAMESPACE@REGION/BUCKET/KEY or pass region=...",
        )
    if retries > 0:
        # Quick retries for throttling, 5xx and dropped connections; the SDK default waits up to 10 minutes.
        retry_strategy: Any = oci.retry.RetryStrategyBuilder(
            max_attempts=retries + 1,
            total_elapsed_time_seconds=int(timeout) * (retries + 1),
            retry_base_sleep_time_seconds=0.5,
            retry_max_wait_between_calls_seconds=5,
        ).get_retry_strategy()
    else:
        retry_strategy = oci.retry.NoneRetryStrategy()
    options: dict[str, Any] = {
        "signer": signer,
        "retry_strategy": retry_strategy,
        "timeout": (10, timeout),
        # omnicloud's resilience layer decides about circuit breaking across clouds.
        "circuit_breaker_strategy": oci.circuit_breaker.NoCircuitBreakerStrategy(),
    }
    if endpoint:
        options["service_endpoint"] = endpoint
    try:
        return oci.object_storage.ObjectStorageClient(config, **options)
    except (ValueError, oci.exceptions.ClientError) as err:
        raise ConfigError(
            f"cannot build the OCI client ({type(err).__name__}: {err})", provider="oci"
        ) from err


def _body_and_size(data: bytes | IO[bytes] | bytearray | memoryview) -> tuple[Any, int]:
    if isinstance(data, bytes | bytearray | memoryview):
        payload = bytes(data)
        return payload, len(payload)
    seekable = getattr(data, "seekable", None)
    if callable(seekable) and seekable():
        # OCI needs the length up front; a seekable file gives it without reading into memory.
        start = data.tell()
        size = data.seek(0, io.SEEK_END) - start
        data.seek(start)
        return data, size
    payload = data.read()
    return payload, len(payload)


def _http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None


def _head_info(key: str, headers: Mapping[str, str]) -> ObjectInfo:
    lowered = {name.lower(): value for name, value in headers.items()}
    return ObjectInfo(
        key=key,
        size=int(lowered.get("content-length") or 0),
        etag=lowered.get("etag"),
        last_modified=_http_date(lowered.get("last-modified")),
        metadata={
            name[len(_META_PREFIX) :]: value
            for name, value in lowered.items()
            if name.startswith(_META_PREFIX)
        },
        content_type=lowered.get("content-type"),
        storage_class=lowered.get("storage-tier"),
        version=lowered.get("version-id"),
    )


def _summary_info(item: Any) -> ObjectInfo:
    return ObjectInfo(
        key=item.name,
        size=int(item.size or 0),
        etag=item.etag,
        last_modified=item.time_modified,
        storage_class=item.storage_tier,
    )


def _map_error(err: Exception, op: str, uri: str | None) -> OmniCloudError:
    if isinstance(err, OmniCloudError):
        return err
    import oci
    from oci._vendor.requests import exceptions as vendored_requests

    fields: dict[str, Any] = {"op": op, "uri": uri, "provider": "oci"}
    if isinstance(err, oci.exceptions.ServiceError):
        status, code = int(err.status or 0), str(err.code or "")
        if status == 404:
            if code == "BucketNotFound":
                return NotFoundError("bucket not found (or not visible to this identity)", **fields)
            if code == "NamespaceNotFound":
                return NotFoundError("namespace not found", **fields)
            return NotFoundError("object not found", **fields)
        if status == 401:
            return AuthenticationError(f"OCI rejected the request signature ({code or status})", **fields)
        if status == 403:
            return PermissionDeniedError(f"access denied ({code or status})", **fields)
        if status in (409, 412):
            return PreconditionFailedError(f"precondition failed ({code or status})", **fields)
        if status == 429 or status >= 500:
            return TransientError(f"OCI answered {status} {code}".rstrip(), **fields)
        return OmniCloudError(f"OCI answered {status} {code}".rstrip(), **fields)
    # The SDK talks through its own vendored copy of requests, whose exceptions are not requests'.
    if isinstance(err, vendored_requests.RequestException | oci.exceptions.RequestException):
        return TransientError(f"cannot reach OCI Object Storage ({type(err).__name__})", **fields)
    if isinstance(err, ValueError):
        return ConfigError(f"invalid request: {err}", **fields)
    return OmniCloudError(f"OCI request failed ({type(err).__name__})", **fields)
