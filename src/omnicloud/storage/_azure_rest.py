"""Azure Blob requests of our own: Get Blob, staged blocks, List Blobs, Get Blob Properties, Delete Blob.

Why not the SDK, with a shared key or a SAS (with Azure AD credentials the
store keeps the SDK, whose credential classes fetch and refresh tokens):

- obstore, which moves every other byte, exposes neither staged blocks nor
  listings with metadata and content types, and its HEAD cannot tell a
  missing blob from a missing container;
- ``azure.storage.blob`` took ~0.45 s to import here (with ``oci`` installed,
  ``azure-core`` also imports ``aiohttp``), a third of a 256 MiB upload to
  Azurite; behind a proxy these requests need ``urllib3`` (~0.03-0.08 s),
  which the SDK's own transport uses too; otherwise Put Block, Put Block
  List and Delete Blob go, as every Get Blob does, through ``_streamed_get``'s
  connections;
- the SDK's generic XML deserializer spent ~5 s of CPU on a listing of
  10,000 blobs (10 pages) that ``ElementTree`` reads in a few hundredths;
- a streamed Get Blob through obstore copies every piece of the body once
  more than one through ``_streamed_get`` (see there): ~1.0 CPU-seconds
  against ~0.6 for 256 MiB from Azurite. Behind a proxy, downloads stay with
  obstore.

Requests are signed as the Blob service documents for Shared Key
(``Authorization: SharedKey account:signature``, an HMAC-SHA256 over the verb,
the standard headers, the ``x-ms-*`` headers and the canonical resource), or
carry the SAS token in the query. Neither the key nor the SAS ever reaches a
message: errors name the blob, the status and Azure's error code only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import http.client
import importlib.util
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from email.utils import formatdate, parsedate_to_datetime
from typing import IO, Any, cast
from urllib.parse import quote, unquote, urlsplit
from xml.etree import ElementTree

from omnicloud.errors import (
    AuthenticationError,
    ConfigError,
    NotFoundError,
    OmniCloudError,
    PermissionDeniedError,
    PreconditionFailedError,
    TransientError,
)
from omnicloud.storage._common import metadata_from_headers
from omnicloud.storage._streamed_get import (
    RETRY_STATUS,
    Pending,
    Request,
    StreamedGets,
    certificates,
    proxy_for,
)
from omnicloud.storage._types import ObjectInfo
from omnicloud.uri import ObjectURI

__all__ = ["BlobRequests", "blob_requests", "status_error"]

# A service version every Azure region and Azurite 3.x accept.
_API_VERSION = "2021-08-06"
# The standard headers of the string to sign, in the documented order.
_SIGNED_STANDARD = (
    "content-encoding",
    "content-language",
    "content-length",
    "content-md5",
    "content-type",
    "date",
    "if-modified-since",
    "if-match",
    "if-none-match",
    "if-unmodified-since",
    "range",
)
_UNREACHABLE_HINT = "check the network and AZURE_STORAGE_CONNECTION_STRING"


def blob_requests(
    settings: Mapping[str, str], container: ObjectURI, *, retry_total: int, pool_size: int
) -> BlobRequests | None:
    """Blob requests from obstore's settings (account, endpoint, key or SAS), if urllib3 is here."""
    if importlib.util.find_spec("urllib3") is None:
        return None
    return BlobRequests(
        settings["endpoint"],
        settings["account_name"],
        container,
        key=settings.get("access_key"),
        sas=settings.get("sas_key"),
        retry_total=retry_total,
        pool_size=pool_size,
    )


