"""The user's sandbox: emulators that outlive the command that started them.

``omnicloud sandbox up`` and ``down`` run in different processes, so what is
running is written to a small JSON state file (name, pid, port, endpoint per
emulator) and ``down`` stops each by the PID recorded there. A lock file next
to it keeps two ``up`` commands from starting two sets.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from omnicloud.errors import ConfigError, OmniCloudError
from omnicloud.sandbox._emulators import EMULATOR_NAMES, ENVIRONMENTS, STARTERS
from omnicloud.sandbox._process import Emulator, EmulatorName

__all__ = [
    "EmulatorStatus",
    "Sandbox",
    "parse_emulator_names",
    "shell_exports",
    "state_file_path",
]

_STATE_VERSION = 1
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def state_file_path(environ: Mapping[str, str] | None = None) -> Path:
    """Where the sandbox records its emulators.

    ``$OMNICLOUD_SANDBOX_STATE`` if set, else ``$XDG_STATE_HOME/omnicloud/sandbox.json``,
    else ``~/.local/state/omnicloud/sandbox.json`` (the XDG default).
    """
    env = os.environ if environ is None else environ
    explicit = env.get("OMNICLOUD_SANDBOX_STATE")
    if explicit:
        return Path(explicit).expanduser()
    state_home = env.get("XDG_STATE_HOME")
    base = Path(state_home).expanduser() if state_home else Path.home() / ".local" / "state"
    return base / "omnicloud" / "sandbox.json"


def parse_emulator_names(names: Iterable[str] | None) -> tuple[EmulatorName, ...]:
    """Validate a user's choice of emulators (all of them when ``None``), in the canonical order."""
    if names is None:
        return EMULATOR_NAMES
    wanted = {name.strip().lower() for name in names if name.strip()}
    unknown = sorted(wanted - set(EMULATOR_NAMES))
    if unknown or not wanted:
        raise ConfigError(
            f"unknown emulator {', '.join(unknown) or '(none given)'}",
            op="sandbox.up",
            hint=f"choose from {', '.join(EMULATOR_NAMES)}",
        )
    return tuple(name for name in EMULATOR_NAMES if name in wanted)


def shell_exports(env: Mapping[str, str]) -> str:
    """``export NAME='value'`` lines for ``eval "$(omnicloud sandbox env --shell)"`` in sh, bash or zsh.

    Values are always single-quoted (a ``'`` inside becomes ``'\\''``), so
    ``;``, ``$`` and ``=`` in a connection string reach the variable unchanged.
    """
    lines = []
    for name, value in env.items():
        if not _ENV_NAME.match(name):
            raise ConfigError(f"{name!r} is not a valid environment variable name", op="sandbox.env")
        quoted = "'" + value.replace("'", "'\\''") + "'"
        lines.append(f"export {name}={quoted}")
    return "\n".join(lines) + ("\n" if lines else "")


@dataclass(frozen=True)
class EmulatorStatus:
    """One emulator recorded in the state file, and whether its process is still alive."""

    emulator: Emulator
    running: bool


