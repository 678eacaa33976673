"""GCP: key files, application default credentials, workload identity, the metadata server, emulators."""

from __future__ import annotations

import json
import time
from pathlib import Path
from urllib.parse import parse_qs

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from omnicloud.credentials import (
    GcpAnonymous,
    GcpApplicationDefault,
    GcpServiceAccount,
    GcpWorkloadIdentity,
    resolve,
)
from omnicloud.errors import ConfigError, CredentialsNotFoundError

from .conftest import FakeGce, FakeServer, Recorded, json_answer

EMAIL = "loader@demo-project-42.iam.gserviceaccount.com"
# google-auth signs assertions for Google's token endpoint, wherever token_uri sends them.
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def service_account_info(
    key: rsa.RSAPrivateKey, token_uri: str = "https://oauth2.googleapis.com/token"
) -> dict[str, str]:
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return {
        "type": "service_account",
        "project_id": "demo-project-42",
        "private_key_id": "0123456789abcdef",
        "private_key": pem,
        "client_email": EMAIL,
        "client_id": "1234567890",
        "token_uri": token_uri,
    }


def write_json(path: Path, document: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document))
    return path


def test_service_account_key_from_google_application_credentials(
    rsa_key: rsa.RSAPrivateKey, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_file = write_json(tmp_path / "key.json", service_account_info(rsa_key))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
    creds = resolve("gcp")
    assert isinstance(creds.config, GcpServiceAccount)
    assert creds.source == "environment: GOOGLE_APPLICATION_CREDENTIALS"
    assert creds.identity == EMAIL
    assert creds.project == "demo-project-42"
    assert "PRIVATE KEY" not in repr(creds)


def test_service_account_token_exchange_sends_a_jwt_signed_with_the_key(
    rsa_key: rsa.RSAPrivateKey, tmp_path: Path, fake_server: FakeServer
) -> None:
    assertions: list[dict[str, object]] = []

    def token(request: Recorded) -> tuple[int, dict[str, str], bytes]:
        form = parse_qs(request.body.decode())
        try:
            claims = jwt.decode(
                form["assertion"][0],
                rsa_key.public_key(),
                algorithms=["RS256"],
                audience=GOOGLE_TOKEN_AUDIENCE,
            )
        except jwt.InvalidTokenError as err:
            return json_answer({"error": "invalid_grant", "error_description": str(err)}, 400)
        assertions.append({"grant_type": form["grant_type"][0], **claims})
        return json_answer({"access_token": "ya29.from-key", "expires_in": 3600, "token_type": "Bearer"})

    fake_server.route("POST", "/token", token)
    key_file = write_json(tmp_path / "key.json", service_account_info(rsa_key, f"{fake_server.url}/token"))
    creds = resolve("gcp", auth="service_account", service_account_file=str(key_file))
    google_creds = creds.google_credentials()

    import google.auth.transport.requests

    google_creds.refresh(google.auth.transport.requests.Request())
    assert google_creds.token == "ya29.from-key"
    assert assertions[0]["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    assert assertions[0]["iss"] == EMAIL


def test_service_account_key_as_a_secret_parameter(rsa_key: rsa.RSAPrivateKey) -> None:
    creds = resolve("gcp", service_account_key=json.dumps(service_account_info(rsa_key)))
    assert creds.auth == "service_account"
    assert creds.source == "explicit parameters"


def test_gcloud_adc_file_is_application_default(isolated_environment: Path, fake_server: FakeServer) -> None:
    fake_server.route(
        "POST", "/token", lambda r: json_answer({"access_token": "ya29.user", "expires_in": 3600})
    )
    adc = {
        "type": "authorized_user",
        "client_id": "764086051850-x.apps.googleusercontent.com",
        "client_secret": "d-FL95Q19q7MQmFpd7hHD0Ty",
        "refresh_token": "1//refresh-token-value",
        "quota_project_id": "quota-proj-1",
        "account": "dev@example.com",
    }
    write_json(isolated_environment / ".config" / "gcloud" / "application_default_credentials.json", adc)
    creds = resolve("gcp")
    assert isinstance(creds.config, GcpApplicationDefault)
    assert creds.source == "file: ~/.config/gcloud/application_default_credentials.json"
    assert creds.identity == "dev@example.com (authorized_user)"
    assert creds.project == "quota-proj-1"

    import google.auth.transport.requests
    import google.oauth2.credentials

    google_creds = creds.google_credentials()
    assert isinstance(google_creds, google.oauth2.credentials.Credentials)
    # google-auth always sends user credentials to Google's token endpoint; point it here for the test.
    google_creds = google_creds.with_token_uri(f"{fake_server.url}/token")
    google_creds.refresh(google.auth.transport.requests.Request())
    assert google_creds.token == "ya29.user"
    form = parse_qs(fake_server.requests[-1].body.decode())
    assert form["grant_type"] == ["refresh_token"]


def test_cloudsdk_config_relocates_the_adc_file_and_gcloud_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gcloud = tmp_path / "gcloud"
    write_json(
        gcloud / "application_default_credentials.json",
        {"type": "authorized_user", "client_id": "c", "client_secret": "s", "refresh_token": "r"},
    )
    (gcloud / "configurations").mkdir()
    (gcloud / "active_config").write_text("work")
    (gcloud / "configurations" / "config_work").write_text("[core]\nproject = work-project-7\n")
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(gcloud))
    creds = resolve("gcp")
    assert creds.auth == "application_default"
    assert creds.project == "work-project-7"


def test_project_from_environment_wins(rsa_key: rsa.RSAPrivateKey, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "env-project-1")
    creds = resolve("gcp", service_account_key=json.dumps(service_account_info(rsa_key)))
    assert creds.project == "env-project-1"
    assert resolve("gcp", auth="anonymous", project="param-project").project == "param-project"


def test_external_account_file_is_workload_identity_federation(tmp_path: Path) -> None:
    config = {
        "type": "external_account",
        "audience": "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/gh",
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "token_url": "https://sts.googleapis.com/v1/token",
        "service_account_impersonation_url": "https://iamcredentials.googleapis.com/v1/projects/-/"
        "serviceAccounts/ci@demo-project-42.iam.gserviceaccount.com:generateAccessToken",
        "credential_source": {"file": str(tmp_path / "oidc-token")},
    }
    (tmp_path / "oidc-token").write_text("header.payload.signature")
    path = write_json(tmp_path / "wif.json", config)
    creds = resolve("gcp", credentials_file=str(path))
    assert isinstance(creds.config, GcpWorkloadIdentity)
    assert creds.identity == "workload identity federation (ci@demo-project-42.iam.gserviceaccount.com)"
    from google.auth import identity_pool

    assert isinstance(creds.google_credentials(), identity_pool.Credentials)


def test_file_of_another_type_does_not_satisfy_a_requested_auth(
    rsa_key: rsa.RSAPrivateKey, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "GOOGLE_APPLICATION_CREDENTIALS", str(write_json(tmp_path / "k.json", service_account_info(rsa_key)))
    )
    with pytest.raises(
        CredentialsNotFoundError, match="holds service_account credentials, not workload_identity"
    ):
        resolve("gcp", auth="workload_identity", metadata=False)


def test_invalid_key_file_is_reported_without_its_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"private_key": "-----BEGIN PRIVATE KEY-----SECRETSTUFF", ')
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(bad))
    with pytest.raises(ConfigError) as info:
        resolve("gcp")
    assert "SECRETSTUFF" not in str(info.value)
    assert "not valid JSON" in str(info.value)


