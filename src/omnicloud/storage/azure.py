"""Azure Blob Storage: obstore and our own requests for the data plane, the SDK for the rest.

The account comes from the URI (``azure://ACCOUNT/CONTAINER/KEY``), the
options, ``AZURE_STORAGE_CONNECTION_STRING`` (which is how Azurite is
reached) or ``AZURE_STORAGE_ACCOUNT``. Multipart uploads are Azure's staged
blocks: a block list committed at the end, so nothing is visible until then.
With a shared key or a SAS, small blobs are put whole through obstore, and
gets, stats, streamed reads, staged blocks, listings and deletes go through
``_azure_rest`` (behind a proxy, reads go through obstore); the SDK is
loaded only for server-side copies and containers, and for everything with
Azure AD credentials.
"""

from __future__ import annotations

import base64
import functools
import importlib.util
import io
import os
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import IO, Any, ClassVar, NoReturn

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
from omnicloud.storage._azure_obstore import ObstoreBlobs, map_obstore_error, obstore_blobs, obstore_blobs_for
from omnicloud.storage._azure_rest import BlobRequests, blob_requests, status_error
from omnicloud.storage._common import (
    ClosesOnExit,
    ErrorMappingStream,
    SpooledUpload,
    check_options,
    exists_via_stat,
    fill_from,
    normalize_metadata,
    obstore_can_name,
    obstore_put_info,
)
from omnicloud.storage._types import (
    Admin,
    ByteRange,
    Deleter,
    Lister,
    Multipart,
    ObjectInfo,
    PartInfo,
    PartsFromBuffers,
    Reader,
    ReadInto,
    ServerSideCopy,
    Stat,
    Writer,
)
from omnicloud.uri import ObjectURI

__all__ = ["AzureStore"]

_MiB = 1024 * 1024
_COPY_POLL_SECONDS = 0.2


