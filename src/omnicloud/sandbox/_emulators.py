"""The three emulators: how each starts, when it is ready, and which variables point the SDKs at it.

Each emulator speaks its provider's real wire protocol, which is why the
storage backends are tested against them rather than against mocks. Nothing
here imports a cloud SDK: readiness and reset are plain HTTP on loopback.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from omnicloud.errors import ConfigError, TransientError
from omnicloud.sandbox._process import (
    LOOPBACK,
    Emulator,
    EmulatorExitedError,
    EmulatorName,
    http_answers,
    http_request,
    launch,
    pick_free_port,
)

__all__ = [
    "AZURITE_ACCOUNT",
    "AZURITE_ACCOUNT_KEY",
    "EMULATOR_NAMES",
    "ENVIRONMENTS",
    "GCS_PROJECT",
    "STARTERS",
    "azurite_env",
    "find_azurite",
    "gcs_env",
    "moto_env",
    "reset_gcs",
    "reset_moto",
    "start_azurite",
    "start_gcs",
    "start_moto",
]

EMULATOR_NAMES: tuple[EmulatorName, ...] = ("moto", "azurite", "gcs")

# Azurite's well-known development account; Microsoft documents this key publicly, it guards nothing.
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
GCS_PROJECT = "omnicloud-sandbox"

DEFAULT_TIMEOUT = 30.0
# An auto-picked port can be taken between picking and binding; a few fresh tries make that harmless.
_PORT_ATTEMPTS = 3

_AZURITE_FIX = "run `npm install` in the omnicloud project (or `make demo`, which does it)"
_EMULATORS_FIX = "install them with `pip install 'omnicloud[emulators]'`"


def moto_env(endpoint: str) -> dict[str, str]:
    """Variables that point boto3/botocore (and the AWS CLI) at moto, with moto's dummy credentials."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }


def azurite_env(endpoint: str) -> dict[str, str]:
    """The connection string the Azure SDKs read, for Azurite's well-known development account."""
    connection_string = (
        "DefaultEndpointsProtocol=http;"
        f"AccountName={AZURITE_ACCOUNT};"
        f"AccountKey={AZURITE_ACCOUNT_KEY};"
        f"BlobEndpoint={endpoint}/{AZURITE_ACCOUNT};"
    )
    return {"AZURE_STORAGE_CONNECTION_STRING": connection_string}


def gcs_env(endpoint: str) -> dict[str, str]:
    """Variables that point google-cloud-storage (and gcsfs) at gcp-storage-emulator."""
    return {
        "STORAGE_EMULATOR_HOST": endpoint,
        "GOOGLE_CLOUD_PROJECT": GCS_PROJECT,
        # gcsfs probes hierarchical-namespace bucket features the emulator lacks.
        "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false",
    }


def start_moto(
    port: int | None = None, *, timeout: float = DEFAULT_TIMEOUT, outlive_caller: bool = False
) -> Emulator:
    """Start moto's server (S3, EC2, STS, IAM, Lambda) on loopback; ready when ``/moto-api/`` answers."""
    command = _python_console_script("moto_server", module="moto.server", package="moto")

    def start_on(chosen: int) -> Emulator:
        return launch(
            "moto",
            [*command, "-H", LOOPBACK, "-p", str(chosen)],
            port=chosen,
            ready=lambda endpoint: http_answers(f"{endpoint}/moto-api/"),
            sdk_env=moto_env(_endpoint(chosen)),
            timeout=timeout,
            outlive_caller=outlive_caller,
        )

    return _start_with_port_retry(start_on, port)


def start_gcs(
    port: int | None = None, *, timeout: float = DEFAULT_TIMEOUT, outlive_caller: bool = False
) -> Emulator:
    """Start gcp-storage-emulator in memory on loopback; ready when its bucket list answers."""
    command = _python_console_script(
        "gcp-storage-emulator", module="gcp_storage_emulator", package="gcp_storage_emulator"
    )

    def start_on(chosen: int) -> Emulator:
        return launch(
            "gcs",
            [*command, "start", "--host", LOOPBACK, "--port", str(chosen), "--in-memory"],
            port=chosen,
            ready=lambda endpoint: http_answers(f"{endpoint}/storage/v1/b?project={GCS_PROJECT}"),
            sdk_env=gcs_env(_endpoint(chosen)),
            timeout=timeout,
            outlive_caller=outlive_caller,
        )

    return _start_with_port_retry(start_on, port)