def test_missing_key_file_named_by_the_environment_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/key.json")
    with pytest.raises(ConfigError, match="does not exist"):
        resolve("gcp")


def test_storage_emulator_host_means_anonymous(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://127.0.0.1:9023")
    creds = resolve("gcp")
    assert isinstance(creds.config, GcpAnonymous)
    assert creds.source == "environment: STORAGE_EMULATOR_HOST"
    assert creds.endpoint == "http://127.0.0.1:9023"
    from google.auth.credentials import AnonymousCredentials

    assert isinstance(creds.google_credentials(), AnonymousCredentials)


def test_metadata_server_identity_and_project(gce_metadata: FakeGce) -> None:
    creds = resolve("gcp")
    assert isinstance(creds.config, GcpWorkloadIdentity)
    assert creds.source == "metadata: GCE metadata server"
    assert creds.identity == gce_metadata.email
    assert creds.project == gce_metadata.project
    assert all(r.headers["metadata-flavor"] == "Google" for r in gce_metadata.fake.requests)


def test_metadata_token_refreshes_a_margin_before_expiry(gce_metadata: FakeGce) -> None:
    import google.auth.transport.requests

    gce_metadata.lifetime = 10
    google_creds = resolve("gcp", refresh_margin=9).google_credentials()
    request = google.auth.transport.requests.Request()
    google_creds.before_request(request, "GET", "http://127.0.0.1/", {})
    assert google_creds.token == "ya29.fake-1"
    google_creds.before_request(request, "GET", "http://127.0.0.1/", {})
    assert google_creds.token == "ya29.fake-1"
    time.sleep(1.2)  # 8.8 s before expiry: inside the 9 s margin
    headers: dict[str, str] = {}
    google_creds.before_request(request, "GET", "http://127.0.0.1/", headers)
    assert google_creds.token == "ya29.fake-2"
    assert headers["authorization"] == "Bearer ya29.fake-2"


def test_metadata_token_requests_carry_the_scopes_asked_for(gce_metadata: FakeGce) -> None:
    google_creds = resolve("gcp").google_credentials(["https://www.googleapis.com/auth/devstorage.read_only"])
    google_creds.refresh(None)
    token_requests = [r for r in gce_metadata.fake.requests if r.path.endswith("/token")]
    assert token_requests[0].query["scopes"] == ["https://www.googleapis.com/auth/devstorage.read_only"]


def test_metadata_server_is_tried_last_and_can_be_disabled(
    gce_metadata: FakeGce, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_GCE_CHECK", "True")
    with pytest.raises(CredentialsNotFoundError, match="skipped: NO_GCE_CHECK"):
        resolve("gcp")
    assert gce_metadata.fake.requests == []


def test_a_server_without_the_google_flavor_is_not_a_metadata_server(
    fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_server.route(
        "GET", "/computeMetadata/v1/instance/service-accounts/default/email", lambda r: json_answer("x")
    )
    monkeypatch.setenv("GCE_METADATA_HOST", fake_server.host)
    with pytest.raises(CredentialsNotFoundError, match="is not a GCE metadata server"):
        resolve("gcp")
