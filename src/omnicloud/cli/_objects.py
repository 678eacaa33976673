"""Object commands: ls, cat, rm, stat, mb, rb (cp lives with the transfer commands)."""

from __future__ import annotations

import os
import shutil
import sys
from typing import TYPE_CHECKING

import typer

from omnicloud.cli._output import console, print_json, reporting_errors

if TYPE_CHECKING:
    from omnicloud.storage import ObjectInfo, Store
    from omnicloud.uri import ObjectURI

JSON_OPTION = typer.Option(False, "--json", help="Print JSON for scripts instead of text.")


def _open(uri: ObjectURI) -> Store:
    from omnicloud.storage import open_store

    return open_store(uri)


def _require(store: Store, capability: type, what: str) -> None:
    from omnicloud.errors import UnsupportedError

    if not isinstance(store, capability):
        raise UnsupportedError(f"{store.uri.provider} storage cannot {what}", provider=store.uri.provider)


def _info_dict(uri: ObjectURI, info: ObjectInfo, *, sync_date: bool = False) -> dict[str, object]:
    """An object's record; ``sync_date`` adds ``modified``, the date a sync compares (the one its
    upload recorded, else the store's). ``ls`` leaves it out: S3 and OCI listings hold no metadata.
    """
    data: dict[str, object] = {
        "uri": uri.text_with_key(info.key),
        "key": info.key,
        "size": info.size,
        "etag": info.etag,
        "last_modified": info.last_modified,
    }
    if sync_date:
        data["modified"] = info.modified
    data.update(
        content_type=info.content_type,
        storage_class=info.storage_class,
        metadata=dict(info.metadata),
        is_prefix=info.is_prefix,
    )
    return data


def _human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def ls(
    uri: str = typer.Argument(
        ..., help="Bucket, prefix or object URI (s3://, gs://, az://, oci://, mem://, file://)."
    ),
    recursive: bool = typer.Option(False, "--recursive", "-r", help="List every object below the prefix."),
    json_output: bool = JSON_OPTION,
) -> None:
    """List objects and prefixes."""
    from omnicloud.storage import Lister
    from omnicloud.uri import parse_uri

    with reporting_errors():
        target = parse_uri(uri)
        store = _open(target)
        _require(store, Lister, "list objects")
        assert isinstance(store, Lister)
        prefix = target.key
        if prefix and not prefix.endswith("/") and target.provider != "local":
            # `ls s3://b/dir` lists the directory when the key is not an object.
            from omnicloud.storage import Stat

            if not (isinstance(store, Stat) and store.exists(prefix)):
                prefix += "/"
        elif target.provider == "local" and prefix and not prefix.endswith("/"):
            if os.path.isdir("/" + prefix):  # False, not an error, for a name too long to exist
                prefix += "/"
        entries = store.list(prefix, delimiter=None if recursive else "/")
        root = target.bucket_uri if target.provider != "local" else target.with_key("")
        if json_output:
            print_json([_info_dict(root, info) for info in entries])
            return
        count = 0
        for info in entries:
            count += 1
            name = root.text_with_key(info.key)
            if info.is_prefix:
                console.print(f"{'PRE':>10}  {'':19}  {name}", markup=False)
            else:
                when = info.last_modified.strftime("%Y-%m-%d %H:%M:%S") if info.last_modified else ""
                console.print(f"{_human_size(info.size):>10}  {when:19}  {name}", markup=False)
        if count == 0 and target.key:
            from omnicloud.errors import NotFoundError

            raise NotFoundError("nothing matches", op="list", uri=str(target))


