"""Checked by mypy --strict in `make test`: each backend satisfies the Protocols it declares.

A backend that drops or changes a method its ``CAPABILITIES`` names fails
type checking here, before any test runs.
"""

from __future__ import annotations

from omnicloud.storage import (
    Admin,
    Deleter,
    GetWithInfo,
    Lister,
    Multipart,
    PartsFromBuffers,
    Reader,
    ReadInto,
    ResumableUpload,
    ServerSideCopy,
    Stat,
    Store,
    Writer,
)
from omnicloud.storage.azure import AzureStore
from omnicloud.storage.gcs import GCSStore
from omnicloud.storage.local import LocalStore
from omnicloud.storage.memory import MemoryStore
from omnicloud.storage.oci import OCIStore
from omnicloud.storage.s3 import S3Store


def memory(store: MemoryStore) -> None:
    capabilities: tuple[
        Store, Reader, Writer, Lister, Deleter, Stat, ServerSideCopy, Multipart, PartsFromBuffers, Admin
    ] = (
        store,
        store,
        store,
        store,
        store,
        store,
        store,
        store,
        store,
        store,
    )
    del capabilities


def local(store: LocalStore) -> None:
    capabilities: tuple[Store, Reader, ReadInto, Writer, Lister, Deleter, Stat, ServerSideCopy] = (
        store,
        store,
        store,
        store,
        store,
        store,
        store,
        store,
    )
    del capabilities


def s3(store: S3Store) -> None:
    capabilities: tuple[
        Store, Reader, GetWithInfo, Writer, Lister, Deleter, Stat, ServerSideCopy, Multipart, Admin
    ] = (
        store,
        store,
        store,
        store,
        store,
        store,
        store,
        store,
        store,
        store,
    )
    del capabilities


def gcs(store: GCSStore) -> None:
    capabilities: tuple[
        Store, Reader, Writer, ResumableUpload, Lister, Deleter, Stat, ServerSideCopy, Admin
    ] = (
        store,
        store,
        store,
        store,
        store,
        store,
        store,
        store,
        store,
    )
    del capabilities


def azure(store: AzureStore) -> None:
    capabilities: tuple[
        Store,
        Reader,
        ReadInto,
        Writer,
        Lister,
        Deleter,
        Stat,
        ServerSideCopy,
        Multipart,
        PartsFromBuffers,
        Admin,
    ] = (
        store,
        store,
        store,
        store,
        store,
        store,
        store,
        store,
        store,
        store,
        store,
    )
    del capabilities


def oci(store: OCIStore) -> None:
    capabilities: tuple[Store, Reader, Writer, Lister, Deleter, Stat, Multipart, Admin] = (
        store,
        store,
        store,
        store,
        store,
        store,
        store,
        store,
    )
    del capabilities
