"""GCP: service account keys, application default credentials, workload identity, emulators.

Discovery uses only the standard library; google-auth is reached through
:mod:`omnicloud.credentials._gcp_sdk` when an adapter is called.
"""

from __future__ import annotations

import configparser
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from omnicloud.credentials._base import (
    AuthConfig,
    Credentials,
    FindResult,
    ProviderChain,
    ResolveContext,
    Source,
    display_path,
)
from omnicloud.credentials._http import MetadataUnavailable, http_request
from omnicloud.credentials._secret import Secret
from omnicloud.errors import ConfigError

__all__ = [
    "CHAIN",
    "DEFAULT_SCOPES",
    "GcpAnonymous",
    "GcpApplicationDefault",
    "GcpServiceAccount",
    "GcpWorkloadIdentity",
]

DEFAULT_SCOPES: tuple[str, ...] = ("https://www.googleapis.com/auth/cloud-platform",)
# google-auth probes the metadata server by IP, which fails fast off GCP, rather than by DNS name.
METADATA_DEFAULT_HOST = "169.254.169.254"
METADATA_FLAVOR = {"Metadata-Flavor": "Google"}


@dataclass(frozen=True, slots=True)
class GcpServiceAccount(AuthConfig):
    """A service account key (JSON); the whole key is secret, its email is not."""

    provider: ClassVar[str] = "gcp"
    auth: ClassVar[str] = "service_account"
    summary: ClassVar[str] = "a service account key file (JSON)"
    params: ClassVar[frozenset[str]] = frozenset({"service_account_file", "service_account_key", "scopes"})

    key: Secret
    client_email: str
    project_id: str | None = None
    key_file: str | None = None

    def identity(self) -> str:
        return self.client_email

    def details(self) -> dict[str, str]:
        return {"key_file": self.key_file} if self.key_file else {}

    def google_credentials(self, credentials: Credentials, scopes: Sequence[str] | None) -> Any:
        from omnicloud.credentials import _gcp_sdk

        return _gcp_sdk.from_service_account(self, credentials, scopes)


@dataclass(frozen=True, slots=True)
class GcpApplicationDefault(AuthConfig):
    """The application default credentials file ``gcloud auth application-default login`` writes."""

    provider: ClassVar[str] = "gcp"
    auth: ClassVar[str] = "application_default"
    summary: ClassVar[str] = "gcloud application default credentials (user login, impersonation)"
    params: ClassVar[frozenset[str]] = frozenset({"credentials_file", "scopes"})

    info: Secret
    kind: str
    file: str | None = None
    account: str | None = None

    def identity(self) -> str:
        who = self.account or "gcloud user"
        return f"{who} ({self.kind})"

    def details(self) -> dict[str, str]:
        return {"file": self.file} if self.file else {}

    def google_credentials(self, credentials: Credentials, scopes: Sequence[str] | None) -> Any:
        from omnicloud.credentials import _gcp_sdk

        return _gcp_sdk.from_info(
            self.info, credentials, scopes, what=f"application default credentials ({self.kind})"
        )


@dataclass(frozen=True, slots=True)
class GcpWorkloadIdentity(AuthConfig):
    """The workload's platform identity: the metadata server (GKE Workload Identity, a VM's service
    account) or a workload identity federation file (``external_account``)."""

    provider: ClassVar[str] = "gcp"
    auth: ClassVar[str] = "workload_identity"
    summary: ClassVar[str] = "GKE/GCE metadata server, or a workload identity federation file"
    params: ClassVar[frozenset[str]] = frozenset({"credentials_file", "service_account", "scopes"})

    service_account: str = "default"
    email: str | None = None
    metadata_host: str | None = None
    federation: Secret | None = field(default=None)
    file: str | None = None

    def identity(self) -> str:
        if self.federation is not None:
            return f"workload identity federation ({self.email or 'external account'})"
        return self.email or f"metadata service account {self.service_account}"

    def details(self) -> dict[str, str]:
        if self.file:
            return {"file": self.file}
        return {"metadata_host": self.metadata_host} if self.metadata_host else {}

    def google_credentials(self, credentials: Credentials, scopes: Sequence[str] | None) -> Any:
        from omnicloud.credentials import _gcp_sdk

        if self.federation is not None:
            return _gcp_sdk.from_info(
                self.federation, credentials, scopes, what="workload identity federation"
            )
        return _gcp_sdk.metadata_credentials(self, credentials, scopes)


