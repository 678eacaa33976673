"""The root Typer app: global options and the registration of each command group."""

from __future__ import annotations

import logging

import typer

from omnicloud.cli import _objects
from omnicloud.cli import auth as _auth
from omnicloud.cli import cost as _cost
from omnicloud.cli import demo as _demo
from omnicloud.cli import sandbox as _sandbox
from omnicloud.cli import transfer as _transfer

app = typer.Typer(
    name="omnicloud",
    help="One tool for objects, transfers and costs across AWS, GCP, Azure, OCI, local files and memory.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _global_options(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug details to stderr."),
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not verbose:
        # The SDKs log request details at INFO; keep them quiet unless asked.
        for name in ("botocore", "boto3", "urllib3", "azure", "google"):
            logging.getLogger(name).setLevel(logging.WARNING)


_objects.register(app)
_transfer.register(app)
app.add_typer(_auth.app, name="auth")
app.add_typer(_cost.app, name="cost")
_demo.register(app)
app.add_typer(_sandbox.app, name="sandbox")


def run() -> None:
    app()
