"""What a tree transfer must never do: touch the wrong object, delete too much, trust a stale journal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from omnicloud.errors import ConfigError, NotFoundError, OmniCloudError, PermissionDeniedError
from omnicloud.storage import DIGEST_METADATA_KEY
from omnicloud.transfer import TransferOptions, copy, sync, verify
from omnicloud.transfer._digest import digest_bytes

from .faulty_store import World


def _keys(world: World, bucket: str) -> dict[str, bytes]:
    store = world.store(bucket)
    return {info.key: store.get(info.key) for info in store.inner.list()}


def _refuse_put_of(key: str) -> Any:
    def fault(number: int, args: tuple[Any, ...]) -> BaseException | None:
        return PermissionDeniedError("refused by the test") if args[0] == key else None

    return fault


def test_a_key_with_a_double_slash_below_the_prefix_is_copied_as_itself(
    world: World, options: TransferOptions
) -> None:
    world.store("a").put("p//x", b"DOUBLE")
    world.store("a").put("p/x", b"SINGLE")

    first = sync("mem://a/p/", "mem://b/q/", options=options, opener=world.opener)
    second = sync("mem://a/p/", "mem://b/q/", options=options, opener=world.opener)

    assert first.copied == 2
    assert _keys(world, "b") == {"q//x": b"DOUBLE", "q/x": b"SINGLE"}
    assert (second.copied, second.skipped) == (0, 2)


def test_sync_delete_removes_a_double_slash_key_and_keeps_the_object_it_copied(
    world: World, options: TransferOptions, tmp_path: Path
) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "x").write_bytes(b"KEEP")
    world.store("b").put("d//x", b"extra")

    first = sync(tmp_path / "src", "mem://b/d/", delete=True, options=options, opener=world.opener)
    second = sync(tmp_path / "src", "mem://b/d/", delete=True, options=options, opener=world.opener)

    assert (first.copied, first.deleted) == (1, 1)
    assert _keys(world, "b") == {"d/x": b"KEEP"}
    assert (second.copied, second.deleted, second.skipped) == (0, 0, 1)


@pytest.mark.parametrize(
    ("src", "dst"),
    [("mem://a/src/", "mem://a/"), ("mem://a/", "mem://a/sub/"), ("mem://a/p/", "mem://a/p")],
)
@pytest.mark.parametrize("recursive_copy", [False, True])
def test_overlapping_source_and_destination_are_refused_before_anything_changes(
    world: World, options: TransferOptions, src: str, dst: str, recursive_copy: bool
) -> None:
    world.store("a").put("src/big", b"data")
    world.store("a").put("p/k", b"data")
    before = _keys(world, "a")

    with pytest.raises(ConfigError, match="overlap"):
        if recursive_copy:
            copy(src, dst, recursive=True, options=options, opener=world.opener)
        else:
            sync(src, dst, delete=True, options=options, opener=world.opener)

    assert _keys(world, "a") == before


def test_a_local_tree_synced_into_its_own_subdirectory_is_refused(
    tmp_path: Path, options: TransferOptions
) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_bytes(b"f")
    (tmp_path / "link").symlink_to(tmp_path / "d")

    with pytest.raises(ConfigError, match="overlap"):
        sync(tmp_path / "d", tmp_path / "d" / "sub", options=options)
    with pytest.raises(ConfigError, match="overlap"):
        sync(tmp_path / "link", tmp_path / "d" / "sub", options=options)
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["f"]


def test_sibling_prefixes_that_share_a_beginning_do_not_overlap(
    world: World, options: TransferOptions
) -> None:
    world.store("a").put("p/k", b"k")
    summary = sync("mem://a/p/", "mem://a/p2/", options=options, opener=world.opener)
    assert summary.copied == 1


def test_a_missing_local_source_directory_never_empties_the_destination(
    world: World, options: TransferOptions, tmp_path: Path
) -> None:
    world.store("b").put("d/1", b"1")

    with pytest.raises(NotFoundError, match="no such directory"):
        sync(tmp_path / "typo", "mem://b/d/", delete=True, options=options, opener=world.opener)

    assert _keys(world, "b") == {"d/1": b"1"}


def test_a_local_file_as_the_source_of_a_sync_is_refused(
    world: World, options: TransferOptions, tmp_path: Path
) -> None:
    (tmp_path / "f").write_bytes(b"f")
    world.store("b").put("d/1", b"1")

    with pytest.raises(ConfigError, match="not a directory"):
        sync(tmp_path / "f", "mem://b/d/", delete=True, options=options, opener=world.opener)
    with pytest.raises(ConfigError, match="not a directory"):
        copy(tmp_path / "f", "mem://b/d/", recursive=True, options=options, opener=world.opener)

    assert _keys(world, "b") == {"d/1": b"1"}


@pytest.mark.parametrize("below", ["", "sub"])
def test_a_local_destination_that_is_a_file_or_lies_below_one_is_refused_once(
    world: World, options: TransferOptions, tmp_path: Path, below: str
) -> None:
    world.store("a").put("d/1", b"1")
    (tmp_path / "f").write_bytes(b"mine")
    in_the_way = f"{tmp_path / 'f'} is a file, not a directory"
    with pytest.raises(OmniCloudError, match=in_the_way):
        sync("mem://a/d/", tmp_path / "f" / below, options=options, opener=world.opener)
    with pytest.raises(OmniCloudError, match=in_the_way):
        copy("mem://a/d/", tmp_path / "f" / below, recursive=True, options=options, opener=world.opener)
    with pytest.raises(OmniCloudError, match=in_the_way):  # one object, into the file or below it
        copy("mem://a/d/1", f"{tmp_path / 'f' / below}/", options=options, opener=world.opener)
    assert (tmp_path / "f").read_bytes() == b"mine"
    assert world.store("a").calls["get"] == world.store("a").calls["open_read"] == 0


def test_a_destination_it_may_not_look_at_is_left_to_each_write_to_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from omnicloud.transfer._engine import _refuse_a_file_in_the_way

    def denied(self: Path, **kwargs: Any) -> bool:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "exists", denied)  # what a directory without search permission answers
    _refuse_a_file_in_the_way(tmp_path / "locked" / "d", "download")  # no OSError escapes


def test_an_empty_source_prefix_never_empties_the_destination(world: World, options: TransferOptions) -> None:
    world.store("a").put("other/k", b"k")
    world.store("b").put("d/1", b"1")

    with pytest.raises(NotFoundError, match="lists no objects"):
        sync("mem://a/typo/", "mem://b/d/", delete=True, options=options, opener=world.opener)
    quiet = sync("mem://a/typo/", "mem://b/d/", options=options, opener=world.opener)

    assert _keys(world, "b") == {"d/1": b"1"}
    assert (quiet.copied, quiet.deleted) == (0, 0)


def test_deletions_wait_for_the_copies_and_are_not_made_after_a_failed_copy(
    world: World, options: TransferOptions
) -> None:
    world.store("a").put("p/good", b"g")
    world.store("a").put("p/bad", b"b")
    world.store("b").put("q/old", b"o")
    world.store("b").faults["put"] = _refuse_put_of("q/bad")

    summary = sync("mem://a/p/", "mem://b/q/", delete=True, options=options, opener=world.opener)

    assert (summary.copied, summary.deleted, summary.failed) == (1, 0, 2)
    assert _keys(world, "b") == {"q/good": b"g", "q/old": b"o"}
    [refused] = [r for r in summary.results if r.action == "delete"]
    assert refused.outcome == "failed"
    assert "not deleted" in (refused.error or "")


def test_a_journaled_copy_that_has_since_gone_from_the_destination_is_copied_again(
    world: World, options: TransferOptions
) -> None:
    world.store("a").put("p/a", b"a")
    world.store("a").put("p/bad", b"b")
    world.store("b").faults["put"] = _refuse_put_of("q/bad")
    first = sync("mem://a/p/", "mem://b/q/", options=options, opener=world.opener)
    world.store("b").inner.delete("q/a")

    second = sync("mem://a/p/", "mem://b/q/", options=options, opener=world.opener)

    assert (first.copied, first.failed) == (1, 1)
    assert second.copied == 1
    assert world.store("b").get("q/a") == b"a"


def test_a_dry_run_writes_no_journal(world: World, options: TransferOptions) -> None:
    world.store("a").put("p/a", b"a")
    journal = Path(str(options.journal))

    sync("mem://a/p/", "mem://b/q/", dry_run=True, options=options, opener=world.opener)
    copy("mem://a/p/a", "mem://b/q/a", dry_run=True, options=options, opener=world.opener)

    assert not journal.exists()
    assert _keys(world, "b") == {}


def test_a_manifest_that_cannot_be_written_is_refused_before_anything_moves(
    world: World, options: TransferOptions, tmp_path: Path
) -> None:
    world.store("a").put("p/a", b"a")
    (tmp_path / "taken").mkdir()
    (tmp_path / "file").write_bytes(b"")

    for manifest in (tmp_path / "taken", tmp_path / "file" / "m.json"):
        with pytest.raises(ConfigError, match="manifest"):
            sync("mem://a/p/", "mem://b/q/", manifest=manifest, options=options, opener=world.opener)

    assert _keys(world, "b") == {}
    assert list(tmp_path.rglob("*.tmp")) == []


def test_a_manifest_records_a_local_name_that_is_not_utf8(
    world: World, options: TransferOptions, tmp_path: Path
) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "\udcffname").write_bytes(b"x")  # the name b"\xffname", as Python spells it

    sync(source, "mem://b/q/", manifest=tmp_path / "m.json", options=options, opener=world.opener)

    document = json.loads((tmp_path / "m.json").read_text(encoding="ascii"))
    assert [entry["source"].rsplit("/", 1)[-1] for entry in document["objects"]] == ["\udcffname"]
    assert list(tmp_path.glob("*.tmp")) == []


def test_folder_markers_are_directories_on_a_file_system_and_objects_between_buckets(
    world: World, options: TransferOptions, tmp_path: Path
) -> None:
    bucket = world.store("a")
    bucket.put("p/photos/", b"")  # a folder marker, as the S3 console makes one
    # With its digest, as omnicloud uploads it: without one the sync back compares dates, which
    # differ by a second whenever the download lands in the next one (dates are not kept).
    bucket.put("p/photos/cat.jpg", b"cat", metadata={DIGEST_METADATA_KEY: digest_bytes(b"cat")})
    local = tmp_path / "local"

    down = sync("mem://a/p/", local, options=options, opener=world.opener)
    again = sync("mem://a/p/", local, options=options, opener=world.opener)
    back = sync(local, "mem://a/p/", delete=True, options=options, opener=world.opener)
    report = verify("mem://a/p/", local, options=options, opener=world.opener)
    between = sync("mem://a/p/", "mem://b/q/", options=options, opener=world.opener)

    assert (down.copied, down.failed) == (1, 0)
    assert (local / "photos" / "cat.jpg").read_bytes() == b"cat"
    assert (again.copied, back.copied, back.deleted) == (0, 0, 0)
    assert report.ok and report.matched == 1
    assert "p/photos/" in _keys(world, "a")
    assert between.copied == 2
    assert _keys(world, "b") == {"q/photos/": b"", "q/photos/cat.jpg": b"cat"}


def test_copying_an_object_onto_itself_is_refused(
    world: World, options: TransferOptions, tmp_path: Path
) -> None:
    world.store("a").put("k", b"keep")
    (tmp_path / "f").write_bytes(b"keep")
    (tmp_path / "link").symlink_to(tmp_path / "f")

    same = [("mem://a/k", "mem://a/k"), ("mem://a/k", "mem://a/"), (tmp_path / "link", tmp_path / "f")]
    for src, dst in same:
        with pytest.raises(ConfigError, match="same object"):
            copy(src, dst, options=options, opener=world.opener)

    assert world.store("a").get("k") == b"keep"
    assert (tmp_path / "f").read_bytes() == b"keep"
