"""Auth commands: ``whoami`` (which identity a URI or provider would use), ``check``, ``types``.

Nothing here ever prints a secret: output is built only from
:meth:`omnicloud.credentials.Credentials.describe`, which holds none.
"""

from __future__ import annotations

from typing import Any

import typer

from omnicloud.cli._output import EXIT_FAILURE, console, print_json, reporting_errors

app = typer.Typer(
    name="auth",
    help="Which credentials omnicloud would use, and where they come from.",
    no_args_is_help=True,
)

JSON_OPTION = typer.Option(False, "--json", help="Print JSON for scripts instead of text.")
NO_METADATA_OPTION = typer.Option(
    False, "--no-metadata", help="Do not ask cloud metadata services (EC2, GCE, Azure IMDS, OCI)."
)

_PROVIDER_WORDS = frozenset({"aws", "gcp", "azure", "oci", "local", "memory", "s3", "gs", "gcs", "az"})


@app.command()
def whoami(
    target: str = typer.Argument(..., help="A URI (s3://bucket/key, az://container, ...) or a provider."),
    auth: str | None = typer.Option(None, "--auth", help="Only consider this auth type (see `auth types`)."),
    json_output: bool = JSON_OPTION,
    no_metadata: bool = NO_METADATA_OPTION,
) -> None:
    """Show the identity, its source and its region/project/account for a URI or provider."""
    from omnicloud.credentials import credentials_for, resolve

    with reporting_errors():
        parameters: dict[str, Any] = {"metadata": False} if no_metadata else {}
        if target.strip().lower() in _PROVIDER_WORDS:
            credentials = resolve(target, auth, **parameters)
            uri = None
        else:
            from omnicloud.uri import parse_uri

            parsed = parse_uri(target)
            credentials = credentials_for(parsed, auth=auth, parameters=parameters)
            uri = str(parsed) if parsed.provider != "local" else f"file:///{parsed.key}"
        described = credentials.describe()
        if uri is not None:
            described = {"uri": uri, **described}
        if json_output:
            print_json(described)
            return
        _print_fields(described)


@app.command()
def check(
    json_output: bool = JSON_OPTION,
    no_metadata: bool = NO_METADATA_OPTION,
) -> None:
    """For each cloud, say whether credentials are found and from which source.

    Exits with 1 when no cloud has credentials.
    """
    from omnicloud.credentials import check_providers

    with reporting_errors():
        results = check_providers(metadata=not no_metadata)
        rows = [
            {
                "provider": result.provider,
                "found": result.found,
                "missing": result.missing,
                **(result.credentials.describe() if result.credentials else {"error": result.error}),
            }
            for result in results
        ]
        if json_output:
            print_json(rows)
        else:
            _print_check(rows)
        if not any(result.found for result in results):
            raise typer.Exit(EXIT_FAILURE)


@app.command()
def types(
    provider: str | None = typer.Argument(None, help="Only this provider."),
    json_output: bool = JSON_OPTION,
) -> None:
    """List the auth types of each provider."""
    from omnicloud.credentials import CLOUD_PROVIDERS, auth_types

    with reporting_errors():
        providers = [provider] if provider else list(CLOUD_PROVIDERS)
        table = {name: auth_types(name) for name in providers}
        if json_output:
            print_json(table)
            return
        from rich.table import Table

        grid = Table("provider", "auth", "what it is", box=None, pad_edge=False)
        for name, entries in table.items():
            for auth, summary in entries.items():
                grid.add_row(name, auth, summary)
        console.print(grid)


def _print_fields(described: dict[str, Any]) -> None:
    from rich.markup import escape

    width = max(len(name) for name in described)
    for name, value in described.items():
        if value is None:
            continue
        console.print(f"{name.ljust(width)}  {escape(str(value))}")


def _print_check(rows: list[dict[str, Any]]) -> None:
    from rich.markup import escape
    from rich.table import Table

    grid = Table("provider", "found", "auth", "identity", "source", box=None, pad_edge=False)
    for row in rows:
        if row["found"]:
            grid.add_row(
                row["provider"], "yes", escape(row["auth"]), escape(row["identity"]), escape(row["source"])
            )
        elif row["missing"]:
            hint = f"none found (`omnicloud auth whoami {row['provider']}` lists the sources tried)"
            grid.add_row(row["provider"], "[red]no[/]", "", "", hint)
        else:
            grid.add_row(row["provider"], "[red]error[/]", "", "", escape(row.get("error") or ""))
    console.print(grid)