def cat(
    uri: str = typer.Argument(..., help="Object URI."),
    byte_range: str = typer.Option(
        None, "--range", help="Bytes START-END (END exclusive) instead of the whole object."
    ),
) -> None:
    """Write an object's bytes to stdout."""
    from omnicloud.errors import ConfigError
    from omnicloud.storage import Reader
    from omnicloud.uri import parse_uri

    with reporting_errors():
        target = parse_uri(uri)
        store = _open(target)
        _require(store, Reader, "read objects")
        assert isinstance(store, Reader)
        out = sys.stdout.buffer
        if byte_range:
            try:
                start_text, _, end_text = byte_range.partition("-")
                start, end = int(start_text), int(end_text)
            except ValueError:
                raise ConfigError(f"--range must be START-END, got {byte_range!r}") from None
            out.write(store.get(target.key, range=(start, end)))
        else:
            with store.open_read(target.key) as reader:
                shutil.copyfileobj(reader, out, 1024 * 1024)
        out.flush()


def rm(
    uri: str = typer.Argument(..., help="Object URI."),
    recursive: bool = typer.Option(False, "--recursive", "-r", help="Delete every object below the prefix."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Delete an object (or, with -r, every object below a prefix)."""
    from omnicloud.errors import ConfigError
    from omnicloud.storage import Deleter, Lister
    from omnicloud.uri import parse_uri

    with reporting_errors():
        target = parse_uri(uri)
        store = _open(target)
        _require(store, Deleter, "delete objects")
        assert isinstance(store, Deleter)
        deleted: list[str] = []
        if recursive:
            _require(store, Lister, "list objects")
            assert isinstance(store, Lister)
            if not target.key and target.provider == "local":
                raise ConfigError("refusing to delete a whole filesystem")
            prefix = target.key if target.is_prefix else target.key + "/"
            for info in list(store.list(prefix)):
                store.delete(info.key, missing_ok=True)
                deleted.append(target.text_with_key(info.key))
                if not json_output:  # as it happens: a failure later must not hide what is gone
                    console.print(f"deleted {deleted[-1]}", markup=False)
        else:
            store.delete(target.key)
            deleted.append(str(target))
            if not json_output:
                console.print(f"deleted {target}", markup=False)
        if json_output:
            print_json({"deleted": deleted, "count": len(deleted)})


def stat(
    uri: str = typer.Argument(..., help="Object URI."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Show an object's size, etag, dates (the store's; the one a sync compares), content type, metadata."""
    from omnicloud.storage import Stat
    from omnicloud.uri import parse_uri

    with reporting_errors():
        target = parse_uri(uri)
        store = _open(target)
        _require(store, Stat, "stat objects")
        assert isinstance(store, Stat)
        info = store.stat(target.key)
        root = target.bucket_uri if target.provider != "local" else target.with_key("")
        data = _info_dict(root, info, sync_date=True)
        if json_output:
            print_json(data)
            return
        for name, value in data.items():
            if name in ("is_prefix",):
                continue
            console.print(f"{name:>14}: {value}", markup=False)


def mb(
    uri: str = typer.Argument(..., help="Bucket URI, e.g. s3://my-bucket or az://container."),
    exist_ok: bool = typer.Option(False, "--exist-ok", help="Succeed if the bucket already exists."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Make a bucket (a container on Azure)."""
    from omnicloud.storage import Admin
    from omnicloud.uri import parse_uri

    with reporting_errors():
        target = parse_uri(uri)
        store = _open(target)
        _require(store, Admin, "create buckets")
        assert isinstance(store, Admin)
        store.create_bucket(exist_ok=exist_ok)
        if json_output:
            print_json({"created": str(target.bucket_uri)})
        else:
            console.print(f"made bucket {target.bucket_uri}", markup=False)


def rb(
    uri: str = typer.Argument(..., help="Bucket URI."),
    force: bool = typer.Option(False, "--force", help="Delete the bucket's objects first."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Remove a bucket."""
    from omnicloud.storage import Admin
    from omnicloud.uri import parse_uri

    with reporting_errors():
        target = parse_uri(uri)
        store = _open(target)
        _require(store, Admin, "delete buckets")
        assert isinstance(store, Admin)
        store.delete_bucket(force=force)
        if json_output:
            print_json({"removed": str(target.bucket_uri)})
        else:
            console.print(f"removed bucket {target.bucket_uri}", markup=False)


def register(app: typer.Typer) -> None:
    for command in (ls, cat, rm, stat, mb, rb):
        app.command()(command)
