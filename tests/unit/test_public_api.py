"""The public surface is what we meant, and importing it loads no cloud SDK."""

from __future__ import annotations

import subprocess
import sys

import omnicloud

HEAVY = ("boto3", "botocore", "google.cloud", "azure", "oci", "libcloud", "pulumi", "dask", "obstore")


def _modules_loaded_by(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint('\\n'.join(sys.modules))"
    output = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    return set(output.split())


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


def test_import_omnicloud_loads_no_cloud_sdk() -> None:
    assert _heavy(_modules_loaded_by("import omnicloud")) == []


def test_cli_help_loads_no_cloud_sdk() -> None:
    code = (
        "import sys\nsys.argv = ['omnicloud', '--help']\nfrom omnicloud.cli._app import app\n"
        "try:\n    app()\nexcept SystemExit:\n    pass"
    )
    assert _heavy(_modules_loaded_by(code)) == []


def test_opening_a_memory_store_loads_no_cloud_sdk() -> None:
    code = "import omnicloud\nomnicloud.open_store('mem://b')"
    assert _heavy(_modules_loaded_by(code)) == []


def test_public_names_are_exactly_the_curated_list() -> None:
    assert set(omnicloud.__all__) == {
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
    }
    for name in omnicloud.__all__:
        assert hasattr(omnicloud, name)


def test_errors_inherit_the_builtins_python_users_catch() -> None:
    assert issubclass(omnicloud.NotFoundError, FileNotFoundError)
    assert issubclass(omnicloud.PermissionDeniedError, PermissionError)
    assert issubclass(omnicloud.InvalidURIError, ValueError)
    assert issubclass(omnicloud.ConfigError, ValueError)
    assert issubclass(omnicloud.UnsupportedError, NotImplementedError)
    assert omnicloud.TransientError("x").retryable
    assert not omnicloud.NotFoundError("x").retryable


def test_errors_survive_pickling_with_their_fields() -> None:
    import pickle

    err = omnicloud.NotFoundError("no such object", op="get", uri="s3://b/k", provider="aws")
    back = pickle.loads(pickle.dumps(err))
    assert (back.op, back.uri, back.provider, str(back)) == ("get", "s3://b/k", "aws", str(err))
