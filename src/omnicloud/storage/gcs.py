"""Google Cloud Storage through the official ``google-cloud-storage`` client (JSON API).

The emulator is found through ``STORAGE_EMULATOR_HOST`` as the SDK itself
does; with it set, requests are anonymous. The option ``endpoint`` points at
any other JSON-API endpoint. GCS's multipart API is XML-only (which the
emulator lacks), so this backend has no ``Multipart`` capability: large
uploads go through the SDK's resumable upload inside ``put``.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator, Mapping
from typing import IO, Any, ClassVar, NoReturn

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
    SpooledUpload,
    check_options,
    exists_via_stat,
    normalize_metadata,
)
from omnicloud.storage._types import (
    Admin,
    ByteRange,
    Deleter,
    Lister,
    ObjectInfo,
    Reader,
    ResumableUpload,
    ServerSideCopy,
    Stat,
    StreamedBody,
    Writer,
)
from omnicloud.uri import ObjectURI

__all__ = ["GCSStore"]

_MiB = 1024 * 1024
_CHUNK = 8 * _MiB
_SESSION_TIMEOUT = 120.0  # seconds for one request to an upload session (a piece is megabytes)


class GCSStore(ClosesOnExit):
    """One GCS bucket."""

    CAPABILITIES: ClassVar[tuple[type, ...]] = (
        Reader,
        Writer,
        ResumableUpload,
        Lister,
        Deleter,
        Stat,
        ServerSideCopy,
        Admin,
    )
    resumable_granularity = 256 * 1024  # GCS takes pieces in multiples of 256 KiB
    OPTIONS: ClassVar[tuple[str, ...]] = ("project", "endpoint", "location", "page_size", "retry_deadline")

    def __init__(
        self,
        bucket: str,
        *,
        project: str | None = None,
        endpoint: str | None = None,
        credentials: Any = None,
        location: str | None = None,
        page_size: int = 1000,
        retry_deadline: float = 30.0,
    ) -> None:
        self._uri = ObjectURI("gcp", bucket)
        self._location = location
        self._page_size = page_size
        endpoint = endpoint or getattr(credentials, "endpoint", None)
        project = project or getattr(credentials, "project", None)
        self.endpoint = endpoint or os.environ.get("STORAGE_EMULATOR_HOST") or None
        self._client = _make_client(project, endpoint, credentials)
        self._bucket = self._client.bucket(bucket)
        # The SDK retries for up to 120 s by default, which reads as a hang to
        # a person at a terminal; the transfer engine adds its own retries.
        from google.cloud.storage.retry import DEFAULT_RETRY

        self._retry = DEFAULT_RETRY.with_timeout(retry_deadline).with_predicate(_sdk_retries)

    @classmethod
    def from_uri(cls, uri: ObjectURI, *, credentials: Any = None, **options: Any) -> GCSStore:
        check_options("gcs", options, cls.OPTIONS)
        options.setdefault("project", uri.project)
        return cls(uri.bucket, credentials=credentials, **options)

    @property
    def uri(self) -> ObjectURI:
        return self._uri

    @property
    def client(self) -> Any:
        """The google-cloud-storage client, for features omnicloud does not wrap."""
        return self._client

    def close(self) -> None:
        http = getattr(self._client, "_http_internal", None)
        if http is not None:
            http.close()

    def __repr__(self) -> str:
        endpoint = f", endpoint={self.endpoint!r}" if self.endpoint else ""
        return f"GCSStore({str(self._uri)!r}{endpoint})"

    def _fail(self, err: Exception, op: str, key: str = "") -> NoReturn:
        mapped = _map_error(err, op, str(self._uri.with_key(key)))
        if isinstance(mapped, NotFoundError) and op not in ("create_bucket", "delete_bucket"):
            # GCS answers 404 for a missing bucket and a missing object alike.
            try:
                bucket_missing = self._client.lookup_bucket(self._uri.bucket, retry=self._retry) is None
            except Exception:
                bucket_missing = False
            if bucket_missing:
                mapped = NotFoundError(
                    "bucket does not exist",
                    op=op,
                    uri=str(self._uri.with_key(key)),
                    provider="gcp",
                    hint="create it with `omnicloud mb`",
                )
        raise mapped from err

    # --- Reader --------------------------------------------------------------

    def get(self, key: str, *, range: ByteRange | None = None) -> bytes:
        blob = self._bucket.blob(key)
        try:
            if range is None:
                data: bytes = blob.download_as_bytes(checksum=None, retry=self._retry)
                return data
            start, end = range
            if end <= start:
                return b""
            data = blob.download_as_bytes(start=start, end=end - 1, checksum=None, retry=self._retry)
            return data
        except Exception as err:
            if range is not None and getattr(err, "code", None) == 416:
                return b""
            self._fail(err, "get", key)

    def open_read(self, key: str, *, range: ByteRange | None = None) -> IO[bytes]:
        try:
            blob = self._bucket.get_blob(key, retry=self._retry)
        except Exception as err:
            self._fail(err, "get", key)
        if blob is None:
            self._fail(_missing(), "get", key)
        return io.BufferedReader(
            _RangedReader(self, key, blob.size or 0, blob.generation, range), buffer_size=_CHUNK
        )

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
        blob = self._bucket.blob(key, chunk_size=16 * _MiB)
        blob.metadata = meta or None
        ctype = content_type or "application/octet-stream"
        conditions: dict[str, Any] = {}
        if if_absent:
            # generation 0 means "only if absent" on GCS. The emulator ignores
            # preconditions, so also refuse what we can see exists already.
            conditions["if_generation_match"] = 0
            if self.exists(key):
                raise PreconditionFailedError(
                    "object already exists", op="put", uri=str(self._uri.with_key(key)), provider="gcp"
                )
        try:
            if isinstance(data, bytes | bytearray | memoryview):
                blob.upload_from_string(
                    bytes(data), content_type=ctype, checksum=None, retry=self._retry, **conditions
                )
            else:
                blob.upload_from_file(
                    data, content_type=ctype, checksum=None, retry=self._retry, **conditions
                )
        except Exception as err:
            self._fail(err, "put", key)
        return _info(blob)

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

    # --- ResumableUpload -------------------------------------------------------

    def start_resumable(
        self,
        key: str,
        *,
        size: int,
        metadata: Mapping[str, str] | None = None,
        content_type: str | None = None,
    ) -> str:
        blob = self._bucket.blob(key)
        blob.metadata = normalize_metadata(metadata) or None
        try:
            session: str = blob.create_resumable_upload_session(
                content_type=content_type or "application/octet-stream", size=size, retry=self._retry
            )
        except Exception as err:
            self._fail(err, "put", key)
        return session

    def resumable_offset(self, key: str, session: str, size: int) -> int:
        return self._session_request(key, session, b"", f"bytes */{size}", size)

    def send_resumable(
        self, key: str, session: str, start: int, data: bytes | StreamedBody, size: int
    ) -> int:
        end = start + len(data) - 1
        return self._session_request(key, session, data, f"bytes {start}-{end}/{size}", size)

    def cancel_resumable(self, key: str, session: str) -> None:
        import requests

        try:
            # GCS answers 499 to a cancelled session; nothing to check.
            self._client._http.request("DELETE", session, timeout=_SESSION_TIMEOUT)
        except requests.RequestException as err:
            raise _session_error(err, "cancel", str(self._uri.with_key(key))) from None

    def _session_request(
        self, key: str, session: str, data: bytes | StreamedBody, content_range: str, size: int
    ) -> int:
        """One PUT to an upload session; what the service then holds. The handle never reaches an error."""
        import requests

        uri = str(self._uri.with_key(key))
        headers = {"Content-Range": content_range, "Content-Length": str(len(data))}
        try:
            response = self._client._http.request(
                "PUT", session, data=data, headers=headers, timeout=_SESSION_TIMEOUT, allow_redirects=False
            )
        except requests.RequestException as err:
            raise _session_error(err, "put", uri) from None
        status = response.status_code
        if status in (200, 201):
            return size
        if status == 308:  # "Resume Incomplete": Range says what arrived, if anything did
            held = response.headers.get("Range", "")
            count = int(held.rpartition("-")[2]) + 1 if held.startswith("bytes=") else 0
            # GCS keeps whole multiples of 256 KiB until the last byte; gcp-storage-emulator
            # answers "bytes=0-0" (one byte) when it holds none, so round down to that grain.
            return count - count % self.resumable_granularity
        fields: dict[str, Any] = {"op": "put", "uri": uri, "provider": "gcp"}
        if status in (404, 410):
            raise NotFoundError("the upload session is gone (cancelled or expired)", **fields)
        if status in (408, 429) or status >= 500:
            raise TransientError(f"GCS is busy or failing ({status})", **fields)
        if status in (401, 403):
            raise PermissionDeniedError(f"GCS refused the upload ({status})", **fields)
        raise OmniCloudError(f"GCS answered {status} to an upload piece", **fields)

    # --- Lister --------------------------------------------------------------

    def list(self, prefix: str = "", *, delimiter: str | None = None) -> Iterator[ObjectInfo]:
        try:
            iterator = self._client.list_blobs(
                self._uri.bucket,
                prefix=prefix or None,
                delimiter=delimiter,
                page_size=self._page_size,
                retry=self._retry,
            )
            pages = iterator.pages
            while True:
                try:
                    page = next(pages)
                except StopIteration:
                    return
                entries = [_info(blob) for blob in page]
                entries.extend(ObjectInfo(key=p, size=0, is_prefix=True) for p in page.prefixes)
                entries.sort(key=lambda e: e.key)
                yield from entries
        except OmniCloudError:
            raise
        except Exception as err:
            self._fail(err, "list", prefix)

    # --- Deleter, Stat, ServerSideCopy ----------------------------------------

    def delete(self, key: str, *, missing_ok: bool = False) -> None:
        try:
            self._bucket.blob(key).delete(retry=self._retry)
        except Exception as err:
            if missing_ok and getattr(err, "code", None) == 404 and self.bucket_exists():
                return
            self._fail(err, "delete", key)

    def stat(self, key: str) -> ObjectInfo:
        try:
            blob = self._bucket.get_blob(key, retry=self._retry)
        except Exception as err:
            self._fail(err, "stat", key)
        if blob is None:
            self._fail(_missing(), "stat", key)
        return _info(blob)

    def exists(self, key: str) -> bool:
        return exists_via_stat(self.stat, key)

    def copy(self, src_key: str, dst_key: str) -> ObjectInfo:
        source = self._bucket.blob(src_key)
        target = self._bucket.blob(dst_key)
        try:
            # rewrite() copies objects of any size, a chunk per call.
            token, _, _ = target.rewrite(source, retry=self._retry)
            while token is not None:
                token, _, _ = target.rewrite(source, token=token, retry=self._retry)
        except Exception as err:
            self._fail(err, "copy", src_key)
        return self.stat(dst_key)

    # --- Admin ---------------------------------------------------------------

    def create_bucket(self, *, exist_ok: bool = False) -> None:
        try:
            self._client.create_bucket(self._uri.bucket, location=self._location, retry=self._retry)
        except Exception as err:
            if exist_ok and getattr(err, "code", None) == 409:
                return
            self._fail(err, "create_bucket")

    def delete_bucket(self, *, force: bool = False) -> None:
        try:
            if force:
                for info in self.list():
                    self._bucket.blob(info.key).delete(retry=self._retry)
            self._bucket.delete(retry=self._retry)
        except OmniCloudError:
            raise
        except Exception as err:
            self._fail(err, "delete_bucket")

    def bucket_exists(self) -> bool:
        try:
            return self._client.lookup_bucket(self._uri.bucket, retry=self._retry) is not None
        except Exception as err:
            self._fail(err, "bucket_exists")


class _RangedReader(io.RawIOBase):
    """Streams an object with ranged reads pinned to one generation."""

    def __init__(
        self, store: GCSStore, key: str, size: int, generation: int | None, range: ByteRange | None
    ) -> None:
        super().__init__()
        self._store = store
        self._key = key
        self._size = size if range is None else min(size, range[1])
        self._position = 0 if range is None else range[0]
        self._blob = store._bucket.blob(key, generation=generation)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._position >= self._size:
            return 0
        end = min(self._size, self._position + max(len(buffer), _CHUNK))
        try:
            chunk = self._blob.download_as_bytes(
                start=self._position, end=end - 1, checksum=None, retry=self._store._retry
            )
        except Exception as err:
            self._store._fail(err, "get", self._key)
        n = min(len(chunk), len(buffer))
        buffer[:n] = chunk[:n]
        self._position += n
        return n


def _missing() -> Exception:
    from google.api_core.exceptions import NotFound

    return NotFound("no such object")  # type: ignore[no-untyped-call]


def _info(blob: Any) -> ObjectInfo:
    return ObjectInfo(
        key=blob.name,
        size=int(blob.size or 0),
        etag=blob.etag,
        last_modified=blob.updated,
        metadata={k.lower(): v for k, v in (blob.metadata or {}).items()},
        content_type=blob.content_type,
        storage_class=blob.storage_class,
        version=str(blob.generation) if blob.generation is not None else None,
    )


def _make_client(project: str | None, endpoint: str | None, credentials: Any) -> Any:
    try:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage
    except ImportError as err:
        raise ConfigError(
            "GCS needs google-cloud-storage", provider="gcp", hint="pip install 'omnicloud[gcp]'"
        ) from err

    emulator = os.environ.get("STORAGE_EMULATOR_HOST")
    client_options = {"api_endpoint": endpoint} if endpoint else None
    creds = None
    if credentials is not None and hasattr(credentials, "google_credentials"):
        creds = credentials.google_credentials()
        if creds is None or getattr(credentials, "is_anonymous", False):
            creds = AnonymousCredentials()  # type: ignore[no-untyped-call]
    elif credentials is not None:
        creds = credentials
    if creds is None and (emulator or endpoint):
        creds = AnonymousCredentials()  # type: ignore[no-untyped-call]
    project = project or os.environ.get("GOOGLE_CLOUD_PROJECT") or ("omnicloud-emulator" if creds else None)
    try:
        client = storage.Client(project=project, credentials=creds, client_options=client_options)
    except Exception as err:
        raise _map_error(err, "connect", None) from err
    # google-cloud-storage 3.x sends an extra GET of each bucket it first touches, from a
    # daemon thread, for tracing attributes; against an unreachable endpoint that thread
    # kept retrying after the caller's error. Nothing here uses those attributes.
    if getattr(client, "_bucket_metadata_cache", None) is not None:
        client._bucket_metadata_cache = None
    return client


def _session_error(err: Exception, op: str, uri: str) -> OmniCloudError:
    """A failed request to an upload session, said without its URL (the handle is a secret)."""
    import requests

    if isinstance(err, requests.ConnectionError | requests.Timeout):
        return _map_error(err, op, uri)
    return TransientError(f"an upload request failed ({type(err).__name__})", op=op, uri=uri, provider="gcp")


def _sdk_retries(err: Exception) -> bool:
    """What the SDK retries by itself: its own choice, less a connection that cannot be made.

    An endpoint nobody answers on would otherwise be retried until the SDK's deadline inside
    every one of the caller's attempts (~2 minutes to report); S3 and Azure leave it to the
    caller after a few quick tries, and so does this.
    """
    from google.cloud.storage.retry import _should_retry

    return not _cannot_connect(err) and bool(_should_retry(err))


def _cannot_connect(err: BaseException) -> bool:
    import requests
    from urllib3.exceptions import NewConnectionError

    if isinstance(err, ConnectionRefusedError | requests.ConnectTimeout):
        return True
    if isinstance(err, requests.ConnectionError):
        reason = err.args[0] if err.args else None
        # requests wraps urllib3's MaxRetryError, whose reason is the failure to connect.
        return isinstance(getattr(reason, "reason", reason), NewConnectionError)
    return False


def _map_error(err: Exception, op: str, uri: str | None) -> OmniCloudError:
    if isinstance(err, OmniCloudError):
        return err
    from google.api_core import exceptions as gx
    from google.auth import exceptions as ax

    fields: dict[str, Any] = {"op": op, "uri": uri, "provider": "gcp"}
    if isinstance(err, ax.DefaultCredentialsError):
        return CredentialsNotFoundError(
            "no Google credentials found",
            hint="set GOOGLE_APPLICATION_CREDENTIALS or run `gcloud auth application-default login`",
            **fields,
        )
    if isinstance(err, ax.RefreshError):
        return AuthenticationError("Google rejected the credentials (token refresh failed)", **fields)
    if isinstance(err, ax.TransportError):
        return TransientError("cannot reach the Google auth endpoint", **fields)
    if isinstance(err, gx.RetryError):
        # The SDK gave up retrying: whatever the last failure was, it was transient.
        cause = err.cause if isinstance(err.cause, Exception) else None
        inner = _map_error(cause, op, uri) if cause is not None else None
        if isinstance(inner, TransientError):
            return inner
        return TransientError("GCS kept failing until the retry deadline", **fields)
    status = getattr(getattr(err, "response", None), "status_code", None)
    if type(err).__name__ == "InvalidResponse" and isinstance(status, int):
        if status == 429 or status >= 500:
            return TransientError(f"GCS is busy or failing ({status})", **fields)
        if status == 404:
            return NotFoundError("no such object", **fields)
        return OmniCloudError(f"GCS answered {status}", **fields)
    if isinstance(err, gx.GoogleAPICallError):
        code = getattr(err, "code", None)
        message = getattr(err, "message", "") or str(code)
        if code == 404:
            return NotFoundError("no such object", **fields)
        if code == 401:
            return AuthenticationError("GCS rejected the credentials (401)", **fields)
        if code == 403:
            return PermissionDeniedError(f"access denied (403): {message}", **fields)
        if code == 409:
            text = "bucket already exists" if op == "create_bucket" else f"conflict: {message}"
            return PreconditionFailedError(text, **fields)
        if code == 412:
            return PreconditionFailedError(
                "object already exists" if op == "put" else "precondition failed", **fields
            )
        if code == 429 or (isinstance(code, int) and code >= 500):
            return TransientError(f"GCS is busy or failing ({code})", **fields)
        return OmniCloudError(f"GCS error {code}: {message}", **fields)
    import requests

    if isinstance(err, requests.ConnectionError | requests.Timeout):
        return TransientError(
            "cannot reach the GCS endpoint", hint="check STORAGE_EMULATOR_HOST / endpoint", **fields
        )
    if isinstance(err, ValueError) and "metadata" in str(err).lower():
        return ConfigError(str(err), **fields)
    return OmniCloudError(f"unexpected GCS failure: {type(err).__name__}: {err}", **fields)
