"""The ``omnicloud`` command line (Typer + Rich). Cloud SDKs load only when a command needs them."""

from __future__ import annotations

__all__ = ["main"]


def main() -> None:
    from omnicloud.cli._app import run

    run()
