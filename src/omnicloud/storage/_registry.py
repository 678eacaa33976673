"""The only place that maps a provider to a backend.

Built-in backends are named by import path so that opening a ``mem://`` store
never imports boto3. Third parties add backends through the
``omnicloud.storage`` entry-point group (name = provider, value =
``module:factory``) or :func:`register_backend`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from omnicloud.errors import ConfigError, UnsupportedError
from omnicloud.storage._types import Store
from omnicloud.uri import ObjectURI, parse_uri

__all__ = ["BackendFactory", "Registry", "default_registry", "open_store", "register_backend"]

BackendFactory = Callable[..., Store]
"""``factory(uri, *, credentials=None, **options) -> Store``"""

_BUILTIN: dict[str, str] = {
    "memory": "omnicloud.storage.memory:MemoryStore.from_uri",
    "local": "omnicloud.storage.local:LocalStore.from_uri",
    "aws": "omnicloud.storage.s3:S3Store.from_uri",
    "gcp": "omnicloud.storage.gcs:GCSStore.from_uri",
    "azure": "omnicloud.storage.azure:AzureStore.from_uri",
}

_UNAVAILABLE_REASONS: dict[str, str] = {
    "oci": "the native OCI backend is not built yet; reach OCI buckets through their S3 compatibility "
    "endpoint with s3:// and AWS_ENDPOINT_URL_S3",
}


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
    uri: str | ObjectURI,
    *,
    credentials: Any = None,
    registry: Registry | None = None,
    **options: Any,
) -> Store:
    """Open a store bound to the bucket of ``uri``.

    ``options`` are backend settings (``endpoint_url``, ``region``, ...); each
    backend documents its own and rejects unknown ones with
    :class:`~omnicloud.errors.ConfigError`.
    """
    parsed = parse_uri(uri)
    factory = (registry or default_registry).factory(parsed.provider)
    return factory(parsed, credentials=credentials, **options)