class Sandbox:
    """The emulators started for a user, recorded in a state file so a later process can stop them.

    ``up()`` reuses emulators that are still running and starts the others;
    ``down()`` stops everything recorded; ``env()`` is the merged environment
    that points the SDKs at the running ones.
    """

    def __init__(self, state_path: Path | None = None) -> None:
        self.state_path = state_path if state_path is not None else state_file_path()
        # Emulators started by this object, with their process handles so that
        # down() in the same process can also reap them.
        self._started: dict[EmulatorName, Emulator] = {}

    def __repr__(self) -> str:
        return f"Sandbox(state_path={str(self.state_path)!r})"

    def up(self, only: Iterable[str] | None = None) -> list[Emulator]:
        """Make sure the chosen emulators (all three by default) are running, and return them.

        The emulators start in parallel. If one fails to start, the ones this
        call started are stopped again and the error is raised, so ``up`` is
        all or nothing; emulators already running before the call are kept.
        """
        names = parse_emulator_names(only)
        with self._locked():
            recorded = {emulator.name: emulator for emulator in self._read_state()}
            alive = {name: emu for name, emu in recorded.items() if emu.is_running()}
            missing = [name for name in names if name not in alive]
            started, errors = _start_in_parallel(missing)
            if errors:
                for emulator in started:
                    emulator.stop()
                raise errors[0]
            for emulator in started:
                self._started[emulator.name] = emulator
                alive[emulator.name] = emulator
            self._write_state([alive[name] for name in EMULATOR_NAMES if name in alive])
            return [alive[name] for name in names]

    def down(self) -> list[Emulator]:
        """Stop every recorded emulator that is still running, forget the state, and return those stopped."""
        with self._locked():
            stopped = []
            for recorded in self._read_state():
                # Prefer our own handle to the same process: stopping through it also reaps it.
                own = self._started.pop(recorded.name, None)
                emulator = own if own is not None and own.pid == recorded.pid else recorded
                if emulator.is_running():
                    emulator.stop()
                    stopped.append(emulator)
                else:
                    emulator.stop()  # only tidies its log folder
            with contextlib.suppress(FileNotFoundError):
                self.state_path.unlink()
            return stopped

    def emulators(self) -> list[Emulator]:
        """The recorded emulators whose processes are alive."""
        return [status.emulator for status in self.status() if status.running]

    def status(self) -> list[EmulatorStatus]:
        """Every recorded emulator with whether it is running (the state file may be stale)."""
        return [EmulatorStatus(emulator, emulator.is_running()) for emulator in self._read_state()]

    def env(self) -> dict[str, str]:
        """The merged environment of the running emulators; empty when none runs."""
        merged: dict[str, str] = {}
        for emulator in self.emulators():
            merged.update(emulator.env)
        return merged

    def _read_state(self) -> list[Emulator]:
        try:
            text = self.state_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except OSError as err:
            raise ConfigError(f"cannot read the sandbox state file {self.state_path}: {err}") from err
        try:
            document = json.loads(text)
            return [_emulator_from_record(record) for record in document["emulators"]]
        except (ValueError, KeyError, TypeError) as err:
            raise ConfigError(
                f"the sandbox state file {self.state_path} is not valid ({err})",
                op="sandbox.state",
                hint="delete it (stop any emulator it names by hand first)",
            ) from err

    def _write_state(self, emulators: list[Emulator]) -> None:
        document = {"version": _STATE_VERSION, "emulators": [emu.to_record() for emu in emulators]}
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        # Write-then-rename, so a reader never sees half a file.
        partial = self.state_path.with_name(self.state_path.name + ".partial")
        partial.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        os.replace(partial, self.state_path)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.state_path.with_name(self.state_path.name + ".lock")
        with lock_path.open("a") as lock:
            try:
                import fcntl
            except ImportError:  # pragma: no cover - Windows has no flock; one user, one shell
                yield
                return
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


def _start_in_parallel(names: list[EmulatorName]) -> tuple[list[Emulator], list[OmniCloudError]]:
    if not names:
        return [], []
    started: list[Emulator] = []
    errors: list[OmniCloudError] = []
    with ThreadPoolExecutor(max_workers=len(names), thread_name_prefix="sandbox-start") as pool:
        # `sandbox up` exits at once; its emulators run until `sandbox down`.
        futures = [pool.submit(STARTERS[name], outlive_caller=True) for name in names]
        for future in futures:
            try:
                started.append(future.result())
            except OmniCloudError as err:
                errors.append(err)
    return started, errors


def _emulator_from_record(record: Mapping[str, Any]) -> Emulator:
    name = record["name"]
    if name not in EMULATOR_NAMES:
        raise ValueError(f"unknown emulator {name!r}")
    endpoint = str(record["endpoint"])
    return Emulator(
        name=cast(EmulatorName, name),
        pid=int(record["pid"]),
        host=str(record.get("host", "127.0.0.1")),
        port=int(record["port"]),
        endpoint=endpoint,
        env=ENVIRONMENTS[cast(EmulatorName, name)](endpoint),
        log_path=Path(str(record.get("log_path", ""))),
    )
