"""The shapes every provider shares: auth configs, resolved credentials, sources and chains."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, runtime_checkable

from omnicloud.credentials._secret import Secret
from omnicloud.errors import ConfigError

if TYPE_CHECKING:
    from boto3.session import Session as Boto3Session

    from omnicloud.credentials._aws import AwsKeys, S3CredentialProvider

__all__ = [
    "DEFAULT_METADATA_TIMEOUT",
    "DEFAULT_REFRESH_MARGIN",
    "AuthConfig",
    "AwsAuth",
    "AzureAuth",
    "Credentials",
    "GcpAuth",
    "MetadataSettings",
    "OciAuth",
    "ProviderChain",
    "ResolveContext",
    "Source",
    "display_path",
    "mask_id",
]

DEFAULT_REFRESH_MARGIN = timedelta(minutes=5)
"""Expiring credentials are fetched again this long before they expire."""

DEFAULT_METADATA_TIMEOUT = 1.0
"""Seconds to wait for a metadata service; off a cloud its address does not answer."""

ENV_NO_METADATA = "OMNICLOUD_NO_METADATA"
ENV_METADATA_TIMEOUT = "OMNICLOUD_METADATA_TIMEOUT"
ENV_REFRESH_MARGIN = "OMNICLOUD_REFRESH_MARGIN"

COMMON_PARAMS: frozenset[str] = frozenset(
    {"region", "endpoint", "refresh_margin", "metadata", "metadata_timeout"}
)
"""Parameters every provider accepts besides its own credential parameters."""

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


class AuthConfig:
    """Base of the typed, frozen auth configs (one dataclass per provider and auth type).

    Subclasses set ``provider``, ``auth`` (the name used in ``auth="..."``) and
    ``summary``, keep secrets in :class:`Secret` fields, and say who they are
    without revealing anything through :meth:`identity` and :meth:`details`.
    """

    provider: ClassVar[str]
    auth: ClassVar[str]
    summary: ClassVar[str]
    params: ClassVar[frozenset[str]] = frozenset()
    """The parameters only this auth type takes (others are refused when it is asked for)."""

    def identity(self) -> str:
        """A non-secret hint of who these credentials are (masked key id, email, role, ...)."""
        raise NotImplementedError

    def details(self) -> dict[str, str]:
        """Further non-secret facts worth showing in ``auth whoami``."""
        return {}


@runtime_checkable
class AwsAuth(Protocol):
    """What an AWS auth config can make."""

    def boto3_session(self, credentials: Credentials) -> Boto3Session: ...

    def fetch_keys(self, credentials: Credentials) -> AwsKeys: ...


@runtime_checkable
class GcpAuth(Protocol):
    def google_credentials(self, credentials: Credentials, scopes: Sequence[str] | None) -> Any: ...


@runtime_checkable
class AzureAuth(Protocol):
    def azure_credential(self, credentials: Credentials) -> Any: ...


@runtime_checkable
class OciAuth(Protocol):
    def oci_config_and_signer(self, credentials: Credentials) -> tuple[dict[str, Any], Any]: ...


@dataclass(frozen=True, slots=True)
class Credentials:
    """Resolved credentials: the auth config, where it came from, and where it applies.

    ``source`` names where they were found ("environment: AWS_ACCESS_KEY_ID",
    "file: ~/.aws/credentials [default]", "metadata: EC2 IMDSv2", ...).
    ``identity`` is a hint that never contains a secret. Nothing is fetched
    from a cloud until an adapter (``boto3_session()``, ``azure_credential()``,
    ...) is called, and each adapter call returns a fresh SDK object that
    refreshes itself ``refresh_margin`` before its credentials expire.
    """

    config: AuthConfig
    source: str
    region: str | None = None
    project: str | None = None
    account: str | None = None
    namespace: str | None = None
    endpoint: str | None = None
    profile: str | None = None
    refresh_margin: timedelta = DEFAULT_REFRESH_MARGIN
    metadata_timeout: float = field(default=DEFAULT_METADATA_TIMEOUT, repr=False)

    @property
    def provider(self) -> str:
        return self.config.provider

    @property
    def auth(self) -> str:
        return self.config.auth

    @property
    def identity(self) -> str:
        return self.config.identity()

    @property
    def is_anonymous(self) -> bool:
        """True when requests go unsigned (public buckets, emulators that ignore auth)."""
        return self.config.auth in ("anonymous", "none")

    def describe(self) -> dict[str, Any]:
        """Everything ``auth whoami`` shows, as plain JSON values; never a secret."""
        described: dict[str, Any] = {
            "provider": self.provider,
            "auth": self.auth,
            "identity": self.identity,
            "source": self.source,
            "region": self.region,
            "project": self.project,
            "account": self.account,
            "namespace": self.namespace,
            "endpoint": self.endpoint,
            "profile": self.profile,
        }
        described.update(self.config.details())
        return described

    def with_settings(self, **settings: Any) -> Credentials:
        """A copy with some fields replaced (region, endpoint, source, profile, ...)."""
        return replace(self, **settings)

    # --- SDK adapters: the only calls storage backends need -----------------------

    def boto3_session(self) -> Boto3Session:
        """A ``boto3.Session`` signing as these credentials, refreshing temporary ones."""
        config = self.config
        if not isinstance(config, AwsAuth):
            raise self._wrong_adapter("a boto3 session")
        return config.boto3_session(self)

    def fetch_aws_keys(self) -> AwsKeys:
        """The AWS keys right now (fetching temporary ones from STS or the metadata service)."""
        config = self.config
        if not isinstance(config, AwsAuth):
            raise self._wrong_adapter("AWS keys")
        return config.fetch_keys(self)

    def obstore_s3_credential_provider(self) -> S3CredentialProvider:
        """A callable for obstore's ``S3Store(credential_provider=...)`` that refreshes before expiry."""
        from omnicloud.credentials._aws import S3CredentialProvider

        if not isinstance(self.config, AwsAuth):
            raise self._wrong_adapter("an S3 credential provider")
        return S3CredentialProvider(self)

    def google_credentials(self, scopes: Sequence[str] | None = None) -> Any:
        """A ``google.auth.credentials.Credentials`` (``AnonymousCredentials`` for emulators)."""
        config = self.config
        if not isinstance(config, GcpAuth):
            raise self._wrong_adapter("Google credentials")
        return config.google_credentials(self, scopes)

    def azure_credential(self) -> Any:
        """What ``BlobServiceClient(account_url, credential=...)`` takes.

        An ``AzureNamedKeyCredential`` (account key or connection string), an
        ``AzureSasCredential``, an azure-identity ``TokenCredential``, or ``None``
        for anonymous access.
        """
        config = self.config
        if not isinstance(config, AzureAuth):
            raise self._wrong_adapter("an Azure credential")
        return config.azure_credential(self)

    def azure_account_url(self) -> str:
        """The blob endpoint: the explicit endpoint, the connection string's, or the account's public one."""
        if self.provider != "azure":
            raise self._wrong_adapter("an Azure account URL")
        if self.endpoint:
            return self.endpoint.rstrip("/")
        if not self.account:
            raise ConfigError(
                "no Azure storage account is known",
                provider="azure",
                hint="use azure://ACCOUNT/CONTAINER/KEY, pass account=..., or set AZURE_STORAGE_ACCOUNT",
            )
        return f"https://{self.account}.blob.core.windows.net"

    def oci_config_and_signer(self) -> tuple[dict[str, Any], Any]:
        """``(config, signer)`` for ``oci.object_storage.ObjectStorageClient(config, signer=signer)``.

        The config holds no key material (a key given as content appears as
        ``***``), so always pass the signer with it.
        """
        config = self.config
        if not isinstance(config, OciAuth):
            raise self._wrong_adapter("an OCI config and signer")
        return config.oci_config_and_signer(self)

    def _wrong_adapter(self, what: str) -> ConfigError:
        return ConfigError(
            f"{self.provider} credentials (auth {self.auth}) cannot make {what}",
            provider=self.provider,
        )


