"""OCI: user principals (API keys), session tokens, instance principals and resource principals.

Discovery uses only the standard library; the ``oci`` SDK is reached through
:mod:`omnicloud.credentials._oci_sdk` when an adapter is called.
"""

from __future__ import annotations

import configparser
from dataclasses import dataclass
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
    mask_id,
)
from omnicloud.credentials._http import MetadataUnavailable, http_request
from omnicloud.credentials._secret import Secret
from omnicloud.errors import ConfigError

__all__ = [
    "CHAIN",
    "OciInstancePrincipal",
    "OciResourcePrincipal",
    "OciSecurityToken",
    "OciUserPrincipal",
]

METADATA_DEFAULT_BASE = "http://169.254.169.254/opc/v2"
METADATA_HEADERS = {"Authorization": "Bearer Oracle"}
_OCI_CLI_AUTH = {
    "api_key": "user_principal",
    "user_principal": "user_principal",
    "instance_principal": "instance_principal",
    "resource_principal": "resource_principal",
    "security_token": "security_token",
}


@dataclass(frozen=True, slots=True)
class OciUserPrincipal(AuthConfig):
    """An API signing key of an IAM user (``~/.oci/config``)."""

    provider: ClassVar[str] = "oci"
    auth: ClassVar[str] = "user_principal"
    summary: ClassVar[str] = "an IAM user's API signing key (~/.oci/config)"
    params: ClassVar[frozenset[str]] = frozenset(
        {"user", "tenancy", "fingerprint", "key_file", "key_content", "pass_phrase", "config_file", "profile"}
    )

    user: str
    tenancy: str
    fingerprint: str
    key_file: str | None = None
    key_content: Secret | None = None
    pass_phrase: Secret | None = None

    def identity(self) -> str:
        return f"user {self.user}"

    def details(self) -> dict[str, str]:
        return {"tenancy": self.tenancy, "fingerprint": mask_id(self.fingerprint, 5)}

    def oci_config_and_signer(self, credentials: Credentials) -> tuple[dict[str, Any], Any]:
        from omnicloud.credentials import _oci_sdk

        return _oci_sdk.user_principal(self, credentials)


@dataclass(frozen=True, slots=True)
class OciSecurityToken(AuthConfig):
    """A session token from ``oci session authenticate`` and its private key."""

    provider: ClassVar[str] = "oci"
    auth: ClassVar[str] = "security_token"
    summary: ClassVar[str] = "a session token from `oci session authenticate`"
    params: ClassVar[frozenset[str]] = frozenset(
        {"security_token_file", "key_file", "config_file", "profile"}
    )

    token_file: str
    key_file: str
    tenancy: str | None = None
    pass_phrase: Secret | None = None

    def identity(self) -> str:
        return f"session token ({self.tenancy or 'tenancy unknown'})"

    def details(self) -> dict[str, str]:
        return {"token_file": self.token_file}

    def oci_config_and_signer(self, credentials: Credentials) -> tuple[dict[str, Any], Any]:
        from omnicloud.credentials import _oci_sdk

        return _oci_sdk.security_token(self, credentials)


@dataclass(frozen=True, slots=True)
class OciInstancePrincipal(AuthConfig):
    """The compute instance's own identity, via its metadata service and the auth service."""

    provider: ClassVar[str] = "oci"
    auth: ClassVar[str] = "instance_principal"
    summary: ClassVar[str] = "the compute instance's identity (instance metadata + auth service)"
    params: ClassVar[frozenset[str]] = frozenset({"federation_endpoint"})

    metadata_base: str = METADATA_DEFAULT_BASE
    instance_id: str | None = None
    federation_endpoint: str | None = None

    def identity(self) -> str:
        return f"instance {self.instance_id}" if self.instance_id else "instance principal"

    def oci_config_and_signer(self, credentials: Credentials) -> tuple[dict[str, Any], Any]:
        from omnicloud.credentials import _oci_sdk

        return _oci_sdk.instance_principal(self, credentials)


