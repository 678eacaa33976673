"""What a local store says when the file system refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from omnicloud.errors import NotFoundError, OmniCloudError
from omnicloud.storage.local import LocalStore


def test_a_put_whose_directory_cannot_be_made_is_not_reported_as_a_missing_file(tmp_path: Path) -> None:
    (tmp_path / "plain").write_bytes(b"a file where a directory is needed")
    store = LocalStore(tmp_path)
    with pytest.raises(OmniCloudError) as caught:
        store.put("plain/under/it.txt", b"x")
    assert not isinstance(caught.value, NotFoundError)
    assert "put failed: Not a directory" in str(caught.value)
    assert caught.value.op == "put"


def test_a_missing_file_to_read_is_not_found(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    with pytest.raises(NotFoundError, match="no such file"):
        store.get("absent.txt")
