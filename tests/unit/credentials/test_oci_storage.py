"""The native OCI backend through the real oci SDK, against a local server speaking OCI's Object Storage API.

OCI has no emulator, so the server below implements the part of the REST API
the backend uses (objects, listing, multipart uploads, buckets) and checks the
request signature of every call with the user's public key, as OCI does.
"""

from __future__ import annotations

import base64
import io
import json
import os
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from omnicloud.credentials import Credentials, resolve
from omnicloud.errors import AuthenticationError, ConfigError, NotFoundError, PreconditionFailedError
from omnicloud.storage import Admin, Deleter, Lister, Multipart, Reader, ServerSideCopy, Stat, Writer
from omnicloud.storage.oci import OCIStore
from omnicloud.uri import parse_uri

NAMESPACE = "testns"
USER = "ocid1.user.oc1..aaaaaaaastorageuser"
TENANCY = "ocid1.tenancy.oc1..aaaaaaaastoragetenancy"
FINGERPRINT = "11:22:33:44:55:66:77:88:99:00:aa:bb:cc:dd:ee:ff"
COMPARTMENT = "ocid1.compartment.oc1..aaaaaaaacompartment"


@dataclass
class StoredObject:
    data: bytes
    content_type: str
    metadata: dict[str, str]
    etag: str = field(default_factory=lambda: uuid.uuid4().hex)
    modified: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class Upload:
    name: str
    content_type: str
    metadata: dict[str, str]
    parts: dict[int, tuple[str, bytes]] = field(default_factory=dict)


@dataclass
class Bucket:
    objects: dict[str, StoredObject] = field(default_factory=dict)
    uploads: dict[str, Upload] = field(default_factory=dict)