def start_azurite(
    port: int | None = None,
    *,
    workdir: Path | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    outlive_caller: bool = False,
) -> Emulator:
    """Start Azurite's Blob service on loopback.

    Without ``workdir`` the data lives in memory and vanishes with the process;
    with it, Azurite keeps its data in that folder (Azurite refuses
    ``--inMemoryPersistence`` together with ``--location``, so it is one or the
    other). Raises :class:`~omnicloud.errors.ConfigError` with the fix when
    Node.js or Azurite is missing.
    """
    script = find_azurite()
    command = _node_command(script)
    storage = ["--location", str(workdir)] if workdir is not None else ["--inMemoryPersistence"]
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)

    def start_on(chosen: int) -> Emulator:
        return launch(
            "azurite",
            [
                *command,
                "--blobHost",
                LOOPBACK,
                "--blobPort",
                str(chosen),
                *storage,
                # Current SDKs send API versions newer than Azurite knows.
                "--skipApiVersionCheck",
                "--disableTelemetry",
                "--loose",
            ],
            port=chosen,
            # Any HTTP answer (403 without a signature) proves the Blob service listens.
            ready=lambda endpoint: http_answers(f"{endpoint}/{AZURITE_ACCOUNT}?comp=list"),
            sdk_env=azurite_env(_endpoint(chosen)),
            cwd=workdir,
            timeout=timeout,
            outlive_caller=outlive_caller,
        )

    return _start_with_port_retry(start_on, port)


def find_azurite() -> Path:
    """Locate the ``azurite-blob`` script.

    Looks, in order, at ``$OMNICLOUD_AZURITE``, ``node_modules/.bin`` in the
    current folder or any parent, the omnicloud project the package was
    installed from, and finally ``PATH``.
    """
    explicit = os.environ.get("OMNICLOUD_AZURITE")
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigError(
                f"OMNICLOUD_AZURITE points at {path}, which is not a file",
                op="sandbox.start",
                hint=f"set it to node_modules/.bin/azurite-blob, or unset it and {_AZURITE_FIX}",
            )
        return path
    here = Path.cwd().resolve()
    package_dir = Path(__file__).resolve().parent
    for folder in (here, *here.parents, *package_dir.parents):
        candidate = folder / "node_modules" / ".bin" / "azurite-blob"
        if candidate.is_file():
            return candidate
    on_path = shutil.which("azurite-blob")
    if on_path:
        return Path(on_path)
    raise ConfigError(
        "Azurite (azurite-blob) was not found in $OMNICLOUD_AZURITE, node_modules/.bin, "
        "the omnicloud project or PATH",
        op="sandbox.start",
        hint=_AZURITE_FIX,
    )


def reset_moto(emulator: Emulator) -> None:
    """Forget every bucket, instance and role moto holds (``POST /moto-api/reset``)."""
    _reset(f"{emulator.endpoint}/moto-api/reset", method="POST", what="reset moto")


def reset_gcs(emulator: Emulator) -> None:
    """Drop every bucket and object gcp-storage-emulator holds (``GET /wipe``)."""
    _reset(f"{emulator.endpoint}/wipe", method="GET", what="wipe gcp-storage-emulator")


# Each takes ``outlive_caller`` (keyword): whether the emulator keeps running after this process ends.
STARTERS: Mapping[EmulatorName, Callable[..., Emulator]] = {
    "moto": start_moto,
    "azurite": start_azurite,
    "gcs": start_gcs,
}

ENVIRONMENTS: Mapping[EmulatorName, Callable[[str], dict[str, str]]] = {
    "moto": moto_env,
    "azurite": azurite_env,
    "gcs": gcs_env,
}


def _endpoint(port: int) -> str:
    return f"http://{LOOPBACK}:{port}"


def _start_with_port_retry(start_on: Callable[[int], Emulator], port: int | None) -> Emulator:
    if port is not None:
        return start_on(port)
    for attempt in range(_PORT_ATTEMPTS):
        try:
            return start_on(pick_free_port())
        except EmulatorExitedError:
            if attempt == _PORT_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _python_console_script(script: str, *, module: str, package: str) -> list[str]:
    """The emulator's console script beside this interpreter, else ``python -m module``.

    The script is taken from the interpreter's own folder (not PATH), so a
    sandbox started from a virtualenv runs that virtualenv's emulator.
    """
    beside = Path(sys.executable).parent / script
    if beside.is_file():
        return [str(beside)]
    if importlib.util.find_spec(package) is not None:
        return [sys.executable, "-m", module]
    raise ConfigError(
        f"{script} is not installed for {sys.executable}",
        op="sandbox.start",
        hint=_EMULATORS_FIX,
    )


def _node_command(script: Path) -> list[str]:
    """Run Azurite's JavaScript entry with ``node`` directly: npx adds seconds and a registry check."""
    resolved = script.resolve()
    with resolved.open("rb") as handle:
        first_line = handle.readline()
    if resolved.suffix not in {".js", ".cjs", ".mjs"} and b"node" not in first_line:
        # Not JavaScript (a wrapper script from a global install): it knows how to start itself.
        return [str(script)]
    node = shutil.which("node")
    if node is None:
        raise ConfigError(
            "Azurite needs Node.js, and `node` is not on PATH",
            op="sandbox.start",
            hint=f"install Node.js 18 or later, then {_AZURITE_FIX}",
        )
    return [node, str(resolved)]


def _reset(url: str, *, method: str, what: str) -> None:
    try:
        http_request(url, method=method)
    except OSError as err:
        raise TransientError(f"could not {what} at {url}: {err}", op="sandbox.reset") from err
