"""``omnicloud sandbox``: start, inspect and stop the local emulators.

``eval "$(omnicloud sandbox up --shell)"`` is the whole set-up for trying
omnicloud (or any SDK) against S3, Azure Blob and GCS without an account: the
emulators keep running after the command exits, and ``omnicloud sandbox down``
stops them by the PIDs recorded in the state file. With ``--shell`` only the
``export`` lines go to stdout, so ``eval`` sees nothing else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from omnicloud.cli._output import EXIT_USAGE, console, err_console, fail, print_json, reporting_errors

if TYPE_CHECKING:
    from omnicloud.sandbox import Emulator, Sandbox

__all__ = ["app"]

app = typer.Typer(
    help="Run local emulators of S3 (moto), Azure Blob (Azurite) and GCS; print the environment for them.",
    no_args_is_help=True,
)

_SHELL_HELP = "Print `export NAME='value'` lines for eval in sh, bash or zsh."
_JSON_HELP = "Print one JSON document."

_SERVICES = {"moto": "AWS S3, EC2, IAM, STS, Lambda", "azurite": "Azure Blob", "gcs": "Google Cloud Storage"}


@app.command("up")
def up_command(
    only: str | None = typer.Option(
        None, "--only", metavar="NAMES", help="Comma-separated subset of moto,azurite,gcs (default: all)."
    ),
    shell: bool = typer.Option(False, "--shell", help=_SHELL_HELP),
    as_json: bool = typer.Option(False, "--json", help=_JSON_HELP),
) -> None:
    """Start the emulators (reusing any already running) and print their environment."""
    from rich.markup import escape

    from omnicloud.sandbox import Sandbox, parse_emulator_names

    _refuse_both(shell, as_json)
    sandbox = Sandbox()
    with reporting_errors():
        names = parse_emulator_names(only.split(",") if only is not None else None)
        if not shell and not as_json:
            console.print(f"bringing up {', '.join(names)}...", style="dim")
        emulators = sandbox.up(names)
        env = sandbox.env()
    if shell:
        _print_shell(env)
        err_console.print(f"sandbox up: {', '.join(f'{e.name} {e.endpoint}' for e in emulators)}")
    elif as_json:
        print_json(_document(sandbox, emulators, env))
    else:
        _print_table(emulators)
        console.print(f"state: {escape(str(sandbox.state_path))}")
        console.print('point the SDKs at them:  eval "$(omnicloud sandbox env --shell)"')
        console.print("stop them:               omnicloud sandbox down")


@app.command("down")
def down_command(as_json: bool = typer.Option(False, "--json", help=_JSON_HELP)) -> None:
    """Stop every emulator the sandbox started (by PID) and forget them."""
    from omnicloud.sandbox import Sandbox

    sandbox = Sandbox()
    with reporting_errors():
        stopped = sandbox.down()
    if as_json:
        print_json({"stopped": [emulator.to_record() for emulator in stopped]})
    elif stopped:
        console.print(f"stopped {', '.join(f'{e.name} (pid {e.pid})' for e in stopped)}")
    else:
        console.print("nothing was running")


@app.command("env")
def env_command(
    shell: bool = typer.Option(False, "--shell", help=_SHELL_HELP),
    as_json: bool = typer.Option(False, "--json", help=_JSON_HELP),
) -> None:
    """Print the variables that point the AWS, Azure and Google SDKs at the running emulators."""
    from omnicloud.sandbox import Sandbox

    _refuse_both(shell, as_json)
    sandbox = Sandbox()
    with reporting_errors():
        env = sandbox.env()
    if not env:
        fail("the sandbox is not running; start it with `omnicloud sandbox up`")
    if shell:
        _print_shell(env)
    elif as_json:
        print_json(env)
    else:
        from rich.markup import escape
        from rich.table import Table

        table = Table(box=None, pad_edge=False)
        table.add_column("variable", no_wrap=True)
        # Fold rather than cut: the connection string must stay whole to be copied.
        table.add_column("value", overflow="fold")
        for name, value in env.items():
            table.add_row(name, escape(value))
        console.print(table)


@app.command("status")
def status_command(as_json: bool = typer.Option(False, "--json", help=_JSON_HELP)) -> None:
    """Show which recorded emulators are running."""
    from omnicloud.sandbox import Sandbox

    sandbox = Sandbox()
    with reporting_errors():
        statuses = sandbox.status()
    if as_json:
        print_json(
            {
                "state_file": str(sandbox.state_path),
                "emulators": [{**s.emulator.to_record(), "running": s.running} for s in statuses],
            }
        )
        return
    if not statuses:
        console.print("the sandbox is not running")
        return
    from rich.table import Table

    table = Table("emulator", "serves", "state", "pid", "endpoint", box=None, pad_edge=False)
    for status in statuses:
        emulator = status.emulator
        state = "[green]running[/]" if status.running else "[red]gone[/]"
        table.add_row(emulator.name, _SERVICES[emulator.name], state, str(emulator.pid), emulator.endpoint)
    console.print(table)


def _refuse_both(shell: bool, as_json: bool) -> None:
    if shell and as_json:
        fail("choose one of --shell and --json", code=EXIT_USAGE)


def _print_shell(env: dict[str, str]) -> None:
    from omnicloud.sandbox import shell_exports

    # Plain stdout, not Rich: Rich would wrap long connection strings and read markup in values.
    typer.echo(shell_exports(env), nl=False)


def _print_table(emulators: list[Emulator]) -> None:
    from rich.table import Table

    table = Table("emulator", "serves", "pid", "endpoint", box=None, pad_edge=False)
    for emulator in emulators:
        table.add_row(emulator.name, _SERVICES[emulator.name], str(emulator.pid), emulator.endpoint)
    console.print(table)


def _document(sandbox: Sandbox, emulators: list[Emulator], env: dict[str, str]) -> dict[str, object]:
    return {
        "state_file": str(sandbox.state_path),
        "emulators": [emulator.to_record() for emulator in emulators],
        "env": env,
    }
