"""OCI Object Storage by either of its two APIs.

``oci://`` URIs open the native backend (:mod:`omnicloud.storage.oci`, the
official SDK, for OCI's own auth types) unless the caller asks for the S3
compatibility API: ``api="s3"`` or S3-style keys (OCI "customer secret
keys") among the options. The S3 API lives at
``https://{namespace}.compat.objectstorage.{region}.oraclecloud.com`` and
wants path-style requests; there the S3 backend does the work, showing the
``oci://`` URI the user gave.
"""

from __future__ import annotations

from typing import Any

from omnicloud.errors import ConfigError
from omnicloud.storage._types import Store
from omnicloud.uri import ObjectURI

__all__ = ["compat_endpoint", "open_oci_store"]

_S3_KEY_OPTIONS = frozenset({"access_key_id", "secret_access_key", "session_token"})


def compat_endpoint(namespace: str, region: str) -> str:
    """OCI's S3 compatibility endpoint for a namespace and region."""
    return f"https://{namespace}.compat.objectstorage.{region}.oraclecloud.com"


def open_oci_store(uri: ObjectURI, *, credentials: Any = None, **options: Any) -> Store:
    api = options.pop("api", None)
    if api not in (None, "native", "s3"):
        raise ConfigError(f"api must be 'native' or 's3', not {api!r}", uri=str(uri), provider="oci")
    if api == "s3" or (api is None and options.keys() & _S3_KEY_OPTIONS):
        from omnicloud.storage.s3 import S3Store

        region = options.pop("region", None) or uri.region
        endpoint = options.pop("endpoint_url", None) or options.pop("endpoint", None)
        if endpoint is None:
            if region is None or uri.namespace is None:
                raise ConfigError(
                    "the OCI S3 compatibility API needs a region",
                    uri=str(uri),
                    provider="oci",
                    hint="use oci://NAMESPACE@REGION/BUCKET/KEY or pass region=...",
                )
            endpoint = compat_endpoint(uri.namespace, region)
        options.setdefault("addressing_style", "path")
        # Not every S3-compatible service takes CRC32 part checksums; OCI's is not assumed to.
        options.setdefault("part_checksums", False)
        return S3Store(
            uri.bucket,
            endpoint_url=endpoint,
            region=region,
            credentials=credentials,
            display_uri=uri.bucket_uri,
            **options,
        )
    from omnicloud.storage.oci import OCIStore

    return OCIStore.from_uri(uri, credentials=credentials, **options)
