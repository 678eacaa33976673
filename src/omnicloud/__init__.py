"""omnicloud: one toolkit for people who run on more than one cloud.

The curated public API::

    from omnicloud import parse_uri, open_store, copy, sync, verify

``import omnicloud`` loads no cloud SDK; each backend imports its SDK when a
store for it is first opened.
"""

from __future__ import annotations

from typing import Any

from omnicloud._lazy import lazy_attribute
from omnicloud.errors import (
    AuthenticationError,
    ConfigError,
    CredentialsNotFoundError,
    IntegrityError,
    InvalidTokenError,
    InvalidURIError,
    NotFoundError,
    OmniCloudError,
    PermissionDeniedError,
    PreconditionFailedError,
    TransientError,
    UnsupportedError,
)
from omnicloud.storage import ObjectInfo, open_store
from omnicloud.uri import ObjectURI, parse_uri

__version__ = "0.1.0"

__all__ = [
    "AuthenticationError",
    "ConfigError",
    "CredentialsNotFoundError",
    "IntegrityError",
    "InvalidTokenError",
    "InvalidURIError",
    "NotFoundError",
    "ObjectInfo",
    "ObjectURI",
    "OmniCloudError",
    "PermissionDeniedError",
    "PreconditionFailedError",
    "TransientError",
    "UnsupportedError",
    "__version__",
    "open_store",
    "parse_uri",
]

# The transfer engine is exported lazily so `import omnicloud` stays light.
_LAZY = {
    "copy": "omnicloud.transfer",
    "sync": "omnicloud.transfer",
    "verify": "omnicloud.transfer",
    "bulk_download": "omnicloud.transfer",
}


def __getattr__(name: str) -> Any:
    return lazy_attribute(__name__, _LAZY, name)
