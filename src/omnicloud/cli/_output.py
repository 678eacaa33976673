"""Output and error handling shared by every command.

Each command prints human text through Rich, or JSON with ``--json``.
Errors never show a traceback: an :class:`~omnicloud.errors.OmniCloudError`
becomes one line on stderr and exit code 1 (2 for bad usage: invalid URIs,
configuration errors). ``-v`` turns on debug logging.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, NoReturn

import typer

from omnicloud._json_text import json_text, printable
from omnicloud.errors import ConfigError, InvalidURIError, OmniCloudError

__all__ = [
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "EXIT_USAGE",
    "console",
    "err_console",
    "fail",
    "print_json",
    "print_lines",
    "reporting_errors",
    "to_jsonable",
]

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it

if TYPE_CHECKING:
    from rich.console import Console


class _DeferredConsole:
    """A Rich console made on first use: importing Rich costs more than a
    ``--json`` command spends on everything else it prints."""

    def __init__(self, *, stderr: bool) -> None:
        self._stderr = stderr
        self._console: Console | None = None

    def print(self, *objects: Any, **options: Any) -> None:
        stream = sys.stderr if self._stderr else sys.stdout
        objects = tuple(printable(o) if isinstance(o, str) else o for o in objects)
        if options == {"markup": False} and all(isinstance(o, str) for o in objects):
            if not stream.isatty():
                # Plain text to a pipe or file: written as it is, without loading Rich.
                stream.write(" ".join(objects) + "\n")
                stream.flush()
                return
        if self._console is None:
            from rich.console import Console

            # No emoji codes: a key such as "a:smile:.bin" is printed as it is.
            self._console = Console(stderr=self._stderr, highlight=False, soft_wrap=True, emoji=False)
        self._console.print(*objects, **options)


console = _DeferredConsole(stderr=False)
err_console = _DeferredConsole(stderr=True)

log = logging.getLogger("omnicloud.cli")


def to_jsonable(value: Any) -> Any:
    """Turn dataclasses, datetimes and mappings into plain JSON values."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict) or hasattr(value, "items"):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return {name: to_jsonable(getattr(value, name)) for name in value.__dataclass_fields__}
    return value


def print_json(value: Any) -> None:
    """Print one JSON document on stdout (no Rich markup, no wrapping)."""
    sys.stdout.write(json_text(to_jsonable(value)) + "\n")
    sys.stdout.flush()


def print_json_lines(values: Iterable[Any]) -> None:
    """One JSON document per line on stdout, flushed once at the end."""
    write = sys.stdout.write
    for value in values:
        write(json_text(to_jsonable(value)) + "\n")
    sys.stdout.flush()


def print_lines(lines: Iterable[str]) -> None:
    """Plain lines on stdout, as they are: for listings of many objects, where
    Rich would spend a tenth of a millisecond on each line."""
    write = sys.stdout.write
    for line in lines:
        write(printable(line) + "\n")
    sys.stdout.flush()


def fail(message: str, *, code: int = EXIT_FAILURE) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {_escape(message)}")
    raise typer.Exit(code)


@contextmanager
def reporting_errors() -> Iterator[None]:
    """Turn omnicloud errors into one line and an exit code, never a traceback."""
    try:
        yield
    except (InvalidURIError, ConfigError) as err:
        log.debug("usage error", exc_info=True)
        fail(str(err), code=EXIT_USAGE)
    except OmniCloudError as err:
        log.debug("operation failed", exc_info=True)
        fail(str(err), code=EXIT_FAILURE)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except BrokenPipeError:
        # `omnicloud cat ... | head` closes the pipe early; that is not an error.
        raise typer.Exit(0) from None


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
