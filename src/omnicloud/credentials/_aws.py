"""AWS: access keys, assume-role, web identity, shared profiles, instance roles (EC2 IMDSv2).

Configs and discovery use only the standard library; boto3 and STS are
reached through :mod:`omnicloud.credentials._aws_sdk`, imported when an
adapter is called.
"""

from __future__ import annotations

import configparser
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from omnicloud.credentials._base import (
    AuthConfig,
    Credentials,
    FindResult,
    ProviderChain,
    ResolveContext,
    Source,
    display_path,
    mask_id,
)
from omnicloud.credentials._http import MetadataUnavailable, http_request
from omnicloud.credentials._refresh import Expiring, RefreshingValue
from omnicloud.credentials._secret import Secret
from omnicloud.errors import AuthenticationError, ConfigError, TransientError

if TYPE_CHECKING:
    from boto3.session import Session as Boto3Session

__all__ = [
    "CHAIN",
    "AwsAccessKey",
    "AwsAnonymous",
    "AwsAssumeRole",
    "AwsIamRole",
    "AwsKeys",
    "AwsProfile",
    "AwsWebIdentity",
    "S3CredentialProvider",
]

IMDS_DEFAULT_ENDPOINT = "http://169.254.169.254"
# A session token lifetime for IMDSv2; the token only guards the metadata reads below.
_IMDS_TOKEN_TTL = "300"
_DEFAULT_SESSION_NAME = "omnicloud"
# Keys botocore itself knows how to turn into credentials but which we hand to it
# rather than re-implement (SSO, external processes, MFA prompts, credential_source).
_ROLE_PARAMS = frozenset({"role_arn", "role_session_name", "external_id", "duration_seconds", "sts_endpoint"})
_DELEGATED_PROFILE_KEYS = (
    "sso_session",
    "sso_start_url",
    "credential_process",
    "credential_source",
    "mfa_serial",
)


@dataclass(frozen=True, slots=True)
class AwsKeys:
    """One set of AWS keys; temporary ones carry a session token and an expiry."""

    access_key_id: str
    secret_access_key: Secret
    session_token: Secret | None = None
    expires_at: datetime | None = None

    def __repr__(self) -> str:
        return (
            f"AwsKeys(access_key_id={mask_id(self.access_key_id)!r}, "
            f"secret_access_key={self.secret_access_key!r}, session_token={self.session_token!r}, "
            f"expires_at={self.expires_at!r})"
        )


# --- auth configs -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AwsAccessKey(AuthConfig):
    """A long-lived access key, or temporary keys with a session token."""

    provider: ClassVar[str] = "aws"
    auth: ClassVar[str] = "access_key"
    summary: ClassVar[str] = "access key id + secret access key (+ session token)"
    params: ClassVar[frozenset[str]] = frozenset({"access_key_id", "secret_access_key", "session_token"})

    access_key_id: str = field(repr=False)
    secret_access_key: Secret
    session_token: Secret | None = None

    def identity(self) -> str:
        return f"access key {mask_id(self.access_key_id)}"

    def fetch_keys(self, credentials: Credentials) -> AwsKeys:
        return AwsKeys(self.access_key_id, self.secret_access_key, self.session_token)

    def boto3_session(self, credentials: Credentials) -> Boto3Session:
        from omnicloud.credentials import _aws_sdk

        return _aws_sdk.static_session(self.fetch_keys(credentials), credentials.region)


