"""Local emulators of AWS, Azure and GCS storage, for users (``omnicloud sandbox up``) and for tests.

Three emulators speak the providers' real wire protocols on 127.0.0.1:

- ``moto``: S3, EC2, STS, IAM and Lambda (``moto_server``);
- ``azurite``: Azure Blob (``azurite-blob``, a Node.js program installed by ``npm install``);
- ``gcs``: Google Cloud Storage's JSON API (``gcp-storage-emulator``).

Each ``start_*`` function starts one detached process, waits until it
answers, and returns an :class:`Emulator` whose ``env`` holds the variables
the SDKs already read (``AWS_ENDPOINT_URL``, ``AZURE_STORAGE_CONNECTION_STRING``,
``STORAGE_EMULATOR_HOST``)::

    emulator = start_moto()
    try:
        boto3.client("s3", endpoint_url=emulator.endpoint, ...)
    finally:
        emulator.stop()

An emulator ends with the process that started it, even one killed with
SIGKILL, unless started with ``outlive_caller=True``. :class:`Sandbox` starts
them that way and records them in a state file, so ``down()`` in a later
process stops them by PID. Nothing here imports a cloud SDK.
"""

from __future__ import annotations

from omnicloud.sandbox._emulators import (
    AZURITE_ACCOUNT,
    AZURITE_ACCOUNT_KEY,
    EMULATOR_NAMES,
    GCS_PROJECT,
    find_azurite,
    reset_gcs,
    reset_moto,
    start_azurite,
    start_gcs,
    start_moto,
)
from omnicloud.sandbox._process import Emulator, EmulatorName, pick_free_port
from omnicloud.sandbox._sandbox import (
    EmulatorStatus,
    Sandbox,
    parse_emulator_names,
    shell_exports,
    state_file_path,
)

__all__ = [
    "AZURITE_ACCOUNT",
    "AZURITE_ACCOUNT_KEY",
    "EMULATOR_NAMES",
    "GCS_PROJECT",
    "Emulator",
    "EmulatorName",
    "EmulatorStatus",
    "Sandbox",
    "find_azurite",
    "parse_emulator_names",
    "pick_free_port",
    "reset_gcs",
    "reset_moto",
    "shell_exports",
    "start_azurite",
    "start_gcs",
    "start_moto",
    "state_file_path",
]