@dataclass(frozen=True, slots=True)
class GcpAnonymous(AuthConfig):
    """No credentials: public buckets and emulators (``STORAGE_EMULATOR_HOST``)."""

    provider: ClassVar[str] = "gcp"
    auth: ClassVar[str] = "anonymous"
    summary: ClassVar[str] = "no credentials (public buckets, the GCS emulator)"
    params: ClassVar[frozenset[str]] = frozenset()

    def identity(self) -> str:
        return "anonymous"

    def google_credentials(self, credentials: Credentials, scopes: Sequence[str] | None) -> Any:
        from omnicloud.credentials import _gcp_sdk

        return _gcp_sdk.anonymous()


# --- reading key files ------------------------------------------------------------


def _read_json_file(path: str, ctx: ResolveContext, named_by: str) -> tuple[dict[str, Any], Secret, str]:
    full = Path(path).expanduser()
    shown = display_path(full, ctx.home)
    try:
        text = full.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"the credentials file {shown} (from {named_by}) does not exist", provider="gcp"
        ) from None
    except OSError as err:
        raise ConfigError(f"cannot read {shown} (from {named_by}): {err.strerror}", provider="gcp") from err
    info = _parse_json(text, f"{shown} (from {named_by})")
    return info, Secret(text), shown


def _parse_json(text: str, what: str) -> dict[str, Any]:
    try:
        info = json.loads(text)
    except ValueError:
        # The parser's message quotes the text, which holds a private key: say only what.
        raise ConfigError(f"{what} is not valid JSON", provider="gcp") from None
    if not isinstance(info, dict):
        raise ConfigError(f"{what} is not a JSON object", provider="gcp")
    return info


def _classify(
    info: dict[str, Any], secret: Secret, ctx: ResolveContext, source: str, file: str | None
) -> FindResult:
    kind = str(info.get("type", ""))
    if kind == "service_account":
        email = info.get("client_email")
        if not isinstance(email, str) or "private_key" not in info:
            raise ConfigError(
                f"the service account key in {source} lacks client_email or private_key", provider="gcp"
            )
        config: AuthConfig = GcpServiceAccount(secret, email, info.get("project_id"), file)
        project = info.get("project_id")
    elif kind == "external_account":
        impersonation = str(info.get("service_account_impersonation_url", ""))
        email = impersonation.rsplit("/", 1)[-1].removesuffix(":generateAccessToken") or None
        config = GcpWorkloadIdentity(email=email, federation=secret, file=file)
        project = None
    elif kind in ("authorized_user", "impersonated_service_account", "external_account_authorized_user"):
        account = info.get("account") or _impersonated_email(info)
        config = GcpApplicationDefault(
            secret, kind, file, account if isinstance(account, str) and account else None
        )
        project = info.get("quota_project_id")
    else:
        raise ConfigError(f"{source} holds credentials of unknown type {kind!r}", provider="gcp")
    wanted = ctx.auth
    if wanted not in (None, "application_default", config.auth):
        return f"holds {kind} credentials, not {wanted}"
    return Credentials(config, source, project=project if isinstance(project, str) else None)


def _impersonated_email(info: dict[str, Any]) -> str | None:
    url = info.get("service_account_impersonation_url")
    if not isinstance(url, str):
        return None
    return url.rsplit("/", 1)[-1].removesuffix(":generateAccessToken") or None


# --- sources ----------------------------------------------------------------------


def _from_params(ctx: ResolveContext) -> FindResult:
    auth = ctx.auth
    if auth == "anonymous":
        return Credentials(GcpAnonymous(), "explicit parameters")
    key = ctx.secret_param("service_account_key")
    if key is not None:
        info = _parse_json(key.reveal(), "parameter service_account_key")
        return _classify(info, key, ctx, "explicit parameters", None)
    for name in ("service_account_file", "credentials_file"):
        path = ctx.param(name)
        if path:
            info, secret, shown = _read_json_file(path, ctx, f"parameter {name}")
            return _classify(info, secret, ctx, "explicit parameters", shown)
    return None


def _from_env_emulator(ctx: ResolveContext) -> FindResult:
    host = ctx.env("STORAGE_EMULATOR_HOST")
    if not host:
        return None
    return Credentials(GcpAnonymous(), "environment: STORAGE_EMULATOR_HOST", endpoint=host)


def _from_env_file(ctx: ResolveContext) -> FindResult:
    path = ctx.env("GOOGLE_APPLICATION_CREDENTIALS")
    if not path:
        return None
    info, secret, shown = _read_json_file(path, ctx, "GOOGLE_APPLICATION_CREDENTIALS")
    return _classify(info, secret, ctx, "environment: GOOGLE_APPLICATION_CREDENTIALS", shown)


def _gcloud_dir(ctx: ResolveContext) -> Path:
    return Path(ctx.env("CLOUDSDK_CONFIG") or ctx.home / ".config" / "gcloud").expanduser()