@dataclass(frozen=True, slots=True)
class AwsAssumeRole(AuthConfig):
    """A role assumed through STS with other (base) credentials; refreshed before expiry."""

    provider: ClassVar[str] = "aws"
    auth: ClassVar[str] = "assume_role"
    summary: ClassVar[str] = "STS AssumeRole with base credentials from the rest of the chain"
    # The base credentials may be given alongside the role.
    params: ClassVar[frozenset[str]] = _ROLE_PARAMS | {"access_key_id", "secret_access_key", "session_token"}

    role_arn: str
    base: Credentials
    role_session_name: str = _DEFAULT_SESSION_NAME
    external_id: str | None = field(default=None, repr=False)
    duration_seconds: int | None = None
    sts_endpoint: str | None = None

    def identity(self) -> str:
        return f"role {self.role_arn}"

    def details(self) -> dict[str, str]:
        return {
            "role_session_name": self.role_session_name,
            "base": f"{self.base.identity} ({self.base.source})",
        }

    def fetch_keys(self, credentials: Credentials) -> AwsKeys:
        from omnicloud.credentials import _aws_sdk

        return _aws_sdk.assume_role(self, credentials)

    def boto3_session(self, credentials: Credentials) -> Boto3Session:
        from omnicloud.credentials import _aws_sdk

        return _aws_sdk.refreshing_session(credentials, lambda: self.fetch_keys(credentials), "assume-role")


@dataclass(frozen=True, slots=True)
class AwsWebIdentity(AuthConfig):
    """A role assumed with an OIDC token file (EKS IRSA, GitHub Actions); the file is re-read on refresh."""

    provider: ClassVar[str] = "aws"
    auth: ClassVar[str] = "web_identity"
    summary: ClassVar[str] = "STS AssumeRoleWithWebIdentity with a token file (EKS, CI)"
    params: ClassVar[frozenset[str]] = frozenset(
        {"role_arn", "web_identity_token_file", "role_session_name", "duration_seconds", "sts_endpoint"}
    )

    role_arn: str
    token_file: str
    role_session_name: str = _DEFAULT_SESSION_NAME
    duration_seconds: int | None = None
    sts_endpoint: str | None = None

    def identity(self) -> str:
        return f"role {self.role_arn} (web identity)"

    def details(self) -> dict[str, str]:
        return {"token_file": self.token_file}

    def read_token(self) -> Secret:
        try:
            return Secret(Path(self.token_file).read_text(encoding="utf-8").strip())
        except OSError as err:
            raise AuthenticationError(
                f"cannot read the web identity token file {self.token_file}: {err.strerror}", provider="aws"
            ) from err

    def fetch_keys(self, credentials: Credentials) -> AwsKeys:
        from omnicloud.credentials import _aws_sdk

        return _aws_sdk.assume_role_with_web_identity(self, credentials)

    def boto3_session(self, credentials: Credentials) -> Boto3Session:
        from omnicloud.credentials import _aws_sdk

        return _aws_sdk.refreshing_session(credentials, lambda: self.fetch_keys(credentials), "web-identity")


@dataclass(frozen=True, slots=True)
class AwsIamRole(AuthConfig):
    """The role attached to this EC2 instance, read from IMDSv2; refreshed before expiry."""

    provider: ClassVar[str] = "aws"
    auth: ClassVar[str] = "iam_role"
    summary: ClassVar[str] = "the instance's IAM role from the EC2 metadata service (IMDSv2)"
    params: ClassVar[frozenset[str]] = frozenset({"role_name"})

    role_name: str
    metadata_endpoint: str = IMDS_DEFAULT_ENDPOINT

    def identity(self) -> str:
        return f"instance role {self.role_name}"

    def fetch_keys(self, credentials: Credentials) -> AwsKeys:
        timeout = credentials.metadata_timeout
        try:
            token = _imds_token(self.metadata_endpoint, timeout)
            answer = http_request(
                "GET",
                f"{self.metadata_endpoint}/latest/meta-data/iam/security-credentials/{self.role_name}",
                timeout=timeout,
                headers={"X-aws-ec2-metadata-token": token},
            )
        except MetadataUnavailable as err:
            raise TransientError(f"the EC2 metadata service did not answer: {err}", provider="aws") from err
        if not answer.ok:
            raise AuthenticationError(
                f"the EC2 metadata service refused credentials for role {self.role_name} "
                f"(HTTP {answer.status})",
                provider="aws",
            )
        try:
            document = json.loads(answer.body)
            return AwsKeys(
                document["AccessKeyId"],
                Secret(document["SecretAccessKey"]),
                Secret(document["Token"]),
                _parse_expiration(document["Expiration"]),
            )
        except (ValueError, KeyError, TypeError) as err:
            raise AuthenticationError(
                "the EC2 metadata service sent malformed credentials", provider="aws"
            ) from err

    def boto3_session(self, credentials: Credentials) -> Boto3Session:
        from omnicloud.credentials import _aws_sdk

        return _aws_sdk.refreshing_session(credentials, lambda: self.fetch_keys(credentials), "iam-role")


