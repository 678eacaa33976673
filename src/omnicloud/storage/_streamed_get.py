"""GET requests whose bodies go from the socket straight into the caller's buffer.

The transfer engine downloads a large object over a few long ranged streams,
reading each 8 MiB chunk into a buffer it reuses. Through obstore (Azure) or
botocore's urllib3 (S3) each piece of a body first arrives in a new buffer
of the library's and is then copied into ours; ``http.client``'s
``readinto`` receives into ours directly. Measured on this 2-core VM,
256 MiB from Azurite took ~0.6 CPU-seconds this way against ~1.0 through
obstore, and from moto ~1.1 against ~1.45 through botocore (which leaves
the emulator, on the same cores, more time).

Callers build each request (their provider signs it) and map an error
answer to an omnicloud error; this module opens the connection, retries
refused connections and busy answers with backoff, and keeps a connection
whose body was read to its end for the next GET. A GET can also be sent
before its answer is wanted (:meth:`StreamedGets.send`): Azure listings ask
for the next page this way before they parse the current one. Idempotent
PUTs and DELETEs go the same way (:meth:`StreamedGets.put`,
:meth:`StreamedGets.delete`): Azure's blocks, block lists and deletes, which
then need no urllib3 (~30-35 ms to import here); so do S3's multipart
uploads (:meth:`StreamedGets.post` for the two POSTs), which then need no boto3. Behind a
proxy (:func:`proxy_for`) callers keep their SDK's path. No URL reaches a message: it can carry a SAS or a
presigned signature.
"""

from __future__ import annotations

import http.client
import io
import ssl
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import IO, Any
from urllib.parse import urlsplit

from omnicloud.errors import OmniCloudError, TransientError

__all__ = [
    "RETRY_STATUS",
    "ErrorAnswer",
    "Pending",
    "Request",
    "StreamedGets",
    "certificates",
    "proxy_for",
]

RETRY_STATUS = (408, 429, 500, 502, 503, 504)
_BACKOFF = 0.5  # seconds before the second try, doubling after
_CONNECT_TIMEOUT = 10.0
_READ_TIMEOUT = 120.0
_READ_BUFFER = 1024 * 1024  # small reads are buffered; reads this large or more go to the socket
_DRAIN = 64 * 1024  # what is left of an answer is read to keep its connection, up to this much

Request = Callable[[], tuple[str, dict[str, str]]]
"""Builds a GET for one try: ``(path?query, headers)``."""

ErrorAnswer = Callable[[int, http.client.HTTPMessage, bytes, dict[str, Any]], OmniCloudError]
"""``(status, headers, body, fields)`` of an answer of 300 or more -> the error to raise."""


def certificates() -> str | None:
    """certifi's bundle where it is installed (as the SDKs use), else the system's (``None``)."""
    try:
        import certifi
    except ImportError:
        return None
    path: str = certifi.where()
    return path


def proxy_for(endpoint: str) -> str | None:
    """The proxy the environment sets for ``endpoint`` (``HTTPS_PROXY``, ``NO_PROXY``...), if any."""
    parts = urlsplit(endpoint)
    proxy = urllib.request.getproxies().get(parts.scheme)
    if proxy and not urllib.request.proxy_bypass(parts.hostname or ""):
        return proxy
    return None


