"""One benchmark action per process, so each tool's time and peak RSS are its own.

    python benchmarks/peers.py TOOL ACTION ARGS...

Every action prints the seconds it spent moving data (after imports and
client set-up) on its last line; ``run.py`` measures the whole process too.
Endpoints and keys come from the environment the emulators publish
(``AWS_ENDPOINT_URL``, ``AZURE_STORAGE_CONNECTION_STRING``, ``STORAGE_EMULATOR_HOST``).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

MiB = 1024 * 1024


def _s3_client() -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=os.environ["AWS_ENDPOINT_URL"],
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
        region_name="us-east-1",
    )


def _split(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.split("://", 1)[1].partition("/")
    return bucket, key


# --- omnicloud (the engine in-process, timed without interpreter start-up) -----------------


def omnicloud_copy(src: str, dst: str) -> float:
    from omnicloud.transfer import TransferOptions, copy

    started = time.perf_counter()
    copy(src, dst, options=TransferOptions(journal=False))
    return time.perf_counter() - started


def omnicloud_sync(src: str, dst: str, *flags: str) -> float:
    from omnicloud.transfer import TransferOptions, sync

    started = time.perf_counter()
    summary = sync(src, dst, dry_run="--dry-run" in flags, options=TransferOptions(journal=False))
    print(f"copied={summary.copied} skipped={summary.skipped}", file=sys.stderr)
    return time.perf_counter() - started


def omnicloud_memory_dry_run(count: str) -> float:
    """Two 100,000-object memory trees, identical: a dry-run sync plans 100,000 skips."""
    from omnicloud.storage.memory import MemoryStore
    from omnicloud.transfer import TransferOptions, sync

    src, dst = MemoryStore("bench-src"), MemoryStore("bench-dst")
    src.create_bucket()
    dst.create_bucket()
    for i in range(int(count)):
        key = f"d{i % 100:02d}/f{i:06d}"
        src.put(key, b"x" * 64)
    for info in src.list():
        dst.put(info.key, b"x" * 64)
    started = time.perf_counter()
    options = TransferOptions(journal=False)
    summary = sync("mem://bench-src/", "mem://bench-dst/", dry_run=True, options=options)
    assert summary.skipped == int(count), summary.counts()
    return time.perf_counter() - started


# --- boto3 with its default TransferConfig --------------------------------------------------


def boto3_upload(path: str, uri: str) -> float:
    client = _s3_client()
    bucket, key = _split(uri)
    started = time.perf_counter()
    client.upload_file(path, bucket, key)
    return time.perf_counter() - started


def boto3_download(uri: str, path: str) -> float:
    client = _s3_client()
    bucket, key = _split(uri)
    started = time.perf_counter()
    client.download_file(bucket, key, path)
    return time.perf_counter() - started


def boto3_put_loop(directory: str, uri: str) -> float:
    """What a script without a transfer tool does: one PUT after another."""
    client = _s3_client()
    bucket, prefix = _split(uri)
    files = sorted(p for p in Path(directory).rglob("*") if p.is_file())
    started = time.perf_counter()
    for path in files:
        key = prefix + str(path.relative_to(directory))
        client.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
    return time.perf_counter() - started


# --- Azure SDK -----------------------------------------------------------------------------


def azure_put_loop(directory: str, uri: str) -> float:
    from azure.storage.blob import BlobServiceClient

    service = BlobServiceClient.from_connection_string(os.environ["AZURE_STORAGE_CONNECTION_STRING"])
    container, prefix = _split(uri)
    client = service.get_container_client(container)
    files = sorted(p for p in Path(directory).rglob("*") if p.is_file())
    started = time.perf_counter()
    for path in files:
        client.upload_blob(prefix + str(path.relative_to(directory)), path.read_bytes(), overwrite=True)
    return time.perf_counter() - started


# --- obstore -------------------------------------------------------------------------------


def _obstore(uri: str) -> tuple[Any, str]:
    from datetime import timedelta

    from obstore.store import AzureStore, S3Store

    bucket, key = _split(uri)
    if uri.startswith("s3://"):
        store: Any = S3Store(
            bucket,
            endpoint=os.environ["AWS_ENDPOINT_URL"],
            access_key_id="testing",
            secret_access_key="testing",
            region="us-east-1",
            client_options={"allow_http": True, "timeout": timedelta(seconds=300)},
        )
    else:
        connection = os.environ["AZURE_STORAGE_CONNECTION_STRING"]
        parts = dict(item.split("=", 1) for item in connection.split(";") if "=" in item)
        store = AzureStore(
            bucket,
            account_name=parts["AccountName"],
            access_key=parts["AccountKey"],
            endpoint=parts["BlobEndpoint"],
            client_options={"allow_http": True, "timeout": timedelta(seconds=300)},
        )
    return store, key


def obstore_upload(path: str, uri: str) -> float:
    import obstore

    store, key = _obstore(uri)
    started = time.perf_counter()
    obstore.put(store, key, Path(path))
    return time.perf_counter() - started


def obstore_download(uri: str, path: str) -> float:
    import obstore

    store, key = _obstore(uri)
    started = time.perf_counter()
    with open(path, "wb") as out:
        for chunk in obstore.get(store, key).stream(min_chunk_size=8 * MiB):
            out.write(chunk)
    return time.perf_counter() - started


ACTIONS: dict[str, Callable[..., float]] = {
    "omnicloud-copy": omnicloud_copy,
    "omnicloud-sync": omnicloud_sync,
    "omnicloud-memory-dry-run": omnicloud_memory_dry_run,
    "boto3-upload": boto3_upload,
    "boto3-download": boto3_download,
    "boto3-put-loop": boto3_put_loop,
    "azure-put-loop": azure_put_loop,
    "obstore-upload": obstore_upload,
    "obstore-download": obstore_download,
}


def main() -> None:
    action, *args = sys.argv[1:]
    seconds = ACTIONS[action](*args)
    print(f"{seconds:.6f}")


if __name__ == "__main__":
    main()