@dataclass(frozen=True, slots=True)
class AwsProfile(AuthConfig):
    """A shared-config profile botocore resolves itself (SSO, credential_process, MFA, credential_source)."""

    provider: ClassVar[str] = "aws"
    auth: ClassVar[str] = "profile"
    summary: ClassVar[str] = "a named profile from ~/.aws/config and ~/.aws/credentials"
    # ``profile`` is accepted by every auth type read from the shared files.
    params: ClassVar[frozenset[str]] = frozenset()

    profile: str

    def identity(self) -> str:
        return f"profile {self.profile}"

    def fetch_keys(self, credentials: Credentials) -> AwsKeys:
        from omnicloud.credentials import _aws_sdk

        return _aws_sdk.keys_from_session(self.boto3_session(credentials), f"profile {self.profile}")

    def boto3_session(self, credentials: Credentials) -> Boto3Session:
        from omnicloud.credentials import _aws_sdk

        return _aws_sdk.profile_session(self.profile, credentials.region)


@dataclass(frozen=True, slots=True)
class AwsAnonymous(AuthConfig):
    """Unsigned requests: public buckets. Backends pass botocore's ``UNSIGNED`` when ``is_anonymous``."""

    provider: ClassVar[str] = "aws"
    auth: ClassVar[str] = "anonymous"
    summary: ClassVar[str] = "unsigned requests (public buckets)"
    params: ClassVar[frozenset[str]] = frozenset()

    def identity(self) -> str:
        return "anonymous"

    def fetch_keys(self, credentials: Credentials) -> AwsKeys:
        raise ConfigError("anonymous AWS access has no keys", provider="aws")

    def boto3_session(self, credentials: Credentials) -> Boto3Session:
        from omnicloud.credentials import _aws_sdk

        return _aws_sdk.anonymous_session(credentials.region)


class S3CredentialProvider:
    """obstore's ``credential_provider``: current keys as a dict, refreshed ``refresh_margin`` before expiry.

    Profiles botocore manages report an expiry five minutes ahead, so obstore
    asks again and botocore can refresh SSO or process credentials meanwhile.
    """

    def __init__(self, credentials: Credentials) -> None:
        self._credentials = credentials
        self._keys = RefreshingValue(self._fetch, margin=credentials.refresh_margin)

    def _fetch(self) -> Expiring[AwsKeys]:
        keys = self._credentials.fetch_aws_keys()
        return Expiring(keys, keys.expires_at)

    @property
    def fetch_count(self) -> int:
        return self._keys.fetch_count

    def __call__(self) -> dict[str, Any]:
        current = self._keys.current()
        keys = current.value
        # obstore accepts only datetime.timezone.utc, not dateutil's tzutc that botocore returns.
        expires_at = current.expires_at.astimezone(UTC) if current.expires_at else None
        return {
            "access_key_id": keys.access_key_id,
            "secret_access_key": keys.secret_access_key.reveal(),
            "token": keys.session_token.reveal() if keys.session_token else None,
            "expires_at": expires_at,
        }

    def __repr__(self) -> str:
        return f"S3CredentialProvider({self._credentials.identity!r})"


# --- sources ----------------------------------------------------------------------


