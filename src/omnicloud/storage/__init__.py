"""Object storage behind one set of small capability Protocols.

``open_store(uri)`` returns a store bound to one bucket; which capabilities
it has is declared by its backend and discovered with ``isinstance``::

    store = open_store("s3://my-bucket")
    if isinstance(store, Multipart):
        ...
"""

from omnicloud.storage._registry import Registry, default_registry, open_store, register_backend
from omnicloud.storage._types import (
    DIGEST_METADATA_KEY,
    MTIME_METADATA_KEY,
    Admin,
    ByteRange,
    Deleter,
    GetWithInfo,
    Lister,
    MetadataOnComplete,
    Multipart,
    ObjectInfo,
    PartInfo,
    PartsFromBuffers,
    Reader,
    ReadInto,
    ResumableUpload,
    ServerSideCopy,
    Stat,
    Store,
    Writer,
)

__all__ = [
    "DIGEST_METADATA_KEY",
    "MTIME_METADATA_KEY",
    "Admin",
    "ByteRange",
    "Deleter",
    "GetWithInfo",
    "Lister",
    "MetadataOnComplete",
    "Multipart",
    "ObjectInfo",
    "PartInfo",
    "PartsFromBuffers",
    "ReadInto",
    "Reader",
    "Registry",
    "ResumableUpload",
    "ServerSideCopy",
    "Stat",
    "Store",
    "Writer",
    "default_registry",
    "open_store",
    "register_backend",
]
