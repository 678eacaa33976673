"""A storage spec as source document 003 writes it: a URI and string parameters.

::

    storage:
      storageUri: "s3://my-bucket/models/my-model"
      parameters:
        auth: "iam_role"
        region: "us-west-2"
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from omnicloud.credentials._base import Credentials
from omnicloud.credentials._profiles import Profiles, credentials_for
from omnicloud.credentials._resolve import _NO_CREDENTIALS, chain_for
from omnicloud.credentials._secret import Secret
from omnicloud.errors import ConfigError
from omnicloud.uri import ObjectURI, parse_uri

__all__ = ["StorageSpec"]

_URI_KEYS = ("storageUri", "storage_uri")


def _empty() -> Mapping[str, str | Secret]:
    return MappingProxyType({})


@dataclass(frozen=True)
class StorageSpec:
    """Where data lives and how to authenticate: ``storage_uri`` plus ``parameters``.

    ``parameters["auth"]`` names the auth type; credential parameters go to
    :func:`~omnicloud.credentials.resolve`, and the rest (``compartment_id``,
    storage options) are left for the store in :meth:`store_options`. Secret
    parameters are wrapped in :class:`Secret` on construction, so a spec's
    ``repr`` is safe to log.
    """

    storage_uri: str
    parameters: Mapping[str, str | Secret] = field(default_factory=_empty)

    def __post_init__(self) -> None:
        uri = parse_uri(self.storage_uri)
        secret_names = (
            frozenset() if uri.provider in _NO_CREDENTIALS else chain_for(uri.provider).secret_params
        )
        cleaned: dict[str, str | Secret] = {}
        for name, value in dict(self.parameters).items():
            if not isinstance(name, str):
                raise ConfigError("storage spec parameter names must be strings")
            if isinstance(value, Secret):
                cleaned[name] = value
            elif isinstance(value, bool | int | float | str):
                text = str(value).lower() if isinstance(value, bool) else str(value)
                cleaned[name] = Secret(text) if name in secret_names else text
            else:
                raise ConfigError(
                    f"storage spec parameter {name!r} must be a string, not {type(value).__name__}",
                    uri=self.storage_uri,
                )
        object.__setattr__(self, "parameters", MappingProxyType(cleaned))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> StorageSpec:
        """Accept ``{storageUri|storage_uri: ..., parameters: {...}}`` as parsed from YAML or JSON."""
        if not isinstance(data, Mapping):
            raise ConfigError("a storage spec must be a mapping with storageUri and parameters")
        present = [key for key in _URI_KEYS if key in data]
        if not present:
            raise ConfigError("a storage spec needs storageUri (or storage_uri)")
        if len(present) > 1:
            raise ConfigError("a storage spec has both storageUri and storage_uri; keep one")
        unknown = sorted(set(data) - {*_URI_KEYS, "parameters"})
        if unknown:
            raise ConfigError(f"unknown key(s) in storage spec: {', '.join(map(str, unknown))}")
        uri = data[present[0]]
        if not isinstance(uri, str):
            raise ConfigError("storageUri must be a string")
        parameters = data.get("parameters") or {}
        if not isinstance(parameters, Mapping):
            raise ConfigError("storage spec parameters must be a mapping")
        return cls(uri, parameters)

    @property
    def uri(self) -> ObjectURI:
        return parse_uri(self.storage_uri)

    @property
    def auth(self) -> str | None:
        value = self.parameters.get("auth")
        return value if isinstance(value, str) else None

    def credential_parameters(self) -> dict[str, str | Secret]:
        """The parameters :func:`~omnicloud.credentials.resolve` takes for this provider (no ``auth``)."""
        provider = self.uri.provider
        if provider in _NO_CREDENTIALS:
            return {}
        accepted = chain_for(provider).accepted_params
        return {name: value for name, value in self.parameters.items() if name in accepted}

    def store_options(self) -> dict[str, str]:
        """Everything else: settings for the store itself (``compartment_id``, ...)."""
        taken = set(self.credential_parameters()) | {"auth"}
        return {
            name: value
            for name, value in self.parameters.items()
            if name not in taken and isinstance(value, str)
        }

    def credentials(self, *, profiles: Profiles | None = None) -> Credentials:
        """Resolve credentials for ``storage_uri`` with these parameters (and any matching profile)."""
        return credentials_for(
            self.uri, auth=self.auth, parameters=self.credential_parameters(), profiles=profiles
        )
