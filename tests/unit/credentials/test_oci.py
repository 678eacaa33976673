"""OCI: API keys, session tokens, resource principals, instance principals (metadata + auth service)."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from pathlib import Path

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from omnicloud.credentials import (
    OciInstancePrincipal,
    OciResourcePrincipal,
    OciSecurityToken,
    OciUserPrincipal,
    resolve,
)
from omnicloud.errors import ConfigError, CredentialsNotFoundError

from .conftest import FakeServer, Recorded, json_answer, text_answer

USER = "ocid1.user.oc1..aaaaaaaexampleuser"
TENANCY = "ocid1.tenancy.oc1..aaaaaaaexampletenancy"
FINGERPRINT = "20:3b:97:13:55:1c:5b:0d:d3:37:d8:50:4e:c5:3a:34"
# The SDK reads these tokens' claims without verifying them; any HMAC key will do.
JWT_KEY = "test-only-jwt-signing-key-0123456789abcdef"


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


def signed_authorization(
    signer: object, url: str = "https://objectstorage.us-ashburn-1.oraclecloud.com/n/ns/b/b/o/k"
) -> str:
    import requests

    prepared = requests.Request("GET", url).prepare()
    signer(prepared)  # type: ignore[operator]
    return str(prepared.headers["authorization"])


def key_id(authorization: str) -> str:
    match = re.search(r'keyId="([^"]+)"', authorization)
    assert match, authorization
    return match.group(1)


def write_config(home: Path, key_file: Path, profile: str = "DEFAULT", extra: str = "") -> Path:
    config = home / ".oci" / "config"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        f"[{profile}]\nuser={USER}\nfingerprint={FINGERPRINT}\nkey_file={key_file}\ntenancy={TENANCY}\n"
        f"region=us-ashburn-1\n{extra}"
    )
    return config


def test_user_principal_from_oci_config_signs_requests(
    isolated_environment: Path, rsa_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    key_file = tmp_path / "oci_api_key.pem"
    key_file.write_text(pem(rsa_key))
    write_config(isolated_environment, key_file)
    creds = resolve("oci")
    assert isinstance(creds.config, OciUserPrincipal)
    assert creds.source == "file: ~/.oci/config [DEFAULT]"
    assert creds.identity == f"user {USER}"
    assert creds.region == "us-ashburn-1"
    config, signer = creds.oci_config_and_signer()
    assert config["region"] == "us-ashburn-1"
    assert key_id(signed_authorization(signer)) == f"{TENANCY}/{USER}/{FINGERPRINT}"


def test_named_profile_and_relocated_config(
    rsa_key: rsa.RSAPrivateKey, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_file = tmp_path / "k.pem"
    key_file.write_text(pem(rsa_key))
    config = write_config(tmp_path / "elsewhere", key_file, profile="PROD")
    monkeypatch.setenv("OCI_CLI_CONFIG_FILE", str(config))
    monkeypatch.setenv("OCI_CLI_PROFILE", "PROD")
    creds = resolve("oci")
    assert creds.source.endswith("[PROD]")


def test_missing_profile_is_a_config_error(isolated_environment: Path, tmp_path: Path) -> None:
    write_config(isolated_environment, tmp_path / "k.pem")
    with pytest.raises(ConfigError, match="profile 'NOPE'"):
        resolve("oci", profile="NOPE")


def test_user_principal_from_oci_cli_environment(
    rsa_key: rsa.RSAPrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OCI_CLI_USER", USER)
    monkeypatch.setenv("OCI_CLI_TENANCY", TENANCY)
    monkeypatch.setenv("OCI_CLI_FINGERPRINT", FINGERPRINT)
    monkeypatch.setenv("OCI_CLI_KEY_CONTENT", pem(rsa_key))
    monkeypatch.setenv("OCI_CLI_REGION", "eu-frankfurt-1")
    creds = resolve("oci")
    assert creds.source == "environment: OCI_CLI_USER"
    assert creds.region == "eu-frankfurt-1"
    _, signer = creds.oci_config_and_signer()
    assert key_id(signed_authorization(signer)).startswith(TENANCY)


def test_explicit_user_principal_names_missing_fields() -> None:
    with pytest.raises(ConfigError, match="needs fingerprint, key_file or key_content"):
        resolve("oci", user=USER, tenancy=TENANCY)


def test_user_principal_without_region_says_how_to_give_one(rsa_key: rsa.RSAPrivateKey) -> None:
    creds = resolve("oci", user=USER, tenancy=TENANCY, fingerprint=FINGERPRINT, key_content=pem(rsa_key))
    with pytest.raises(ConfigError, match="needs a region"):
        creds.oci_config_and_signer()


def test_session_token_profile(
    isolated_environment: Path, rsa_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    key_file = tmp_path / "session.pem"
    key_file.write_text(pem(rsa_key))
    token_file = tmp_path / "token"
    token_file.write_text(
        jwt.encode({"sub": USER, "exp": int(time.time()) + 3600}, JWT_KEY, algorithm="HS256")
    )
    config = isolated_environment / ".oci" / "config"
    config.parent.mkdir()
    config.write_text(
        f"[DEFAULT]\nfingerprint={FINGERPRINT}\nkey_file={key_file}\ntenancy={TENANCY}\nregion=us-phoenix-1\n"
        f"security_token_file={token_file}\n"
    )
    creds = resolve("oci")
    assert isinstance(creds.config, OciSecurityToken)
    _, signer = creds.oci_config_and_signer()
    assert key_id(signed_authorization(signer)) == "ST$" + token_file.read_text()


def rpst(tenancy: str = TENANCY) -> str:
    now = int(time.time())
    claims = {
        "res_tenant": tenancy,
        "res_compartment": "ocid1.compartment.oc1..c",
        "iat": now,
        "exp": now + 3600,
    }
    return jwt.encode(claims, JWT_KEY, algorithm="HS256")


def test_resource_principal_2_2_from_environment_signs_with_the_rpst(
    rsa_key: rsa.RSAPrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = rpst()
    monkeypatch.setenv("OCI_RESOURCE_PRINCIPAL_VERSION", "2.2")
    monkeypatch.setenv("OCI_RESOURCE_PRINCIPAL_RPST", token)
    monkeypatch.setenv("OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM", pem(rsa_key))
    monkeypatch.setenv("OCI_RESOURCE_PRINCIPAL_REGION", "us-ashburn-1")
    creds = resolve("oci")
    assert isinstance(creds.config, OciResourcePrincipal)
    assert creds.source == "environment: OCI_RESOURCE_PRINCIPAL_VERSION"
    assert creds.region == "us-ashburn-1"
    assert token not in repr(creds)
    config, signer = creds.oci_config_and_signer()
    assert config["region"] == "us-ashburn-1"
    assert key_id(signed_authorization(signer)) == f"ST${token}"


def test_resource_principal_needs_both_token_and_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCI_RESOURCE_PRINCIPAL_VERSION", "2.2")
    with pytest.raises(CredentialsNotFoundError, match="needs OCI_RESOURCE_PRINCIPAL_RPST"):
        resolve("oci", metadata=False)


# --- instance principals: metadata service + auth service ---------------------------------


def _certificate(
    subject: x509.Name, issuer: x509.Name, public: object, signing: rsa.RSAPrivateKey
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public)  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(signing, hashes.SHA256())
    )


@pytest.fixture
def oci_instance(
    fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch, rsa_key: rsa.RSAPrivateKey
) -> FakeServer:
    """Instance metadata (region, id, identity certificates) and the auth service's /v1/x509."""
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake intermediate CA")])
    leaf_name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "ocid1.instance.oc1..fakeinstance"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, f"opc-tenant:{TENANCY}"),
        ]
    )
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    intermediate = _certificate(ca_name, ca_name, ca_key.public_key(), ca_key)
    leaf = _certificate(leaf_name, ca_name, rsa_key.public_key(), ca_key)
    as_pem = lambda cert: cert.public_bytes(serialization.Encoding.PEM).decode()  # noqa: E731

    def guarded(text: str) -> object:
        def route(request: Recorded) -> tuple[int, dict[str, str], bytes]:
            if request.headers.get("authorization") != "Bearer Oracle":
                return text_answer("Unauthorized", 401)
            return text_answer(text)

        return route

    base = "/opc/v2"
    fake_server.route("GET", f"{base}/instance/region", guarded("us-ashburn-1"))  # type: ignore[arg-type]
    fake_server.route("GET", f"{base}/instance/id", guarded("ocid1.instance.oc1..fakeinstance"))  # type: ignore[arg-type]
    fake_server.route("GET", f"{base}/identity/cert.pem", guarded(as_pem(leaf)))  # type: ignore[arg-type]
    fake_server.route("GET", f"{base}/identity/key.pem", guarded(pem(rsa_key)))  # type: ignore[arg-type]
    fake_server.route("GET", f"{base}/identity/intermediate.pem", guarded(as_pem(intermediate)))  # type: ignore[arg-type]

    def federation(request: Recorded) -> tuple[int, dict[str, str], bytes]:
        body = json.loads(request.body)
        # The request is signed with the instance certificate's key and carries a fresh session key.
        if "keyId" not in request.headers.get("authorization", "") or "publicKey" not in body:
            return json_answer({"code": "NotAuthenticated"}, 401)
        now = int(time.time())
        claims = {"sub": "ocid1.instance.oc1..fakeinstance", "iat": now, "exp": now + 3600}
        token = jwt.encode(claims, JWT_KEY, "HS256")
        return json_answer({"token": token})

    fake_server.route("POST", "/v1/x509", federation)
    monkeypatch.setenv("OCI_METADATA_BASE_URL", f"{fake_server.url}{base}")
    return fake_server