class AzureStore(ClosesOnExit):
    """One Azure Blob container."""

    CAPABILITIES: ClassVar[tuple[type, ...]] = (
        Reader,
        ReadInto,
        Writer,
        Lister,
        Deleter,
        Stat,
        ServerSideCopy,
        Multipart,
        PartsFromBuffers,
        Admin,
    )
    OPTIONS: ClassVar[tuple[str, ...]] = (
        "connection_string",
        "account",
        "account_url",
        "account_key",
        "sas_token",
        "max_concurrency",
        "page_size",
        "retry_total",
        "data_plane",
    )

    # Staged blocks: up to 4000 MiB each, 50,000 per blob, no minimum.
    min_part_size = 1
    max_part_size = 4000 * _MiB
    max_parts = 50_000

    def __init__(
        self,
        container: str,
        *,
        account: str | None = None,
        connection_string: str | None = None,
        account_url: str | None = None,
        account_key: Any = None,
        sas_token: Any = None,
        credentials: Any = None,
        max_concurrency: int = 4,
        page_size: int = 5000,
        retry_total: int = 3,
        data_plane: str = "auto",
    ) -> None:
        redact_sdk_logs()  # urllib3 logs each URL at DEBUG, a SAS signature with it
        self._uri = ObjectURI("azure", container)
        self._max_concurrency = max_concurrency
        self._page_size = page_size
        if data_plane not in ("auto", "obstore", "sdk"):
            raise ConfigError(f"data_plane must be auto, obstore or sdk, not {data_plane!r}")
        self._service_args: dict[str, Any] = {
            "account": account,
            "connection_string": connection_string,
            "account_url": account_url,
            "account_key": account_key,
            "sas_token": sas_token,
            "credentials": credentials,
            "retry_total": retry_total,
        }
        self._direct: dict[str, str] | None = None
        # With a shared key or a SAS, obstore puts small blobs whole; staged
        # blocks, downloads, listings and deletes are signed requests of our
        # own, and the SDK (~0.45 s to import) is loaded only when a
        # server-side copy or a container call first needs it. obstore's
        # client is made at its first use too: ~0.01 s of a process that may
        # never need it (a download, a listing, a large upload).
        direct = None if data_plane == "sdk" else _shared_key_settings(**self._service_args)
        if direct is not None and importlib.util.find_spec("obstore") is not None:
            self.account = direct["account_name"]
            self._direct = direct
            return
        self.account = self._service.account_name
        blobs = None if data_plane == "sdk" else obstore_blobs_for(self._service, container, retry_total)
        if blobs is None and data_plane == "obstore":
            raise ConfigError("the obstore data plane needs an account key or a SAS token")
        self.__dict__["_blobs"] = blobs

    @functools.cached_property
    def _blobs(self) -> ObstoreBlobs | None:
        """obstore's client; set in ``__init__`` unless a shared key or a SAS was found there."""
        assert self._direct is not None
        return obstore_blobs(self._uri.bucket, self._direct, int(self._service_args["retry_total"]))

    @functools.cached_property
    def _service(self) -> Any:
        return _make_service(**self._service_args)

    @functools.cached_property
    def _container(self) -> Any:
        return self._service.get_container_client(self._uri.bucket)

    @functools.cached_property
    def _rest(self) -> BlobRequests | None:
        if self._direct is None:
            return None
        retry_total = int(self._service_args["retry_total"])
        return blob_requests(self._direct, self._uri, retry_total=retry_total, pool_size=64)

    @classmethod
    def from_uri(cls, uri: ObjectURI, *, credentials: Any = None, **options: Any) -> AzureStore:
        check_options("azure", options, cls.OPTIONS)
        options.setdefault("account", uri.account)
        return cls(uri.bucket, credentials=credentials, **options)

    @property
    def uri(self) -> ObjectURI:
        return self._uri

    @property
    def client(self) -> Any:
        """The ContainerClient, for features omnicloud does not wrap."""
        return self._container

    def close(self) -> None:
        # Only what was made: a store that never left the obstore data plane has no SDK client.
        rest = self.__dict__.get("_rest")
        if rest is not None:
            rest.close()
        if "_container" in self.__dict__:
            self._container.close()
        if "_service" in self.__dict__:
            self._service.close()

    def __repr__(self) -> str:
        return f"AzureStore({str(self._uri)!r}, account={self.account!r})"

    def _fail(self, err: Exception, op: str, key: str = "") -> NoReturn:
        raise _map_error(err, op, str(self._uri.with_key(key))) from err

    def _fail_obstore(self, err: Exception, op: str, key: str = "") -> NoReturn:
        raise map_obstore_error(err, op, str(self._uri.with_key(key))) from err

    # --- Reader --------------------------------------------------------------

    def _obstore_for(self, key: str) -> ObstoreBlobs | None:
        """obstore's data plane, when there is one and it names ``key`` exactly."""
        return self._blobs if self._blobs is not None and obstore_can_name(key) else None

    def get(self, key: str, *, range: ByteRange | None = None) -> bytes:
        if range is not None and range[1] <= range[0]:
            return b""
        rest = self._rest  # set only beside obstore's data plane; obstore's client may never be needed
        body = rest.open_read(key, range) if rest is not None else None
        if body is not None:
            with body:
                return body.read()
        blobs = self._obstore_for(key)
        if blobs is not None:
            fail = lambda err: self._fail_obstore(err, "get", key)  # noqa: E731
            if range is None:
                return blobs.get(key, fail)
            return blobs.get_range(key, range[0], range[1], fail)
        blob = self._container.get_blob_client(key)
        try:
            if range is None:
                data: bytes = blob.download_blob(max_concurrency=self._max_concurrency).readall()
                return data
            start, end = range
            data = blob.download_blob(offset=start, length=end - start).readall()
            return data
        except Exception as err:
            if range is not None and getattr(err, "status_code", None) == 416:
                return b""
            self._fail(err, "get", key)

    def read_into(self, key: str, start: int, view: memoryview) -> int:
        """The bytes from ``start``, by a ranged read (a streamed GET fills ``view`` directly)."""
        with self.open_read(key, range=(start, start + len(view))) as stream:
            return fill_from(stream, view)

    def open_read(self, key: str, *, range: ByteRange | None = None) -> IO[bytes]:
        if range is not None and range[1] <= range[0]:
            return io.BytesIO()
        rest = self._rest  # set only beside obstore's data plane
        body = rest.open_read(key, range) if rest is not None else None
        if body is not None:
            return body
        blobs = self._obstore_for(key)
        if blobs is not None:
            return blobs.open_read(key, lambda err: self._fail_obstore(err, "get", key), range)
        window = {} if range is None else {"offset": range[0], "length": range[1] - range[0]}
        try:
            downloader = self._container.get_blob_client(key).download_blob(**window)
        except Exception as err:
            if getattr(err, "status_code", None) == 416:
                return io.BytesIO()
            self._fail(err, "get", key)
        stream = ErrorMappingStream(downloader, lambda err: self._fail(err, "get", key))
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
        body = bytes(data) if isinstance(data, bytearray | memoryview) else data
        blobs = self._obstore_for(key)
        if blobs is not None:
            try:
                result = blobs.put(key, body, meta, ctype, if_absent)
            except Exception as err:
                self._fail_obstore(err, "put", key)
            if not isinstance(body, bytes):
                # The size of a streamed body is known only to the service: one HEAD.
                return self.stat(key)
            return obstore_put_info(key, len(body), result, meta, ctype)
        from azure.storage.blob import ContentSettings

        try:
            result = self._container.get_blob_client(key).upload_blob(
                body,
                overwrite=not if_absent,
                metadata=meta,
                content_settings=ContentSettings(content_type=ctype),
                max_concurrency=self._max_concurrency,
            )
        except Exception as err:
            self._fail(err, "put", key)
        size = len(body) if isinstance(body, bytes) else None
        if size is None:
            return self.stat(key)
        return ObjectInfo(
            key=key,
            size=size,
            etag=result.get("etag"),
            last_modified=result.get("last_modified"),
            metadata=meta,
            content_type=ctype,
            version=result.get("version_id"),
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
        rest = self._rest
        if rest is not None:
            for page in rest.list_pages(prefix, delimiter, self._page_size):
                yield from page
            return
        try:
            if delimiter:
                pages = self._container.walk_blobs(
                    name_starts_with=prefix or None, delimiter=delimiter, results_per_page=self._page_size
                ).by_page()
            else:
                pages = self._container.list_blobs(
                    name_starts_with=prefix or None, results_per_page=self._page_size
                ).by_page()
            for page in pages:
                # A page holds blobs and prefixes apart; merge them in key order.
                entries = [
                    _info(item)
                    if hasattr(item, "size")
                    else ObjectInfo(key=item.name, size=0, is_prefix=True)
                    for item in page
                ]
                entries.sort(key=lambda e: e.key)
                yield from entries
        except OmniCloudError:
            raise
        except Exception as err:
            self._fail(err, "list", prefix)

    # --- Deleter, Stat, ServerSideCopy ----------------------------------------

    def delete(self, key: str, *, missing_ok: bool = False) -> None:
        rest = self._rest
        if rest is not None:
            rest.delete(key, missing_ok=missing_ok)
            return
        try:
            self._container.delete_blob(key)
        except Exception as err:
            if missing_ok and getattr(err, "error_code", None) == "BlobNotFound":
                return
            self._fail(err, "delete", key)

    def stat(self, key: str) -> ObjectInfo:
        rest = self._rest
        if rest is not None:
            # Get Blob Properties of our own: obstore's HEAD drops the access tier, and on a
            # missing blob Azure's error code tells it from a missing container.
            return rest.head(key)
        blobs = self._obstore_for(key)
        if blobs is not None:
            info = blobs.stat(key, lambda err: self._fail_obstore(err, "stat", key))
            if info is not None:
                return info
        try:
            props = self._container.get_blob_client(key).get_blob_properties()
        except Exception as err:
            self._fail(err, "stat", key)
        return _info(props)

    def exists(self, key: str) -> bool:
        return exists_via_stat(self.stat, key)

    def copy(self, src_key: str, dst_key: str) -> ObjectInfo:
        source = self._container.get_blob_client(src_key)
        target = self._container.get_blob_client(dst_key)
        try:
            # Inside one account the source is authorized by the same credential.
            target.start_copy_from_url(source.url)
            props = target.get_blob_properties()
            while props.copy.status == "pending":
                time.sleep(_COPY_POLL_SECONDS)
                props = target.get_blob_properties()
        except Exception as err:
            self._fail(err, "copy", src_key)
        if props.copy.status != "success":
            raise OmniCloudError(
                f"server-side copy ended as {props.copy.status}",
                op="copy",
                uri=str(self._uri.with_key(dst_key)),
                provider="azure",
            )
        return _info(props)

    # --- Multipart (staged blocks) ---------------------------------------------

    def create_multipart(
        self,
        key: str,
        *,
        metadata: Mapping[str, str] | None = None,
        content_type: str | None = None,
    ) -> str:
        # Azure keeps no upload object: the id names the blocks, and metadata
        # travels with the commit. Encode both into the id so a resumed
        # process can complete the upload.
        meta = normalize_metadata(metadata)
        payload = "\n".join(
            [uuid.uuid4().hex, content_type or "", *(f"{k}={v}" for k, v in sorted(meta.items()))]
        )
        return base64.urlsafe_b64encode(payload.encode()).decode()

    def upload_part(self, key: str, upload_id: str, number: int, data: bytes | memoryview) -> PartInfo:
        block_id = _block_id(upload_id, number)
        rest = self._rest
        if rest is not None:
            rest.stage(key, block_id, data)
            return PartInfo(number, block_id, len(data))
        try:
            self._container.get_blob_client(key).stage_block(block_id, bytes(data), length=len(data))
        except Exception as err:
            self._fail(err, "upload_part", key)
        return PartInfo(number, block_id, len(data))

    def upload_part_from(self, key: str, upload_id: str, number: int, data: memoryview) -> PartInfo:
        """``upload_part``: Put Block sends ``data`` and keeps no reference to it."""
        return self.upload_part(key, upload_id, number, data)

    def complete_multipart(self, key: str, upload_id: str, parts: Sequence[PartInfo]) -> ObjectInfo:
        return self.complete_multipart_with_metadata(key, upload_id, parts, {})

    def complete_multipart_with_metadata(
        self, key: str, upload_id: str, parts: Sequence[PartInfo], metadata: Mapping[str, str]
    ) -> ObjectInfo:
        # Put Block List carries the metadata, so it can be decided at the end.
        _, content_type, started = _decode_upload_id(upload_id)
        meta = {**started, **normalize_metadata(metadata)}
        ordered = sorted(parts, key=lambda p: p.number)
        content_type = content_type or "application/octet-stream"
        rest = self._rest
        if rest is not None:
            # What the commit answers, and what was sent, is the whole record: no stat.
            ids = [_block_id(upload_id, p.number) for p in ordered]
            etag, modified, version = rest.commit(key, ids, metadata=meta, content_type=content_type)
            return ObjectInfo(
                key=key,
                size=sum(p.size for p in ordered),
                etag=etag,
                last_modified=modified,
                metadata=meta,
                content_type=content_type,
                version=version,
            )
        from azure.storage.blob import BlobBlock, ContentSettings

        blocks = [BlobBlock(block_id=_block_id(upload_id, p.number)) for p in ordered]
        try:
            self._container.get_blob_client(key).commit_block_list(
                blocks,
                metadata=meta,
                content_settings=ContentSettings(content_type=content_type),
            )
        except Exception as err:
            self._fail(err, "complete_multipart", key)
        return self.stat(key)

    def abort_multipart(self, key: str, upload_id: str) -> None:
        """Uncommitted blocks are discarded by Azure (after 7 days at most); nothing to call."""

    # --- Admin ---------------------------------------------------------------

    def create_bucket(self, *, exist_ok: bool = False) -> None:
        try:
            self._container.create_container()
        except Exception as err:
            if exist_ok and getattr(err, "error_code", None) == "ContainerAlreadyExists":
                return
            self._fail(err, "create_bucket")

    def delete_bucket(self, *, force: bool = False) -> None:
        try:
            if not force and next(iter(self._container.list_blobs(results_per_page=1)), None) is not None:
                raise PreconditionFailedError(
                    "container is not empty",
                    op="delete_bucket",
                    uri=str(self._uri),
                    provider="azure",
                    hint="delete its blobs first or pass force",
                )
            self._container.delete_container()
        except OmniCloudError:
            raise
        except Exception as err:
            self._fail(err, "delete_bucket")

    def bucket_exists(self) -> bool:
        try:
            return bool(self._container.exists())
        except Exception as err:
            self._fail(err, "bucket_exists")


def _block_id(upload_id: str, number: int) -> str:
    # Block ids must be base64 and of one length within a blob.
    nonce = _decode_upload_id(upload_id)[0]
    return base64.b64encode(f"{nonce}-{number:06d}".encode()).decode()


def _decode_upload_id(upload_id: str) -> tuple[str, str | None, dict[str, str]]:
    try:
        lines = base64.urlsafe_b64decode(upload_id.encode()).decode().split("\n")
        nonce, content_type, *pairs = lines
        meta = dict(pair.split("=", 1) for pair in pairs)
    except (ValueError, UnicodeDecodeError) as err:
        raise ConfigError("not an Azure upload id made by omnicloud", op="multipart") from err
    return nonce, content_type or None, meta


def _info(props: Any) -> ObjectInfo:
    settings = getattr(props, "content_settings", None)
    tier = getattr(props, "blob_tier", None)
    etag = props.etag
    if etag and not etag.startswith('"'):
        etag = f'"{etag}"'  # list results carry it bare, HEAD quoted: one form pins a version
    return ObjectInfo(
        key=props.name,
        size=int(props.size or 0),
        etag=etag,
        last_modified=props.last_modified,
        metadata={k.lower(): v for k, v in (props.metadata or {}).items()},
        content_type=getattr(settings, "content_type", None),
        storage_class=str(tier) if tier else None,
        version=getattr(props, "version_id", None),
    )


def _make_service(
    *,
    account: str | None,
    connection_string: str | None,
    account_url: str | None,
    account_key: Any,
    sas_token: Any,
    credentials: Any,
    retry_total: int,
) -> Any:
    try:
        from azure.storage.blob import BlobServiceClient, ExponentialRetry
    except ImportError as err:
        raise ConfigError(
            "Azure needs azure-storage-blob", provider="azure", hint="pip install 'omnicloud[azure]'"
        ) from err

    # The SDK's default retry waits 15 s before the first retry; keep failures quick.
    settings: dict[str, Any] = {
        "retry_policy": ExponentialRetry(initial_backoff=1, increment_base=2, retry_total=retry_total),
        "connection_timeout": 10,
        "read_timeout": 60,
    }
    env_connection = os.environ.get("AZURE_STORAGE_CONNECTION_STRING")
    try:
        if credentials is not None and hasattr(credentials, "azure_account_url"):
            url = account_url or credentials.azure_account_url()
            return BlobServiceClient(url, credential=credentials.azure_credential(), **settings)
        connection = _reveal(connection_string)
        if connection is None and credentials is None and account_key is None and sas_token is None:
            if env_connection and (account is None or f"AccountName={account};" in env_connection + ";"):
                connection = env_connection
        if connection:
            return BlobServiceClient.from_connection_string(connection, **settings)
        account = account or os.environ.get("AZURE_STORAGE_ACCOUNT")
        if account_url is None:
            if account is None:
                raise CredentialsNotFoundError(
                    "no Azure storage account given",
                    provider="azure",
                    hint="use azure://ACCOUNT/CONTAINER/KEY, or set AZURE_STORAGE_CONNECTION_STRING "
                    "or AZURE_STORAGE_ACCOUNT",
                )
            account_url = f"https://{account}.blob.core.windows.net"
        credential: Any
        if credentials is not None and hasattr(credentials, "azure_credential"):
            credential = credentials.azure_credential()
        elif credentials is not None:
            credential = credentials
        elif account_key is not None:
            credential = {"account_name": account, "account_key": _reveal(account_key)}
        elif sas_token is not None:
            credential = _reveal(sas_token)
        elif os.environ.get("AZURE_STORAGE_KEY"):
            credential = {"account_name": account, "account_key": os.environ["AZURE_STORAGE_KEY"]}
        elif os.environ.get("AZURE_STORAGE_SAS_TOKEN"):
            credential = os.environ["AZURE_STORAGE_SAS_TOKEN"]
        else:
            from azure.identity import DefaultAzureCredential

            credential = DefaultAzureCredential()
        return BlobServiceClient(account_url, credential=credential, **settings)
    except OmniCloudError:
        raise
    except Exception as err:
        raise _map_error(err, "connect", None) from err


def _shared_key_settings(
    *,
    account: str | None,
    connection_string: Any,
    account_url: str | None,
    account_key: Any,
    sas_token: Any,
    credentials: Any,
    retry_total: int,
) -> dict[str, str] | None:
    """obstore's settings for a shared key or a SAS, found the way ``_make_service`` finds them.

    ``None`` when the SDK is needed to tell (Azure AD, a malformed connection
    string): the store then builds the SDK client at once, as before.
    """
    if credentials is not None:
        return _settings_from_credentials(credentials, account_url)
    connection = _reveal(connection_string)
    if connection is None and account_key is None and sas_token is None:
        env_connection = os.environ.get("AZURE_STORAGE_CONNECTION_STRING")
        if env_connection and (account is None or f"AccountName={account};" in env_connection + ";"):
            connection = env_connection
    if connection:
        from omnicloud.credentials._azure import parse_connection_string
        from omnicloud.credentials._secret import Secret

        try:
            parts = parse_connection_string(Secret(connection))
        except ConfigError:
            return None  # the SDK reports it, in the words it always did
        if not parts.account or not parts.blob_endpoint:
            return None
        return _with_secret(
            parts.account, parts.blob_endpoint, _reveal(parts.account_key), _reveal(parts.sas_token)
        )
    account = account or os.environ.get("AZURE_STORAGE_ACCOUNT")
    if account is None:
        return None
    endpoint = account_url or f"https://{account}.blob.core.windows.net"
    if account_key is not None:
        return _with_secret(account, endpoint, _reveal(account_key), None)
    if sas_token is not None:
        return _with_secret(account, endpoint, None, _reveal(sas_token))
    return _with_secret(
        account, endpoint, os.environ.get("AZURE_STORAGE_KEY"), os.environ.get("AZURE_STORAGE_SAS_TOKEN")
    )


def _settings_from_credentials(credentials: Any, account_url: str | None) -> dict[str, str] | None:
    """obstore's settings from resolved omnicloud credentials holding a key or a SAS."""
    from omnicloud.credentials._azure import (
        AzureAccountKey,
        AzureConnectionString,
        AzureSas,
        parse_connection_string,
    )

    config = getattr(credentials, "config", None)
    try:
        endpoint = account_url or credentials.azure_account_url()
        if isinstance(config, AzureConnectionString):
            parts = parse_connection_string(config.connection_string)
            account = parts.account or credentials.account
            key, sas = parts.account_key, parts.sas_token
        elif isinstance(config, AzureAccountKey):
            account, key, sas = config.account, config.account_key, None
        elif isinstance(config, AzureSas):
            account, key, sas = credentials.account, None, config.sas_token
        else:
            return None  # Entra ID and the like: the SDK's credential classes
    except OmniCloudError:
        return None  # the SDK path reports it, as before
    if not account:
        return None
    return _with_secret(account, endpoint, _reveal(key), _reveal(sas))


def _with_secret(account: str, endpoint: str, key: str | None, sas: str | None) -> dict[str, str] | None:
    settings = {"account_name": account, "endpoint": endpoint.split("?", 1)[0].rstrip("/")}
    if key:
        settings["access_key"] = key
    elif sas:
        settings["sas_key"] = sas.lstrip("?")
    else:
        return None
    return settings


def _reveal(value: Any) -> str | None:
    if value is None:
        return None
    reveal = getattr(value, "reveal", None)
    return str(reveal() if callable(reveal) else value)


def _map_error(err: Exception, op: str, uri: str | None) -> OmniCloudError:
    if isinstance(err, OmniCloudError):
        return err
    from azure.core import exceptions as zx

    fields: dict[str, Any] = {"op": op, "uri": uri, "provider": "azure"}
    code = getattr(err, "error_code", None) or ""
    code = str(getattr(code, "value", code))
    status = getattr(err, "status_code", None)
    if isinstance(err, zx.ClientAuthenticationError):
        if code in (
            "AuthorizationPermissionMismatch",
            "AuthorizationFailure",
            "InsufficientAccountPermissions",
        ):
            return PermissionDeniedError(f"access denied ({code})", **fields)
        reason = f" ({code or status})" if code or status else ""
        return AuthenticationError(f"Azure rejected the credentials{reason}", **fields)
    if isinstance(err, zx.ResourceNotFoundError):
        if code == "ContainerNotFound":
            return NotFoundError("container does not exist", hint="create it with `omnicloud mb`", **fields)
        return NotFoundError("no such object", **fields)
    if isinstance(err, zx.ResourceExistsError):
        text = {
            "BlobAlreadyExists": "object already exists",
            "ContainerAlreadyExists": "container already exists",
        }.get(str(code), f"conflict ({code})")
        return PreconditionFailedError(text, **fields)
    if isinstance(err, zx.ResourceModifiedError):
        return PreconditionFailedError(f"precondition failed ({code})", **fields)
    if isinstance(err, zx.ServiceRequestError | zx.ServiceResponseError):
        return TransientError(
            "cannot reach the Azure Blob endpoint",
            hint="check the network and AZURE_STORAGE_CONNECTION_STRING",
            **fields,
        )
    if isinstance(err, zx.HttpResponseError) and isinstance(status, int):
        return status_error(status, code, fields)
    if isinstance(err, ValueError):
        # The SDK raises ValueError for malformed connection strings and keys;
        # never echo the text, which may carry the key.
        return ConfigError("invalid Azure connection settings (connection string, key or SAS)", **fields)
    return OmniCloudError(f"unexpected Azure failure: {type(err).__name__}", **fields)
