"""Known fake secrets go in through every door; no byte of them comes out of any output, log or error."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

CLI = [sys.executable, "-m", "omnicloud.cli"]

SECRETS = {
    "aws_secret": "LEAKCHECKawsSecretKey0123456789abcdefXYZ",
    "aws_session": "LEAKCHECKawsSessionToken9876543210",
    "aws_key_id": "AKIALEAKCHECK7777ABCD",
    "azure_key": "LEAKCHECKazureAccountKey0000000000000000000000000000000000000000000000000000000000==",
    "azure_client_secret": "LEAKCHECK~azure.client.secret",
    "azure_sas_sig": "LEAKCHECKsasSignature",
    "oci_passphrase": "LEAKCHECKociPassphrase",
    "profile_secret": "LEAKCHECKprofileInlineSecret",
    "profile_env_secret": "LEAKCHECKprofileEnvSecret",
}


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def gcp_private_key_body() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    # A line from the middle of the PEM body is what a leak would show.
    return pem, pem.splitlines()[5]


@pytest.fixture
def leaky_env(tmp_path: Path, gcp_private_key_body: tuple[str, str]) -> dict[str, str]:
    """An environment whose every credential variable holds a known fake secret."""
    import json

    home = tmp_path / "home"
    (home / ".config" / "omnicloud").mkdir(parents=True)
    pem, _ = gcp_private_key_body
    key_file = tmp_path / "sa.json"
    key_file.write_text(json.dumps({
        "type": "service_account", "project_id": "leak-check-1", "private_key_id": "k1", "private_key": pem,
        "client_email": "leak@leak-check-1.iam.gserviceaccount.com", "token_uri": "http://127.0.0.1:1/token",
    }))  # fmt: skip
    profile = home / ".config" / "omnicloud" / "config.toml"
    profile.write_text(
        '[profiles."s3://inline-bucket/"]\nauth = "access_key"\naccess_key_id = "AKIAPROFILE000000001"\n'
        f'secret_access_key = "{SECRETS["profile_secret"]}"\n\n'
        '[profiles."s3://env-bucket/"]\nauth = "access_key"\naccess_key_id = "AKIAPROFILE000000002"\n'
        'secret_access_key = { env = "PROFILE_SECRET" }\n'
    )
    profile.chmod(0o644)  # readable by others: the warning must name the key, not the value
    dead = f"127.0.0.1:{_closed_port()}"
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "COLUMNS": "200",
        "AWS_EC2_METADATA_SERVICE_ENDPOINT": f"http://{dead}",
        "GCE_METADATA_HOST": dead,
        "AZURE_POD_IDENTITY_AUTHORITY_HOST": f"http://{dead}",
        "OCI_METADATA_BASE_URL": f"http://{dead}/opc/v2",
        "OMNICLOUD_METADATA_TIMEOUT": "0.3",
        "AWS_ACCESS_KEY_ID": SECRETS["aws_key_id"],
        "AWS_SECRET_ACCESS_KEY": SECRETS["aws_secret"],
        "AWS_SESSION_TOKEN": SECRETS["aws_session"],
        "AWS_DEFAULT_REGION": "us-east-1",
        "AZURE_STORAGE_CONNECTION_STRING": (
            f"DefaultEndpointsProtocol=https;AccountName=leakcheck01;AccountKey={SECRETS['azure_key']};"
            "EndpointSuffix=core.windows.net"
        ),
        "AZURE_TENANT_ID": "tenant-leak",
        "AZURE_CLIENT_ID": "client-leak",
        "AZURE_CLIENT_SECRET": SECRETS["azure_client_secret"],
        "GOOGLE_APPLICATION_CREDENTIALS": str(key_file),
        "OCI_CLI_USER": "ocid1.user.oc1..leak",
        "OCI_CLI_TENANCY": "ocid1.tenancy.oc1..leak",
        "OCI_CLI_FINGERPRINT": "aa:bb:cc:dd:ee:ff:00:11:22:33:44:55:66:77:88:99",
        "OCI_CLI_KEY_CONTENT": pem,
        "OCI_CLI_PASSPHRASE": SECRETS["oci_passphrase"],
        "OCI_CLI_REGION": "us-ashburn-1",
        "PROFILE_SECRET": SECRETS["profile_env_secret"],
    }


API_SCRIPT = textwrap.dedent(
    """
    import logging, pickle, sys, traceback
    logging.basicConfig(level=logging.DEBUG, stream=sys.stdout)
    from omnicloud import credentials as c
    log = logging.getLogger("leakcheck")

    def show(label, value):
        described = value.describe() if hasattr(value, "describe") else ""
        print(label, repr(value), str(value), f"{value}", described)
        log.debug("%s %s %r", label, value, value)

    def attempt(label, call):
        try:
            show(label, call())
        except Exception as err:
            print(label, "error:", err, repr(err))
            traceback.print_exc(file=sys.stdout)
            log.exception("%s failed", label)

    for provider in c.CLOUD_PROVIDERS:
        attempt(provider, lambda: c.resolve(provider))
    attempt("explicit", lambda: c.resolve("aws", access_key_id="AKIAEXPLICIT00000001",
                                          secret_access_key=sys.argv[1]))
    attempt("partial", lambda: c.resolve("aws", secret_access_key=sys.argv[1]))
    attempt("bad-type", lambda: c.resolve("aws", secret_access_key=123456))
    attempt("sas", lambda: c.resolve("azure", sas_token="sv=1&sig=" + sys.argv[2]))
    attempt("bad-connstr", lambda: c.resolve("azure", connection_string=sys.argv[1]))
    attempt("inline-profile", lambda: c.credentials_for("s3://inline-bucket/x"))
    attempt("env-profile", lambda: c.credentials_for("s3://env-bucket/x"))
    attempt("spec", lambda: c.StorageSpec.from_mapping({"storageUri": "az://box/k",
            "parameters": {"auth": "sas", "sas_token": "sig=" + sys.argv[2]}}))
    spec_parameters = {"auth": "sas", "sas_token": "sig=" + sys.argv[2], "account": "acct1"}
    attempt("spec-creds", lambda: c.StorageSpec("az://box/k", spec_parameters).credentials())
    attempt("profiles", lambda: c.load_profiles())
    attempt("keys", lambda: c.resolve("aws").fetch_aws_keys())
    attempt("check", lambda: c.check_providers())
    pickled = pickle.dumps(c.resolve("aws"))
    print("pickle holds the secret:", sys.argv[1].encode() in pickled)
    attempt("azure-adapter", lambda: c.resolve("azure").azure_credential())
    attempt("oci-adapter", lambda: c.resolve("oci").oci_config_and_signer())
    """
)


def _assert_clean(output: str, extra: list[str]) -> None:
    leaked = [name for name, value in SECRETS.items() if value in output]
    leaked += [f"extra:{value[:12]}" for value in extra if value in output]
    assert leaked == [], f"secrets leaked: {leaked}"


def test_public_api_outputs_logs_and_errors_hold_no_secret(
    leaky_env: dict[str, str], gcp_private_key_body: tuple[str, str]
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", API_SCRIPT, SECRETS["aws_secret"], SECRETS["azure_sas_sig"]],
        env=leaky_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-2000:]
    # The script did exercise the paths it claims to.
    assert "explicit parameters" in output and "environment: AWS_ACCESS_KEY_ID" in output
    assert "needs access_key_id" in output and "other users can read it" in output
    assert "pickle holds the secret: False" in output
    _assert_clean(output, [gcp_private_key_body[1]])


@pytest.mark.parametrize(
    "args",
    [
        ("auth", "whoami", "aws", "--json"),
        ("auth", "whoami", "aws"),
        ("-v", "auth", "whoami", "s3://inline-bucket/x", "--json"),
        ("-v", "auth", "whoami", "s3://env-bucket/x"),
        ("auth", "whoami", "az://box/x", "--json"),
        ("auth", "whoami", "gcp", "--json"),
        ("auth", "whoami", "oci", "--json"),
        ("-v", "auth", "check", "--json"),
        ("auth", "check"),
        ("auth", "whoami", "aws", "--auth", "assume_role"),
        ("auth", "whoami", "gcp", "--auth", "workload_identity"),
        ("auth", "types"),
    ],
)
def test_cli_output_holds_no_secret(
    args: tuple[str, ...], leaky_env: dict[str, str], gcp_private_key_body: tuple[str, str]
) -> None:
    done = subprocess.run(
        [*CLI, *args], env=leaky_env, capture_output=True, text=True, timeout=120, check=False
    )
    output = done.stdout + done.stderr
    assert "Traceback" not in output
    _assert_clean(output, [gcp_private_key_body[1]])