def test_instance_principal_from_metadata_and_auth_service(oci_instance: FakeServer) -> None:
    creds = resolve("oci", federation_endpoint=f"{oci_instance.url}/v1/x509")
    assert isinstance(creds.config, OciInstancePrincipal)
    assert creds.source == "metadata: OCI instance metadata"
    assert creds.identity == "instance ocid1.instance.oc1..fakeinstance"
    assert creds.region == "us-ashburn-1"
    config, signer = creds.oci_config_and_signer()
    assert config == {"region": "us-ashburn-1", "tenancy": TENANCY}
    assert key_id(signed_authorization(signer)).startswith("ST$")
    federation = [r for r in oci_instance.requests if r.path == "/v1/x509"]
    assert len(federation) == 1
    assert key_id(federation[0].headers["authorization"]).startswith(f"{TENANCY}/fed-x509/")


def test_oci_cli_auth_selects_instance_principal(
    oci_instance: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OCI_CLI_AUTH", "instance_principal")
    monkeypatch.setenv("OCI_CLI_USER", USER)  # ignored: instance_principal was asked for
    creds = resolve("oci")
    assert creds.auth == "instance_principal"


def test_metadata_without_oracle_header_is_refused(
    fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_server.route("GET", "/opc/v2/instance/region", lambda r: text_answer("", 401))
    monkeypatch.setenv("OCI_METADATA_BASE_URL", f"{fake_server.url}/opc/v2")
    with pytest.raises(CredentialsNotFoundError, match=r"not an OCI instance \(HTTP 401\)"):
        resolve("oci")