class FakeObjectStorage:
    """In-memory OCI Object Storage for one namespace, verifying request signatures."""

    def __init__(self, public_key: rsa.RSAPublicKey) -> None:
        self.public_key = public_key
        self.buckets: dict[str, Bucket] = {}
        self.lock = threading.Lock()
        self.verified = 0
        self.rejected = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    # --- the HTTP signature OCI requires on every request ---------------------------

    def signature_ok(self, method: str, raw_path: str, headers: dict[str, str]) -> bool:
        authorization = headers.get("authorization", "")
        if not authorization.startswith("Signature "):
            return False
        fields = dict(part.split("=", 1) for part in authorization[len("Signature ") :].split(","))
        fields = {name: value.strip('"') for name, value in fields.items()}
        if (
            fields.get("keyId") != f"{TENANCY}/{USER}/{FINGERPRINT}"
            or fields.get("algorithm") != "rsa-sha256"
        ):
            return False
        lines = []
        for name in fields["headers"].split():
            if name == "(request-target)":
                lines.append(f"(request-target): {method.lower()} {raw_path}")
            elif name in headers:
                lines.append(f"{name}: {headers[name]}")
            else:
                return False
        try:
            self.public_key.verify(
                base64.b64decode(fields["signature"]),
                "\n".join(lines).encode(),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except InvalidSignature:
            return False
        return True

    # --- the API ---------------------------------------------------------------------

    def handle(
        self, method: str, raw_path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        if not self.signature_ok(method, raw_path, headers):
            self.rejected += 1
            return _error(
                401,
                "NotAuthenticated",
                "The required information to complete authentication was not provided",
            )
        self.verified += 1
        parts = urlsplit(raw_path)
        query = {name: values[0] for name, values in parse_qs(parts.query).items()}
        segments = parts.path.split("/")
        # ['', 'n', ns, 'b', bucket?, 'o'|'u'?, name...]
        if len(segments) < 4 or segments[1] != "n" or segments[2] != NAMESPACE or segments[3] != "b":
            return _error(404, "NamespaceNotFound", "no such namespace")
        with self.lock:
            if len(segments) == 4 or (len(segments) == 5 and segments[4] == ""):
                if method == "POST":
                    return self.create_bucket(json.loads(body))
                return _error(405, "MethodNotAllowed", method)
            bucket_name = unquote(segments[4])
            bucket = self.buckets.get(bucket_name)
            if bucket is None:
                return _error(
                    404, "BucketNotFound", f"Either the bucket named '{bucket_name}' does not exist"
                )
            if len(segments) == 5:
                return self.bucket_call(method, bucket_name, bucket)
            kind = segments[5]
            name = unquote("/".join(segments[6:]))
            if kind == "o" and not name:
                return self.list_objects(bucket, query)
            if kind == "o":
                return self.object_call(method, bucket, name, headers, body, query)
            if kind == "u" and not name:
                return self.uploads_call(method, bucket_name, bucket, body)
            if kind == "u":
                return self.part_call(method, bucket, name, query, body)
        return _error(400, "InvalidParameter", "unsupported call")

    def create_bucket(self, details: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        name = details["name"]
        if not details.get("compartmentId"):
            return _error(400, "InvalidParameter", "compartmentId is required")
        if name in self.buckets:
            return _error(409, "BucketAlreadyExists", "bucket exists")
        self.buckets[name] = Bucket()
        return _json(
            {"namespace": NAMESPACE, "name": name, "compartmentId": details["compartmentId"], "etag": "e",
             "createdBy": USER, "timeCreated": datetime.now(UTC).isoformat()}
        )  # fmt: skip

    def bucket_call(self, method: str, name: str, bucket: Bucket) -> tuple[int, dict[str, str], bytes]:
        if method == "HEAD":
            return 200, {"etag": "e"}, b""
        if method == "DELETE":
            if bucket.objects or bucket.uploads:
                return _error(409, "BucketNotEmpty", "bucket is not empty")
            del self.buckets[name]
            return 204, {}, b""
        return _error(405, "MethodNotAllowed", method)

    def list_objects(self, bucket: Bucket, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        prefix, delimiter = query.get("prefix", ""), query.get("delimiter")
        limit, start = int(query.get("limit", "1000")), query.get("start", "")
        entries: dict[str, StoredObject | None] = {}
        for name, stored in bucket.objects.items():
            if not name.startswith(prefix):
                continue
            rest = name[len(prefix) :]
            if delimiter and delimiter in rest:
                entries[prefix + rest.split(delimiter)[0] + delimiter] = None
            else:
                entries[name] = stored
        ordered = [name for name in sorted(entries) if name >= start]
        page, following = ordered[:limit], ordered[limit:]
        summaries = [
            {
                "name": n,
                "size": len(s.data),
                "etag": s.etag,
                "timeModified": s.modified.isoformat(),
                "storageTier": "Standard",
            }
            for n in page
            if (s := entries[n]) is not None
        ]
        document: dict[str, Any] = {"objects": summaries, "prefixes": [n for n in page if entries[n] is None]}
        if following:
            document["nextStartWith"] = following[0]
        return _json(document)

    def object_call(
        self,
        method: str,
        bucket: Bucket,
        name: str,
        headers: dict[str, str],
        body: bytes,
        query: dict[str, str],
    ) -> tuple[int, dict[str, str], bytes]:
        stored = bucket.objects.get(name)
        if method == "PUT":
            if headers.get("if-none-match") == "*" and stored is not None:
                return _error(409, "IfNoneMatchFailed", "the object exists")
            meta = {k[len("opc-meta-") :]: v for k, v in headers.items() if k.startswith("opc-meta-")}
            stored = StoredObject(body, headers.get("content-type", "application/octet-stream"), meta)
            bucket.objects[name] = stored
            return (
                200,
                {"etag": stored.etag, "last-modified": format_datetime(stored.modified, usegmt=True)},
                b"",
            )
        if stored is None:
            if method == "HEAD":
                return 404, {}, b""
            return _error(404, "ObjectNotFound", f"The object '{name}' was not found in the bucket")
        if method == "DELETE":
            del bucket.objects[name]
            return 204, {}, b""
        described = {
            "etag": stored.etag,
            "content-type": stored.content_type,
            "last-modified": format_datetime(stored.modified, usegmt=True),
            "storage-tier": "Standard",
            **{f"opc-meta-{k}": v for k, v in stored.metadata.items()},
        }
        if method == "HEAD":
            return 200, {**described, "content-length": str(len(stored.data))}, b""
        wanted = headers.get("range")
        if wanted:
            first, _, last = wanted.removeprefix("bytes=").partition("-")
            start, end = int(first), min(int(last), len(stored.data) - 1)
            if start >= len(stored.data):
                return _error(416, "InvalidRange", "range not satisfiable")
            described["content-range"] = f"bytes {start}-{end}/{len(stored.data)}"
            return 206, described, stored.data[start : end + 1]
        return 200, described, stored.data

    def uploads_call(
        self, method: str, bucket_name: str, bucket: Bucket, body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        if method == "GET":
            return _json(
                [{"namespace": NAMESPACE, "bucket": bucket_name, "object": u.name, "uploadId": upload_id,
                  "timeCreated": datetime.now(UTC).isoformat()} for upload_id, u in bucket.uploads.items()]
            )  # fmt: skip
        details = json.loads(body)
        meta = {k[len("opc-meta-") :]: v for k, v in (details.get("metadata") or {}).items()}
        upload_id = uuid.uuid4().hex
        bucket.uploads[upload_id] = Upload(details["object"], details.get("contentType") or "", meta)
        created = datetime.now(UTC).isoformat()
        name = details["object"]
        return _json(
            {
                "namespace": NAMESPACE,
                "bucket": bucket_name,
                "object": name,
                "uploadId": upload_id,
                "timeCreated": created,
            }
        )

    def part_call(
        self, method: str, bucket: Bucket, name: str, query: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        upload = bucket.uploads.get(query.get("uploadId", ""))
        if upload is None or upload.name != name:
            return _error(404, "NoSuchUpload", "no such upload")
        if method == "PUT":
            etag = uuid.uuid4().hex
            upload.parts[int(query["uploadPartNum"])] = (etag, body)
            return 200, {"etag": etag}, b""
        if method == "DELETE":
            del bucket.uploads[query["uploadId"]]
            return 204, {}, b""
        commit = json.loads(body)["partsToCommit"]
        data = b""
        for part in sorted(commit, key=lambda p: p["partNum"]):
            etag, chunk = upload.parts[part["partNum"]]
            if etag != part["etag"]:
                return _error(400, "InvalidPart", "etag mismatch")
            data += chunk
        bucket.objects[name] = StoredObject(data, upload.content_type, upload.metadata)
        del bucket.uploads[query["uploadId"]]
        return 200, {"etag": bucket.objects[name].etag}, b""


def _json(document: object) -> tuple[int, dict[str, str], bytes]:
    return 200, {"content-type": "application/json"}, json.dumps(document).encode()


def _error(status: int, code: str, message: str) -> tuple[int, dict[str, str], bytes]:
    return (
        status,
        {"content-type": "application/json"},
        json.dumps({"code": code, "message": message}).encode(),
    )


def _handler(fake: FakeObjectStorage) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {name.lower(): value for name, value in self.headers.items()}
            status, answer_headers, payload = fake.handle(self.command, self.path, headers, body)
            self.send_response(status)
            for name, value in answer_headers.items():
                self.send_header(name, value)
            if "content-length" not in answer_headers:
                self.send_header("content-length", str(len(payload)))
            self.send_header("opc-request-id", uuid.uuid4().hex)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _serve

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


# --- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def user_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def object_storage(user_key: rsa.RSAPrivateKey) -> Iterator[FakeObjectStorage]:
    fake = FakeObjectStorage(user_key.public_key())
    fake.thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def _pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@pytest.fixture
def user_credentials(user_key: rsa.RSAPrivateKey) -> Credentials:
    return resolve(
        "oci",
        user=USER,
        tenancy=TENANCY,
        fingerprint=FINGERPRINT,
        key_content=_pem(user_key),
        region="us-ashburn-1",
    )


@pytest.fixture
def store(object_storage: FakeObjectStorage, user_credentials: Credentials) -> Iterator[OCIStore]:
    opened = OCIStore.from_uri(
        parse_uri(f"oci://n/{NAMESPACE}/b/oc-{uuid.uuid4().hex[:10]}"),
        credentials=user_credentials,
        endpoint=object_storage.url,
        compartment_id=COMPARTMENT,
        page_size=7,
        retries=0,
    )
    opened.create_bucket()
    yield opened
    opened.close()


def keys(store: OCIStore, prefix: str = "", delimiter: str | None = None) -> list[str]:
    return [info.key for info in store.list(prefix, delimiter=delimiter)]


# --- tests --------------------------------------------------------------------------------


def test_declared_capabilities_are_exactly_the_protocols_satisfied(store: OCIStore) -> None:
    protocols = (Reader, Writer, Lister, Deleter, Stat, ServerSideCopy, Multipart, Admin)
    assert {p for p in protocols if isinstance(store, p)} == set(OCIStore.CAPABILITIES)


def test_put_get_stat_round_trip_with_signed_requests(
    store: OCIStore, object_storage: FakeObjectStorage
) -> None:
    data = os.urandom(70_000)
    info = store.put("dir/object.bin", data, metadata={"Owner": "ml", "omnicloud_digest": "sha256:ab"},
                     content_type="application/x-weights")  # fmt: skip
    assert info.size == len(data) and info.etag
    assert store.get("dir/object.bin") == data
    stat = store.stat("dir/object.bin")
    assert (stat.size, stat.content_type, stat.digest) == (len(data), "application/x-weights", "sha256:ab")
    assert stat.metadata["owner"] == "ml"
    assert stat.storage_class == "Standard"
    assert object_storage.verified >= 4 and object_storage.rejected == 0


def test_empty_and_file_object_bodies(store: OCIStore) -> None:
    store.put("empty", b"")
    assert store.get("empty") == b""
    store.put("from-file", io.BytesIO(b"file body"))
    assert store.get("from-file") == b"file body"


def test_byte_ranges_are_start_inclusive_end_exclusive(store: OCIStore) -> None:
    data = bytes(range(256)) * 40
    store.put("ranged", data)
    assert store.get("ranged", range=(0, 10)) == data[:10]
    assert store.get("ranged", range=(100, 2000)) == data[100:2000]
    assert store.get("ranged", range=(len(data) - 5, len(data) + 100)) == data[-5:]
    assert store.get("ranged", range=(len(data) + 10, len(data) + 20)) == b""
    assert store.get("ranged", range=(50, 50)) == b""


def test_open_read_streams_the_whole_object(store: OCIStore) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    store.put("big", data)
    with store.open_read("big") as reader:
        assert reader.read() == data


def test_put_if_absent_refuses_to_overwrite(store: OCIStore) -> None:
    store.put("once", b"original", if_absent=True)
    with pytest.raises(PreconditionFailedError):
        store.put("once", b"replacement", if_absent=True)
    assert store.get("once") == b"original"


def test_open_write_publishes_only_on_clean_close(store: OCIStore) -> None:
    with store.open_write("written", metadata={"a": "1"}, content_type="text/csv") as writer:
        writer.write(b"col\n1\n")
        assert not store.exists("written")
    assert store.get("written") == b"col\n1\n"
    with pytest.raises(RuntimeError), store.open_write("never") as writer:
        writer.write(b"partial")
        raise RuntimeError("producer died")
    assert not store.exists("never")


@pytest.mark.parametrize("key", ["with space.txt", "hash#and?query", "percent%20kept", "unicodé/日本語.txt"])
def test_keys_with_special_characters_round_trip(store: OCIStore, key: str) -> None:
    store.put(key, key.encode())
    assert store.get(key) == key.encode()
    assert key in keys(store)
    assert store.stat(key).key == key


def test_list_pages_in_order_and_rolls_up_prefixes(store: OCIStore) -> None:
    names = ["top.txt", "a/1", "a/2", "a/sub/3", "ab", "b/1", *(f"many/{i:03d}" for i in range(20))]
    for name in names:
        store.put(name, b"x")
    assert keys(store, "many/") == [f"many/{i:03d}" for i in range(20)]  # three pages of 7
    assert keys(store, "a") == ["a/1", "a/2", "a/sub/3", "ab"]
    rolled = [(e.key, e.is_prefix) for e in store.list("", delimiter="/")]
    assert rolled == [("a/", True), ("ab", False), ("b/", True), ("many/", True), ("top.txt", False)]
    assert keys(store, "nothing/") == []


def test_missing_objects_and_buckets_raise_not_found(
    store: OCIStore, object_storage: FakeObjectStorage, user_credentials: Credentials
) -> None:
    for call in (
        lambda: store.get("missing"),
        lambda: store.stat("missing"),
        lambda: store.open_read("missing"),
    ):
        with pytest.raises(NotFoundError) as caught:
            call()
        assert isinstance(caught.value, FileNotFoundError)
        assert "missing" in str(caught.value)
    absent = OCIStore(
        "never-created",
        namespace=NAMESPACE,
        credentials=user_credentials,
        endpoint=object_storage.url,
        retries=0,
    )
    for call in (lambda: absent.get("k"), lambda: absent.put("k", b"1"), lambda: list(absent.list())):
        with pytest.raises(NotFoundError, match="bucket"):
            call()
    assert not absent.bucket_exists()


def test_delete_and_missing_ok(store: OCIStore) -> None:
    store.put("gone", b"1")
    store.delete("gone")
    assert not store.exists("gone")
    with pytest.raises(NotFoundError):
        store.delete("gone")
    store.delete("gone", missing_ok=True)


def test_multipart_upload_assembles_parts_in_number_order(store: OCIStore) -> None:
    first, second, last = os.urandom(4096), os.urandom(4096), os.urandom(100)
    upload = store.create_multipart(
        "mp/object", metadata={"omnicloud_digest": "sha256:ef"}, content_type="text/x"
    )
    parts = [
        store.upload_part("mp/object", upload, 3, last),
        store.upload_part("mp/object", upload, 1, first),
        store.upload_part("mp/object", upload, 2, second),
    ]
    assert not store.exists("mp/object")
    info = store.complete_multipart("mp/object", upload, parts)
    assert info.size == 4096 * 2 + 100
    assert store.get("mp/object") == first + second + last
    assert store.stat("mp/object").digest == "sha256:ef"
    assert store.stat("mp/object").content_type == "text/x"


def test_aborted_multipart_upload_leaves_no_object(store: OCIStore) -> None:
    upload = store.create_multipart("mp/aborted")
    store.upload_part("mp/aborted", upload, 1, b"x" * 100)
    store.abort_multipart("mp/aborted", upload)
    assert not store.exists("mp/aborted")


def test_bucket_lifecycle(object_storage: FakeObjectStorage, user_credentials: Credentials) -> None:
    store = OCIStore(
        "lifecycle", namespace=NAMESPACE, credentials=user_credentials, endpoint=object_storage.url,
        compartment_id=COMPARTMENT, retries=0,
    )  # fmt: skip
    assert not store.bucket_exists()
    store.create_bucket()
    assert store.bucket_exists()
    store.create_bucket(exist_ok=True)
    with pytest.raises(PreconditionFailedError):
        store.create_bucket()
    store.put("k", b"1")
    store.create_multipart("pending")
    with pytest.raises(PreconditionFailedError, match="not empty"):
        store.delete_bucket()
    store.delete_bucket(force=True)
    assert not store.bucket_exists()


def test_creating_a_bucket_needs_a_compartment(
    object_storage: FakeObjectStorage, user_credentials: Credentials
) -> None:
    store = OCIStore("nocomp", namespace=NAMESPACE, credentials=user_credentials, endpoint=object_storage.url)
    with pytest.raises(ConfigError, match="compartment"):
        store.create_bucket()


def test_a_key_the_server_does_not_know_is_an_authentication_error(
    object_storage: FakeObjectStorage, store: OCIStore
) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    impostor = resolve(
        "oci",
        user=USER,
        tenancy=TENANCY,
        fingerprint=FINGERPRINT,
        key_content=_pem(stranger),
        region="us-ashburn-1",
    )
    other = OCIStore(
        store.uri.bucket, namespace=NAMESPACE, credentials=impostor, endpoint=object_storage.url, retries=0
    )
    with pytest.raises(AuthenticationError):
        other.get("anything")
    assert object_storage.rejected == 1


def test_store_resolves_its_own_credentials_from_the_environment(
    object_storage: FakeObjectStorage, user_key: rsa.RSAPrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OCI_CLI_USER", USER)
    monkeypatch.setenv("OCI_CLI_TENANCY", TENANCY)
    monkeypatch.setenv("OCI_CLI_FINGERPRINT", FINGERPRINT)
    monkeypatch.setenv("OCI_CLI_KEY_CONTENT", _pem(user_key))
    store = OCIStore.from_uri(
        parse_uri(f"oci://{NAMESPACE}@eu-frankfurt-1/auto-creds"),
        endpoint=object_storage.url,
        compartment_id=COMPARTMENT,
    )
    assert store.credentials.source == "environment: OCI_CLI_USER"
    assert store.credentials.region == "eu-frankfurt-1"
    store.create_bucket()
    store.put("hello", b"world")
    assert store.get("hello") == b"world"


def test_unknown_options_are_refused(user_credentials: Credentials) -> None:
    with pytest.raises(ConfigError, match="unknown option"):
        OCIStore.from_uri(parse_uri(f"oci://n/{NAMESPACE}/b/x"), credentials=user_credentials, bogus=1)


def test_unreachable_endpoint_is_transient(user_credentials: Credentials, tmp_path: Path) -> None:
    from omnicloud.errors import TransientError

    from .conftest import closed_port

    store = OCIStore(
        "b1",
        namespace=NAMESPACE,
        credentials=user_credentials,
        endpoint=f"http://127.0.0.1:{closed_port()}",
        retries=0,
    )
    with pytest.raises(TransientError):
        store.get("k")
