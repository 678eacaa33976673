"""Error mapping is part of the contract: each provider's failures become the same omnicloud errors."""

from __future__ import annotations

import json
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from omnicloud.errors import (
    AuthenticationError,
    OmniCloudError,
    PermissionDeniedError,
    TransientError,
)

pytestmark = pytest.mark.emulator

CLOUDS = ["s3", "s3-sdk", "gcs", "azure", "azure-sdk"]
MULTIPART_CLOUDS = [name for name in CLOUDS if name != "gcs"]  # GCS has no multipart API here
AZURITE_KEY_WRONG = "d3Jvbmcga2V5IGZvciBhenVyaXRlIHRoYXQgaXMgbG9uZyBlbm91Z2ggdG8gYmUgcGxhdXNpYmxl"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _open_cloud(name: str, endpoint: str, bucket: str = "oc-errors") -> Any:
    if name in ("s3", "s3-sdk"):
        from omnicloud.storage.s3 import S3Store

        return S3Store(
            bucket,
            endpoint_url=endpoint,
            access_key_id="testing",
            secret_access_key="testing",
            max_attempts=2,
            data_plane="obstore" if name == "s3" else "sdk",
        )
    if name == "gcs":
        from omnicloud.storage.gcs import GCSStore

        return GCSStore(bucket, endpoint=endpoint, project="omnicloud-tests", retry_deadline=1.0)
    from omnicloud.storage.azure import AzureStore

    connection = (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
        f"AccountKey={AZURITE_KEY_WRONG};BlobEndpoint={endpoint}/devstoreaccount1;"
    )
    data_plane = "sdk" if name == "azure-sdk" else "obstore"
    return AzureStore(bucket, connection_string=connection, retry_total=0, data_plane=data_plane)