# --- resolution machinery ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MetadataSettings:
    """Whether and how long to ask platform metadata services."""

    enabled: bool = True
    timeout: float = DEFAULT_METADATA_TIMEOUT
    disabled_by: str | None = None


@dataclass(frozen=True)
class ResolveContext:
    """What one resolution looks at: explicit parameters, the environment and the home directory."""

    provider: str
    auth: str | None
    params: Mapping[str, Any]
    environ: Mapping[str, str]
    metadata: MetadataSettings
    refresh_margin: timedelta

    @property
    def home(self) -> Path:
        return Path(self.environ.get("HOME") or os.path.expanduser("~"))

    def env(self, name: str) -> str | None:
        """An environment variable, with empty values treated as unset."""
        value = self.environ.get(name)
        if value is None:
            return None
        value = value.strip()
        return value or None

    def env_flag(self, name: str) -> bool:
        value = self.env(name)
        return value is not None and value.lower() in _TRUE

    def param(self, name: str) -> str | None:
        value = self.params.get(name)
        if value is None:
            return None
        if isinstance(value, Secret):
            raise ConfigError(f"parameter {name!r} is not a secret; pass it as plain text")
        if isinstance(value, bool | int | float):
            return str(value)
        if not isinstance(value, str):
            raise ConfigError(f"parameter {name!r} must be a string, not {type(value).__name__}")
        return value.strip() or None

    def secret_param(self, name: str) -> Secret | None:
        value = self.params.get(name)
        if value is None:
            return None
        if isinstance(value, Secret):
            return value if value else None
        if not isinstance(value, str):
            # Do not echo the value: it is meant to be secret.
            raise ConfigError(f"parameter {name!r} must be a string or Secret, not {type(value).__name__}")
        return Secret(value) if value else None

    def int_param(self, name: str) -> int | None:
        text = self.param(name)
        if text is None:
            return None
        try:
            return int(text)
        except ValueError:
            raise ConfigError(f"parameter {name!r} must be a whole number, got {text!r}") from None

    def list_param(self, name: str) -> tuple[str, ...] | None:
        value = self.params.get(name)
        if value is None:
            return None
        if isinstance(value, str):
            items = [part.strip() for part in value.replace(",", " ").split()]
        elif isinstance(value, list | tuple):
            items = [str(part).strip() for part in value]
        else:
            raise ConfigError(f"parameter {name!r} must be a list or a comma-separated string")
        return tuple(item for item in items if item) or None

    def has_any(self, names: Sequence[str]) -> bool:
        return any(self.params.get(name) not in (None, "") for name in names)


