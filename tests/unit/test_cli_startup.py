"""The command line imports what a command needs, when it runs: start-up is paid by every command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from omnicloud import costs
from omnicloud.cli import cost as cost_cli

# Modules a command loads only when it uses them.
DEFERRED = ("rich", "omnicloud.costs", "omnicloud.sandbox", "omnicloud.credentials")
# The command line's groups: a command loads its own only.
GROUPS = {
    "omnicloud.cli._objects",
    "omnicloud.cli.transfer",
    "omnicloud.cli.auth",
    "omnicloud.cli.cost",
    "omnicloud.cli.demo",
    "omnicloud.cli.sandbox",
}


def _loaded_by_command(*argv: str) -> set[str]:
    code = (
        "import sys\n"
        f"sys.argv = ['omnicloud', *{list(argv)!r}]\n"
        "from omnicloud.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "sys.stdout.write('\\n'.join(sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(done.stdout.split())


def _deferred(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == d or m.startswith(d + ".") for d in DEFERRED))


def test_a_json_sync_loads_no_rich_no_cost_catalog_and_no_sandbox(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "f").write_bytes(b"1")
    modules = _loaded_by_command(
        "sync", str(tmp_path / "src"), str(tmp_path / "dst"), "--json", "--no-journal"
    )
    assert (tmp_path / "dst" / "f").read_bytes() == b"1"
    assert _deferred(modules) == []
    # Typer 0.29 imports pydantic for every option (~0.15 s); pyproject keeps Typer below it.
    assert "pydantic" not in modules


def test_listing_the_commands_loads_neither_the_cost_catalog_nor_the_sandbox() -> None:
    modules = _loaded_by_command("--help")
    assert [m for m in _deferred(modules) if not m.startswith("rich")] == []


def test_a_command_builds_only_its_own_group_and_help_lists_every_group(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"1")
    assert GROUPS & _loaded_by_command("cp", str(tmp_path / "f"), str(tmp_path / "g")) == {
        "omnicloud.cli.transfer"
    }
    assert GROUPS & _loaded_by_command("-v", "ls", str(tmp_path)) == {"omnicloud.cli._objects"}
    assert GROUPS & _loaded_by_command("cost", "--help") == {"omnicloud.cli.cost"}
    assert GROUPS & _loaded_by_command("--help") == GROUPS
    done = subprocess.run(
        [sys.executable, "-m", "omnicloud", "--help"], capture_output=True, text=True, timeout=60
    )
    for command in ("ls", "cat", "rm", "stat", "mb", "rb", "cp", "sync", "verify", "download"):
        assert f" {command} " in done.stdout, command
    for group in ("auth", "cost", "demo", "sandbox"):
        assert f" {group} " in done.stdout, group


def test_a_mistyped_command_is_told_apart_with_every_command_known() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "omnicloud", "snyc", "a", "b"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "No such command 'snyc'" in done.stderr and "sync" in done.stderr


def test_opening_an_azure_store_loads_the_azure_credential_code_only() -> None:
    code = (
        "import os, sys\n"
        "os.environ['AZURE_STORAGE_ACCOUNT'] = 'devstoreaccount1'\n"
        "os.environ['AZURE_STORAGE_KEY'] = 'a2V5'\n"
        "from omnicloud.storage import open_store\n"
        "open_store('az://container', account_url='http://127.0.0.1:9/devstoreaccount1')\n"
        "sys.stdout.write('\\n'.join(sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    loaded = {m for m in done.stdout.split() if m.startswith("omnicloud.credentials._")}
    assert "omnicloud.credentials._azure" in loaded
    assert not loaded & {
        "omnicloud.credentials._aws",
        "omnicloud.credentials._gcp",
        "omnicloud.credentials._oci",
    }


def test_the_cost_commands_help_texts_use_the_catalogs_own_values() -> None:
    assert cost_cli.OVERRIDES_ENV == costs.OVERRIDES_ENV
    assert cost_cli.HOURS_PER_MONTH == costs.HOURS_PER_MONTH


def test_a_plain_cp_to_a_pipe_prints_its_line_as_it_is_without_loading_rich(tmp_path: Path) -> None:
    (tmp_path / "a:smile:.bin").write_bytes(b"12345")
    modules = _loaded_by_command("cp", str(tmp_path / "a:smile:.bin"), str(tmp_path / "b:smile:.bin"))
    assert (tmp_path / "b:smile:.bin").read_bytes() == b"12345"
    assert _deferred(modules) == []
    argv = ["omnicloud", "cp", str(tmp_path / "a:smile:.bin"), str(tmp_path / "c:smile:.bin")]
    code = f"import sys\nsys.argv = {argv!r}\nfrom omnicloud.cli._app import app\napp()\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("copied file://") and "c:smile:.bin (5 B)" in done.stdout, done.stdout


def test_rich_output_prints_emoji_codes_in_keys_as_they_are(capsys: pytest.CaptureFixture[str]) -> None:
    from omnicloud.cli._output import _DeferredConsole

    _DeferredConsole(stderr=False).print("[bold]copied[/] a:smile:.bin")
    assert capsys.readouterr().out == "copied a:smile:.bin\n"


def test_python_dash_m_omnicloud_is_the_command_line(tmp_path: Path) -> None:
    source = tmp_path / "a.txt"
    source.write_bytes(b"abc")
    done = subprocess.run(
        [sys.executable, "-m", "omnicloud", "cp", str(source), str(tmp_path / "b.txt"), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "b.txt").read_bytes() == b"abc"
    assert '"size": 3' in done.stdout
