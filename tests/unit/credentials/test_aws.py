"""AWS: the chain's order, shared config files, EC2 IMDSv2, and STS on moto."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from omnicloud.credentials import (
    AwsAccessKey,
    AwsAssumeRole,
    AwsIamRole,
    AwsProfile,
    AwsWebIdentity,
    resolve,
)
from omnicloud.errors import ConfigError, CredentialsNotFoundError, TransientError

from .conftest import FakeImds, closed_port

KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
ROLE = "arn:aws:iam::123456789012:role/test-role"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# --- explicit parameters and environment ------------------------------------------------


def test_explicit_access_key_wins_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAENVIRONMENT00000")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    creds = resolve("aws", auth="access_key", access_key_id=KEY_ID, secret_access_key=SECRET)
    assert isinstance(creds.config, AwsAccessKey)
    assert creds.config.access_key_id == KEY_ID
    assert creds.source == "explicit parameters"
    assert creds.identity == "access key ****MPLE"


def test_partial_explicit_access_key_names_what_is_missing() -> None:
    with pytest.raises(ConfigError, match="needs secret_access_key"):
        resolve("aws", access_key_id=KEY_ID)


def test_environment_keys_with_session_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", "session-token-value")
    monkeypatch.setenv("AWS_REGION", "ap-south-1")
    creds = resolve("aws")
    assert creds.source == "environment: AWS_ACCESS_KEY_ID"
    assert creds.region == "ap-south-1"
    keys = creds.fetch_aws_keys()
    assert keys.session_token is not None and keys.session_token.reveal() == "session-token-value"


def test_half_set_environment_is_reported_among_sources_tried(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    with pytest.raises(
        CredentialsNotFoundError, match="only one of AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    ):
        resolve("aws", metadata=False)


def test_nothing_found_lists_every_source_in_order() -> None:
    with pytest.raises(CredentialsNotFoundError) as info:
        resolve("aws")
    message = str(info.value)
    order = [
        "explicit parameters",
        "environment: AWS_ACCESS_KEY_ID",
        "environment: AWS_WEB_IDENTITY_TOKEN_FILE",
        "environment: AWS_PROFILE",
        "file: ~/.aws/credentials, ~/.aws/config [default]",
        "metadata: EC2 IMDSv2",
    ]
    positions = [message.index(label) for label in order]
    assert positions == sorted(positions)
    assert info.value.provider == "aws"


def test_unknown_auth_type_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError) as info:
        resolve("aws", auth="instance_principal")
    for name in ("access_key", "assume_role", "web_identity", "iam_role", "profile"):
        assert name in str(info.value)


def test_unknown_parameter_is_refused() -> None:
    with pytest.raises(ConfigError, match="secret_acess_key"):
        resolve("aws", access_key_id=KEY_ID, secret_acess_key=SECRET)


def test_parameters_of_another_auth_type_are_refused() -> None:
    with pytest.raises(ConfigError, match="role_arn do not apply to aws auth access_key"):
        resolve("aws", auth="access_key", access_key_id=KEY_ID, secret_access_key=SECRET, role_arn=ROLE)


def test_auth_names_are_case_and_dash_insensitive() -> None:
    creds = resolve("aws", auth="Access-Key", access_key_id=KEY_ID, secret_access_key=SECRET)
    assert creds.auth == "access_key"


def test_endpoint_follows_aws_endpoint_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9000")
    creds = resolve("aws", access_key_id=KEY_ID, secret_access_key=SECRET)
    assert creds.endpoint == "http://127.0.0.1:9000"
    assert (
        resolve("aws", access_key_id=KEY_ID, secret_access_key=SECRET, endpoint="http://e").endpoint
        == "http://e"
    )


# --- shared config files ---------------------------------------------------------------------


def test_default_profile_from_credentials_file_with_region_from_config(isolated_environment: Path) -> None:
    write(
        isolated_environment / ".aws" / "credentials",
        f"[default]\naws_access_key_id = {KEY_ID}\naws_secret_access_key = {SECRET}\n",
    )
    write(isolated_environment / ".aws" / "config", "[default]\nregion = eu-central-1\n")
    creds = resolve("aws")
    assert creds.source == "file: ~/.aws/credentials [default]"
    assert creds.region == "eu-central-1"
    assert creds.fetch_aws_keys().secret_access_key.reveal() == SECRET


def test_relocated_files_and_aws_profile_are_honoured(
    isolated_environment: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    credentials = write(
        tmp_path / "elsewhere" / "creds",
        f"[team]\naws_access_key_id = {KEY_ID}\naws_secret_access_key = {SECRET}\n",
    )
    config = write(tmp_path / "elsewhere" / "config", "[profile team]\nregion = us-west-2\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_PROFILE", "team")
    creds = resolve("aws")
    assert creds.source.startswith("file: ") and creds.source.endswith("[team]")
    assert str(credentials) in creds.source
    assert creds.region == "us-west-2"


def test_environment_keys_come_before_aws_profile(
    isolated_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(
        isolated_environment / ".aws" / "credentials",
        "[team]\naws_access_key_id = AKIAFILE000000000000\naws_secret_access_key = file\n",
    )
    monkeypatch.setenv("AWS_PROFILE", "team")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    assert resolve("aws").source == "environment: AWS_ACCESS_KEY_ID"


def test_missing_named_profile_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "nope")
    with pytest.raises(ConfigError, match="profile 'nope'"):
        resolve("aws")


def test_role_profile_with_source_profile_becomes_assume_role(isolated_environment: Path) -> None:
    write(
        isolated_environment / ".aws" / "credentials",
        f"[base]\naws_access_key_id = {KEY_ID}\naws_secret_access_key = {SECRET}\n",
    )
    write(
        isolated_environment / ".aws" / "config",
        f"[profile deploy]\nrole_arn = {ROLE}\nsource_profile = base\n"
        "role_session_name = ci\nregion = us-east-2\n",
    )
    creds = resolve("aws", profile="deploy")
    assert isinstance(creds.config, AwsAssumeRole)
    assert creds.config.role_arn == ROLE
    assert creds.config.role_session_name == "ci"
    assert creds.config.base.source == "file: ~/.aws/credentials [base]"
    assert creds.region == "us-east-2"


def test_sso_profile_is_left_to_botocore(isolated_environment: Path) -> None:
    write(
        isolated_environment / ".aws" / "config",
        "[profile sso]\nsso_session = corp\nsso_account_id = 1\nsso_role_name = Admin\nregion = us-east-1\n",
    )
    creds = resolve("aws", profile="sso")
    assert isinstance(creds.config, AwsProfile)
    assert creds.identity == "profile sso"


def test_web_identity_profile(isolated_environment: Path, tmp_path: Path) -> None:
    token = write(tmp_path / "token", "header.payload.signature")
    write(
        isolated_environment / ".aws" / "config",
        f"[default]\nrole_arn = {ROLE}\nweb_identity_token_file = {token}\n",
    )
    creds = resolve("aws")
    assert isinstance(creds.config, AwsWebIdentity)
    assert creds.config.token_file == str(token)


def test_broken_config_file_is_reported_without_its_content(isolated_environment: Path) -> None:
    write(isolated_environment / ".aws" / "credentials", f"aws_secret_access_key = {SECRET}\n[default\n")
    with pytest.raises(ConfigError) as info:
        resolve("aws")
    assert SECRET not in str(info.value)


# --- EC2 instance metadata (IMDSv2) ------------------------------------------------------


def test_instance_role_from_imdsv2(ec2_imds: FakeImds) -> None:
    creds = resolve("aws")
    assert isinstance(creds.config, AwsIamRole)
    assert creds.source == "metadata: EC2 IMDSv2"
    assert creds.identity == "instance role app-role"
    assert creds.region == "eu-west-3"
    keys = creds.fetch_aws_keys()
    assert keys.access_key_id.startswith("ASIAIMDSFAKE")
    assert keys.expires_at is not None
    # IMDSv2: a PUT for a session token before any read, and every read carries it.
    assert ec2_imds.fake.requests[0].method == "PUT"
    reads = [r for r in ec2_imds.fake.requests if r.method == "GET"]
    assert reads and all(r.headers.get("x-aws-ec2-metadata-token") == ec2_imds.token for r in reads)


def test_explicit_iam_role_only_asks_the_metadata_service(
    ec2_imds: FakeImds, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    assert resolve("aws", auth="iam_role").auth == "iam_role"


def test_metadata_can_be_skipped(ec2_imds: FakeImds, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(CredentialsNotFoundError, match=r"EC2 IMDSv2 \(skipped: metadata=False\)"):
        resolve("aws", metadata=False)
    monkeypatch.setenv("OMNICLOUD_NO_METADATA", "1")
    with pytest.raises(CredentialsNotFoundError, match="skipped: OMNICLOUD_NO_METADATA"):
        resolve("aws")
    monkeypatch.delenv("OMNICLOUD_NO_METADATA")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(CredentialsNotFoundError, match="skipped: AWS_EC2_METADATA_DISABLED"):
        resolve("aws")
    assert ec2_imds.fake.requests == []


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """Accepts connections and never answers, like a firewalled metadata address."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    listener.close()


