"""Local file names at the file system's limits: long in bytes, too long to exist."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from omnicloud.errors import OmniCloudError
from omnicloud.storage.local import LocalStore, temp_name
from omnicloud.storage.memory import MemoryStore
from omnicloud.transfer import TransferOptions, bulk_download, copy

# 230 bytes in 115 characters: a valid name that a cut by characters would push past 255 bytes.
ACCENTED = "é" * 115


def test_a_temporary_name_is_cut_to_255_bytes_not_characters() -> None:
    name = temp_name("0123456789ab", ACCENTED)
    assert len(name.encode("utf-8", "surrogateescape")) == 255
    assert name.startswith(".omnicloud-tmp-0123456789ab-é")


@pytest.mark.parametrize("name", [ACCENTED, "漢" * 80], ids=["accented", "cjk"])
def test_files_whose_names_are_long_in_bytes_copy_and_download(tmp_path: Path, name: str) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / name).write_bytes(b"long name")
    bucket = MemoryStore(f"long-{uuid.uuid4().hex[:10]}")
    bucket.create_bucket()
    bucket.put(name, b"long name")
    options = TransferOptions(journal=tmp_path / "journal.sqlite")

    tree = copy(source, tmp_path / "tree", recursive=True, options=options)
    single = copy(source / name, f"{tmp_path / 'one'}/", options=options)
    [downloaded] = bulk_download([f"mem://{bucket.uri.bucket}/{name}"], tmp_path / "dl", options=options)

    assert (tree.copied, tree.failed) == (1, 0)
    assert (tmp_path / "tree" / name).read_bytes() == b"long name"
    assert single.copied == 1
    assert (tmp_path / "one" / name).read_bytes() == b"long name"
    assert downloaded.ok, downloaded.error
    assert (tmp_path / "dl" / name).read_bytes() == b"long name"


def test_a_name_too_long_for_the_file_system_is_an_omnicloud_error(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    key = "S" * 300
    for call in (lambda: store.get(key), lambda: store.stat(key), lambda: store.put(key, b"x")):
        with pytest.raises(OmniCloudError, match="too long"):
            call()