class BlobRequests:
    """Blob requests on one container (downloads, blocks, listings, properties, deletes), thread-safe.

    Downloads, listings, properties, blocks and deletes go through :class:`StreamedGets`;
    behind a proxy, everything but downloads goes through one urllib3 pool, made (and urllib3
    imported) at the first request that needs it.
    """

    def __init__(
        self,
        endpoint: str,
        account: str,
        container: ObjectURI,
        *,
        key: str | None,
        sas: str | None,
        retry_total: int = 3,
        pool_size: int = 16,
    ) -> None:
        if not key and not sas:
            raise ValueError("a shared key or a SAS token is needed")
        self._container_url = f"{endpoint.rstrip('/')}/{quote(container.bucket, safe='')}"
        self._account = account
        self._container = container
        try:
            self._key = base64.b64decode(key, validate=True) if key else None
        except ValueError:
            raise ConfigError(
                "the Azure account key is not base64", provider="azure", hint="copy it again from the portal"
            ) from None
        self._sas = sas.lstrip("?") if sas and not key else None
        self._retry_total = retry_total
        self._pool_size = pool_size
        parts = urlsplit(endpoint)
        self._proxy = proxy_for(endpoint)
        self._gets = (
            None
            if self._proxy
            else StreamedGets(
                f"{parts.scheme}://{parts.netloc}",
                service="Azure Blob",
                error=_answer_error,
                hint=_UNREACHABLE_HINT,
                retry_total=retry_total,
                pool_size=pool_size,
            )
        )
        self._lock = threading.Lock()
        self._pool: Any = None  # the urllib3 pool, made at the first request that needs it

    @property
    def _http(self) -> Any:
        with self._lock:
            if self._pool is None:
                self._pool = self._make_pool()
            return self._pool

    def _make_pool(self) -> Any:
        import urllib3

        retries = urllib3.Retry(
            total=self._retry_total,
            backoff_factor=0.5,
            status_forcelist=RETRY_STATUS,
            allowed_methods=None,  # every request here is idempotent (a block id names its bytes)
            raise_on_status=False,
        )
        options: dict[str, Any] = {
            "maxsize": self._pool_size,
            "retries": retries,
            "timeout": urllib3.Timeout(connect=10.0, read=120.0),
        }
        bundle = certificates()
        if bundle is not None:
            options["ca_certs"] = bundle
        if self._proxy:
            return urllib3.ProxyManager(self._proxy, **options)
        return urllib3.PoolManager(**options)

    def __repr__(self) -> str:
        return f"BlobRequests({str(self._container)!r}, account={self._account!r})"

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.clear()
        if self._gets is not None:
            self._gets.close()

    def open_read(self, key: str, range: tuple[int, int] | None) -> IO[bytes] | None:
        """Get Blob (bytes ``[start, end)`` with ``range``) as a stream; ``None`` behind a proxy."""
        if self._gets is None:
            return None
        headers = {} if range is None else {"Range": f"bytes={range[0]}-{range[1] - 1}"}
        return self._gets.open(self._request("GET", key, {}, headers), self._fields("get", key))

    def stage(self, key: str, block_id: str, data: bytes | memoryview) -> None:
        """Put Block: upload ``data`` as block ``block_id`` of blob ``key``, not yet visible."""
        self._put(key, {"comp": "block", "blockid": block_id}, {}, data, "upload_part")

    def commit(
        self,
        key: str,
        block_ids: Sequence[str],
        *,
        metadata: Mapping[str, str],
        content_type: str,
    ) -> tuple[str | None, datetime | None, str | None]:
        """Put Block List: make the blob those blocks in order; ``(etag, last_modified, version)``."""
        body = "".join(f"<Latest>{block}</Latest>" for block in block_ids)
        payload = f'<?xml version="1.0" encoding="utf-8"?><BlockList>{body}</BlockList>'.encode()
        headers = {"Content-Type": "application/xml", "x-ms-blob-content-type": content_type}
        headers.update({f"x-ms-meta-{name}": value for name, value in metadata.items()})
        answer = self._put(key, {"comp": "blocklist"}, headers, payload, "complete_multipart")
        modified = answer.get("Last-Modified")
        return answer.get("ETag"), _http_date(modified) if modified else None, answer.get("x-ms-version-id")

    def _put(
        self, key: str, query: dict[str, str], headers: dict[str, str], body: bytes | memoryview, op: str
    ) -> Mapping[str, str]:
        """The answer's headers to an idempotent PUT (a block, a block list), sent again if need be.

        On the connections the GETs use, through ``http.client`` (no urllib3 to
        load); behind a proxy, through urllib3.
        """
        if self._gets is None:
            return cast(Mapping[str, str], self._send("PUT", key, query, headers, body, op).headers)
        request = self._request("PUT", key, query, headers, body)
        return cast(Mapping[str, str], self._gets.put(request, body, self._fields(op, key)))

    def head(self, key: str) -> ObjectInfo:
        """Get Blob Properties; a missing blob or container raises NotFoundError saying which."""
        if self._gets is not None:  # on the connections the blob's GETs will use; no urllib3 to load
            headers: Any = self._gets.head(self._request("HEAD", key, {}, {}), self._fields("stat", key))
        else:
            headers = self._send("HEAD", key, {}, {}, b"", "stat").headers
        modified = headers.get("Last-Modified")
        return ObjectInfo(
            key=key,
            size=int(headers.get("Content-Length") or 0),
            etag=headers.get("ETag"),
            last_modified=_http_date(modified) if modified else None,
            metadata=metadata_from_headers(headers.items(), "x-ms-meta-"),
            content_type=headers.get("Content-Type"),
            storage_class=headers.get("x-ms-access-tier"),
            version=headers.get("x-ms-version-id"),
        )

    def delete(self, key: str, *, missing_ok: bool) -> None:
        """Delete Blob; with ``missing_ok`` a missing blob (not a missing container) is no error.

        A blob found missing by a retry counts as deleted: the try before it,
        whose answer was lost, may have deleted it. On the connections the GETs
        use (no urllib3 to load); behind a proxy, through urllib3.
        """
        if self._gets is not None:
            answer = self._gets.delete(self._request("DELETE", key, {}, {}), self._fields("delete", key))
            status, headers, retried = answer
        else:
            response = self._send("DELETE", key, {}, {}, b"", "delete", accept=(404,))
            status, headers = response.status, response.headers
            retried = bool(response.retries is not None and response.retries.history)
        if status == 404:
            code = headers.get("x-ms-error-code") or ""
            if code == "ContainerNotFound" or not (missing_ok or retried):
                raise status_error(404, code, self._fields("delete", key))

    def list_pages(self, prefix: str, delimiter: str | None, page_size: int) -> Iterator[list[ObjectInfo]]:
        """List Blobs, metadata included, page by page (entries in key order).

        Each page's successor is asked for before the page is parsed, so the
        service makes it while this process reads the last one (the marker
        is found in the raw answer first).
        """
        fields = self._fields("list", prefix)
        if self._gets is None:  # behind a proxy: one page after another, through urllib3
            marker: str | None = None
            while True:
                query = self._list_query(prefix, delimiter, marker, page_size)
                data = self._send("GET", None, query, {}, b"", "list", shown_key=prefix).data
                marker = _next_marker(data)
                yield _parse_page(data, marker, fields)
                if marker is None:
                    return
        gets = self._gets

        def request(marker: str | None) -> Request:
            return self._request("GET", None, self._list_query(prefix, delimiter, marker, page_size), {})

        pending: Pending | None = gets.send(request(None), fields)
        try:
            while pending is not None:
                with pending.answer() as body:
                    data = body.read()
                marker = _next_marker(data)
                pending = gets.send(request(marker), fields) if marker else None
                yield _parse_page(data, marker, fields)
        finally:
            if pending is not None:
                pending.cancel()

    @staticmethod
    def _list_query(prefix: str, delimiter: str | None, marker: str | None, page_size: int) -> dict[str, str]:
        query = {"restype": "container", "comp": "list", "include": "metadata", "maxresults": str(page_size)}
        if prefix:
            query["prefix"] = prefix
        if delimiter:
            query["delimiter"] = delimiter
        if marker:
            query["marker"] = marker
        return query

    def _send(
        self,
        method: str,
        key: str | None,
        query: dict[str, str],
        headers: dict[str, str],
        body: bytes | memoryview,
        op: str,
        *,
        shown_key: str = "",
        accept: tuple[int, ...] = (),
    ) -> Any:
        """The answer to a request; one of 300 or more raises, unless its status is in ``accept``."""
        import urllib3

        url, text, signed = self._signed(method, key, query, headers, body)
        fields = self._fields(op, shown_key if key is None else key)
        try:
            response = self._http.request(method, f"{url}?{text}", body=body, headers=signed)
        except urllib3.exceptions.HTTPError as err:
            # The message can hold the URL, and with it a SAS signature: name the kind only.
            raise TransientError(
                f"cannot reach the Azure Blob endpoint ({type(err).__name__})",
                hint=_UNREACHABLE_HINT,
                **fields,
            ) from None
        if response.status >= 300 and response.status not in accept:
            raise status_error(response.status, response.headers.get("x-ms-error-code") or "", fields)
        return response

    def _fields(self, op: str, key: str) -> dict[str, Any]:
        return {"op": op, "uri": str(self._container.with_key(key)), "provider": "azure"}

    def _request(
        self,
        method: str,
        key: str | None,
        query: dict[str, str],
        headers: dict[str, str],
        body: bytes | memoryview = b"",
    ) -> Request:
        """A request for ``StreamedGets``: ``(path?query, headers)``, signed again for each try."""

        def build() -> tuple[str, dict[str, str]]:
            url, text, signed = self._signed(method, key, query, headers, body)
            return f"{urlsplit(url).path}?{text}", signed

        return build

    def _signed(
        self,
        method: str,
        key: str | None,
        query: dict[str, str],
        headers: dict[str, str],
        body: bytes | memoryview,
    ) -> tuple[str, str, dict[str, str]]:
        """``(url, query string, headers)`` of a request, signed with the key or carrying the SAS."""
        url = self._container_url if key is None else f"{self._container_url}/{quote(key, safe='/~')}"
        text = "&".join(f"{name}={quote(value, safe='')}" for name, value in query.items())
        headers = {
            **headers,
            "x-ms-date": formatdate(usegmt=True),
            "x-ms-version": _API_VERSION,
            "Content-Length": str(len(body)),
        }
        if self._key is not None:
            headers["Authorization"] = self._authorization(method, url, query, headers)
        else:
            text = f"{self._sas}&{text}" if text else f"{self._sas}"
        return url, text, headers

    def _authorization(
        self, method: str, url: str, query: Mapping[str, str], headers: Mapping[str, str]
    ) -> str:
        assert self._key is not None
        lowered = {name.lower(): value for name, value in headers.items()}
        if lowered.get("content-length") == "0":
            lowered["content-length"] = ""  # as the service computes it from version 2015-02-21
        standard = "".join(lowered.get(name, "") + "\n" for name in _SIGNED_STANDARD)
        ms_headers = "".join(
            f"{name}:{lowered[name].strip()}\n" for name in sorted(lowered) if name.startswith("x-ms-")
        )
        resource = f"/{self._account}{urlsplit(url).path}"
        resource += "".join(f"\n{name.lower()}:{query[name]}" for name in sorted(query, key=str.lower))
        to_sign = f"{method}\n{standard}{ms_headers}{resource}"
        signature = hmac.new(self._key, to_sign.encode(), hashlib.sha256).digest()
        return f"SharedKey {self._account}:{base64.b64encode(signature).decode()}"