def _adc_path(ctx: ResolveContext) -> Path:
    return _gcloud_dir(ctx) / "application_default_credentials.json"


def _from_adc_file(ctx: ResolveContext) -> FindResult:
    path = _adc_path(ctx)
    if not path.is_file():
        return None
    info, secret, shown = _read_json_file(str(path), ctx, "gcloud")
    return _classify(info, secret, ctx, f"file: {shown}", shown)


def metadata_host(ctx: ResolveContext) -> str:
    host = ctx.env("GCE_METADATA_HOST") or ctx.env("GCE_METADATA_ROOT") or METADATA_DEFAULT_HOST
    return host.removeprefix("http://").rstrip("/")


def _from_metadata(ctx: ResolveContext) -> FindResult:
    if not ctx.metadata.enabled:
        return f"skipped: {ctx.metadata.disabled_by}"
    if ctx.env_flag("NO_GCE_CHECK"):
        return "skipped: NO_GCE_CHECK"
    host = metadata_host(ctx)
    account = ctx.param("service_account") or "default"
    base = f"http://{host}/computeMetadata/v1"
    try:
        answer = http_request(
            "GET",
            f"{base}/instance/service-accounts/{account}/email",
            timeout=ctx.metadata.timeout,
            headers=METADATA_FLAVOR,
        )
        if answer.headers.get("metadata-flavor") != "Google":
            return f"{host} is not a GCE metadata server"
        if not answer.ok:
            return f"no service account {account} (HTTP {answer.status})"
        project = None
        if not ctx.param("project"):
            found = http_request(
                "GET", f"{base}/project/project-id", timeout=ctx.metadata.timeout, headers=METADATA_FLAVOR
            )
            project = found.text.strip() if found.ok else None
    except MetadataUnavailable as err:
        return str(err)
    config = GcpWorkloadIdentity(
        service_account=account, email=answer.text.strip() or None, metadata_host=host
    )
    return Credentials(config, "metadata: GCE metadata server", project=project)


def _gcloud_project(ctx: ResolveContext) -> str | None:
    """The project of gcloud's active configuration, as ``gcloud config get project`` shows it."""
    directory = _gcloud_dir(ctx)
    try:
        active = (directory / "active_config").read_text(encoding="utf-8").strip() or "default"
    except OSError:
        active = "default"
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(directory / "configurations" / f"config_{active}", encoding="utf-8")
    except configparser.Error:
        return None
    return parser.get("core", "project", fallback=None) or None


def _complete(ctx: ResolveContext, found: Credentials) -> Credentials:
    project = (
        ctx.param("project")
        or ctx.env("GOOGLE_CLOUD_PROJECT")
        or ctx.env("GCLOUD_PROJECT")
        or ctx.env("CLOUDSDK_CORE_PROJECT")
        or found.project
        or _gcloud_project(ctx)
    )
    endpoint = ctx.param("endpoint") or found.endpoint or ctx.env("STORAGE_EMULATOR_HOST")
    return found.with_settings(project=project, endpoint=endpoint, region=ctx.param("region"))


_FILE_AUTHS = frozenset({"service_account", "application_default", "workload_identity"})

CHAIN = ProviderChain(
    provider="gcp",
    configs=(GcpServiceAccount, GcpWorkloadIdentity, GcpApplicationDefault, GcpAnonymous),
    params=frozenset({"service_account_file", "credentials_file", "service_account", "scopes", "project"}),
    secret_params=frozenset({"service_account_key"}),
    sources=(
        Source("explicit", _FILE_AUTHS | {"anonymous"}, lambda ctx: "explicit parameters", _from_params),
        Source(
            "environment",
            frozenset({"anonymous"}),
            lambda ctx: "environment: STORAGE_EMULATOR_HOST",
            _from_env_emulator,
        ),
        Source(
            "environment",
            _FILE_AUTHS,
            lambda ctx: "environment: GOOGLE_APPLICATION_CREDENTIALS",
            _from_env_file,
        ),
        Source(
            "file", _FILE_AUTHS, lambda ctx: f"file: {display_path(_adc_path(ctx), ctx.home)}", _from_adc_file
        ),
        Source(
            "metadata",
            frozenset({"workload_identity", "application_default"}),
            lambda ctx: "metadata: GCE metadata server",
            _from_metadata,
        ),
    ),
    complete=_complete,
    hint="run `gcloud auth application-default login`, set GOOGLE_APPLICATION_CREDENTIALS to a key file, "
    "or set STORAGE_EMULATOR_HOST for the emulator",
)