def test_a_silent_metadata_service_costs_only_the_timeout(
    silent_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", silent_endpoint)
    started = time.monotonic()
    with pytest.raises(CredentialsNotFoundError, match=r"within 0\.3 s"):
        resolve("aws", metadata_timeout=0.3)
    assert time.monotonic() - started < 2.0


def test_instance_role_keys_refresh_before_expiry_in_boto3(ec2_imds: FakeImds) -> None:
    from datetime import timedelta

    # Keys live 6 s and refresh 3 s before expiry: fresh for 3 s, which leaves room for a
    # loaded machine between issuing them and the first check.
    ec2_imds.lifetime = timedelta(seconds=6)
    session = resolve("aws", refresh_margin=3).boto3_session()
    credentials = session.get_credentials()
    assert credentials is not None
    first = credentials.get_frozen_credentials().access_key
    assert credentials.get_frozen_credentials().access_key == first
    issued = ec2_imds.issued
    time.sleep(3.3)  # now within 3 s of expiry, before it
    second = credentials.get_frozen_credentials().access_key
    assert second != first
    assert ec2_imds.issued == issued + 1


def test_obstore_provider_refreshes_before_expiry(ec2_imds: FakeImds) -> None:
    from datetime import timedelta

    ec2_imds.lifetime = timedelta(seconds=6)  # fresh for 3 s, as above
    provider = resolve("aws", refresh_margin=3).obstore_s3_credential_provider()
    first = provider()
    assert first["access_key_id"].startswith("ASIAIMDSFAKE")
    assert first["token"] and first["expires_at"] is not None
    assert provider()["access_key_id"] == first["access_key_id"]
    fetched = provider.fetch_count
    time.sleep(3.3)
    assert provider()["access_key_id"] != first["access_key_id"]
    assert provider.fetch_count == fetched + 1


def test_unreachable_metadata_service_on_fetch_is_transient() -> None:
    creds = resolve("aws", auth="access_key", access_key_id=KEY_ID, secret_access_key=SECRET)
    config = AwsIamRole("gone", f"http://127.0.0.1:{closed_port()}")
    with pytest.raises(TransientError):
        config.fetch_keys(creds)


# --- STS on moto ---------------------------------------------------------------------------


def _caller_arn(session: object, endpoint: str) -> str:
    client = session.client("sts", endpoint_url=endpoint, region_name="us-east-1")  # type: ignore[attr-defined]
    return str(client.get_caller_identity()["Arn"])


def test_access_key_session_signs_requests_moto_accepts(moto_server: object) -> None:
    endpoint = moto_server.endpoint  # type: ignore[attr-defined]
    session = resolve(
        "aws", access_key_id=KEY_ID, secret_access_key=SECRET, region="us-east-1"
    ).boto3_session()
    assert ":user/" in _caller_arn(session, endpoint) or ":root" in _caller_arn(session, endpoint)


def test_assume_role_against_moto_sts(moto_server: object) -> None:
    endpoint = moto_server.endpoint  # type: ignore[attr-defined]
    creds = resolve(
        "aws",
        role_arn=ROLE,
        role_session_name="omnicloud-test",
        access_key_id=KEY_ID,
        secret_access_key=SECRET,
        sts_endpoint=endpoint,
        duration_seconds=900,
    )
    assert isinstance(creds.config, AwsAssumeRole)
    assert creds.source == "explicit parameters (base: explicit parameters)"
    keys = creds.fetch_aws_keys()
    assert keys.access_key_id != KEY_ID
    assert keys.session_token is not None and keys.expires_at is not None
    arn = _caller_arn(creds.boto3_session(), endpoint)
    assert arn.endswith(":assumed-role/test-role/omnicloud-test")


def test_assume_role_takes_base_credentials_from_the_environment(
    moto_server: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", moto_server.endpoint)  # type: ignore[attr-defined]
    creds = resolve("aws", auth="assume_role", role_arn=ROLE)
    assert creds.source == "explicit parameters (base: environment: AWS_ACCESS_KEY_ID)"
    assert creds.fetch_aws_keys().access_key_id != KEY_ID


def test_web_identity_from_environment_against_moto_sts(
    moto_server: object, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    token = write(tmp_path / "token", "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2EifQ.c2ln")
    monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", str(token))
    monkeypatch.setenv("AWS_ROLE_ARN", ROLE)
    monkeypatch.setenv("AWS_ROLE_SESSION_NAME", "pod-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", moto_server.endpoint)  # type: ignore[attr-defined]
    creds = resolve("aws")
    assert creds.source == "environment: AWS_WEB_IDENTITY_TOKEN_FILE"
    assert creds.identity == f"role {ROLE} (web identity)"
    arn = _caller_arn(creds.boto3_session(), moto_server.endpoint)  # type: ignore[attr-defined]
    assert arn.endswith(":assumed-role/test-role/pod-1")


def test_unreachable_sts_is_a_transient_error() -> None:
    creds = resolve(
        "aws",
        role_arn=ROLE,
        access_key_id=KEY_ID,
        secret_access_key=SECRET,
        sts_endpoint=f"http://127.0.0.1:{closed_port()}",
    )
    with pytest.raises(TransientError):
        creds.fetch_aws_keys()


def test_anonymous_session_has_no_credentials() -> None:
    creds = resolve("aws", auth="anonymous")
    assert creds.is_anonymous
    assert creds.boto3_session().get_credentials() is None


def test_obstore_reads_and_writes_on_moto_with_assumed_role_keys(moto_server: object) -> None:
    import uuid

    import obstore
    from obstore.store import S3Store

    endpoint = moto_server.endpoint  # type: ignore[attr-defined]
    base = resolve("aws", access_key_id=KEY_ID, secret_access_key=SECRET, region="us-east-1")
    bucket = f"oc-cred-{uuid.uuid4().hex[:10]}"
    base.boto3_session().client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
    creds = resolve(
        "aws",
        role_arn=ROLE,
        access_key_id=KEY_ID,
        secret_access_key=SECRET,
        sts_endpoint=endpoint,
        region="us-east-1",
    )
    provider = creds.obstore_s3_credential_provider()
    store = S3Store(
        bucket,
        endpoint=endpoint,
        region="us-east-1",
        credential_provider=provider,  # type: ignore[arg-type]
        client_options={"allow_http": True},
    )
    obstore.put(store, "hello.txt", b"signed with a session token")
    assert bytes(obstore.get(store, "hello.txt").bytes()) == b"signed with a session token"
    assert provider.fetch_count == 1


def test_a_named_instance_role_must_be_the_attached_one(ec2_imds: FakeImds) -> None:
    assert resolve("aws", role_name="app-role").identity == "instance role app-role"
    with pytest.raises(CredentialsNotFoundError, match="the instance role is app-role, not other-role"):
        resolve("aws", auth="iam_role", role_name="other-role")
