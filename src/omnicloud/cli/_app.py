"""The root Typer app: global options and the registration of each command group.

A run builds only the group its command belongs to: Typer turns every
registered function into a Click command before it parses anything (~1 ms
each), and each group's module has imports of its own. ``omnicloud --help``,
a mistyped command and ``app`` (for tests) get every group.
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Sequence

import typer

# The module of each group and the top-level commands it adds. Modules with a
# ``register(app)`` add their commands at the top; the others are sub-apps.
_GROUPS: dict[str, tuple[str, ...]] = {
    "omnicloud.cli._objects": ("ls", "cat", "rm", "stat", "mb", "rb"),
    "omnicloud.cli.transfer": ("cp", "sync", "verify", "download"),
    "omnicloud.cli.auth": ("auth",),
    "omnicloud.cli.cost": ("cost",),
    "omnicloud.cli.demo": ("demo",),
    "omnicloud.cli.sandbox": ("sandbox",),
}


def _print_version(value: bool) -> None:
    if value:
        from omnicloud import __version__

        typer.echo(f"omnicloud {__version__}")
        raise typer.Exit()


def _global_options(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug details to stderr."),
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    from omnicloud._log_redaction import RedactingFilter

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    # With -v the SDKs log whole requests: no SAS, signature or Authorization header reaches stderr.
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactingFilter())
    if not verbose:
        # The SDKs log request details at INFO; keep them quiet unless asked. urllib3 warns
        # of every retry it makes: the error a command ends with says what went wrong.
        for name in ("botocore", "boto3", "azure", "google"):
            logging.getLogger(name).setLevel(logging.WARNING)
        logging.getLogger("urllib3").setLevel(logging.ERROR)


def build(command: str | None = None) -> typer.Typer:
    """The app with the group of ``command`` only, or with every group."""
    app = typer.Typer(
        name="omnicloud",
        help="One tool for objects, transfers and costs across AWS, GCP, Azure, OCI, local files and memory.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    app.callback()(_global_options)
    for module_name, commands in _GROUPS.items():
        if command is not None and command not in commands:
            continue
        module = importlib.import_module(module_name)
        register = getattr(module, "register", None)
        if register is not None:
            register(app)
        else:
            app.add_typer(module.app, name=commands[0])
    return app


def command_of(argv: Sequence[str]) -> str | None:
    """The known command ``argv`` runs, if any (the global options take no value)."""
    for arg in argv:
        if not arg.startswith("-"):
            return arg if any(arg in commands for commands in _GROUPS.values()) else None
    return None


def run() -> None:
    argv = sys.argv[1:]
    # `--version` alone needs no command group ("" names none).
    build("" if argv == ["--version"] else command_of(argv))()


def __getattr__(name: str) -> typer.Typer:
    if name == "app":
        app = build()
        globals()["app"] = app
        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
