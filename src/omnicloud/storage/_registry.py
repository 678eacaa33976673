"""The only place that maps a provider to a backend.

Built-in backends are named by import path so that opening a ``mem://`` store
never imports boto3. Third parties add backends through the
``omnicloud.storage`` entry-point group (name = provider, value =
``module:factory``) or :func:`register_backend`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

from omnicloud.errors import ConfigError, UnsupportedError
from omnicloud.storage._types import Store
from omnicloud.uri import parse_uri

__all__ = ["BackendFactory", "Registry", "default_registry", "open_store", "register_backend"]

BackendFactory = Callable[..., Store]
"""``factory(uri, *, credentials=None, **options) -> Store``"""

_BUILTIN: dict[str, str] = {
    "memory": "omnicloud.storage.memory:MemoryStore.from_uri",
    "local": "omnicloud.storage.local:LocalStore.from_uri",
    "aws": "omnicloud.storage.s3:S3Store.from_uri",
    "gcp": "omnicloud.storage.gcs:GCSStore.from_uri",
    "azure": "omnicloud.storage.azure:AzureStore.from_uri",
    "oci": "omnicloud.storage.oci_s3:open_oci_store",
}

_UNAVAILABLE_REASONS: dict[str, str] = {}

# Options that carry credentials themselves; with any of them the store does
# not resolve credentials through omnicloud.credentials.
_EXPLICIT_CREDENTIAL_OPTIONS = frozenset(
    {
        "access_key_id",
        "secret_access_key",
        "session_token",
        "profile",
        "connection_string",
        "account_key",
        "sas_token",
    }
)
_NO_CREDENTIALS = frozenset({"local", "memory"})


class Registry:
    """Provider name -> backend factory, resolved lazily."""

    def __init__(self, builtin: dict[str, str] | None = None) -> None:
        self._paths: dict[str, str] = dict(_BUILTIN if builtin is None else builtin)
        self._factories: dict[str, BackendFactory] = {}
        self._entry_points_loaded = False

    def register(self, provider: str, factory: BackendFactory | str) -> None:
        if isinstance(factory, str):
            self._paths[provider] = factory
            self._factories.pop(provider, None)
        else:
            self._factories[provider] = factory

    def providers(self) -> list[str]:
        self._load_entry_points()
        return sorted(set(self._paths) | set(self._factories))

    def factory(self, provider: str) -> BackendFactory:
        if provider in self._factories:
            return self._factories[provider]
        if provider not in self._paths:
            # Reading entry points costs ~80 ms at start-up: only when a provider is not built in.
            self._load_entry_points()
        path = self._paths.get(provider)
        if path is None:
            reason = _UNAVAILABLE_REASONS.get(provider, "no backend is registered for it")
            raise UnsupportedError(f"cannot open {provider} storage: {reason}", provider=provider)
        factory = _import_path(path, provider)
        self._factories[provider] = factory
        return factory

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        from importlib.metadata import entry_points

        for ep in entry_points(group="omnicloud.storage"):
            self._paths.setdefault(ep.name, ep.value)


def _import_path(path: str, provider: str) -> BackendFactory:
    module_name, _, attr_path = path.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as err:
        extra = {"aws": "aws", "gcp": "gcp", "azure": "azure", "oci": "oci"}.get(provider, "all")
        raise ConfigError(
            f"the {provider} backend needs packages that are not installed ({err.name})",
            provider=provider,
            hint=f"pip install 'omnicloud[{extra}]'",
        ) from err
    for part in attr_path.split("."):
        target = getattr(target, part)
    factory: BackendFactory = target
    return factory


default_registry = Registry()


def register_backend(provider: str, factory: BackendFactory | str) -> None:
    """Add or replace the backend for ``provider`` in the default registry."""
    default_registry.register(provider, factory)


def open_store(
    uri: Any,
    *,
    credentials: Any = None,
    parameters: Mapping[str, Any] | None = None,
    registry: Registry | None = None,
    **options: Any,
) -> Store:
    """Open a store bound to the bucket of ``uri`` (a URI, or a ``StorageSpec``).

    Credentials, when not given, are resolved by
    :func:`omnicloud.credentials.credentials_for`: ``parameters`` (``auth``,
    ``region``, key material, as in a storage spec), then the matching
    profile, the environment, config files and platform metadata.
    ``parameters`` that are not about credentials (``compartment_id``) become
    store options. ``options`` are backend settings (``endpoint_url``,
    ``region``, ...); each backend rejects unknown ones with
    :class:`~omnicloud.errors.ConfigError`.
    """
    if hasattr(uri, "storage_uri") and hasattr(uri, "parameters"):
        parameters = {**uri.parameters, **(parameters or {})}
        uri = uri.storage_uri
    parsed = parse_uri(uri)
    factory = (registry or default_registry).factory(parsed.provider)
    if parsed.provider not in _NO_CREDENTIALS:
        credential_parameters: dict[str, Any] | None = None
        if parameters:
            from omnicloud.credentials import StorageSpec

            spec = StorageSpec(str(parsed), parameters)
            options = {**spec.store_options(), **options}
            credential_parameters = {**spec.credential_parameters()}
            if options.keys() & _EXPLICIT_CREDENTIAL_OPTIONS:
                # Keys the resolver does not take (OCI customer secret keys for
                # its S3 API): every parameter goes to the store as an option.
                options = {**credential_parameters, **options}
                credential_parameters = {}
            if spec.auth:
                credential_parameters["auth"] = spec.auth
        if credentials is None and not (options.keys() & _EXPLICIT_CREDENTIAL_OPTIONS):
            from omnicloud.credentials import credentials_for

            credentials = credentials_for(parsed, parameters=credential_parameters)
    elif parameters:
        raise ConfigError(f"{parsed.provider} storage takes no parameters", uri=str(parsed))
    return factory(parsed, credentials=credentials, **options)
