"""Azure's own requests: List Blobs answers as the service documents them, and the status table.

The requests themselves (signing, escaping, errors) run against Azurite in
tests/e2e/test_azure_data_plane.py and the contract suites; these cases are
the answers Azurite never gives (percent-encoded names, version ids), and,
from a scripted loopback server, the faults it never makes: busy answers,
bodies that break off, replies lost on the way, an endpoint nobody answers;
and the order of a pipelined listing's requests.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any
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


# --- Get Blob through http.client: the faults Azurite does not make ------------------------


class _Script:
    """A loopback HTTP server answering from a list of (status, headers, body, then close).

    Status 0 closes the connection without an answer: a reply lost on the way.
    """

    def __init__(self, answers: list[tuple[int, dict[str, str], bytes, bool]]) -> None:
        import http.server
        import threading

        script = self
        self.answers = answers
        self.requests: list[str] = []
        self.bodies: list[bytes] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                script.requests.append(self.path)
                status, headers, body, close = script.answers.pop(0)
                if status == 0:
                    self.close_connection = True
                    return
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)
                self.wfile.flush()
                if close:
                    self.close_connection = True

            do_DELETE = do_GET

            def do_PUT(self) -> None:  # the body is read first, and kept with the request
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                script.bodies.append(body)
                self.do_GET()

            def do_HEAD(self) -> None:  # the answer's headers, and no body whatever they announce
                script.requests.append(f"HEAD {self.path}")
                status, headers, _, close = script.answers.pop(0)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                if close:
                    self.close_connection = True

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}/acct"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


_SAS = "sv=2021-08-06&sr=c&sp=r&sig=SeCrEtSiGnAtUrE%3D"


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    from omnicloud.storage import _streamed_get

    monkeypatch.setattr(_streamed_get, "_BACKOFF", 0.0)
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


def _requests(endpoint: str, retry_total: int = 3) -> Any:
    from omnicloud.storage._azure_rest import BlobRequests
    from omnicloud.uri import parse_uri

    return BlobRequests(endpoint, "acct", parse_uri("az://cont"), key=None, sas=_SAS, retry_total=retry_total)


def _no_secret(*shown: str) -> None:
    for text in shown:
        assert "SeCrEtSiGnAtUrE" not in text and "sig=" not in text


@pytest.mark.usefixtures("no_backoff")
def test_a_busy_answer_is_retried_and_the_read_then_succeeds() -> None:
    server = _Script(
        [
            (503, {"x-ms-error-code": "ServerBusy", "Content-Length": "0"}, b"", False),
            (500, {"x-ms-error-code": "InternalError", "Content-Length": "0"}, b"", False),
            (206, {"Content-Length": "5"}, b"hello", False),
        ]
    )
    try:
        with _requests(server.endpoint).open_read("k", (0, 5)) as reader:
            assert reader.read() == b"hello"
        assert len(server.requests) == 3
        assert all("sig=" in path for path in server.requests)  # the SAS goes in the query
    finally:
        server.stop()


@pytest.mark.usefixtures("no_backoff")
def test_busy_answers_past_the_retries_raise_a_transient_error() -> None:
    busy = (503, {"x-ms-error-code": "ServerBusy", "Content-Length": "0"}, b"", False)
    server = _Script([busy, busy])
    try:
        with pytest.raises(TransientError, match="ServerBusy") as caught:
            _requests(server.endpoint, retry_total=1).open_read("k", None)
        assert len(server.requests) == 2
        _no_secret(str(caught.value), repr(caught.value))
    finally:
        server.stop()


@pytest.mark.usefixtures("no_backoff")
def test_a_body_that_breaks_off_raises_a_transient_error_naming_the_blob() -> None:
    server = _Script([(200, {"Content-Length": "100"}, b"x" * 10, True)])
    try:
        reader = _requests(server.endpoint).open_read("dir/k.bin", None)
        with pytest.raises(TransientError, match="broke off 90 bytes before its end") as caught:
            reader.read()
        assert caught.value.uri == "az://cont/dir/k.bin" and caught.value.op == "get"
        _no_secret(str(caught.value))
        reader.close()
    finally:
        server.stop()


@pytest.mark.usefixtures("no_backoff")
def test_an_endpoint_nobody_answers_raises_a_transient_error_without_the_sas() -> None:
    import socket

    with socket.socket() as probe:  # a loopback port with nothing listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(TransientError, match="cannot reach the Azure Blob endpoint") as caught:
        _requests(f"http://127.0.0.1:{port}/acct", retry_total=1).open_read("k", None)
    _no_secret(str(caught.value), repr(caught.value))
    assert caught.value.__cause__ is None


def test_behind_a_proxy_streamed_reads_are_left_to_obstore(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    assert _requests("http://azurite.invalid:10000/acct").open_read("k", None) is None


_MISSING = (404, {"x-ms-error-code": "BlobNotFound", "Content-Length": "0"}, b"", False)


@pytest.mark.usefixtures("no_backoff")
def test_a_delete_whose_answer_was_lost_and_whose_retry_finds_nothing_has_deleted() -> None:
    server = _Script([(0, {}, b"", True), _MISSING, _MISSING, (0, {}, b"", True), _MISSING])
    try:
        requests = _requests(server.endpoint)
        requests.delete("k", missing_ok=False)  # the lost try deleted it
        assert len(server.requests) == 2
        with pytest.raises(NotFoundError, match="no such object") as caught:
            requests.delete("k", missing_ok=False)  # nothing retried: it was not there
        assert caught.value.op == "delete"
        requests.delete("k", missing_ok=True)
        assert len(server.requests) == 5
        assert requests._pool is None  # Delete Blob went over http.client: no urllib3 pool was made
    finally:
        server.stop()


@pytest.mark.usefixtures("no_backoff")
def test_a_retried_delete_still_reports_a_missing_container() -> None:
    gone = (404, {"x-ms-error-code": "ContainerNotFound", "Content-Length": "0"}, b"", False)
    server = _Script([(0, {}, b"", True), gone])
    try:
        requests = _requests(server.endpoint)
        with pytest.raises(NotFoundError, match="container does not exist") as caught:
            requests.delete("k", missing_ok=True)
        assert caught.value.op == "delete"
        assert requests._pool is None
    finally:
        server.stop()


def _page(names: list[str], marker: str) -> bytes:
    blobs = "".join(
        f"<Blob><Name>{name}</Name><Properties><Content-Length>1</Content-Length></Properties></Blob>"
        for name in names
    )
    tail = f"<NextMarker>{marker}</NextMarker>" if marker else "<NextMarker />"
    head = '<?xml version="1.0" encoding="utf-8"?><EnumerationResults>'
    return f"{head}<Blobs>{blobs}</Blobs>{tail}</EnumerationResults>".encode()


@pytest.mark.usefixtures("no_backoff")
def test_a_listing_asks_for_the_next_page_before_it_hands_out_this_one() -> None:
    first, second = _page(["a", "b"], "2!x&amp;y"), _page(["c"], "")
    server = _Script(
        [
            (200, {"Content-Length": str(len(first))}, first, False),
            (200, {"Content-Length": str(len(second))}, second, False),
        ]
    )
    try:
        pages = _requests(server.endpoint).list_pages("", None, 2)
        assert [info.key for info in next(pages)] == ["a", "b"]
        # Page two was sent for before page one was handed out (the server may take a moment to see it).
        deadline = time.monotonic() + 5
        while len(server.requests) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(server.requests) == 2
        assert "marker=2%21x%26y" in server.requests[1]  # the marker, unescaped from the XML
        assert [info.key for info in next(pages)] == ["c"]
        assert next(pages, None) is None
    finally:
        server.stop()


@pytest.mark.usefixtures("no_backoff")
def test_a_listing_dropped_between_pages_drops_the_request_in_flight() -> None:
    first = _page(["a"], "next")
    second = _page(["b"], "")
    server = _Script(
        [
            (200, {"Content-Length": str(len(first))}, first, False),
            (200, {"Content-Length": str(len(second))}, second, False),
        ]
    )
    try:
        requests = _requests(server.endpoint)
        pages = requests.list_pages("", None, 1)
        next(pages)
        pages.close()
        assert requests._gets._idle == []  # its answer unread: the connection was closed, not kept
    finally:
        server.stop()


@pytest.mark.usefixtures("no_backoff")
def test_blob_properties_come_from_a_retried_head_whose_connection_the_next_get_takes() -> None:
    properties = {
        "Content-Length": "5",
        "ETag": '"0x8DCA1B2C3D4E5F6"',
        "Last-Modified": "Wed, 25 Nov 2026 10:00:00 GMT",
        "Content-Type": "text/plain",
        "x-ms-access-tier": "Cool",
        "x-ms-meta-Owner": "data",
    }
    server = _Script(
        [
            (503, {"x-ms-error-code": "ServerBusy", "Content-Length": "0"}, b"", False),
            (200, properties, b"", False),
            (200, {"Content-Length": "5"}, b"hello", False),
        ]
    )
    try:
        requests = _requests(server.endpoint)
        info = requests.head("dir/k.txt")
        assert (info.key, info.size, info.etag, info.content_type) == (
            "dir/k.txt",
            5,
            '"0x8DCA1B2C3D4E5F6"',
            "text/plain",
        )
        assert (info.storage_class, dict(info.metadata)) == ("Cool", {"owner": "data"})
        assert info.last_modified == datetime(2026, 11, 25, 10, tzinfo=UTC)
        assert [path.split("?")[0] for path in server.requests] == ["HEAD /acct/cont/dir/k.txt"] * 2
        assert len(requests._gets._idle) == 1  # the HEAD's connection is kept ...
        with requests.open_read("dir/k.txt", None) as reader:
            assert reader.read() == b"hello"
        assert len(requests._gets._idle) == 1  # ... and the GET went out on it
    finally:
        server.stop()


@pytest.mark.usefixtures("no_backoff")
def test_a_head_of_a_blob_in_a_missing_container_says_which_is_missing() -> None:
    gone = {"x-ms-error-code": "ContainerNotFound", "Content-Length": "215"}
    server = _Script([(404, gone, b"", False)])
    try:
        with pytest.raises(NotFoundError, match="container does not exist") as caught:
            _requests(server.endpoint).head("k")
        assert (caught.value.op, caught.value.uri) == ("stat", "az://cont/k")
        _no_secret(str(caught.value), repr(caught.value))
    finally:
        server.stop()


@pytest.mark.usefixtures("no_backoff")
def test_a_block_is_sent_again_whole_after_a_busy_answer_and_a_lost_one() -> None:
    ok = (201, {"Content-Length": "0"}, b"", False)
    server = _Script(
        [
            (503, {"x-ms-error-code": "ServerBusy", "Content-Length": "0"}, b"", False),
            (0, {}, b"", True),  # the answer is lost
            ok,
        ]
    )
    try:
        requests = _requests(server.endpoint)
        requests.stage("dir/k.bin", "YmxvY2s=", b"part bytes")
        assert server.bodies == [b"part bytes"] * 3
        assert all("comp=block" in path and "blockid=YmxvY2s%3D" in path for path in server.requests)
        assert len(requests._gets._idle) == 1  # the last answer's connection is kept
        assert requests._pool is None  # no urllib3 pool was made
    finally:
        server.stop()


@pytest.mark.usefixtures("no_backoff")
def test_a_block_list_is_sent_and_answers_with_the_blob_version() -> None:
    answer = {
        "Content-Length": "0",
        "ETag": '"0x8DCA1B2C3D4E5F7"',
        "Last-Modified": "Wed, 25 Nov 2026 10:00:00 GMT",
        "x-ms-version-id": "2026-11-25T10:00:00.0000000Z",
    }
    server = _Script([(201, answer, b"", False)])
    try:
        done = _requests(server.endpoint).commit(
            "k", ["AAAA", "AAAB"], metadata={"omnicloud_digest": "d"}, content_type="text/plain"
        )
        assert done == (
            '"0x8DCA1B2C3D4E5F7"',
            datetime(2026, 11, 25, 10, tzinfo=UTC),
            answer["x-ms-version-id"],
        )
        assert server.bodies[0].endswith(b"<BlockList><Latest>AAAA</Latest><Latest>AAAB</Latest></BlockList>")
    finally:
        server.stop()


@pytest.mark.usefixtures("no_backoff")
def test_a_block_refused_past_the_retries_raises_a_transient_error_without_the_sas() -> None:
    busy = (503, {"x-ms-error-code": "ServerBusy", "Content-Length": "0"}, b"", False)
    server = _Script([busy, busy])
    try:
        with pytest.raises(TransientError, match="ServerBusy") as caught:
            _requests(server.endpoint, retry_total=1).stage("k", "YmxvY2s=", b"x")
        assert (caught.value.op, caught.value.uri) == ("upload_part", "az://cont/k")
        _no_secret(str(caught.value), repr(caught.value))
    finally:
        server.stop()