@dataclass(frozen=True, slots=True)
class OciResourcePrincipal(AuthConfig):
    """The identity OCI gives a function, job or notebook, published in ``OCI_RESOURCE_PRINCIPAL_*``."""

    provider: ClassVar[str] = "oci"
    auth: ClassVar[str] = "resource_principal"
    summary: ClassVar[str] = "the resource's identity (Functions, Data Science; OCI_RESOURCE_PRINCIPAL_*)"
    params: ClassVar[frozenset[str]] = frozenset({"rpst", "private_pem", "private_pem_passphrase"})

    version: str
    # Each of these may hold the value itself or a path to a file holding it, as OCI publishes them.
    rpst: Secret | None = None
    private_pem: Secret | None = None
    private_pem_passphrase: Secret | None = None

    def identity(self) -> str:
        return f"resource principal (version {self.version})"

    def oci_config_and_signer(self, credentials: Credentials) -> tuple[dict[str, Any], Any]:
        from omnicloud.credentials import _oci_sdk

        return _oci_sdk.resource_principal(self, credentials)


# --- sources ----------------------------------------------------------------------


def _from_params(ctx: ResolveContext) -> FindResult:
    auth = ctx.auth
    source = "explicit parameters"
    rpst = ctx.secret_param("rpst")
    if rpst is not None and auth in (None, "resource_principal"):
        pem = ctx.secret_param("private_pem")
        if pem is None:
            raise ConfigError("auth resource_principal needs private_pem as well", provider="oci")
        config = OciResourcePrincipal("2.2", rpst, pem, ctx.secret_param("private_pem_passphrase"))
        return Credentials(config, source)
    if ctx.has_any(("user", "fingerprint", "key_file", "key_content")) and auth in (None, "user_principal"):
        missing = [name for name in ("user", "tenancy", "fingerprint") if not ctx.param(name)]
        if not (ctx.param("key_file") or ctx.secret_param("key_content")):
            missing.append("key_file or key_content")
        if missing:
            raise ConfigError(f"auth user_principal needs {', '.join(missing)} as well", provider="oci")
        config_up = OciUserPrincipal(
            user=ctx.param("user") or "",
            tenancy=ctx.param("tenancy") or "",
            fingerprint=ctx.param("fingerprint") or "",
            key_file=_expand(ctx.param("key_file")),
            key_content=ctx.secret_param("key_content"),
            pass_phrase=ctx.secret_param("pass_phrase"),
        )
        return Credentials(config_up, source)
    if (ctx.param("config_file") or ctx.param("profile")) and auth in (
        None,
        "user_principal",
        "security_token",
    ):
        return _from_config_file(ctx, named_by="parameters")
    return None


def _from_env_resource_principal(ctx: ResolveContext) -> FindResult:
    version = ctx.env("OCI_RESOURCE_PRINCIPAL_VERSION")
    if not version:
        return None
    if version != "2.2":
        # Other versions fetch their tokens from endpoints the SDK knows; it reads the same variables.
        return Credentials(OciResourcePrincipal(version), "environment: OCI_RESOURCE_PRINCIPAL_VERSION")
    rpst, pem = ctx.env("OCI_RESOURCE_PRINCIPAL_RPST"), ctx.env("OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM")
    if not rpst or not pem:
        return "OCI_RESOURCE_PRINCIPAL_VERSION=2.2 needs OCI_RESOURCE_PRINCIPAL_RPST and _PRIVATE_PEM"
    passphrase = ctx.env("OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM_PASSPHRASE")
    config = OciResourcePrincipal(
        version, Secret(rpst), Secret(pem), Secret(passphrase) if passphrase else None
    )
    return Credentials(
        config, "environment: OCI_RESOURCE_PRINCIPAL_VERSION", region=ctx.env("OCI_RESOURCE_PRINCIPAL_REGION")
    )


