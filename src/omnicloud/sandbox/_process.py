"""Start, watch and stop one emulator process, by PID only.

An emulator started here must be stoppable from a *different* process later
(``omnicloud sandbox down`` runs long after ``up`` exited), so everything that
stops or probes a process works from its PID alone. Each emulator runs in its
own session (``start_new_session=True``), so its PID is also its process-group
id and stopping the group also ends whatever it spawned (Werkzeug's reloader,
Node workers).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from omnicloud.errors import OmniCloudError

__all__ = [
    "LOOPBACK",
    "Emulator",
    "EmulatorExitedError",
    "EmulatorName",
    "http_answers",
    "http_request",
    "launch",
    "pick_free_port",
    "pid_is_alive",
]

EmulatorName = Literal["moto", "azurite", "gcs"]

LOOPBACK = "127.0.0.1"

# The emulators are local processes; a proxy from the user's environment must never see their traffic.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))

_LOG_TAIL_LINES = 20
# stop() deletes a log folder only if it carries this prefix, i.e. launch() made it.
_LOG_DIR_PREFIX = "omnicloud-sandbox-"


@dataclass(frozen=True)
class Emulator:
    """One running emulator: where it listens and which environment points the SDKs at it.

    ``env`` holds the variables each SDK already reads (``AWS_ENDPOINT_URL``,
    ``AZURE_STORAGE_CONNECTION_STRING``, ``STORAGE_EMULATOR_HOST``), so code under
    test needs no omnicloud-specific switch. Only the PID is needed to stop it,
    which is why an ``Emulator`` rebuilt from the sandbox state file in another
    process stops it just as well.
    """

    name: EmulatorName
    pid: int
    host: str
    port: int
    endpoint: str
    env: Mapping[str, str]
    log_path: Path
    # The handle exists only in the process that started the emulator; it lets
    # stop() reap the child so it does not linger as a zombie.
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)

    def is_running(self) -> bool:
        """Whether this emulator's own process is still alive (not merely its port taken)."""
        if self._process is not None:
            return self._process.poll() is None
        return pid_is_alive(self.pid) and _command_mentions(self.pid, str(self.port))

    def stop(self, *, timeout: float = 5.0, remove_logs: bool = True) -> None:
        """Stop the emulator's process group: SIGTERM, wait up to ``timeout``, then SIGKILL.

        Stopping one that is already gone is not an error. A PID that is alive
        but whose command line no longer names this emulator's port belongs to
        someone else now (PIDs are reused) and is left alone.
        """
        if self._process is None and not self.is_running():
            self._remove_logs(remove_logs)
            return
        _signal_group(self.pid, signal.SIGTERM)
        if not self._wait_gone(timeout):
            _signal_group(self.pid, signal.SIGKILL)
            self._wait_gone(timeout)
        # The leader is gone; anything it spawned that ignored SIGTERM still carries its group id.
        _signal_group(self.pid, signal.SIGKILL)
        self._remove_logs(remove_logs)

    def to_record(self) -> dict[str, object]:
        """The JSON-able description kept in the sandbox state file and shown by the CLI."""
        return {
            "name": self.name,
            "pid": self.pid,
            "host": self.host,
            "port": self.port,
            "endpoint": self.endpoint,
            "log_path": str(self.log_path),
        }

    def _wait_gone(self, timeout: float) -> bool:
        if self._process is not None:
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                return False
            return True
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not pid_is_alive(self.pid):
                return True
            time.sleep(0.05)
        return not pid_is_alive(self.pid)

    def _remove_logs(self, remove: bool) -> None:
        # Only the private temp folder launch() made is removed, never a caller's folder.
        folder = self.log_path.parent
        if remove and folder.name.startswith(_LOG_DIR_PREFIX):
            shutil.rmtree(folder, ignore_errors=True)


def pick_free_port(host: str = LOOPBACK) -> int:
    """A TCP port on ``host`` that nothing listens on right now.

    The kernel picks it (bind to port 0), so parallel test workers get
    different ports without coordinating. There is a short window before the
    emulator binds it; :func:`launch` retries with a new port if it was taken.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def pid_is_alive(pid: int) -> bool:
    """Whether ``pid`` names a live process (zombies count as dead)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _proc_state(pid) not in {"Z", "X"}