def _from_params(ctx: ResolveContext) -> FindResult:
    auth = ctx.auth
    if auth == "anonymous":
        return Credentials(AwsAnonymous(), "explicit parameters")
    role_arn = ctx.param("role_arn")
    token_file = ctx.param("web_identity_token_file")
    if auth == "web_identity" or (auth is None and role_arn and token_file):
        if not role_arn or not token_file:
            if not ctx.has_any(("role_arn", "web_identity_token_file")):
                return None
            missing = "role_arn" if not role_arn else "web_identity_token_file"
            raise ConfigError(f"auth web_identity needs {missing} as well", provider="aws")
        return Credentials(_web_identity(ctx, role_arn, token_file), "explicit parameters")
    if role_arn and auth in (None, "assume_role"):
        return _assume_role_from_params(ctx, role_arn)
    if auth == "assume_role":
        if ctx.has_any(("role_session_name", "external_id", "duration_seconds")):
            raise ConfigError("auth assume_role needs role_arn", provider="aws")
        return None
    if ctx.has_any(("access_key_id", "secret_access_key", "session_token")) and auth in (None, "access_key"):
        return Credentials(_access_key_from_params(ctx), "explicit parameters")
    profile = ctx.param("profile")
    if profile and auth in (None, "profile", "access_key", "assume_role", "web_identity"):
        return _from_profile(ctx, profile, named_by="parameter profile")
    return None


def _access_key_from_params(ctx: ResolveContext) -> AwsAccessKey:
    key_id = ctx.param("access_key_id")
    secret = ctx.secret_param("secret_access_key")
    if not key_id or secret is None:
        missing = "access_key_id" if not key_id else "secret_access_key"
        raise ConfigError(f"auth access_key needs {missing} as well", provider="aws")
    return AwsAccessKey(key_id, secret, ctx.secret_param("session_token"))


def _assume_role_from_params(ctx: ResolveContext, role_arn: str) -> Credentials:
    from omnicloud.credentials._resolve import resolve_in_context

    # The base credentials come from the rest of the chain, exactly as if the
    # role parameters had not been given.
    base_params = {k: v for k, v in ctx.params.items() if k not in _ROLE_PARAMS}
    base = resolve_in_context(ctx, auth=None, params=base_params)
    config = AwsAssumeRole(
        role_arn=role_arn,
        base=base,
        role_session_name=ctx.param("role_session_name") or _DEFAULT_SESSION_NAME,
        external_id=ctx.param("external_id"),
        duration_seconds=ctx.int_param("duration_seconds"),
        sts_endpoint=ctx.param("sts_endpoint") or _sts_endpoint_from_env(ctx),
    )
    return Credentials(config, f"explicit parameters (base: {base.source})", region=base.region)


def _web_identity(ctx: ResolveContext, role_arn: str, token_file: str) -> AwsWebIdentity:
    return AwsWebIdentity(
        role_arn=role_arn,
        token_file=str(Path(token_file).expanduser()),
        role_session_name=ctx.param("role_session_name") or _DEFAULT_SESSION_NAME,
        duration_seconds=ctx.int_param("duration_seconds"),
        sts_endpoint=ctx.param("sts_endpoint") or _sts_endpoint_from_env(ctx),
    )


def _sts_endpoint_from_env(ctx: ResolveContext) -> str | None:
    return ctx.env("AWS_ENDPOINT_URL_STS") or ctx.env("AWS_ENDPOINT_URL")


def _from_env_keys(ctx: ResolveContext) -> FindResult:
    key_id = ctx.env("AWS_ACCESS_KEY_ID")
    secret = ctx.env("AWS_SECRET_ACCESS_KEY")
    if key_id and secret:
        token = ctx.env("AWS_SESSION_TOKEN")
        config = AwsAccessKey(key_id, Secret(secret), Secret(token) if token else None)
        return Credentials(config, "environment: AWS_ACCESS_KEY_ID")
    if key_id or secret:
        return "only one of AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY is set"
    return None


def _from_env_web_identity(ctx: ResolveContext) -> FindResult:
    token_file = ctx.env("AWS_WEB_IDENTITY_TOKEN_FILE")
    role_arn = ctx.env("AWS_ROLE_ARN")
    if token_file and role_arn:
        config = AwsWebIdentity(
            role_arn=role_arn,
            token_file=token_file,
            role_session_name=ctx.env("AWS_ROLE_SESSION_NAME") or _DEFAULT_SESSION_NAME,
            sts_endpoint=ctx.param("sts_endpoint") or _sts_endpoint_from_env(ctx),
        )
        return Credentials(config, "environment: AWS_WEB_IDENTITY_TOKEN_FILE")
    if token_file or role_arn:
        return "only one of AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN is set"
    return None


