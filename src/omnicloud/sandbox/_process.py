"""Start, watch and stop one emulator process, by PID only.

An emulator started here must be stoppable from a *different* process later
(``omnicloud sandbox down`` runs long after ``up`` exited), so everything that
stops or probes a process works from its PID alone. Each emulator runs in its
own session (``start_new_session=True``), so its PID is also its process-group
id and stopping the group also ends whatever it spawned (Werkzeug's reloader,
Node workers).

Unless it is asked to outlive its caller (``sandbox up``), an emulator ends
with the process that started it, however that process ends (SIGKILL
included): it runs under a small watchdog holding the read end of a pipe
whose write end only the starting process holds. The kernel closes that end
when the process dies, the watchdog reads end-of-file and stops the
emulator. (``PR_SET_PDEATHSIG`` would not do: it fires when the starting
*thread* ends, and the sandbox starts emulators from a thread pool.)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
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
    # The write end of the watchdog's pipe (see the module's docstring), held while this process lives.
    _lifeline: int | None = field(default=None, repr=False, compare=False)

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
        if self._lifeline is not None:
            with contextlib.suppress(OSError):
                os.close(self._lifeline)
            object.__setattr__(self, "_lifeline", None)
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
    outlive_caller: bool = False,
) -> Emulator:
    """Start ``command`` detached, logging to a private temp folder, and wait until ``ready(endpoint)``.

    The process inherits this process's environment (so settings such as
    moto's ``INITIAL_NO_AUTH_ACTION_COUNT`` reach it); ``sdk_env`` is only
    recorded on the returned :class:`Emulator` for the SDKs' side. It ends
    with this process unless ``outlive_caller`` (see the module's docstring).

    Raises :class:`~omnicloud.errors.OmniCloudError` with the tail of the log
    when the process exits early or is not ready within ``timeout`` seconds;
    in both cases nothing is left running.
    """
    log_dir = Path(tempfile.mkdtemp(prefix=f"{_LOG_DIR_PREFIX}{name}-"))
    log_path = log_dir / f"{name}.log"
    endpoint = f"http://{LOOPBACK}:{port}"
    argv, lifeline, watched = list(command), None, None
    if not outlive_caller:
        watched, lifeline = os.pipe()  # neither end is inherited unless passed
        argv = [sys.executable, "-c", _WATCHDOG, str(watched), *argv]
    try:
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=cwd or log_dir,
                start_new_session=True,
                pass_fds=() if watched is None else (watched,),
            )
    except BaseException:
        if lifeline is not None:
            os.close(lifeline)
        raise
    finally:
        if watched is not None:
            os.close(watched)
    emulator = Emulator(
        name=name,
        pid=process.pid,
        host=LOOPBACK,
        port=port,
        endpoint=endpoint,
        env=dict(sdk_env),
        log_path=log_path,
        _process=process,
        _lifeline=lifeline,
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


# Run as `python -c _WATCHDOG FD COMMAND...`: runs COMMAND and stops it once FD reads end-of-file, that
# is once every process holding the pipe's write end (the one that started the emulator) has ended.
# It ends with COMMAND and with its exit code. SIGTERM (stop() signals the whole group) is left to
# COMMAND, so the watchdog lives until COMMAND has ended; a handler, unlike SIG_IGN, is not inherited.
_WATCHDOG = """
import os, signal, subprocess, sys, threading
signal.signal(signal.SIGTERM, lambda *_: None)
child = subprocess.Popen(sys.argv[2:])
def watch(fd=int(sys.argv[1])):
    while os.read(fd, 1):
        pass
    child.terminate()
    try:
        child.wait(5)
    except subprocess.TimeoutExpired:
        pass
    os.killpg(0, signal.SIGKILL)
threading.Thread(target=watch, daemon=True).start()
sys.exit(child.wait())
"""


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