FindResult = Credentials | str | None
"""A source returns credentials, or a short reason it found none (``None``: nothing to say)."""


@dataclass(frozen=True)
class Source:
    """One place credentials may come from, in the order a chain walks them."""

    stage: Literal["explicit", "environment", "file", "metadata"]
    auths: frozenset[str]
    describe: Callable[[ResolveContext], str]
    find: Callable[[ResolveContext], FindResult]


@dataclass(frozen=True)
class ProviderChain:
    """A provider's auth types, accepted parameters and ordered sources."""

    provider: str
    configs: tuple[type[AuthConfig], ...]
    params: frozenset[str]
    secret_params: frozenset[str]
    sources: tuple[Source, ...]
    complete: Callable[[ResolveContext, Credentials], Credentials]
    hint: str
    default_auth: Callable[[ResolveContext], str | None] | None = None
    """The auth type the environment asks for when the caller names none (OCI's ``OCI_CLI_AUTH``)."""

    @property
    def auth_types(self) -> tuple[str, ...]:
        return tuple(config.auth for config in self.configs)

    @property
    def accepted_params(self) -> frozenset[str]:
        return self.params | self.secret_params | COMMON_PARAMS


def mask_id(value: str, keep: int = 4) -> str:
    """``AKIAIOSFODNN7EXAMPLE`` -> ``****MPLE``: enough to recognise a key, not to use it."""
    if len(value) <= keep:
        return "*" * len(value)
    return "****" + value[-keep:]


def display_path(path: str | os.PathLike[str], home: Path) -> str:
    """A path as people write it: under the home directory it starts with ``~``."""
    text = os.fspath(path)
    home_text = str(home).rstrip("/")
    if home_text and (text == home_text or text.startswith(home_text + "/")):
        return "~" + text[len(home_text) :]
    return text


def parse_bool(name: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(f"parameter {name!r} must be true or false, got {value!r}")