def _from_env_user(ctx: ResolveContext) -> FindResult:
    names = ("OCI_CLI_USER", "OCI_CLI_TENANCY", "OCI_CLI_FINGERPRINT")
    present = [name for name in names if ctx.env(name)]
    key_file, key_content = ctx.env("OCI_CLI_KEY_FILE"), ctx.env("OCI_CLI_KEY_CONTENT")
    if not present:
        return None
    if len(present) < len(names) or not (key_file or key_content):
        return "needs OCI_CLI_USER, OCI_CLI_TENANCY, OCI_CLI_FINGERPRINT and OCI_CLI_KEY_FILE or _KEY_CONTENT"
    passphrase = ctx.env("OCI_CLI_PASSPHRASE")
    config = OciUserPrincipal(
        user=ctx.env("OCI_CLI_USER") or "",
        tenancy=ctx.env("OCI_CLI_TENANCY") or "",
        fingerprint=ctx.env("OCI_CLI_FINGERPRINT") or "",
        key_file=_expand(key_file),
        key_content=Secret(key_content) if key_content else None,
        pass_phrase=Secret(passphrase) if passphrase else None,
    )
    return Credentials(config, "environment: OCI_CLI_USER")


def _config_path(ctx: ResolveContext) -> Path:
    path = ctx.param("config_file") or ctx.env("OCI_CLI_CONFIG_FILE") or ctx.env("OCI_CONFIG_FILE")
    return Path(path).expanduser() if path else ctx.home / ".oci" / "config"


def _profile_name(ctx: ResolveContext) -> str:
    return ctx.param("profile") or ctx.env("OCI_CLI_PROFILE") or "DEFAULT"


def _from_default_config_file(ctx: ResolveContext) -> FindResult:
    return _from_config_file(ctx, named_by=None)


def _from_config_file(ctx: ResolveContext, *, named_by: str | None) -> FindResult:
    path = _config_path(ctx)
    profile = _profile_name(ctx)
    shown = display_path(path, ctx.home)
    parser = configparser.ConfigParser(interpolation=None)
    try:
        text = path.read_text(encoding="utf-8")
        parser.read_string(text, source=str(path))
    except FileNotFoundError:
        if named_by is not None or ctx.env("OCI_CLI_CONFIG_FILE") or ctx.env("OCI_CONFIG_FILE"):
            raise ConfigError(f"the OCI config file {shown} does not exist", provider="oci") from None
        return None
    except OSError as err:
        raise ConfigError(f"cannot read {shown}: {err.strerror}", provider="oci") from err
    except configparser.Error as err:
        line = getattr(err, "lineno", None)
        raise ConfigError(
            f"{shown} is not a valid OCI config file" + (f" (line {line})" if line else ""), provider="oci"
        ) from None
    if profile != "DEFAULT" and not parser.has_section(profile):
        raise ConfigError(f"profile {profile!r} is not in {shown}", provider="oci")
    section = parser[profile]
    source = f"file: {shown} [{profile}]"
    region = section.get("region")
    token_file = section.get("security_token_file")
    wanted = ctx.auth
    if token_file:
        if wanted not in (None, "security_token"):
            return f"profile {profile} holds a session token, not {wanted}"
        key_file = _expand(section.get("key_file"))
        if not key_file:
            raise ConfigError(
                f"profile {profile} in {shown} has security_token_file but no key_file", provider="oci"
            )
        passphrase = section.get("pass_phrase")
        config_st = OciSecurityToken(
            _expand(token_file) or token_file,
            key_file,
            section.get("tenancy"),
            Secret(passphrase) if passphrase else None,
        )
        return Credentials(config_st, source, region=region)
    if wanted == "security_token":
        return f"profile {profile} holds no session token"
    missing = [name for name in ("user", "tenancy", "fingerprint", "key_file") if not section.get(name)]
    if missing:
        raise ConfigError(f"profile {profile} in {shown} lacks {', '.join(missing)}", provider="oci")
    passphrase = section.get("pass_phrase")
    config = OciUserPrincipal(
        user=section["user"],
        tenancy=section["tenancy"],
        fingerprint=section["fingerprint"],
        key_file=_expand(section["key_file"]),
        pass_phrase=Secret(passphrase) if passphrase else None,
    )
    return Credentials(config, source, region=region)


