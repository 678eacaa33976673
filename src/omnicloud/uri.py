"""The one URI grammar of omnicloud: parse, validate and format object URIs.

``parse_uri(text)`` accepts every form in the table below and returns an
:class:`ObjectURI`; ``str(uri)`` gives the canonical text, and
``parse_uri(str(uri)) == uri`` always holds.

=========  ==========================================  ==========================================
provider   short form                                  long form (carries the locator)
=========  ==========================================  ==========================================
aws        ``s3://{bucket}/{key}``                     ``aws://{region}/{bucket}/{key}``
gcp        ``gs://{bucket}/{key}``                     ``gcp://{project}/{bucket}/{key}``
azure      ``az://{container}/{key}``                  ``azure://{account}/{container}/{key}``
oci        ``oci://n/{namespace}/b/{bucket}/o/{key}``  ``oci://{namespace}@{region}/{bucket}/{key}``
local      ``file:///abs/path`` or a plain path
memory     ``mem://{bucket}/{key}``
=========  ==========================================  ==========================================

The https URLs that consoles show are accepted too (S3 virtual-hosted and
path-style, ``storage.googleapis.com``, ``{account}.blob.core.windows.net``,
``objectstorage.{region}.oraclecloud.com``) and become the long form when they
name a locator.

Cloud-scheme forms are literal, as aws-cli, gsutil and azcopy read them:
``s3://b/a%20b`` is the key ``a%20b``, and ``#`` and ``?`` belong to the key.
Only https forms are percent-decoded.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, fields
from typing import Final
from urllib.parse import unquote, urlsplit

from omnicloud.errors import InvalidURIError

__all__ = ["PROVIDERS", "ObjectURI", "parse_uri"]

PROVIDERS: Final = ("aws", "gcp", "azure", "oci", "local", "memory")

ACCEPTED_FORMS: Final = (
    "s3://BUCKET/KEY, aws://REGION/BUCKET/KEY, gs://BUCKET/KEY, gcp://PROJECT/BUCKET/KEY, "
    "az://CONTAINER/KEY, azure://ACCOUNT/CONTAINER/KEY, oci://n/NAMESPACE/b/BUCKET/o/KEY, "
    "oci://NAMESPACE@REGION/BUCKET/KEY, mem://BUCKET/KEY, file:///PATH or a plain path, "
    "and the providers' https object URLs"
)

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

# Key length limits, as documented by each provider.
_KEY_LIMIT_BYTES: Final = {"aws": 1024, "gcp": 1024, "memory": 1024, "local": 4096}
_KEY_LIMIT_CHARS: Final = {"azure": 1024, "oci": 1024}

_S3_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_GCS_BUCKET_PART = re.compile(r"^[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?$")
_AZURE_CONTAINER = re.compile(r"^(\$root|\$web|\$logs|[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9])$")
_AZURE_ACCOUNT = re.compile(r"^[a-z0-9]{3,24}$")
_OCI_BUCKET = re.compile(r"^[A-Za-z0-9._-]{1,256}$")
_OCI_NAMESPACE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_MEM_BUCKET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z0-9]+)+-\d+$")
_GCP_PROJECT = re.compile(r"^([a-z0-9.-]+:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$")

_S3_HOST = re.compile(
    r"^(?:(?P<bucket>.+)\.)?s3(?:[.-]dualstack)?(?:[.-](?P<region>[a-z]{2}(?:-[a-z]+)+-\d+))?"
    r"\.amazonaws\.com(?:\.cn)?$"
)
_GCS_HOST = re.compile(r"^(?:(?P<bucket>.+)\.)?storage\.(?:googleapis\.com|cloud\.google\.com)$")
_AZURE_HOST = re.compile(r"^(?P<account>[a-z0-9]{3,24})\.blob\.core\.windows\.net$")
_OCI_HOST = re.compile(
    r"^(?:[A-Za-z0-9_-]+\.)?objectstorage\.(?P<region>[a-z0-9-]+)\."
    r"(?:oraclecloud\.com|oci\.customer-oci\.com)$"
)


@dataclass(frozen=True, slots=True)
class ObjectURI:
    """A parsed object URI: a provider, a bucket (container on Azure) and a key.

    ``key`` is ``""`` for the bucket root; a key ending in ``/`` names a prefix.
    The locators ``region`` (aws, oci), ``project`` (gcp), ``account`` (azure)
    and ``namespace`` (oci) are set when the URI carries them.
    """

    provider: str
    bucket: str
    key: str = ""
    region: str | None = None
    project: str | None = None
    account: str | None = None
    namespace: str | None = None

    def __post_init__(self) -> None:
        _validate(self)

    def __str__(self) -> str:
        return _format(self)

    @property
    def is_prefix(self) -> bool:
        """True for the bucket root and for keys ending in ``/``."""
        return self.key == "" or self.key.endswith("/")

    @property
    def name(self) -> str:
        """The last segment of the key (``""`` at the bucket root)."""
        return self.key.rstrip("/").rsplit("/", 1)[-1]

    def with_key(self, key: str) -> ObjectURI:
        """The same bucket and locators with another key.

        Only the key is checked again (the rest was checked when this URI was
        made): engines call this once or twice per object, so it stays cheap.
        """
        if not isinstance(key, str):
            raise InvalidURIError("key must be a string")
        if _CONTROL.search(key):
            raise InvalidURIError("key contains a control character")
        uri = self._unchecked(key)
        _check_key(uri)
        return uri

    def text_with_key(self, key: str) -> str:
        """How this URI with another key is written, the key unchecked.

        For showing keys a service listed that omnicloud refuses as input (a
        ``..`` segment, say): a listing shows them as they are, never fails on them.
        """
        return _format(self._unchecked(key))

    def _unchecked(self, key: str) -> ObjectURI:
        uri = object.__new__(ObjectURI)
        for name in _LOCATOR_FIELDS:
            object.__setattr__(uri, name, getattr(self, name))
        object.__setattr__(uri, "key", key)
        return uri

    def join(self, relative: str) -> ObjectURI:
        """Append ``relative`` under this URI's key, treated as a prefix.

        ``relative`` is kept as it is: below the prefix ``p/`` the key
        ``p//x`` is ``/x``, and dropping its slash would name another object.
        """
        base = self.key if self.is_prefix else self.key + "/"
        return self.with_key(base + relative)

    @property
    def bucket_uri(self) -> ObjectURI:
        """The URI of the bucket root."""
        return self._unchecked("")  # the empty key is valid on every provider: nothing to check


# Every field but the key, as the dataclass declares them: with_key copies these.
_LOCATOR_FIELDS: Final = tuple(f.name for f in fields(ObjectURI) if f.name != "key")


def parse_uri(text: str | ObjectURI | os.PathLike[str]) -> ObjectURI:
    """Parse ``text`` into an :class:`ObjectURI`.

    Raises :class:`~omnicloud.errors.InvalidURIError` naming the offending
    part and the accepted forms, and never any other exception.
    """
    if isinstance(text, ObjectURI):
        return text
    if isinstance(text, os.PathLike):
        text = os.fspath(text)
    if not isinstance(text, str):
        raise InvalidURIError(f"expected a URI string, got {type(text).__name__}")
    if text == "":
        raise InvalidURIError("empty URI", hint=f"accepted forms: {ACCEPTED_FORMS}")
    if _CONTROL.search(text):
        raise InvalidURIError(
            f"URI {_show(text)} contains a control character",
            hint="control characters are not allowed in bucket names or keys",
        )
    match = _SCHEME.match(text)
    if match is None:
        return _parse_local_path(text)
    scheme = match.group(1).lower()
    rest = text[match.end() :]
    parser = _SCHEME_PARSERS.get(scheme)
    if parser is None:
        raise InvalidURIError(
            f"unknown scheme {scheme!r} in {_show(text)}",
            hint=f"accepted forms: {ACCEPTED_FORMS}",
        )
    return parser(rest, text)


# --- parsers per scheme -------------------------------------------------------


def _split_first(rest: str, text: str, what: str) -> tuple[str, str]:
    head, _, tail = rest.partition("/")
    if not head:
        raise InvalidURIError(f"missing {what} in {_show(text)}", hint=f"accepted forms: {ACCEPTED_FORMS}")
    return head, tail


def _parse_s3(rest: str, text: str) -> ObjectURI:
    bucket, key = _split_first(rest, text, "bucket")
    return _build("aws", bucket, key, text)


def _parse_aws(rest: str, text: str) -> ObjectURI:
    region, rest2 = _split_first(rest, text, "region")
    bucket, key = _split_first(rest2, text, "bucket")
    return _build("aws", bucket, key, text, region=region)


def _parse_gs(rest: str, text: str) -> ObjectURI:
    bucket, key = _split_first(rest, text, "bucket")
    return _build("gcp", bucket, key, text)


def _parse_gcp(rest: str, text: str) -> ObjectURI:
    project, rest2 = _split_first(rest, text, "project")
    bucket, key = _split_first(rest2, text, "bucket")
    return _build("gcp", bucket, key, text, project=project)


def _parse_az(rest: str, text: str) -> ObjectURI:
    container, key = _split_first(rest, text, "container")
    return _build("azure", container, key, text)


def _parse_azure(rest: str, text: str) -> ObjectURI:
    account, rest2 = _split_first(rest, text, "storage account")
    container, key = _split_first(rest2, text, "container")
    return _build("azure", container, key, text, account=account)


def _parse_oci(rest: str, text: str) -> ObjectURI:
    head, _, tail = rest.partition("/")
    if "@" in head:
        namespace, _, region = head.partition("@")
        if not namespace or not region:
            raise InvalidURIError(
                f"OCI URI {_show(text)} needs NAMESPACE@REGION",
                hint="use oci://NAMESPACE@REGION/BUCKET/KEY or oci://n/NAMESPACE/b/BUCKET/o/KEY",
            )
        bucket, key = _split_first(tail, text, "bucket")
        return _build("oci", bucket, key, text, namespace=namespace, region=region)
    return _parse_oci_path("/" + rest, text)


def _parse_oci_path(path: str, text: str) -> ObjectURI:
    """Parse ``/n/{ns}/b/{bucket}[/o/{key}]`` (the path of OCI's native API)."""
    parts = path.split("/", 5)
    # ['', 'n', ns, 'b', bucket, 'o/key...'] or shorter
    if len(parts) < 5 or parts[1] != "n" or parts[3] != "b" or not parts[2] or not parts[4]:
        raise InvalidURIError(
            f"OCI URI {_show(text)} must have the form oci://n/NAMESPACE/b/BUCKET/o/KEY",
            hint="or oci://NAMESPACE@REGION/BUCKET/KEY",
        )
    namespace, bucket = parts[2], parts[4]
    key = ""
    if len(parts) == 6:
        tail = parts[5]
        if tail == "o":
            key = ""
        elif tail.startswith("o/"):
            key = tail[2:]
        else:
            raise InvalidURIError(
                f"OCI URI {_show(text)} is missing the o/ before the object name",
                hint="use oci://n/NAMESPACE/b/BUCKET/o/KEY",
            )
    return _build("oci", bucket, key, text, namespace=namespace)


def _parse_mem(rest: str, text: str) -> ObjectURI:
    bucket, key = _split_first(rest, text, "bucket")
    return _build("memory", bucket, key, text)


def _parse_file(rest: str, text: str) -> ObjectURI:
    if not rest.startswith("/"):
        # file://host/path: only the empty host and localhost mean this machine.
        host, _, path = rest.partition("/")
        if host not in ("", "localhost"):
            raise InvalidURIError(
                f"file URI {_show(text)} names host {host!r}",
                hint="file URIs must be absolute paths on this machine: file:///PATH",
            )
        rest = "/" + path
    return _local_from_absolute(rest, text, check_dots=True)


def _parse_local_path(text: str) -> ObjectURI:
    path = os.path.expanduser(text)
    trailing = path.endswith(("/", os.sep)) and len(path) > 1
    absolute = os.path.abspath(path)
    if trailing and not absolute.endswith("/"):
        absolute += "/"
    return _local_from_absolute(absolute, text, check_dots=False)


def _local_from_absolute(path: str, text: str, *, check_dots: bool) -> ObjectURI:
    segments = [s for s in path.split("/") if s != ""]
    if check_dots and any(s in (".", "..") for s in segments):
        raise InvalidURIError(
            f"file URI {_show(text)} contains a '.' or '..' segment",
            hint="write the absolute path without . or ..",
        )
    key = "/".join(segments)
    if key and path.endswith("/"):
        key += "/"
    return _build("local", "", key, text)


def _parse_https(rest: str, text: str) -> ObjectURI:
    try:
        parts = urlsplit("https://" + rest)
        host = (parts.hostname or "").lower()
    except ValueError as err:
        raise InvalidURIError(f"malformed https URL {_show(text)}") from err
    if parts.query:
        # Never echo the query: it is where SAS tokens and signatures live.
        raise InvalidURIError(
            "https object URL has a query string, which omnicloud URIs do not carry",
            hint="remove the part after '?' and pass SAS tokens or versions as credentials or options",
        )
    path = parts.path
    if parts.fragment:
        path += "#" + parts.fragment

    if m := _S3_HOST.match(host):
        region = m.group("region")
        if m.group("bucket"):
            bucket, key = m.group("bucket"), path.lstrip("/")
        else:
            bucket, key = _split_first(path.lstrip("/"), text, "bucket")
        return _build("aws", bucket, unquote(key), text, region=region)
    if m := _GCS_HOST.match(host):
        if m.group("bucket"):
            bucket, key = m.group("bucket"), path.lstrip("/")
        else:
            bucket, key = _split_first(path.lstrip("/"), text, "bucket")
        return _build("gcp", bucket, unquote(key), text)
    if m := _AZURE_HOST.match(host):
        container, key = _split_first(path.lstrip("/"), text, "container")
        return _build("azure", container, unquote(key), text, account=m.group("account"))
    if m := _OCI_HOST.match(host):
        parsed = _parse_oci_path(path, text)
        return _build(
            "oci",
            unquote(parsed.bucket),
            unquote(parsed.key),
            text,
            namespace=parsed.namespace,
            region=m.group("region"),
        )
    raise InvalidURIError(
        f"https URL {_show(text)} is not an object URL of a known provider",
        hint=f"accepted forms: {ACCEPTED_FORMS}",
    )


_SCHEME_PARSERS = {
    "s3": _parse_s3,
    "s3a": _parse_s3,
    "aws": _parse_aws,
    "gs": _parse_gs,
    "gcs": _parse_gs,
    "gcp": _parse_gcp,
    "az": _parse_az,
    "azure": _parse_azure,
    "oci": _parse_oci,
    "mem": _parse_mem,
    "memory": _parse_mem,
    "file": _parse_file,
    "https": _parse_https,
}


def _build(provider: str, bucket: str, key: str, text: str, **locators: str | None) -> ObjectURI:
    try:
        return ObjectURI(provider, bucket, key, **locators)
    except InvalidURIError as err:
        raise InvalidURIError(f"{err.message} in {_show(text)}", hint=err.hint) from None


# --- validation and formatting ------------------------------------------------


def _validate(uri: ObjectURI) -> None:
    if uri.provider not in PROVIDERS:
        raise InvalidURIError(f"unknown provider {uri.provider!r}", hint=f"one of {', '.join(PROVIDERS)}")
    for label, value in (
        ("bucket", uri.bucket),
        ("key", uri.key),
        ("region", uri.region),
        ("project", uri.project),
        ("account", uri.account),
        ("namespace", uri.namespace),
    ):
        if value is not None and not isinstance(value, str):
            raise InvalidURIError(f"{label} must be a string")
        if value and _CONTROL.search(value):
            raise InvalidURIError(f"{label} contains a control character")
    _BUCKET_CHECKS[uri.provider](uri)
    _check_key(uri)


def _check_key(uri: ObjectURI) -> None:
    key = uri.key
    # A "." or ".." segment, found by string search (engines check a key per object joined).
    bounded = f"/{key}/"
    if "/./" in bounded or "/../" in bounded:
        raise InvalidURIError(f"key {key!r} contains a '.' or '..' segment", hint="keys may not walk up")
    if uri.provider == "local":
        if key.startswith("/") or "//" in key:
            raise InvalidURIError(f"local key {key!r} has an empty path segment")
    if uri.provider == "azure":
        _check_azure_key(key, key.split("/"))
    if key.isascii():  # the common case: one byte a character, no surrogate
        nbytes = len(key)
    else:
        try:
            nbytes = len(key.encode("utf-8"))
        except UnicodeEncodeError:
            raise InvalidURIError("key is not valid unicode (lone surrogate)") from None
    byte_limit = _KEY_LIMIT_BYTES.get(uri.provider)
    if byte_limit is not None and nbytes > byte_limit:
        raise InvalidURIError(f"key is longer than the {byte_limit}-byte limit of {uri.provider}")
    char_limit = _KEY_LIMIT_CHARS.get(uri.provider)
    if char_limit is not None and len(key) > char_limit:
        raise InvalidURIError(f"key is longer than the {char_limit}-character limit of {uri.provider}")


def _check_azure_key(key: str, segments: list[str]) -> None:
    """Refuse the names Azure Blob storage would store under another name, so that nothing lands
    where a later sync or verify cannot find it: the service reads '\\' as '/' and drops a '.'
    that ends a path segment (its naming rules: no blob name or segment should end with one)."""
    if "\\" in key:
        raise InvalidURIError(
            f"key '{key}' contains '\\', which Azure Blob storage turns into '/'",  # repr would double it
            hint="rename it, or leave such names out with --exclude '*\\*'",
        )
    if any(segment.endswith(".") for segment in segments):
        raise InvalidURIError(
            f"key {key!r} has a name ending in '.', which Azure Blob storage drops",
            hint="rename it, or leave such names out with --exclude '*.' --exclude '*./*'",
        )


def _check_aws(uri: ObjectURI) -> None:
    b = uri.bucket
    if not _S3_BUCKET.match(b) or ".." in b or _is_ip(b) or b.startswith("xn--") or b.endswith("-s3alias"):
        raise InvalidURIError(
            f"invalid S3 bucket name {b!r}",
            hint="S3 bucket names are 3-63 lowercase letters, digits, '.' and '-', "
            "starting and ending with a letter or digit",
        )
    _check_locators(uri, allowed=("region",))
    if uri.region is not None and not _REGION.match(uri.region):
        raise InvalidURIError(f"invalid AWS region {uri.region!r}", hint="for example us-east-1")


def _check_gcp(uri: ObjectURI) -> None:
    b = uri.bucket
    parts = b.split(".")
    limit_ok = 3 <= len(b) <= (222 if "." in b else 63)
    if (
        not limit_ok
        or not all(_GCS_BUCKET_PART.match(p) for p in parts)
        or b.startswith("goog")
        or "google" in b
        or _is_ip(b)
    ):
        raise InvalidURIError(
            f"invalid GCS bucket name {b!r}",
            hint="GCS bucket names are 3-63 lowercase letters, digits, '-', '_' and '.', "
            "starting and ending with a letter or digit, without 'goog' or 'google'",
        )
    _check_locators(uri, allowed=("project",))
    if uri.project is not None and not _GCP_PROJECT.match(uri.project):
        raise InvalidURIError(
            f"invalid GCP project id {uri.project!r}",
            hint="project ids are 6-30 lowercase letters, digits and '-', starting with a letter",
        )


def _check_azure(uri: ObjectURI) -> None:
    if not _AZURE_CONTAINER.match(uri.bucket):
        raise InvalidURIError(
            f"invalid Azure container name {uri.bucket!r}",
            hint="container names are 3-63 lowercase letters, digits and single '-', "
            "starting and ending with a letter or digit",
        )
    _check_locators(uri, allowed=("account",))
    if uri.account is not None and not _AZURE_ACCOUNT.match(uri.account):
        raise InvalidURIError(
            f"invalid Azure storage account {uri.account!r}",
            hint="account names are 3-24 lowercase letters and digits",
        )


def _check_oci(uri: ObjectURI) -> None:
    if not _OCI_BUCKET.match(uri.bucket):
        raise InvalidURIError(
            f"invalid OCI bucket name {uri.bucket!r}",
            hint="OCI bucket names are 1-256 letters, digits, '.', '_' and '-'",
        )
    _check_locators(uri, allowed=("namespace", "region"))
    if uri.namespace is None or not _OCI_NAMESPACE.match(uri.namespace):
        raise InvalidURIError(
            f"invalid or missing OCI namespace {uri.namespace!r}",
            hint="use oci://n/NAMESPACE/b/BUCKET/o/KEY",
        )
    if uri.region is not None and not _REGION.match(uri.region):
        raise InvalidURIError(f"invalid OCI region {uri.region!r}", hint="for example us-ashburn-1")


def _check_local(uri: ObjectURI) -> None:
    if uri.bucket != "":
        raise InvalidURIError("local URIs have no bucket")
    _check_locators(uri, allowed=())


def _check_memory(uri: ObjectURI) -> None:
    if not _MEM_BUCKET.match(uri.bucket):
        raise InvalidURIError(
            f"invalid memory bucket name {uri.bucket!r}",
            hint="1-63 letters, digits, '.', '_' and '-'",
        )
    _check_locators(uri, allowed=())


_BUCKET_CHECKS = {
    "aws": _check_aws,
    "gcp": _check_gcp,
    "azure": _check_azure,
    "oci": _check_oci,
    "local": _check_local,
    "memory": _check_memory,
}


def _check_locators(uri: ObjectURI, *, allowed: tuple[str, ...]) -> None:
    for name in ("region", "project", "account", "namespace"):
        value = getattr(uri, name)
        if value is not None and name not in allowed:
            raise InvalidURIError(f"{uri.provider} URIs do not carry a {name}")
        if value == "":
            raise InvalidURIError(f"empty {name}")


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _format(uri: ObjectURI) -> str:
    key = uri.key
    tail = f"/{key}" if key else ""
    match uri.provider:
        case "aws":
            return f"aws://{uri.region}/{uri.bucket}{tail}" if uri.region else f"s3://{uri.bucket}{tail}"
        case "gcp":
            return f"gcp://{uri.project}/{uri.bucket}{tail}" if uri.project else f"gs://{uri.bucket}{tail}"
        case "azure":
            return f"azure://{uri.account}/{uri.bucket}{tail}" if uri.account else f"az://{uri.bucket}{tail}"
        case "oci":
            if uri.region:
                return f"oci://{uri.namespace}@{uri.region}/{uri.bucket}{tail}"
            return f"oci://n/{uri.namespace}/b/{uri.bucket}" + (f"/o/{key}" if key else "")
        case "memory":
            return f"mem://{uri.bucket}{tail}"
        case _:
            return f"file:///{key}"


def _show(text: str, limit: int = 120) -> str:
    shown = text if len(text) <= limit else text[: limit - 3] + "..."
    return repr(shown)