def _from_env_profile(ctx: ResolveContext) -> FindResult:
    profile = ctx.env("AWS_PROFILE")
    if not profile:
        return None
    return _from_profile(ctx, profile, named_by="AWS_PROFILE")


def _from_default_profile(ctx: ResolveContext) -> FindResult:
    if ctx.env("AWS_PROFILE"):
        return "AWS_PROFILE names the profile"
    return _from_profile(ctx, ctx.env("AWS_DEFAULT_PROFILE") or "default", named_by=None)


def _from_profile(ctx: ResolveContext, profile: str, *, named_by: str | None, depth: int = 0) -> FindResult:
    files = _SharedFiles.load(ctx)
    section, where = files.profile(profile)
    if section is None:
        if named_by is not None:
            raise ConfigError(
                f"AWS profile {profile!r} (from {named_by}) is not in {files.describe()}", provider="aws"
            )
        return None
    source = f"file: {where} [{profile}]"
    region = section.get("region")
    wanted = ctx.auth
    if section.get("aws_access_key_id") and section.get("aws_secret_access_key"):
        if wanted not in (None, "access_key", "profile"):
            return f"profile {profile} holds access keys, not {wanted}"
        token = section.get("aws_session_token")
        keys = AwsAccessKey(
            section["aws_access_key_id"],
            Secret(section["aws_secret_access_key"]),
            Secret(token) if token else None,
        )
        return Credentials(keys, source, region=region)
    role_arn = section.get("role_arn")
    if role_arn and section.get("web_identity_token_file") and wanted in (None, "web_identity", "profile"):
        web_identity = AwsWebIdentity(
            role_arn=role_arn,
            token_file=str(Path(section["web_identity_token_file"]).expanduser()),
            role_session_name=section.get("role_session_name") or _DEFAULT_SESSION_NAME,
            duration_seconds=_int_or_none(section.get("duration_seconds")),
            sts_endpoint=_sts_endpoint_from_env(ctx),
        )
        return Credentials(web_identity, source, region=region)
    source_profile = section.get("source_profile")
    if role_arn and source_profile and not _delegated(section) and wanted in (None, "assume_role", "profile"):
        if depth > 4:
            raise ConfigError(f"AWS profile {profile!r}: source_profile chain is too long", provider="aws")
        if source_profile == profile:
            base_section = {k: v for k, v in section.items() if k != "role_arn"}
            base = _static_profile_keys(base_section, source, profile)
        else:
            found = _from_profile(
                ctx, source_profile, named_by=f"source_profile of {profile}", depth=depth + 1
            )
            if not isinstance(found, Credentials):
                raise ConfigError(f"AWS profile {source_profile!r} holds no credentials", provider="aws")
            base = found
        config = AwsAssumeRole(
            role_arn=role_arn,
            base=base,
            role_session_name=section.get("role_session_name") or _DEFAULT_SESSION_NAME,
            external_id=section.get("external_id"),
            duration_seconds=_int_or_none(section.get("duration_seconds")),
            sts_endpoint=_sts_endpoint_from_env(ctx),
        )
        return Credentials(config, source, region=region)
    if (role_arn or _delegated(section)) and wanted in (None, "profile"):
        return Credentials(AwsProfile(profile), source, region=region)
    if wanted == "profile" and named_by is not None:
        # A profile holding only settings (region, output): botocore will find keys elsewhere.
        return Credentials(AwsProfile(profile), source, region=region)
    return f"profile {profile} holds no credentials"


def _static_profile_keys(section: Mapping[str, str], source: str, profile: str) -> Credentials:
    if not (section.get("aws_access_key_id") and section.get("aws_secret_access_key")):
        raise ConfigError(f"AWS profile {profile!r} holds no access keys", provider="aws")
    token = section.get("aws_session_token")
    config = AwsAccessKey(
        section["aws_access_key_id"],
        Secret(section["aws_secret_access_key"]),
        Secret(token) if token else None,
    )
    return Credentials(config, source)


