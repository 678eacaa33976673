"""A one-object transfer to or from S3 goes through requests signed here, without loading boto3.

boto3's import and client cost ~0.4 s of every process here; ``_s3_rest`` signs
HeadObject, GetObject and the multipart calls itself (its signatures are
checked against botocore's in ``tests/unit/storage/test_s3_signing.py``), and
obstore makes small puts. These run the CLI on moto and look at what it loaded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from omnicloud.errors import NotFoundError
from omnicloud.storage import open_store
from omnicloud.storage.s3 import S3Store, _ElsewhereError, _part_checksum, _signed_answer_error

MiB = 1 << 20

_RUN_AND_LIST_MODULES = (
    "import sys\n"
    "from omnicloud.cli import main\n"
    "try:\n    main()\nexcept SystemExit as done:\n    code = done.code\nelse:\n    code = 0\n"
    "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore', 's3transfer'))\n"
    "sys.stderr.write('\\nLOADED ' + ' '.join(loaded) + '\\n')\n"
    "sys.exit(code)\n"
)


def _cli(*argv: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sys; sys.argv = ['omnicloud', *{list(argv)!r}]\n" + _RUN_AND_LIST_MODULES,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    loaded = done.stderr.rpartition("LOADED ")[2].split()
    return done, loaded


def test_one_object_up_and_down_loads_no_boto3(sandbox_env: dict[str, str], tmp_path: Path) -> None:
    bucket = f"s3://oc-signed-{uuid.uuid4().hex[:10]}"
    store: Any = open_store(bucket)
    store.create_bucket()
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(17 * MiB + 5))  # three parts of 8 MiB, the last short
    small = tmp_path / "small.txt"
    small.write_bytes(b"three")

    for source, key in ((big, "d/big.bin"), (small, "d/small.txt")):
        done, loaded = _cli("cp", str(source), f"{bucket}/{key}", "--part-size", "8MiB", "--json")
        assert done.returncode == 0, done.stderr
        assert loaded == [], f"{key}: {loaded}"
    done, loaded = _cli("cp", f"{bucket}/d/big.bin", str(tmp_path / "big.back"), "--json")
    assert done.returncode == 0, done.stderr
    assert loaded == []
    done, loaded = _cli("cp", f"{bucket}/d/small.txt", str(tmp_path / "small.back"), "--json")
    assert done.returncode == 0, done.stderr
    assert loaded == []
    assert (tmp_path / "big.back").read_bytes() == big.read_bytes()
    assert (tmp_path / "small.back").read_bytes() == b"three"
    for command in (["stat", f"{bucket}/d/small.txt", "--json"], ["cat", f"{bucket}/d/small.txt"]):
        done, loaded = _cli(*command)
        assert done.returncode == 0, done.stderr
        assert loaded == [], command
    assert done.stdout == "three"

    # What went up is what boto3 sees: three parts with their checksums, and our digest.
    sdk = S3Store(bucket.removeprefix("s3://"), data_plane="sdk")
    head = sdk.client.head_object(Bucket=sdk.uri.bucket, Key="d/big.bin", ChecksumMode="ENABLED")
    assert head["ContentLength"] == 17 * MiB + 5
    assert head["ETag"].endswith('-3"')
    assert head[f"Checksum{_part_checksum()[0]}"]  # the composite of the parts' checksums
    assert head["Metadata"]["omnicloud_digest"] == store.stat("d/big.bin").digest
    assert sdk.stat("d/big.bin") == store.stat("d/big.bin")
    sdk.close()

    done, loaded = _cli("ls", f"{bucket}/d/", "--json")
    assert (done.returncode, loaded) == (0, [])
    assert {entry["key"] for entry in json.loads(done.stdout)} == {"d/big.bin", "d/small.txt"}
    done, loaded = _cli("rm", f"{bucket}/d/small.txt")
    assert (done.returncode, loaded) == (0, [])
    assert not store.exists("d/small.txt")
    # Bucket administration is boto3's: the same CLI loads it then.
    done, loaded = _cli("mb", f"{bucket}-2")
    assert done.returncode == 0, done.stderr
    assert "boto3" in loaded
    store.delete_bucket(force=True)
    store.close()
    open_store(f"{bucket}-2").delete_bucket()  # type: ignore[attr-defined]


def test_signed_requests_report_missing_objects_and_buckets(sandbox_env: dict[str, str]) -> None:
    bucket = f"s3://oc-signed-{uuid.uuid4().hex[:10]}"
    store: Any = open_store(bucket)
    assert store._rest is not None
    with pytest.raises(NotFoundError, match="bucket does not exist"):
        store.stat("k")
    with pytest.raises(NotFoundError, match="bucket does not exist"):
        store.delete("k", missing_ok=True)
    assert store._sdk is None
    admin: Any = open_store(bucket)
    admin.create_bucket()  # bucket administration is boto3's
    with pytest.raises(NotFoundError, match="no such object") as missing:
        store.stat("k")
    with pytest.raises(NotFoundError, match="no such object"):
        store.get_with_info("k")
    shown = f"{missing.value} {missing.value!r}"
    for secret in ("Signature", "Credential", sandbox_env["AWS_SECRET_ACCESS_KEY"]):
        assert secret not in shown
    store.delete("k", missing_ok=True)  # S3 answers 204 for a key that is not there
    with pytest.raises(NotFoundError, match="no such object"):
        store.delete("k")
    upload = store.create_multipart("k")
    store.abort_multipart("k", upload)
    store.abort_multipart("k", upload)  # already gone: no error
    assert store._sdk is None  # none of it needed boto3
    store.close()
    admin.delete_bucket()
    admin.close()


def test_an_answer_from_another_region_hands_the_store_to_boto3() -> None:
    error = _signed_answer_error("us-east-1")
    fields = {"op": "stat", "uri": "s3://b/k", "provider": "aws"}
    with pytest.raises(_ElsewhereError):
        error(400, {"x-amz-bucket-region": "eu-west-1"}, b"", fields)
    with pytest.raises(_ElsewhereError):
        error(301, {}, b"", fields)  # PermanentRedirect, no region named
    assert isinstance(error(404, {"x-amz-bucket-region": "us-east-1"}, b"", fields), NotFoundError)


@pytest.mark.parametrize(
    ("environment", "options"),
    [
        ({"AWS_USE_FIPS_ENDPOINT": "true"}, {}),
        ({"HTTP_PROXY": "http://127.0.0.1:9"}, {}),
        ({}, {"data_plane": "sdk"}),
        ({"AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9/under/a/path"}, {}),
    ],
)
def test_boto3_keeps_what_it_alone_knows(
    sandbox_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    environment: dict[str, str],
    options: dict[str, str],
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    store: Any = open_store("s3://oc-signed-none", **options)
    assert store._rest is None
    assert store._sdk is not None
    store.close()


def test_s3_settings_in_the_config_profile_keep_boto3(
    sandbox_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "config"
    config.write_text("[default]\nregion = us-east-1\ns3 =\n    addressing_style = virtual\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    store: Any = open_store("s3://oc-signed-none")
    assert store._rest is None
    store.close()
    config.write_text("[default]\nregion = us-east-1\n")
    store = open_store("s3://oc-signed-none")
    assert store._rest is not None
    store.close()


def test_moto_checking_signatures_accepts_ours_and_rejects_a_wrong_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """moto, told to authenticate, recomputes each request's SigV4 signature with the user's secret."""
    import boto3

    from omnicloud.errors import AuthenticationError
    from omnicloud.sandbox import start_moto

    monkeypatch.setenv("INITIAL_NO_AUTH_ACTION_COUNT", "3")  # the three IAM calls below
    emulator = start_moto()
    try:
        iam = boto3.client(
            "iam",
            endpoint_url=emulator.endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        )
        iam.create_user(UserName="oc")
        key = iam.create_access_key(UserName="oc")["AccessKey"]
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
        iam.put_user_policy(UserName="oc", PolicyName="all", PolicyDocument=json.dumps(policy))
        keys = {"access_key_id": key["AccessKeyId"], "secret_access_key": key["SecretAccessKey"]}
        store: Any = S3Store("oc-sig", endpoint_url=emulator.endpoint, **keys)
        assert store._rest is not None
        store.create_bucket()
        name = "dir/a b+c=d&e ünï~.bin"
        first, last = os.urandom(5 * MiB), b"tail"
        upload = store.create_multipart(name, metadata={"note": "signed"})
        parts = [store.upload_part(name, upload, 1, first), store.upload_part(name, upload, 2, last)]
        store.complete_multipart(name, upload, parts)
        data, info = store.get_with_info(name)
        assert data == first + last and info.metadata["note"] == "signed"
        assert store.stat(name).size == len(data)
        with store.open_read(name, range=(5 * MiB - 2, 5 * MiB + 2)) as reader:
            assert reader.read() == first[-2:] + last[:2]
        spare = store.create_multipart("spare")
        store.abort_multipart("spare", spare)
        assert [entry.key for entry in store.list("dir/")] == [name]
        store.delete(name)
        assert not store.exists(name)
        store.close()

        wrong: Any = S3Store(
            "oc-sig", endpoint_url=emulator.endpoint, **{**keys, "secret_access_key": "not-the-secret-at-all"}
        )
        with pytest.raises(AuthenticationError, match="SignatureDoesNotMatch") as caught:
            wrong.get_with_info(name)
        assert "not-the-secret-at-all" not in f"{caught.value} {caught.value!r}"
        wrong.close()
    finally:
        emulator.stop()


def test_signed_listings_decode_every_key_as_boto3_does(sandbox_env: dict[str, str]) -> None:
    bucket = f"oc-signed-{uuid.uuid4().hex[:10]}"
    store: Any = open_store(f"s3://{bucket}")
    sdk = S3Store(bucket, data_plane="sdk")
    sdk.create_bucket()
    names = ["a+b c.txt", "pct%2Bkept", "q?&=#", "ünï/çödé", "sub/one", "sub/two", "x~y*z(1)"]
    for name in names:
        store.put(name, name.encode())
    ours, theirs = list(store.list()), list(sdk.list())
    assert [entry.key for entry in ours] == sorted(names)
    assert ours == theirs  # sizes, ETags, dates and storage classes too
    assert list(store.list("", delimiter="/")) == list(sdk.list("", delimiter="/"))
    assert store._sdk is None
    sdk.delete_bucket(force=True)
    sdk.close()
    store.close()


def test_a_signed_listing_asks_for_the_next_page_before_handing_on_this_one(
    sandbox_env: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    bucket = f"oc-signed-{uuid.uuid4().hex[:10]}"
    store: Any = open_store(f"s3://{bucket}", page_size=2)
    store.create_bucket()
    names = [f"k{i}" for i in range(5)]
    for name in names:
        store.put(name, b".")
    caplog.set_level("DEBUG", logger="omnicloud")
    listing = store.list()
    first = next(listing)
    requests = [r.getMessage() for r in caplog.records if r.getMessage().startswith("S3 request: GET")]
    assert first.key == "k0" and len(requests) == 2  # page two is on its way while page one is read
    assert [first.key, *(entry.key for entry in listing)] == names
    requests = [r.getMessage() for r in caplog.records if r.getMessage().startswith("S3 request: GET")]
    assert len(requests) == 3  # three pages of two, and no fourth
    abandoned = store.list()
    next(abandoned)
    abandoned.close()  # the page asked for ahead is dropped, and the store lists on
    assert [entry.key for entry in store.list()] == names
    store.delete_bucket(force=True)
    store.close()
