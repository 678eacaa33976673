"""Profiles map URI prefixes to credentials: longest prefix wins, secrets stay out of sight."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from omnicloud.credentials import (
    EnvReference,
    Secret,
    credentials_for,
    default_profile_path,
    load_profiles,
)
from omnicloud.errors import ConfigError
from omnicloud.uri import parse_uri

TEAM_A_SECRET = "team-a-secret-value-0000000000000000"
TEAM_B_SECRET = "team-b-secret-value-1111111111111111"

CONFIG = """
[profiles."s3://shared/"]
auth = "access_key"
access_key_id = "AKIASHAREDBUCKET0001"
secret_access_key = { env = "SHARED_SECRET" }
region = "us-east-1"

[profiles."s3://shared/team-b/"]
auth = "access_key"
access_key_id = "AKIATEAMBPREFIX00002"
secret_access_key = { file = "~/team-b-secret" }
region = "eu-west-1"
endpoint = "http://127.0.0.1:9000"

[profiles."az://backups"]
auth = "sas"
sas_token = { env = "BACKUP_SAS" }
account = "backupstore01"
"""


@pytest.fixture
def profile_file(isolated_environment: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = isolated_environment / ".config" / "omnicloud" / "config.toml"
    path.parent.mkdir(parents=True)
    path.write_text(CONFIG)
    path.chmod(0o600)
    (isolated_environment / "team-b-secret").write_text(TEAM_B_SECRET + "\n")
    monkeypatch.setenv("SHARED_SECRET", TEAM_A_SECRET)
    monkeypatch.setenv("BACKUP_SAS", "sv=2024&sig=abc")
    return path


def test_default_path_follows_omnicloud_config_then_xdg_then_home(
    isolated_environment: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert default_profile_path() == isolated_environment / ".config" / "omnicloud" / "config.toml"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert default_profile_path() == tmp_path / "xdg" / "omnicloud" / "config.toml"
    monkeypatch.setenv("OMNICLOUD_CONFIG", str(tmp_path / "mine.toml"))
    assert default_profile_path() == tmp_path / "mine.toml"


def test_missing_default_file_means_no_profiles() -> None:
    assert len(load_profiles()) == 0


def test_missing_named_file_is_an_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OMNICLOUD_CONFIG", str(tmp_path / "absent.toml"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_profiles()


def test_longest_prefix_wins(profile_file: Path) -> None:
    profiles = load_profiles()
    assert profiles.match("s3://shared/team-b/data.csv").written == "s3://shared/team-b/"  # type: ignore[union-attr]
    assert profiles.match("s3://shared/team-a/data.csv").written == "s3://shared/"  # type: ignore[union-attr]
    assert profiles.match("s3://shared/team-b").written == "s3://shared/team-b/"  # type: ignore[union-attr]
    assert profiles.match("s3://other/x") is None
    assert profiles.match("gs://shared/x") is None


def test_prefixes_match_whole_segments(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[profiles."s3://bucket/raw"]\nregion = "us-east-2"\n')
    profiles = load_profiles(path)
    assert profiles.match("s3://bucket/raw/file") is not None
    assert profiles.match("s3://bucket/raw") is not None
    assert profiles.match("s3://bucket/rawfoo") is None


def test_a_locator_on_the_prefix_must_match(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[profiles."azure://acct1/box"]\nauth = "cli"\n')
    profiles = load_profiles(path)
    assert profiles.match("azure://acct1/box/k") is not None
    assert profiles.match("azure://acct2/box/k") is None
    assert profiles.match("az://box/k") is None


def test_references_are_kept_until_resolution(profile_file: Path) -> None:
    profile = load_profiles().match("s3://shared/x")
    assert profile is not None
    assert profile.parameters["secret_access_key"] == EnvReference("SHARED_SECRET")
    resolved = profile.resolved_parameters()
    assert isinstance(resolved["secret_access_key"], Secret)
    assert resolved["secret_access_key"].reveal() == TEAM_A_SECRET


def test_two_uris_get_two_identities(profile_file: Path) -> None:
    source = credentials_for("s3://shared/team-a/in.csv")
    target = credentials_for("s3://shared/team-b/out.csv")
    assert source.identity == "access key ****0001"
    assert target.identity == "access key ****0002"
    assert target.fetch_aws_keys().secret_access_key.reveal() == TEAM_B_SECRET
    assert source.region == "us-east-1" and target.region == "eu-west-1"
    assert target.endpoint == "http://127.0.0.1:9000"
    assert target.source == "profile: s3://shared/team-b/ in ~/.config/omnicloud/config.toml"
    assert target.profile == "s3://shared/team-b/ in ~/.config/omnicloud/config.toml"


def test_explicit_parameters_and_uri_locators_override_the_profile(profile_file: Path) -> None:
    creds = credentials_for("aws://ap-south-1/shared/x", parameters={"endpoint": "http://127.0.0.1:1"})
    assert creds.region == "ap-south-1"
    assert creds.endpoint == "http://127.0.0.1:1"
    assert creds.identity == "access key ****0001"


def test_azure_profile_supplies_the_account(profile_file: Path) -> None:
    creds = credentials_for("az://backups/2024/db.bak")
    assert creds.auth == "sas"
    assert creds.azure_account_url() == "https://backupstore01.blob.core.windows.net"


def test_missing_environment_reference_is_a_config_error(
    profile_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SHARED_SECRET")
    with pytest.raises(ConfigError, match=r"refers to \$SHARED_SECRET, which is not set"):
        credentials_for("s3://shared/x")


def test_unknown_keys_and_bad_auth_are_config_errors(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[profiles."s3://bkt1/"]\nsecret_acess_key = "x"\n')
    with pytest.raises(ConfigError, match="unknown key 'secret_acess_key'"):
        load_profiles(path)
    path.write_text('[profiles."gs://bkt1/"]\nauth = "access_key"\n')
    with pytest.raises(ConfigError, match="valid auth types for gcp"):
        load_profiles(path)
    path.write_text('[profiles."not a uri://x"]\nregion = "x"\n')
    with pytest.raises(ConfigError):
        load_profiles(path)
    path.write_text("[storage]\nx = 1\n")
    with pytest.raises(ConfigError, match="unknown top-level key"):
        load_profiles(path)


def test_invalid_toml_is_reported_without_the_line(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(f'[profiles."s3://bkt1/"]\nsecret_access_key = "{TEAM_A_SECRET}\n')
    with pytest.raises(ConfigError) as info:
        load_profiles(path)
    assert TEAM_A_SECRET not in str(info.value)
    assert "not valid TOML" in str(info.value)


def test_inline_secrets_in_a_readable_file_produce_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        f'[profiles."s3://bkt1/"]\naccess_key_id = "AKIAINLINE0000000001"\n'
        f'secret_access_key = "{TEAM_A_SECRET}"\n'
    )
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="omnicloud.credentials"):
        profiles = load_profiles(path)
    assert "other users can read it" in caplog.text
    assert "secret_access_key" in caplog.text
    assert TEAM_A_SECRET not in caplog.text
    assert profiles.warnings
    assert TEAM_A_SECRET not in repr(profiles)
    creds = credentials_for("s3://bkt1/x", profiles=profiles)
    assert creds.fetch_aws_keys().secret_access_key.reveal() == TEAM_A_SECRET


def test_private_file_with_inline_secrets_is_quiet(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "c.toml"
    path.write_text(f'[profiles."s3://bkt1/"]\nsecret_access_key = "{TEAM_A_SECRET}"\n')
    os.chmod(path, 0o600)
    with caplog.at_level(logging.WARNING, logger="omnicloud.credentials"):
        load_profiles(path)
    assert caplog.text == ""


def test_oci_prefix_matches_both_uri_forms(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[profiles."oci://n/tenancyns/b/models/o/"]\nauth = "instance_principal"\n')
    profiles = load_profiles(path)
    assert profiles.match("oci://n/tenancyns/b/models/o/llama/weights.bin") is not None
    assert profiles.match(parse_uri("oci://tenancyns@us-ashburn-1/models/llama/weights.bin")) is not None


def test_local_uris_need_no_profile_or_credentials(profile_file: Path) -> None:
    creds = credentials_for("/tmp/data.csv")
    assert creds.auth == "none"
    assert creds.is_anonymous