class StreamedGets:
    """GETs to one endpoint, thread-safe, keeping up to ``pool_size`` idle connections.

    ``service`` names the endpoint in errors ("cannot reach the S3 endpoint"),
    with ``hint``; ``error`` maps an error answer. Not for an endpoint
    behind a proxy (see :func:`proxy_for`): it connects directly.
    """

    def __init__(
        self,
        endpoint: str,
        *,
        service: str,
        error: ErrorAnswer,
        hint: str,
        retry_total: int = 3,
        pool_size: int = 16,
        ca_bundle: str | None = None,
    ) -> None:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https"):
            raise ValueError(f"not an HTTP endpoint: {parts.scheme}")
        self.netloc = parts.netloc.rpartition("@")[2]  # host[:port], an IPv6 address in brackets
        self._https = parts.scheme == "https"
        self._service = service
        self._error = error
        self._hint = hint
        self._retry_total = retry_total
        self._pool_size = pool_size
        self._ca_bundle = ca_bundle
        self._lock = threading.Lock()
        self._idle: list[http.client.HTTPConnection] = []
        self._closed = False
        self._tls: ssl.SSLContext | None = None

    def __repr__(self) -> str:
        return f"StreamedGets({'https' if self._https else 'http'}://{self.netloc})"

    def close(self) -> None:
        """Close the kept connections; those of bodies still open close when the bodies do."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    def open(self, request: Request, fields: dict[str, Any]) -> IO[bytes]:
        """GET what ``request()`` names, ``(path?query, headers)``, built again for each try.

        The answer's body is returned as a stream; a range the object does
        not reach (416) reads nothing. A body that breaks off raises
        :class:`TransientError`; ``fields`` (``op``, ``uri``, ``provider``)
        go into every error.
        """
        return self.send(request, fields).answer()

    def send(self, request: Request, fields: dict[str, Any]) -> Pending:
        """Send the GET now; :meth:`Pending.answer` waits for what :meth:`open` returns.

        The server works on the request while the caller does something else
        (a listing parses one page while the next is made). Failures, and
        their retries, happen in ``answer()``.
        """
        return Pending(self, request, fields)

    def head(self, request: Request, fields: dict[str, Any]) -> http.client.HTTPMessage:
        """The headers of a HEAD for what ``request()`` names, retried and mapped as a GET is.

        On the connections the GETs use: an object's properties, then its bytes, on one.
        """
        return Pending(self, request, fields, method="HEAD").headers()

    def post(
        self, request: Request, body: bytes, fields: dict[str, Any]
    ) -> tuple[http.client.HTTPMessage, bytes]:
        """The headers and the whole body of the answer to a POST of ``body``, retried as a GET is.

        For short answers (XML naming an upload) to POSTs that may be sent again:
        a retry after a lost answer repeats the request.
        """
        pending = Pending(self, request, fields, method="POST", body=body)
        with pending.answer() as answer:
            data = answer.read()
        assert pending.answered is not None
        return pending.answered, data

    def put(
        self, request: Request, body: bytes | memoryview, fields: dict[str, Any]
    ) -> http.client.HTTPMessage:
        """The headers of the answer to a PUT of ``body``, retried and mapped as a GET is.

        Only for a PUT that may be sent twice to the same effect (the answer to
        the first can be lost, and a kept connection the service closed is
        tried again on a new one): ``request()`` signs each try.
        """
        return Pending(self, request, fields, method="PUT", body=body).headers()

    def delete(self, request: Request, fields: dict[str, Any]) -> tuple[int, http.client.HTTPMessage, bool]:
        """``(status, headers, sent more than once)`` of the answer to a DELETE, a 404 among them.

        Retried and mapped as a GET is. A 404 is the caller's to judge: after a
        lost answer, the try before may have deleted what the retry finds missing.
        """
        pending = Pending(self, request, fields, method="DELETE", accept=(404,))
        headers = pending.headers()
        return pending.status, headers, pending.sent_again

    def _send(
        self, request: Request, method: str = "GET", body: bytes | memoryview = b""
    ) -> tuple[http.client.HTTPConnection | None, bool, str]:
        """``(connection the request went out on, or None; whether it was kept; error kind)``."""
        while True:
            target, headers = request()  # before a connection is taken: signing may raise
            connection = self._connection()
            reused = connection.sock is not None
            try:
                if not reused:
                    connection.connect()
                    connection.sock.settimeout(_READ_TIMEOUT)
                connection.request(method, target, body=body or None, headers=headers)
                return connection, reused, ""
            except (OSError, http.client.HTTPException) as err:
                connection.close()
                if not reused:
                    return None, False, type(err).__name__
                # The service closed a kept connection: a fresh one, not a retry.

    def _connection(self) -> http.client.HTTPConnection:
        with self._lock:
            if self._idle:
                return self._idle.pop()
            if self._https and self._tls is None:
                self._tls = ssl.create_default_context(cafile=self._ca_bundle or certificates())
        if self._https:
            return http.client.HTTPSConnection(self.netloc, timeout=_CONNECT_TIMEOUT, context=self._tls)
        return http.client.HTTPConnection(self.netloc, timeout=_CONNECT_TIMEOUT)

    def _finish(self, connection: http.client.HTTPConnection, response: http.client.HTTPResponse) -> bytes:
        """Read what is left of a short answer and keep its connection; close the others.

        Returns what was read: an error answer's body, for its code.
        """
        try:
            if response.length is None or response.length > _DRAIN:
                connection.close()  # more to read than a new connection costs
                return b""
            rest = response.read()
        except (OSError, http.client.HTTPException):
            connection.close()
            return b""
        if response.will_close or not response.isclosed():
            connection.close()
            return rest
        with self._lock:
            if not self._closed and len(self._idle) < self._pool_size:
                self._idle.append(connection)
                return rest
        connection.close()
        return rest


class Pending:
    """A GET (or HEAD, PUT, DELETE) on its way: :meth:`answer` waits for it, :meth:`cancel` drops it.

    An answer whose status is in ``accept`` counts as a success (a DELETE's
    404, say); ``status`` is the status answered and ``sent_again`` whether
    the request went out more than once (an earlier try may have done its work).
    """

    def __init__(
        self,
        owner: StreamedGets,
        request: Request,
        fields: dict[str, Any],
        *,
        method: str = "GET",
        body: bytes | memoryview = b"",
        accept: tuple[int, ...] = (),
    ) -> None:
        self._owner = owner
        self._request = request
        self._fields = fields
        self._method = method
        self._body = body
        self._accept = accept
        self.status = 0
        self.answered: http.client.HTTPMessage | None = None  # the headers of the answer taken
        self.sent_again = False
        self._connection, self._reused, self._failure = owner._send(request, method, body)

    def cancel(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    def answer(self) -> IO[bytes]:
        """The body of the answer, retrying refused connections and busy answers with backoff."""
        success = self._success()
        if success is None:  # a range starting at or past the end: nothing to read
            return io.BytesIO()
        connection, response = success
        return io.BufferedReader(_Body(self._owner, connection, response, self._fields), _READ_BUFFER)

    def headers(self) -> http.client.HTTPMessage:
        """The headers of the answer (a HEAD's, or a PUT's short one), its connection kept."""
        success = self._success(empty_range=False)
        assert success is not None
        connection, response = success
        self._owner._finish(connection, response)
        return response.headers

    def _success(
        self, *, empty_range: bool = True
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse] | None:
        """The answer under 300 and its connection, retrying refused connections and busy answers.

        ``None`` for a 416 when ``empty_range`` (a range the object does not reach).
        """
        owner, fields = self._owner, self._fields
        attempt = 0
        while True:
            connection, self._connection = self._connection, None
            if connection is not None:
                try:
                    response = connection.getresponse()
                except (OSError, http.client.HTTPException) as err:
                    connection.close()
                    if self._reused:  # a kept connection the service had closed: not a retry
                        self.sent_again = True  # though the service may have done the work first
                        self._connection, self._reused, self._failure = owner._send(
                            self._request, self._method, self._body
                        )
                        continue
                    self._failure = type(err).__name__
                else:
                    self.status = response.status
                    if response.status < 300 or response.status in self._accept:
                        self.answered = response.headers
                        return connection, response
                    body = owner._finish(connection, response)
                    if response.status == 416 and empty_range:
                        return None
                    error = owner._error(response.status, response.headers, body, fields)
                    if response.status not in RETRY_STATUS or attempt >= owner._retry_total:
                        raise error
            if connection is None or self._failure:
                if attempt >= owner._retry_total:
                    raise TransientError(
                        f"cannot reach the {owner._service} endpoint ({self._failure})",
                        hint=owner._hint,
                        **fields,
                    )
            time.sleep(_BACKOFF * 2**attempt)
            attempt += 1
            self.sent_again = True
            self._connection, self._reused, self._failure = owner._send(
                self._request, self._method, self._body
            )


class _Body(io.RawIOBase):
    """The body of an answer: ``readinto`` receives into the caller's buffer.

    At its end, or at close, the connection is kept when the whole body was
    read and closed otherwise. A body shorter than announced, or a broken
    connection, raises :class:`TransientError`.
    """

    def __init__(
        self,
        owner: StreamedGets,
        connection: http.client.HTTPConnection,
        response: http.client.HTTPResponse,
        fields: dict[str, Any],
    ) -> None:
        super().__init__()
        self._owner = owner
        self._connection: http.client.HTTPConnection | None = connection
        self._response = response
        self._fields = fields

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._connection is None:
            return 0
        try:
            got = self._response.readinto(buffer)
        except (OSError, http.client.HTTPException) as err:
            self._release(keep=False)
            raise TransientError(f"the download broke off ({type(err).__name__})", **self._fields) from None
        if got == 0 and len(buffer):
            left = self._response.length
            self._release(keep=not left)
            if left:
                raise TransientError(f"the download broke off {left} bytes before its end", **self._fields)
        return got

    def close(self) -> None:
        if not self.closed:
            self._release(keep=True)
        super().close()

    def _release(self, *, keep: bool) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        if keep:
            self._owner._finish(connection, self._response)
        else:
            connection.close()
