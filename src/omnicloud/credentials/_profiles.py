"""Profiles: a TOML file mapping URI prefixes to credentials, endpoints and regions.

So one command can read with one identity and write with another::

    # ~/.config/omnicloud/config.toml  (or $XDG_CONFIG_HOME/omnicloud/config.toml, or $OMNICLOUD_CONFIG)
    [profiles."s3://team-a/"]
    auth = "access_key"
    access_key_id = "AKIA..."
    secret_access_key = { env = "TEAM_A_SECRET" }     # or { file = "~/.secrets/team-a" }
    region = "us-west-2"

    [profiles."az://backups"]
    auth = "connection_string"
    connection_string = { env = "BACKUPS_CONNECTION_STRING" }

The longest matching prefix wins. Values may be written inline, but secrets
are better referenced with ``{ env = "NAME" }`` or ``{ file = "PATH" }``;
inline secrets in a file other users can read produce a warning.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from omnicloud.credentials._base import COMMON_PARAMS, Credentials, display_path
from omnicloud.credentials._resolve import _NO_CREDENTIALS, chain_for, normalize_auth, resolve_with
from omnicloud.credentials._secret import Secret
from omnicloud.errors import ConfigError, InvalidURIError
from omnicloud.uri import ObjectURI, parse_uri

__all__ = [
    "EnvReference",
    "FileReference",
    "Profile",
    "Profiles",
    "credentials_for",
    "default_profile_path",
    "load_profiles",
]

log = logging.getLogger("omnicloud.credentials")

ENV_CONFIG = "OMNICLOUD_CONFIG"
_LOCATORS = ("region", "project", "account", "namespace")


@dataclass(frozen=True, slots=True)
class EnvReference:
    """``{ env = "NAME" }``: the value of an environment variable, read when credentials are resolved."""

    name: str


@dataclass(frozen=True, slots=True)
class FileReference:
    """``{ file = "PATH" }``: the contents of a file (stripped), read when credentials are resolved."""

    path: str


ProfileValue = str | int | float | bool | tuple[str, ...] | Secret | EnvReference | FileReference


@dataclass(frozen=True)
class Profile:
    """Settings for every URI under ``prefix``."""

    prefix: ObjectURI
    auth: str | None
    parameters: Mapping[str, ProfileValue]
    path: str
    written: str = ""

    @property
    def label(self) -> str:
        return f"{self.written or self.prefix} in {self.path}"

    def matches(self, uri: ObjectURI) -> bool:
        prefix = self.prefix
        if uri.provider != prefix.provider or uri.bucket != prefix.bucket:
            return False
        for name in _LOCATORS:
            wanted = getattr(prefix, name)
            if wanted is not None and getattr(uri, name) != wanted:
                return False
        key = prefix.key
        if not key:
            return True
        # Whole path segments only: "s3://b/raw" covers raw/... but not rawfoo.
        directory = key if key.endswith("/") else key + "/"
        return uri.key == key.rstrip("/") or uri.key.startswith(directory)

    @property
    def specificity(self) -> tuple[int, int]:
        return (len(self.prefix.key.rstrip("/")), sum(getattr(self.prefix, n) is not None for n in _LOCATORS))

    def resolved_parameters(self, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
        """The parameters with ``{ env = ... }`` and ``{ file = ... }`` looked up."""
        environ = os.environ if environ is None else environ
        secret_names = chain_for(self.prefix.provider).secret_params
        resolved: dict[str, Any] = {}
        for name, value in self.parameters.items():
            if isinstance(value, EnvReference):
                found = environ.get(value.name)
                if found is None:
                    raise ConfigError(
                        f"profile {self.label}: {name} refers to ${value.name}, which is not set",
                        provider=self.prefix.provider,
                    )
                resolved[name] = Secret(found) if name in secret_names else found
            elif isinstance(value, FileReference):
                path = Path(value.path).expanduser()
                try:
                    text = path.read_text(encoding="utf-8").strip()
                except OSError as err:
                    raise ConfigError(
                        f"profile {self.label}: cannot read {value.path} for {name}: {err.strerror}",
                        provider=self.prefix.provider,
                    ) from err
                resolved[name] = Secret(text) if name in secret_names else text
            else:
                resolved[name] = value
        return resolved


@dataclass(frozen=True)
class Profiles:
    """All profiles of one file; :meth:`match` picks the one for a URI."""

    profiles: tuple[Profile, ...] = ()
    path: str | None = None
    warnings: tuple[str, ...] = field(default=(), compare=False)

    def __iter__(self) -> Iterator[Profile]:
        return iter(self.profiles)

    def __len__(self) -> int:
        return len(self.profiles)

    def match(self, uri: ObjectURI | str) -> Profile | None:
        """The profile with the longest prefix covering ``uri`` (``None`` when none does)."""
        target = parse_uri(uri)
        candidates = [profile for profile in self.profiles if profile.matches(target)]
        if not candidates:
            return None
        return max(candidates, key=lambda profile: profile.specificity)


def default_profile_path(environ: Mapping[str, str] | None = None) -> Path:
    """Where profiles live: ``$OMNICLOUD_CONFIG``, else ``$XDG_CONFIG_HOME/omnicloud/config.toml``,
    else ``~/.config/omnicloud/config.toml``."""
    environ = os.environ if environ is None else environ
    explicit = environ.get(ENV_CONFIG)
    if explicit:
        return Path(explicit).expanduser()
    xdg = environ.get("XDG_CONFIG_HOME")
    base = Path(xdg).expanduser() if xdg else Path(environ.get("HOME") or os.path.expanduser("~")) / ".config"
    return base / "omnicloud" / "config.toml"


def load_profiles(
    path: str | os.PathLike[str] | None = None, *, environ: Mapping[str, str] | None = None
) -> Profiles:
    """Read the profile file; a missing default file means no profiles, a missing named one is an error."""
    environ = os.environ if environ is None else environ
    named = path is not None or bool(environ.get(ENV_CONFIG))
    file = Path(path).expanduser() if path is not None else default_profile_path(environ)
    home = Path(environ.get("HOME") or os.path.expanduser("~"))
    shown = display_path(file, home)
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        if named:
            raise ConfigError(f"the profile file {shown} does not exist") from None
        return Profiles(path=shown)
    except OSError as err:
        raise ConfigError(f"cannot read the profile file {shown}: {err.strerror}") from err
    import tomllib  # only when a profile file exists

    try:
        document = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        # tomllib names line and column without quoting the text.
        raise ConfigError(f"the profile file {shown} is not valid TOML: {err}") from None
    return _parse_document(document, shown, file)


def _parse_document(document: dict[str, Any], shown: str, file: Path) -> Profiles:
    unknown = sorted(set(document) - {"profiles"})
    if unknown:
        raise ConfigError(
            f"{shown}: unknown top-level key(s) {', '.join(unknown)}",
            hint='profiles live under [profiles."URI"]',
        )
    tables = document.get("profiles", {})
    if not isinstance(tables, dict):
        raise ConfigError(f"{shown}: 'profiles' must be a table of URI prefixes")
    profiles: list[Profile] = []
    inline_secrets: list[str] = []
    for written, table in tables.items():
        profile, secrets = _parse_profile(written, table, shown)
        profiles.append(profile)
        inline_secrets.extend(f"{written}: {name}" for name in secrets)
    warnings: list[str] = []
    if inline_secrets and _readable_by_others(file):
        message = (
            f"the profile file {shown} holds inline secrets ({', '.join(inline_secrets)}) "
            f"and other users can read it; "
            f'run `chmod 600 {shown}` or use {{ env = "NAME" }} references'
        )
        log.warning("%s", message)
        warnings.append(message)
    return Profiles(tuple(profiles), shown, tuple(warnings))


def _parse_profile(written: str, table: Any, shown: str) -> tuple[Profile, list[str]]:
    where = f'{shown} [profiles."{written}"]'
    try:
        prefix = parse_uri(written)
    except InvalidURIError as err:
        raise ConfigError(f"{where}: {err.message}", hint=err.hint) from None
    if prefix.provider in _NO_CREDENTIALS:
        raise ConfigError(f"{where}: {prefix.provider} storage takes no credentials")
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table")
    chain = chain_for(prefix.provider)
    accepted = chain.accepted_params
    auth: str | None = None
    parameters: dict[str, ProfileValue] = {}
    inline_secrets: list[str] = []
    for name, value in table.items():
        if name == "auth":
            if not isinstance(value, str):
                raise ConfigError(f"{where}: auth must be a string")
            auth = normalize_auth(chain, value)
            continue
        if name not in accepted:
            raise ConfigError(
                f"{where}: unknown key {name!r} for {prefix.provider}",
                hint=f"accepted: auth, {', '.join(sorted(accepted))}",
            )
        parameters[name] = _parse_value(name, value, where, name in chain.secret_params, inline_secrets)
    return Profile(prefix, auth, MappingProxyType(parameters), shown, written), inline_secrets


def _parse_value(name: str, value: Any, where: str, secret: bool, inline_secrets: list[str]) -> ProfileValue:
    if isinstance(value, dict):
        if set(value) == {"env"} and isinstance(value["env"], str):
            return EnvReference(value["env"])
        if set(value) == {"file"} and isinstance(value["file"], str):
            return FileReference(value["file"])
        raise ConfigError(f'{where}: {name} must be a value, {{ env = "NAME" }} or {{ file = "PATH" }}')
    if secret:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: {name} must be a string")
        inline_secrets.append(name)
        return Secret(value)
    if isinstance(value, list):
        if not all(isinstance(item, str) for item in value):
            raise ConfigError(f"{where}: {name} must be a list of strings")
        return tuple(value)
    if isinstance(value, str | int | float | bool):
        return value
    raise ConfigError(f"{where}: {name} has an unsupported type ({type(value).__name__})")


def _readable_by_others(file: Path) -> bool:
    try:
        mode = file.stat().st_mode
    except OSError:
        return False
    return bool(mode & (stat.S_IRGRP | stat.S_IROTH))


def credentials_for(
    uri: ObjectURI | str,
    *,
    auth: str | None = None,
    parameters: Mapping[str, Any] | None = None,
    profiles: Profiles | None = None,
    environ: Mapping[str, str] | None = None,
) -> Credentials:
    """Credentials for one URI: explicit ``parameters`` over the URI's locators over the matching profile.

    ``auth`` may also be given as ``parameters["auth"]`` (as storage specs do)
    or by the profile. ``profiles`` defaults to :func:`load_profiles`.
    """
    target = parse_uri(uri)
    given = dict(parameters or {})
    auth = auth or given.pop("auth", None)
    given.pop("auth", None)
    if target.provider in _NO_CREDENTIALS:
        return resolve_with(target.provider, None, {}, environ=environ)
    if profiles is None:
        profiles = load_profiles(environ=environ)
    profile = profiles.match(target)
    merged: dict[str, Any] = {}
    if profile is not None:
        merged.update(profile.resolved_parameters(environ))
        auth = auth or profile.auth
    merged.update({name: getattr(target, name) for name in _LOCATORS if getattr(target, name) is not None})
    merged.update(given)
    credentials = resolve_with(target.provider, auth, merged, environ=environ)
    if profile is None:
        return credentials
    caller_credential_params = set(given) - COMMON_PARAMS - set(_LOCATORS)
    source = credentials.source
    if not caller_credential_params and source.startswith("explicit parameters"):
        source = f"profile: {profile.label}" + source[len("explicit parameters") :]
    return credentials.with_settings(source=source, profile=profile.label)