_NEXT_MARKER = re.compile(rb"<NextMarker>([^<]*)</NextMarker>")


def _next_marker(data: bytes) -> str | None:
    """The continuation marker of a List Blobs answer, read before the page is parsed."""
    found = _NEXT_MARKER.search(data)
    if found is None:
        return None
    return html.unescape(found.group(1).decode()) or None


def _parse_page(data: bytes, marker: str | None, fields: dict[str, Any]) -> list[ObjectInfo]:
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError:
        raise OmniCloudError("Azure answered a listing with malformed XML", **fields) from None
    if (root.findtext("NextMarker") or None) != marker:
        raise OmniCloudError("Azure answered a listing with two continuation markers", **fields)
    entries = [_listed(item) for item in root.iterfind("Blobs/*")]
    # Blobs and prefixes arrive as two kinds of element: one order for both.
    entries.sort(key=lambda entry: entry.key)
    return entries


def _answer_error(
    status: int, headers: http.client.HTTPMessage, body: bytes, fields: dict[str, Any]
) -> OmniCloudError:
    return status_error(status, headers.get("x-ms-error-code") or "", fields)


def status_error(status: int, code: str, fields: dict[str, Any]) -> OmniCloudError:
    """The omnicloud error for an Azure Blob HTTP status and ``x-ms-error-code``."""
    if code == "AuthenticationFailed" or status == 401:
        return AuthenticationError(f"Azure rejected the credentials ({code or status})", **fields)
    if status == 403:
        # Azurite reports a bad shared-key signature as AuthorizationFailure.
        return PermissionDeniedError(f"access denied ({code or status})", **fields)
    if status == 404:
        if code == "ContainerNotFound":
            return NotFoundError("container does not exist", hint="create it with `omnicloud mb`", **fields)
        return NotFoundError("no such object", **fields)
    if code in ("InvalidBlockList", "InvalidBlockId"):
        return PreconditionFailedError(f"block list rejected ({code})", **fields)
    if status in (409, 412):
        return PreconditionFailedError(f"precondition failed ({code or status})", **fields)
    if status in RETRY_STATUS or status >= 500:
        return TransientError(f"Azure is busy or failing ({code or status})", **fields)
    return OmniCloudError(f"Azure error {code or status}", **fields)