class _Busy(BaseHTTPRequestHandler):
    """Answers every request as an overloaded provider would."""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        if "/storage/v1" in self.path or "/upload/storage" in self.path or "/download/storage" in self.path:
            body = json.dumps({"error": {"code": 503, "message": "backend busy"}}).encode()
            ctype = "application/json"
        else:
            body = b"<?xml version='1.0'?><Error><Code>SlowDown</Code><Message>Slow</Message></Error>"
            ctype = "application/xml"
        self.send_response(503)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-ms-error-code", "ServerBusy")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _answer

    def log_message(self, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def busy_endpoint() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Busy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("name", CLOUDS)
def test_unreachable_endpoint_is_a_transient_error_naming_the_object(name: str) -> None:
    before = set(threading.enumerate())
    store = _open_cloud(name, f"http://127.0.0.1:{_closed_port()}")
    with pytest.raises(TransientError) as caught:
        store.get("some/key")
    assert caught.value.retryable
    assert "some/key" in str(caught.value)
    # Nothing keeps trying behind the caller's back (google-cloud-storage's bucket-metadata thread did).
    assert [t.name for t in set(threading.enumerate()) - before if t.is_alive()] == []


@pytest.mark.parametrize("name", CLOUDS)
def test_throttling_and_server_errors_are_transient(name: str, busy_endpoint: str) -> None:
    store = _open_cloud(name, busy_endpoint)
    with pytest.raises(TransientError) as caught:
        store.get("k")
    assert caught.value.retryable
    assert caught.value.provider in ("aws", "gcp", "azure")


@pytest.mark.parametrize("name", CLOUDS)
def test_a_small_put_to_an_unreachable_endpoint_is_a_transient_error(name: str) -> None:
    store = _open_cloud(name, f"http://127.0.0.1:{_closed_port()}")
    with pytest.raises(TransientError) as caught:
        store.put("some/key", b"1")
    assert caught.value.op == "put"
    assert "some/key" in str(caught.value)


@pytest.mark.parametrize("name", CLOUDS)
def test_a_small_put_to_a_busy_service_is_a_transient_error(name: str, busy_endpoint: str) -> None:
    store = _open_cloud(name, busy_endpoint)
    with pytest.raises(TransientError) as caught:
        store.put("k", b"1")
    assert caught.value.retryable


def _upload_one_part(store: Any, key: str) -> None:
    # Azure makes its upload id locally; elsewhere a made-up id still sends the part.
    upload = store.create_multipart(key) if type(store).__name__ == "AzureStore" else "an-upload-id"
    store.upload_part(key, upload, 1, b"x" * 1024)


@pytest.mark.parametrize("name", MULTIPART_CLOUDS)
def test_a_part_sent_to_an_unreachable_endpoint_is_a_transient_error_naming_the_object(name: str) -> None:
    store = _open_cloud(name, f"http://127.0.0.1:{_closed_port()}")
    with pytest.raises(TransientError) as caught:
        _upload_one_part(store, "big/key.bin")
    assert caught.value.op == "upload_part"
    assert "big/key.bin" in str(caught.value)


@pytest.mark.parametrize("name", MULTIPART_CLOUDS)
def test_a_part_sent_to_a_busy_service_is_a_transient_error(name: str, busy_endpoint: str) -> None:
    store = _open_cloud(name, busy_endpoint)
    with pytest.raises(TransientError) as caught:
        _upload_one_part(store, "big/key.bin")
    assert caught.value.retryable


def test_s3_small_puts_read_the_ca_bundle_botocore_trusts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    from omnicloud.errors import ConfigError

    missing = tmp_path / "no-such-bundle.pem"
    monkeypatch.setenv("AWS_CA_BUNDLE", str(missing))
    # Nothing listens there: the bundle is read before any request is made.
    store = _open_cloud("s3", f"https://127.0.0.1:{_closed_port()}")
    with pytest.raises(ConfigError) as caught:
        store.put("k", b"1")
    assert str(missing) in str(caught.value)
    system = ssl.get_default_verify_paths().cafile
    if system:
        monkeypatch.setenv("AWS_CA_BUNDLE", system)
        store = _open_cloud("s3", f"https://127.0.0.1:{_closed_port()}")
        with pytest.raises(TransientError):
            store.put("k", b"1")


def test_s3_refuses_an_unknown_data_plane() -> None:
    from omnicloud.errors import ConfigError
    from omnicloud.storage.s3 import S3Store

    with pytest.raises(ConfigError, match="data_plane"):
        S3Store(
            "oc-plane",
            endpoint_url="http://127.0.0.1:1",
            access_key_id="k",
            secret_access_key="s",
            data_plane="x",
        )


@pytest.mark.parametrize("name", ["azure", "azure-sdk"])
def test_azure_rejects_a_wrong_account_key(azurite: Any, name: str) -> None:
    store = _open_cloud(name, azurite.endpoint)
    with pytest.raises((AuthenticationError, PermissionDeniedError)) as caught:
        store.put("k", b"1")
    assert AZURITE_KEY_WRONG not in str(caught.value)
    upload = store.create_multipart("big.bin")
    with pytest.raises((AuthenticationError, PermissionDeniedError)) as caught:
        store.upload_part("big.bin", upload, 1, b"x" * 1024)
    assert caught.value.op == "upload_part"
    assert AZURITE_KEY_WRONG not in str(caught.value)
    assert AZURITE_KEY_WRONG not in repr(store)


def test_s3_rejects_unknown_access_keys_as_authentication_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from omnicloud.sandbox import start_moto
    from omnicloud.storage.s3 import S3Store

    # With no unauthenticated actions allowed, moto checks keys against its IAM.
    monkeypatch.setenv("INITIAL_NO_AUTH_ACTION_COUNT", "0")
    emulator = start_moto()
    try:
        store = S3Store(
            "oc-auth",
            endpoint_url=emulator.endpoint,
            access_key_id="AKIAFAKEFAKEFAKE1234",
            secret_access_key="not-a-real-secret-value",
        )
        with pytest.raises((AuthenticationError, PermissionDeniedError)) as caught:
            store.create_bucket()
        assert "not-a-real-secret-value" not in str(caught.value)
        with pytest.raises(AuthenticationError) as caught:
            store.put("k", b"small")  # through obstore, mapped by the same table
        assert "not-a-real-secret-value" not in str(caught.value)
    finally:
        emulator.stop()


def test_every_mapped_error_is_an_omnicloud_error_with_op_and_provider(azurite: Any) -> None:
    store = _open_cloud("azure", azurite.endpoint)
    with pytest.raises(OmniCloudError) as caught:
        store.stat("x")
    assert caught.value.op == "stat"
    assert caught.value.provider == "azure"


@pytest.mark.parametrize("plane", ["obstore", "sdk"])
def test_an_account_key_that_is_not_base64_is_a_clear_error_that_does_not_echo_it(plane: str) -> None:
    from omnicloud.errors import ConfigError
    from omnicloud.storage.azure import AzureStore

    key = "not-base64-secret!!"
    with pytest.raises(OmniCloudError) as caught:
        store = AzureStore(
            "oc-badkey",
            account="acct",
            account_key=key,
            account_url=f"http://127.0.0.1:{_closed_port()}",
            retry_total=0,
            data_plane=plane,
        )
        store.put("k", b"1")
    if plane == "obstore":
        assert isinstance(caught.value, ConfigError)
    assert key not in str(caught.value) and "None" not in str(caught.value)
