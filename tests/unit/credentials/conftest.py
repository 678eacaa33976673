"""Isolation and fake platform services for the credentials tests.

Every test runs with a fresh HOME, none of the developer's cloud variables,
and every metadata endpoint pointed at a closed port on 127.0.0.1, so nothing
here can reach a real cloud or a real metadata address. Tests that exercise a
metadata flow start one of the fake services below, which answer like the
documented endpoints (EC2 IMDSv2, GCE metadata, Azure IMDS, OCI instance
metadata and its auth service).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

_CLOUD_VARIABLE_PREFIXES = (
    "AWS_",
    "AZURE_",
    "GOOGLE_",
    "GCE_",
    "GCLOUD_",
    "CLOUDSDK_",
    "OCI_",
    "IDENTITY_",
    "MSI_",
    "OMNICLOUD_",
)
_CLOUD_VARIABLES = ("STORAGE_EMULATOR_HOST", "XDG_CONFIG_HOME", "NO_GCE_CHECK", "IMDS_ENDPOINT")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A clean HOME and environment; metadata endpoints on a closed local port."""
    import os

    for name in list(os.environ):
        if name.startswith(_CLOUD_VARIABLE_PREFIXES) or name in _CLOUD_VARIABLES:
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    dead = f"127.0.0.1:{closed_port()}"
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", f"http://{dead}")
    monkeypatch.setenv("GCE_METADATA_HOST", dead)
    monkeypatch.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", f"http://{dead}")
    monkeypatch.setenv("OCI_METADATA_BASE_URL", f"http://{dead}/opc/v2")
    monkeypatch.setenv("OMNICLOUD_METADATA_TIMEOUT", "0.5")
    return home


# --- a tiny programmable HTTP server ------------------------------------------------


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


Answer = tuple[int, dict[str, str], bytes]
Route = Callable[[Recorded], Answer]


@dataclass
class FakeServer:
    """Answers by (method, path) with programmable handlers and records every request."""

    server: ThreadingHTTPServer
    routes: dict[tuple[str, str], Route] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def route(self, method: str, path: str, handler: Route) -> None:
        self.routes[(method, path)] = handler

    def paths(self) -> list[str]:
        return [request.path for request in self.requests]