def http_request(url: str, *, method: str = "GET", timeout: float = 10.0) -> bytes:
    """Send one bodiless request straight to ``url`` (never through a proxy) and return the body.

    Raises ``OSError`` (``urllib.error.HTTPError`` for a 4xx/5xx answer) on failure.
    """
    data = b"" if method in {"POST", "PUT"} else None
    request = urllib.request.Request(url, method=method, data=data)
    with _DIRECT.open(request, timeout=timeout) as response:
        body: bytes = response.read()
        return body


def http_answers(url: str, *, method: str = "GET", timeout: float = 1.0) -> bool:
    """Whether an HTTP server answers at ``url`` with any status (4xx counts: it is listening)."""
    try:
        http_request(url, method=method, timeout=timeout)
    except urllib.error.HTTPError:
        return True
    except (OSError, ValueError):
        return False
    return True


class EmulatorExitedError(OmniCloudError):
    """The emulator process ended during start-up (often: its port was taken meanwhile)."""


def launch(
    name: EmulatorName,
    command: Sequence[str],
    *,
    port: int,
    ready: Callable[[str], bool],
    sdk_env: Mapping[str, str],
    cwd: Path | None = None,
    timeout: float = 30.0,
) -> Emulator:
    """Start ``command`` detached, logging to a private temp folder, and wait until ``ready(endpoint)``.

    The process inherits this process's environment (so settings such as
    moto's ``INITIAL_NO_AUTH_ACTION_COUNT`` reach it); ``sdk_env`` is only
    recorded on the returned :class:`Emulator` for the SDKs' side.

    Raises :class:`~omnicloud.errors.OmniCloudError` with the tail of the log
    when the process exits early or is not ready within ``timeout`` seconds;
    in both cases nothing is left running.
    """
    log_dir = Path(tempfile.mkdtemp(prefix=f"{_LOG_DIR_PREFIX}{name}-"))
    log_path = log_dir / f"{name}.log"
    endpoint = f"http://{LOOPBACK}:{port}"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd or log_dir,
            start_new_session=True,
        )
    emulator = Emulator(
        name=name,
        pid=process.pid,
        host=LOOPBACK,
        port=port,
        endpoint=endpoint,
        env=dict(sdk_env),
        log_path=log_path,
        _process=process,
    )
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            tail = _log_tail(log_path)
            emulator.stop(remove_logs=True)
            raise EmulatorExitedError(
                f"{name} exited with code {process.returncode} before it was ready{tail}",
                op="sandbox.start",
            )
        if ready(endpoint) and process.poll() is None:
            return emulator
        if time.monotonic() > deadline:
            tail = _log_tail(log_path)
            emulator.stop(remove_logs=True)
            raise OmniCloudError(
                f"{name} did not answer on {endpoint} within {timeout:g} s{tail}",
                op="sandbox.start",
                retryable=True,
            )
        time.sleep(0.1)


def _log_tail(log_path: Path) -> str:
    try:
        lines = log_path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    tail = [line for line in lines[-_LOG_TAIL_LINES:] if line.strip()]
    if not tail:
        return f" (log {log_path} is empty)"
    return f"; last lines of {log_path}:\n" + "\n".join(tail)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    """Signal the emulator's process group, or the PID alone if it does not lead a group.

    The emulator leads its own session, so its group id is its PID. Once the
    leader is gone its group id cannot be handed to a new process while members
    remain, so signalling the group then still reaches only what it spawned.
    """
    try:
        leads_group = os.getpgid(pid) == pid
    except ProcessLookupError:
        leads_group = True
    except PermissionError:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if leads_group:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)


def _proc_state(pid: int) -> str | None:
    """The one-letter state from ``/proc/PID/stat`` (Linux), or None where /proc is absent."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    # The command name sits in parentheses and may itself contain spaces or ')'.
    after_name = stat.rpartition(")")[2].split()
    return after_name[0] if after_name else None


def _command_mentions(pid: int, text: str) -> bool:
    """Whether ``text`` is one of ``pid``'s arguments; True where /proc is absent and it cannot be told."""
    if not Path("/proc/self").exists():
        return True
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except PermissionError:
        return True
    except OSError:
        return False
    return text in raw.decode("utf-8", errors="replace").split("\0")