def metadata_base(ctx: ResolveContext) -> str:
    # The oci SDK's instance-principal signer honours the same variable.
    return (ctx.env("OCI_METADATA_BASE_URL") or METADATA_DEFAULT_BASE).rstrip("/")


def _from_metadata(ctx: ResolveContext) -> FindResult:
    if not ctx.metadata.enabled:
        return f"skipped: {ctx.metadata.disabled_by}"
    base = metadata_base(ctx)
    timeout = ctx.metadata.timeout
    try:
        region = http_request("GET", f"{base}/instance/region", timeout=timeout, headers=METADATA_HEADERS)
        if not region.ok:
            return f"not an OCI instance (HTTP {region.status})"
        instance = http_request("GET", f"{base}/instance/id", timeout=timeout, headers=METADATA_HEADERS)
    except MetadataUnavailable as err:
        return str(err)
    config = OciInstancePrincipal(
        metadata_base=base,
        instance_id=instance.text.strip() if instance.ok and instance.text.strip() else None,
        federation_endpoint=ctx.param("federation_endpoint"),
    )
    return Credentials(config, "metadata: OCI instance metadata", region=region.text.strip() or None)


def _default_auth(ctx: ResolveContext) -> str | None:
    named = ctx.env("OCI_CLI_AUTH")
    if named is None:
        return None
    auth = _OCI_CLI_AUTH.get(named.lower())
    if auth is None:
        raise ConfigError(f"OCI_CLI_AUTH={named!r} is not one of {', '.join(_OCI_CLI_AUTH)}", provider="oci")
    return auth


def _complete(ctx: ResolveContext, found: Credentials) -> Credentials:
    region = (
        ctx.param("region")
        or found.region
        or ctx.env("OCI_CLI_REGION")
        or ctx.env("OCI_RESOURCE_PRINCIPAL_REGION")
        or _config_file_region(ctx)
    )
    return found.with_settings(
        region=region, endpoint=ctx.param("endpoint"), namespace=ctx.param("namespace")
    )


def _config_file_region(ctx: ResolveContext) -> str | None:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(_config_path(ctx), encoding="utf-8")
    except configparser.Error:
        return None
    profile = _profile_name(ctx)
    if profile != "DEFAULT" and not parser.has_section(profile):
        return None
    return parser[profile].get("region") or None


def _expand(path: str | None) -> str | None:
    return str(Path(path).expanduser()) if path else None


CHAIN = ProviderChain(
    provider="oci",
    configs=(OciInstancePrincipal, OciUserPrincipal, OciResourcePrincipal, OciSecurityToken),
    params=frozenset(
        {
            "user",
            "tenancy",
            "fingerprint",
            "key_file",
            "config_file",
            "profile",
            "federation_endpoint",
            "security_token_file",
            "namespace",
        }
    ),
    secret_params=frozenset({"key_content", "pass_phrase", "rpst", "private_pem", "private_pem_passphrase"}),
    sources=(
        Source(
            "explicit",
            frozenset({"user_principal", "resource_principal", "security_token"}),
            lambda ctx: "explicit parameters",
            _from_params,
        ),
        Source(
            "environment",
            frozenset({"resource_principal"}),
            lambda ctx: "environment: OCI_RESOURCE_PRINCIPAL_VERSION",
            _from_env_resource_principal,
        ),
        Source(
            "environment",
            frozenset({"user_principal"}),
            lambda ctx: "environment: OCI_CLI_USER",
            _from_env_user,
        ),
        Source(
            "file",
            frozenset({"user_principal", "security_token"}),
            lambda ctx: f"file: {display_path(_config_path(ctx), ctx.home)} [{_profile_name(ctx)}]",
            _from_default_config_file,
        ),
        Source(
            "metadata",
            frozenset({"instance_principal"}),
            lambda ctx: "metadata: OCI instance metadata",
            _from_metadata,
        ),
    ),
    complete=_complete,
    hint="run `oci setup config`, set OCI_CLI_USER/OCI_CLI_TENANCY/OCI_CLI_FINGERPRINT/OCI_CLI_KEY_FILE, "
    "or use auth=instance_principal on an OCI instance",
    default_auth=_default_auth,
)
