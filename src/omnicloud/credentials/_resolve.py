"""The resolution chain: explicit parameters -> environment -> config files -> platform metadata.

This module is the one place that maps a provider name to its chain.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, ClassVar

from omnicloud.credentials._base import (
    DEFAULT_METADATA_TIMEOUT,
    DEFAULT_REFRESH_MARGIN,
    ENV_METADATA_TIMEOUT,
    ENV_NO_METADATA,
    ENV_REFRESH_MARGIN,
    AuthConfig,
    Credentials,
    MetadataSettings,
    ProviderChain,
    ResolveContext,
    parse_bool,
)
from omnicloud.errors import ConfigError, CredentialsNotFoundError, OmniCloudError

__all__ = [
    "CLOUD_PROVIDERS",
    "CheckResult",
    "auth_types",
    "check_providers",
    "resolve",
    "resolve_in_context",
    "resolve_with",
]


class _Chains(Mapping[str, ProviderChain]):
    """Each provider's chain, its module imported when first asked for.

    A command that touches one cloud then loads the credential code of that
    cloud only (the four modules together cost ~25 ms at start-up).
    """

    _MODULES: ClassVar[dict[str, str]] = {
        "aws": "omnicloud.credentials._aws",
        "gcp": "omnicloud.credentials._gcp",
        "azure": "omnicloud.credentials._azure",
        "oci": "omnicloud.credentials._oci",
    }

    def __getitem__(self, provider: str) -> ProviderChain:
        module = self._MODULES[provider]
        chain: ProviderChain = importlib.import_module(module).CHAIN
        return chain

    def __iter__(self) -> Iterator[str]:
        return iter(self._MODULES)

    def __len__(self) -> int:
        return len(self._MODULES)

    def __contains__(self, provider: object) -> bool:
        return provider in self._MODULES


_CHAINS: Mapping[str, ProviderChain] = _Chains()

CLOUD_PROVIDERS: tuple[str, ...] = tuple(_CHAINS)

# Names people type for a provider, beyond the canonical ones; the same words as the URI schemes.
_PROVIDER_ALIASES = {"s3": "aws", "gs": "gcp", "gcs": "gcp", "az": "azure", "file": "local", "mem": "memory"}


@dataclass(frozen=True, slots=True)
class _NoCredentials(AuthConfig):
    """Local files and memory need no credentials."""

    provider: ClassVar[str] = "local"
    auth: ClassVar[str] = "none"
    summary: ClassVar[str] = "no credentials needed"

    def identity(self) -> str:
        return f"the current user (local process, {self.provider})"


@dataclass(frozen=True, slots=True)
class _MemoryNoCredentials(_NoCredentials):
    provider: ClassVar[str] = "memory"


_NO_CREDENTIALS: Mapping[str, AuthConfig] = {"local": _NoCredentials(), "memory": _MemoryNoCredentials()}


def normalize_provider(provider: str) -> str:
    name = provider.strip().lower()
    name = _PROVIDER_ALIASES.get(name, name)
    if name not in _CHAINS and name not in _NO_CREDENTIALS:
        raise ConfigError(
            f"unknown provider {provider!r}",
            hint=f"one of {', '.join((*_CHAINS, *_NO_CREDENTIALS))}",
        )
    return name


def chain_for(provider: str) -> ProviderChain:
    name = normalize_provider(provider)
    chain = _CHAINS.get(name)
    if chain is None:
        raise ConfigError(f"{name} storage takes no credentials", provider=name)
    return chain


def auth_types(provider: str) -> dict[str, str]:
    """The auth types of a provider, each with a one-line summary."""
    return {config.auth: config.summary for config in chain_for(provider).configs}


def normalize_auth(chain: ProviderChain, auth: str) -> str:
    name = auth.strip().lower().replace("-", "_")
    if name not in chain.auth_types:
        raise ConfigError(
            f"unknown auth type {auth!r} for {chain.provider}",
            provider=chain.provider,
            hint=f"valid auth types for {chain.provider}: {', '.join(chain.auth_types)}",
        )
    return name


def resolve(provider: str, auth: str | None = None, **params: Any) -> Credentials:
    """Find credentials for ``provider``: explicit ``params``, then the environment,
    then the provider's config files, then the platform's metadata service.

    ``auth`` restricts the search to one auth type (``"access_key"``,
    ``"instance_principal"``, ...). Besides each provider's credential
    parameters, every provider accepts ``region``, ``endpoint``,
    ``refresh_margin`` (seconds), ``metadata`` (``False`` skips metadata
    services) and ``metadata_timeout`` (seconds).

    Raises :class:`~omnicloud.errors.ConfigError` for an unknown provider,
    auth type or parameter, and :class:`~omnicloud.errors.CredentialsNotFoundError`
    listing every source tried when nothing is found.
    """
    return resolve_with(provider, auth, params)


def resolve_with(
    provider: str,
    auth: str | None,
    params: Mapping[str, Any],
    *,
    environ: Mapping[str, str] | None = None,
) -> Credentials:
    """:func:`resolve` with the parameters as a mapping and an optional environment (for tests)."""
    name = normalize_provider(provider)
    environ = os.environ if environ is None else environ
    if name in _NO_CREDENTIALS:
        return Credentials(_NO_CREDENTIALS[name], "not needed")
    chain = _CHAINS[name]
    params = {key: value for key, value in params.items() if value is not None}
    _check_params(chain, params)
    ctx = ResolveContext(
        provider=name,
        auth=None,
        params=params,
        environ=environ,
        metadata=_metadata_settings(params, environ),
        refresh_margin=_refresh_margin(params, environ),
    )
    if auth is not None:
        auth = normalize_auth(chain, auth)
    elif chain.default_auth is not None:
        auth = chain.default_auth(ctx)
    if auth is not None:
        _check_params_fit_auth(chain, auth, params)
    return resolve_in_context(ctx, auth=auth, params=params)


def resolve_in_context(ctx: ResolveContext, *, auth: str | None, params: Mapping[str, Any]) -> Credentials:
    """Walk one provider's chain; also used by chained auth types (assume-role's base credentials)."""
    chain = _CHAINS[ctx.provider]
    ctx = replace(ctx, auth=auth, params=params)
    tried: list[str] = []
    for source in chain.sources:
        if auth is not None and auth not in source.auths:
            continue
        label = source.describe(ctx)
        result = source.find(ctx)
        if isinstance(result, Credentials):
            completed = chain.complete(ctx, result)
            return replace(
                completed, refresh_margin=ctx.refresh_margin, metadata_timeout=ctx.metadata.timeout
            )
        tried.append(f"{label} ({result})" if result else label)
    what = f"{ctx.provider} credentials" + (f" of auth type {auth}" if auth else "")
    hint = chain.hint
    if auth is not None:
        summary = next(config.summary for config in chain.configs if config.auth == auth)
        hint = f"auth {auth} uses {summary}"
    raise CredentialsNotFoundError(
        f"no {what} found; tried, in order: " + "; ".join(tried),
        provider=ctx.provider,
        hint=hint,
    )


def _check_params(chain: ProviderChain, params: Mapping[str, Any]) -> None:
    unknown = sorted(set(params) - chain.accepted_params)
    if unknown:
        raise ConfigError(
            f"unknown parameter(s) for {chain.provider} credentials: {', '.join(unknown)}",
            provider=chain.provider,
            hint=f"accepted: {', '.join(sorted(chain.accepted_params))}",
        )


def _check_params_fit_auth(chain: ProviderChain, auth: str, params: Mapping[str, Any]) -> None:
    """Refuse parameters that belong only to other auth types: they would be silently ignored."""
    configs = {config.auth: config for config in chain.configs}
    mine = configs[auth].params
    others: set[str] = set()
    for name, config in configs.items():
        if name != auth:
            others |= config.params
    foreign = sorted((set(params) & others) - mine)
    if foreign:
        raise ConfigError(
            f"parameter(s) {', '.join(foreign)} do not apply to {chain.provider} auth {auth}",
            provider=chain.provider,
            hint=f"{auth} takes: {', '.join(sorted(mine)) or 'no credential parameters'}",
        )


def _metadata_settings(params: Mapping[str, Any], environ: Mapping[str, str]) -> MetadataSettings:
    timeout_text = params.get("metadata_timeout", environ.get(ENV_METADATA_TIMEOUT))
    timeout = DEFAULT_METADATA_TIMEOUT
    if timeout_text not in (None, ""):
        try:
            timeout = float(str(timeout_text))
        except (TypeError, ValueError):
            raise ConfigError(f"metadata_timeout must be a number of seconds, got {timeout_text!r}") from None
        if timeout <= 0:
            raise ConfigError("metadata_timeout must be positive")
    if "metadata" in params and not parse_bool("metadata", params["metadata"]):
        return MetadataSettings(False, timeout, "metadata=False")
    if parse_bool(ENV_NO_METADATA, environ.get(ENV_NO_METADATA, "")):
        return MetadataSettings(False, timeout, ENV_NO_METADATA)
    return MetadataSettings(True, timeout)


def _refresh_margin(params: Mapping[str, Any], environ: Mapping[str, str]) -> timedelta:
    value = params.get("refresh_margin", environ.get(ENV_REFRESH_MARGIN))
    if value in (None, ""):
        return DEFAULT_REFRESH_MARGIN
    if isinstance(value, timedelta):
        return value
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"refresh_margin must be a number of seconds, got {value!r}") from None
    if seconds < 0:
        raise ConfigError("refresh_margin must not be negative")
    return timedelta(seconds=seconds)


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One provider's outcome in ``auth check``: its credentials, or why there are none.

    ``missing`` is true when the chain simply found nothing (as opposed to a
    broken config file or a bad setting, which ``error`` then describes).
    """

    provider: str
    credentials: Credentials | None
    error: str | None
    missing: bool = False

    @property
    def found(self) -> bool:
        return self.credentials is not None


def check_providers(
    providers: Sequence[str] | None = None, *, metadata: bool = True, environ: Mapping[str, str] | None = None
) -> list[CheckResult]:
    """Resolve every cloud provider at once; metadata probes run in parallel so this stays quick."""
    names = [normalize_provider(p) for p in providers] if providers else list(CLOUD_PROVIDERS)

    def check(name: str) -> CheckResult:
        try:
            params: dict[str, Any] = {} if metadata else {"metadata": False}
            return CheckResult(name, resolve_with(name, None, params, environ=environ), None)
        except CredentialsNotFoundError as err:
            return CheckResult(name, None, str(err), missing=True)
        except OmniCloudError as err:
            return CheckResult(name, None, str(err))

    with ThreadPoolExecutor(max_workers=max(1, len(names))) as pool:
        return list(pool.map(check, names))
