"""Measure candidate data-plane clients for each backend on the local emulators.

Run: python benchmarks/data_plane_clients.py [--size-mib 128]
Prints MiB/s for whole-object put and get with each candidate client, so the
choice of client per backend rests on numbers from this machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable

from omnicloud.sandbox import AZURITE_ACCOUNT, AZURITE_ACCOUNT_KEY, start_azurite, start_gcs, start_moto


def timed(label: str, size: int, fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    elapsed = time.perf_counter() - start
    rate = size / elapsed / 2**20
    print(f"{label:40s} {rate:8.1f} MiB/s ({elapsed:.2f} s)", flush=True)
    return rate


def bench_s3(size: int, payload: bytes) -> None:
    import boto3
    import obstore
    from obstore.store import S3Store as ObS3

    emu = start_moto()
    try:
        client = boto3.client(
            "s3",
            endpoint_url=emu.endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        )
        client.create_bucket(Bucket="bench")
        ob = ObS3(
            "bench",
            endpoint=emu.endpoint,
            access_key_id="testing",
            secret_access_key="testing",
            region="us-east-1",
            client_options={"allow_http": True},
            virtual_hosted_style_request=False,
        )
        timed(
            "s3 put  boto3 put_object", size, lambda: client.put_object(Bucket="bench", Key="a", Body=payload)
        )
        timed("s3 put  obstore put", size, lambda: obstore.put(ob, "b", payload))
        timed(
            "s3 get  boto3 get_object().read()",
            size,
            lambda: client.get_object(Bucket="bench", Key="a")["Body"].read(),
        )
        timed("s3 get  obstore get().bytes()", size, lambda: obstore.get(ob, "a").bytes())
    finally:
        emu.stop()


def bench_azure(size: int, payload: bytes) -> None:
    import obstore
    from azure.storage.blob import BlobServiceClient
    from obstore.store import AzureStore as ObAzure

    emu = start_azurite()
    try:
        service = BlobServiceClient.from_connection_string(emu.env["AZURE_STORAGE_CONNECTION_STRING"])
        container = service.create_container("bench")
        ob = ObAzure(
            "bench",
            account_name=AZURITE_ACCOUNT,
            access_key=AZURITE_ACCOUNT_KEY,
            endpoint=f"{emu.endpoint}/devstoreaccount1",
            client_options={"allow_http": True},
        )
        timed(
            "azure put  azure-storage-blob (max_concurrency=4)",
            size,
            lambda: container.upload_blob("a", payload, overwrite=True, max_concurrency=4),
        )
        timed("azure put  obstore put", size, lambda: obstore.put(ob, "b", payload))
        timed(
            "azure get  azure-storage-blob (max_concurrency=4)",
            size,
            lambda: container.download_blob("a", max_concurrency=4).readall(),
        )
        timed("azure get  obstore get().bytes()", size, lambda: obstore.get(ob, "a").bytes())
    finally:
        emu.stop()


def bench_gcs(size: int, payload: bytes) -> None:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    emu = start_gcs()
    try:
        os.environ["STORAGE_EMULATOR_HOST"] = emu.endpoint
        client = storage.Client(project="bench", credentials=AnonymousCredentials())
        bucket = client.create_bucket("bench")
        blob = bucket.blob("a")
        timed("gcs put  google-cloud-storage", size, lambda: blob.upload_from_string(payload))
        timed("gcs get  google-cloud-storage", size, lambda: blob.download_as_bytes())
        print("gcs: obstore speaks the XML API, which the emulator lacks (501), so it is not a candidate")
    finally:
        emu.stop()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=128)
    args = parser.parse_args()
    size = args.size_mib * 2**20
    payload = os.urandom(size)
    for bench in (bench_s3, bench_azure, bench_gcs):
        bench(size, payload)
    return 0


if __name__ == "__main__":
    sys.exit(main())