def _handler_class(fake: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            recorded = Recorded(
                self.command,
                parts.path,
                parse_qs(parts.query),
                {k.lower(): v for k, v in self.headers.items()},
                body,
            )
            fake.requests.append(recorded)
            handler = fake.routes.get((self.command, parts.path))
            if handler is None:
                status, headers, payload = 404, {"Content-Type": "text/plain"}, b"not found"
            else:
                status, headers, payload = handler(recorded)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _serve

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def fake_server() -> Iterator[FakeServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    fake = FakeServer(server)
    server.RequestHandlerClass = _handler_class(fake)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()


def json_answer(document: object, status: int = 200, headers: dict[str, str] | None = None) -> Answer:
    return status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(document).encode()


def text_answer(text: str, status: int = 200, headers: dict[str, str] | None = None) -> Answer:
    return status, {"Content-Type": "text/plain", **(headers or {})}, text.encode()


# --- EC2 IMDSv2 -----------------------------------------------------------------------


@dataclass
class FakeImds:
    fake: FakeServer
    role: str = "app-role"
    region: str = "eu-west-3"
    lifetime: timedelta = timedelta(hours=6)
    token: str = "imds-session-token"
    issued: int = 0

    @property
    def endpoint(self) -> str:
        return self.fake.url


@pytest.fixture
def ec2_imds(fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> FakeImds:
    """EC2's IMDSv2: a PUT for a session token, then GETs that must carry it."""
    imds = FakeImds(fake_server)

    def token(request: Recorded) -> Answer:
        if "x-aws-ec2-metadata-token-ttl-seconds" not in request.headers:
            return text_answer("missing TTL", 400)
        return text_answer(imds.token)

    def guarded(body: Callable[[], Answer]) -> Route:
        def route(request: Recorded) -> Answer:
            if request.headers.get("x-aws-ec2-metadata-token") != imds.token:
                return text_answer("", 401)
            return body()

        return route

    def credentials() -> Answer:
        imds.issued += 1
        expires = datetime.now(UTC) + imds.lifetime
        return json_answer(
            {
                "Code": "Success",
                "Type": "AWS-HMAC",
                "AccessKeyId": f"ASIAIMDSFAKE{imds.issued:08d}",
                "SecretAccessKey": f"imds-secret-{imds.issued}",
                "Token": f"imds-token-{imds.issued}",
                "Expiration": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        )

    fake_server.route("PUT", "/latest/api/token", token)
    fake_server.route(
        "GET", "/latest/meta-data/iam/security-credentials/", guarded(lambda: text_answer(imds.role))
    )
    fake_server.route("GET", f"/latest/meta-data/iam/security-credentials/{imds.role}", guarded(credentials))
    fake_server.route("GET", "/latest/meta-data/placement/region", guarded(lambda: text_answer(imds.region)))
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", fake_server.url)
    return imds


# --- GCE metadata server ----------------------------------------------------------------


@dataclass
class FakeGce:
    fake: FakeServer
    email: str = "vm-runner@demo-project-42.iam.gserviceaccount.com"
    project: str = "demo-project-42"
    lifetime: int = 3599
    issued: int = 0


@pytest.fixture
def gce_metadata(fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> FakeGce:
    """The GCE/GKE metadata server: requests and answers carry ``Metadata-Flavor: Google``."""
    gce = FakeGce(fake_server)
    flavor = {"Metadata-Flavor": "Google"}

    def guarded(body: Callable[[Recorded], Answer]) -> Route:
        def route(request: Recorded) -> Answer:
            if request.headers.get("metadata-flavor") != "Google":
                return text_answer("Missing Metadata-Flavor", 403, flavor)
            return body(request)

        return route

    def token(request: Recorded) -> Answer:
        gce.issued += 1
        return json_answer(
            {"access_token": f"ya29.fake-{gce.issued}", "expires_in": gce.lifetime, "token_type": "Bearer"},
            headers=flavor,
        )

    base = "/computeMetadata/v1"
    fake_server.route(
        "GET",
        f"{base}/instance/service-accounts/default/email",
        guarded(lambda r: text_answer(gce.email, 200, flavor)),
    )
    fake_server.route(
        "GET", f"{base}/project/project-id", guarded(lambda r: text_answer(gce.project, 200, flavor))
    )
    fake_server.route("GET", f"{base}/instance/service-accounts/default/token", guarded(token))
    monkeypatch.setenv("GCE_METADATA_HOST", fake_server.host)
    return gce


# --- Azure IMDS -----------------------------------------------------------------------


@dataclass
class FakeAzureImds:
    fake: FakeServer
    issued: int = 0
    has_identity: bool = True


@pytest.fixture
def azure_imds(fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> FakeAzureImds:
    """Azure IMDS's token endpoint: ``Metadata: true`` required, 400 without an identity."""
    imds = FakeAzureImds(fake_server)

    def token(request: Recorded) -> Answer:
        if request.headers.get("metadata") != "true":
            return json_answer(
                {"error": "invalid_request", "error_description": "Required metadata header"}, 400
            )
        if not imds.has_identity:
            return json_answer({"error": "invalid_request", "error_description": "Identity not found"}, 400)
        imds.issued += 1
        now = int(time.time())
        return json_answer(
            {
                "access_token": f"azure-imds-token-{imds.issued}",
                "refresh_token": "",
                "expires_in": "3599",
                "expires_on": str(now + 3599),
                "not_before": str(now),
                "resource": request.query.get("resource", [""])[0],
                "token_type": "Bearer",
            }
        )

    fake_server.route("GET", "/metadata/identity/oauth2/token", token)
    monkeypatch.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", fake_server.url)
    return imds