def _delegated(section: Mapping[str, str]) -> bool:
    return any(key in section for key in _DELEGATED_PROFILE_KEYS) or any(
        k.startswith("sso_") for k in section
    )


def _int_or_none(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        raise ConfigError(
            f"expected a whole number in the AWS config, got {text!r}", provider="aws"
        ) from None


@dataclass(frozen=True)
class _SharedFiles:
    """``~/.aws/credentials`` and ``~/.aws/config``, wherever the environment relocates them."""

    credentials_path: Path
    config_path: Path
    credentials: configparser.ConfigParser
    config: configparser.ConfigParser
    home: Path

    @classmethod
    def paths(cls, ctx: ResolveContext) -> tuple[Path, Path]:
        credentials = ctx.env("AWS_SHARED_CREDENTIALS_FILE") or str(ctx.home / ".aws" / "credentials")
        config = ctx.env("AWS_CONFIG_FILE") or str(ctx.home / ".aws" / "config")
        return Path(credentials).expanduser(), Path(config).expanduser()

    @classmethod
    def load(cls, ctx: ResolveContext) -> _SharedFiles:
        credentials_path, config_path = cls.paths(ctx)
        return cls(
            credentials_path,
            config_path,
            _read_ini(credentials_path),
            _read_ini(config_path),
            ctx.home,
        )

    def describe(self) -> str:
        return (
            f"{display_path(self.credentials_path, self.home)} or {display_path(self.config_path, self.home)}"
        )

    def profile(self, name: str) -> tuple[dict[str, str] | None, str]:
        """The merged settings of one profile; the credentials file wins, as in the AWS CLI."""
        config_section = "default" if name == "default" else f"profile {name}"
        merged: dict[str, str] = {}
        where: list[str] = []
        for parser, section, path in (
            (self.config, config_section, self.config_path),
            (self.config, f"profile {name}" if name == "default" else "", self.config_path),
            (self.credentials, name, self.credentials_path),
        ):
            if section and parser.has_section(section):
                merged.update(parser[section])
                shown = display_path(path, self.home)
                if shown not in where:
                    where.append(shown)
        if not merged:
            return None, ""
        if merged.get("aws_access_key_id"):
            # Say which file holds the keys, since that is the file to fix or rotate.
            in_credentials = self.credentials.has_section(name) and self.credentials[name].get(
                "aws_access_key_id"
            )
            where = [display_path(self.credentials_path if in_credentials else self.config_path, self.home)]
        return merged, ", ".join(where)


def _read_ini(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, default_section="\x00no-defaults")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return parser
    except OSError as err:
        raise ConfigError(f"cannot read {path}: {err.strerror}", provider="aws") from err
    try:
        parser.read_string(text, source=str(path))
    except configparser.Error as err:
        # configparser quotes the offending line, which may hold a key: say only where.
        line = getattr(err, "lineno", None)
        raise ConfigError(
            f"{path} is not a valid AWS config file" + (f" (line {line})" if line else ""), provider="aws"
        ) from None
    return parser


def _describe_files(ctx: ResolveContext) -> str:
    credentials, config = _SharedFiles.paths(ctx)
    profile = ctx.env("AWS_DEFAULT_PROFILE") or "default"
    return f"file: {display_path(credentials, ctx.home)}, {display_path(config, ctx.home)} [{profile}]"


# --- EC2 instance metadata (IMDSv2) -----------------------------------------------


def imds_endpoint(ctx: ResolveContext) -> str:
    return (ctx.env("AWS_EC2_METADATA_SERVICE_ENDPOINT") or IMDS_DEFAULT_ENDPOINT).rstrip("/")


def _imds_token(endpoint: str, timeout: float) -> str:
    answer = http_request(
        "PUT",
        f"{endpoint}/latest/api/token",
        timeout=timeout,
        headers={"X-aws-ec2-metadata-token-ttl-seconds": _IMDS_TOKEN_TTL},
    )
    if not answer.ok:
        raise MetadataUnavailable(f"IMDSv2 token request answered HTTP {answer.status}")
    return answer.text.strip()


def _from_imds(ctx: ResolveContext) -> FindResult:
    if not ctx.metadata.enabled:
        return f"skipped: {ctx.metadata.disabled_by}"
    if ctx.env_flag("AWS_EC2_METADATA_DISABLED"):
        return "skipped: AWS_EC2_METADATA_DISABLED"
    endpoint = imds_endpoint(ctx)
    timeout = ctx.metadata.timeout
    try:
        token = _imds_token(endpoint, timeout)
        headers = {"X-aws-ec2-metadata-token": token}
        answer = http_request(
            "GET", f"{endpoint}/latest/meta-data/iam/security-credentials/", timeout=timeout, headers=headers
        )
        if not answer.ok:
            return f"no instance role (HTTP {answer.status})"
        listed = answer.text.split()
        role = ctx.param("role_name") or (listed[0] if listed else "")
        if listed and role not in listed:
            return f"the instance role is {listed[0]}, not {role}"
        if not role:
            return "no instance role"
        region = None
        if not ctx.param("region"):
            placement = http_request(
                "GET", f"{endpoint}/latest/meta-data/placement/region", timeout=timeout, headers=headers
            )
            region = placement.text.strip() if placement.ok else None
    except MetadataUnavailable as err:
        return str(err)
    return Credentials(AwsIamRole(role, endpoint), "metadata: EC2 IMDSv2", region=region)


def _complete(ctx: ResolveContext, found: Credentials) -> Credentials:
    region = ctx.param("region") or found.region or ctx.env("AWS_REGION") or ctx.env("AWS_DEFAULT_REGION")
    if region is None:
        # aws-cli takes the region from the config file even when the keys come from elsewhere.
        profile = (
            ctx.param("profile") or ctx.env("AWS_PROFILE") or ctx.env("AWS_DEFAULT_PROFILE") or "default"
        )
        section, _ = _SharedFiles.load(ctx).profile(profile)
        region = (section or {}).get("region")
    endpoint = ctx.param("endpoint") or ctx.env("AWS_ENDPOINT_URL_S3") or ctx.env("AWS_ENDPOINT_URL")
    return found.with_settings(region=region, endpoint=endpoint)


def _parse_expiration(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


_ALL = frozenset({"access_key", "assume_role", "web_identity", "iam_role", "profile", "anonymous"})

CHAIN = ProviderChain(
    provider="aws",
    configs=(AwsAccessKey, AwsAssumeRole, AwsWebIdentity, AwsIamRole, AwsProfile, AwsAnonymous),
    params=frozenset(
        {
            "access_key_id",
            "role_arn",
            "role_session_name",
            "external_id",
            "duration_seconds",
            "web_identity_token_file",
            "sts_endpoint",
            "profile",
            "role_name",
        }
    ),
    secret_params=frozenset({"secret_access_key", "session_token"}),
    sources=(
        Source("explicit", _ALL - {"iam_role"}, lambda ctx: "explicit parameters", _from_params),
        Source(
            "environment",
            frozenset({"access_key"}),
            lambda ctx: "environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY",
            _from_env_keys,
        ),
        Source(
            "environment",
            frozenset({"web_identity"}),
            lambda ctx: "environment: AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN",
            _from_env_web_identity,
        ),
        Source(
            "environment",
            frozenset({"access_key", "assume_role", "web_identity", "profile"}),
            lambda ctx: "environment: AWS_PROFILE",
            _from_env_profile,
        ),
        Source(
            "file",
            frozenset({"access_key", "assume_role", "web_identity", "profile"}),
            _describe_files,
            _from_default_profile,
        ),
        Source("metadata", frozenset({"iam_role"}), lambda ctx: "metadata: EC2 IMDSv2", _from_imds),
    ),
    complete=_complete,
    hint="set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, run `aws configure`, or pass auth=... parameters",
)
