"""GCS upload sessions where gcp-storage-emulator cannot stand in for GCS.

The emulator implements no ``DELETE`` of a session and never answers an
upload piece with 429, 410 or a short ``Range``. A loopback server answers
as GCS's resumable-upload documentation describes, and records what it got.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from omnicloud.errors import NotFoundError, TransientError
from omnicloud.storage.gcs import GCSStore

SESSION_ID = "ADPycdsECRETsession"


class _Session(BaseHTTPRequestHandler):
    answers: ClassVar[list[tuple[int, dict[str, str]]]] = []
    seen: ClassVar[list[tuple[str, str, str]]] = []

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        type(self).seen.append((self.command, self.path, self.headers.get("Content-Range", "")))
        status, headers = type(self).answers.pop(0) if type(self).answers else (499, {})
        self.send_response(status)
        for name, value in {**headers, "Content-Length": "0"}.items():
            self.send_header(name, value)
        self.end_headers()

    do_PUT = do_DELETE = _answer

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def session() -> Iterator[tuple[GCSStore, str]]:
    _Session.answers, _Session.seen = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Session)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    store = GCSStore("bkt", endpoint=endpoint, project="p", retry_deadline=1.0)
    try:
        yield store, f"{endpoint}/upload/storage/v1/b/bkt/o?uploadType=resumable&upload_id={SESSION_ID}"
    finally:
        store.close()
        server.shutdown()
        server.server_close()


def test_cancel_deletes_the_session(session: tuple[GCSStore, str]) -> None:
    store, url = session
    store.cancel_resumable("k", url)
    assert _Session.seen == [("DELETE", url[url.index("/upload/") :], "")]


def test_the_service_says_how_much_it_holds_and_the_answer_is_read_in_its_grain(
    session: tuple[GCSStore, str],
) -> None:
    store, url = session
    grain = store.resumable_granularity
    _Session.answers = [(308, {}), (308, {"Range": f"bytes=0-{grain - 1}"}), (308, {"Range": "bytes=0-0"})]
    assert store.resumable_offset("k", url, 10 * grain) == 0  # no Range: nothing arrived
    assert store.resumable_offset("k", url, 10 * grain) == grain
    assert store.resumable_offset("k", url, 10 * grain) == 0  # the emulator's way of saying none
    assert [seen[2] for seen in _Session.seen] == [f"bytes */{10 * grain}"] * 3


def test_a_piece_the_service_took_only_in_part_is_reported_as_such(session: tuple[GCSStore, str]) -> None:
    store, url = session
    grain = store.resumable_granularity
    _Session.answers = [(308, {"Range": f"bytes=0-{grain - 1}"}), (200, {})]
    assert store.send_resumable("k", url, 0, b"x" * (2 * grain), 3 * grain) == grain
    assert store.send_resumable("k", url, grain, b"x" * (2 * grain), 3 * grain) == 3 * grain
    assert [seen[2] for seen in _Session.seen] == [
        f"bytes 0-{2 * grain - 1}/{3 * grain}",
        f"bytes {grain}-{3 * grain - 1}/{3 * grain}",
    ]


@pytest.mark.parametrize(
    ("status", "expected"),
    [(429, TransientError), (503, TransientError), (404, NotFoundError), (410, NotFoundError)],
)
def test_session_answers_map_to_errors_that_never_show_the_session(
    session: tuple[GCSStore, str], status: int, expected: type[Exception]
) -> None:
    store, url = session
    _Session.answers = [(status, {})]
    with pytest.raises(expected) as caught:
        store.send_resumable("k", url, 0, b"x", 1)
    assert "gs://bkt/k" in str(caught.value)
    assert SESSION_ID not in str(caught.value) and SESSION_ID not in repr(caught.value.__dict__)


def test_an_unreachable_session_is_transient_and_never_shows_the_session() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    store = GCSStore("bkt", endpoint=f"http://127.0.0.1:{port}", project="p", retry_deadline=1.0)
    url = f"http://127.0.0.1:{port}/upload/storage/v1/b/bkt/o?uploadType=resumable&upload_id={SESSION_ID}"
    for call in (
        lambda: store.send_resumable("k", url, 0, b"x", 1),
        lambda: store.resumable_offset("k", url, 1),
        lambda: store.cancel_resumable("k", url),
    ):
        with pytest.raises(TransientError) as caught:
            call()
        assert SESSION_ID not in str(caught.value)
        # The request's own exception names the URL: it is never chained for a traceback to show.
        assert caught.value.__cause__ is None and caught.value.__suppress_context__