def _listed(item: ElementTree.Element) -> ObjectInfo:
    """An ObjectInfo from a ``<Blob>`` or ``<BlobPrefix>`` element of List Blobs."""
    name_element = item.find("Name")
    name = "" if name_element is None else name_element.text or ""
    if name_element is not None and name_element.get("Encoded") == "true":
        name = unquote(name)  # names with characters XML cannot carry arrive percent-encoded
    if item.tag == "BlobPrefix":
        return ObjectInfo(key=name, size=0, is_prefix=True)
    properties = item.find("Properties")
    found = {} if properties is None else {child.tag: child.text or "" for child in properties}
    etag = found.get("Etag") or None
    if etag and not etag.startswith('"'):
        etag = f'"{etag}"'  # listed bare, HEAD quoted: one form pins a version
    modified = found.get("Last-Modified")
    metadata = item.find("Metadata")
    return ObjectInfo(
        key=name,
        size=int(found.get("Content-Length") or 0),
        etag=etag,
        last_modified=_http_date(modified) if modified else None,
        metadata={} if metadata is None else {child.tag.lower(): child.text or "" for child in metadata},
        content_type=found.get("Content-Type") or None,
        storage_class=found.get("AccessTier") or None,
        version=item.findtext("VersionId") or None,
    )


_MONTHS = {
    "Jan": 1, "Feb": 2, "Mar": 3, "Apr": 4, "May": 5, "Jun": 6,
    "Jul": 7, "Aug": 8, "Sep": 9, "Oct": 10, "Nov": 11, "Dec": 12,
}  # fmt: skip


def _http_date(text: str) -> datetime:
    """``Wed, 25 Nov 2026 10:00:00 GMT`` (the one form Azure sends) in a fraction of ``email.utils``' time.

    A listing parses one per blob; anything else goes to ``parsedate_to_datetime``.
    """
    try:
        _, day, month, year, clock, zone = text.split()
        hour, minute, second = clock.split(":")
        if zone == "GMT":
            return datetime(
                int(year), _MONTHS[month], int(day), int(hour), int(minute), int(second), tzinfo=UTC
            )
    except (ValueError, KeyError):
        pass
    return parsedate_to_datetime(text)
