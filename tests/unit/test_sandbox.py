"""omnicloud.sandbox: state file, ports, process lifecycle by PID, Azurite discovery, env rendering."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import omnicloud.sandbox as sandbox_api
from omnicloud.errors import ConfigError, OmniCloudError
from omnicloud.sandbox import (
    Emulator,
    Sandbox,
    find_azurite,
    parse_emulator_names,
    pick_free_port,
    reset_gcs,
    reset_moto,
    shell_exports,
    start_azurite,
    state_file_path,
)
from omnicloud.sandbox._emulators import azurite_env, gcs_env, moto_env
from omnicloud.sandbox._process import EmulatorExitedError, http_request, launch, pid_is_alive


def _wait_dead(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_is_alive(pid):
            return True
        time.sleep(0.05)
    return False


def _described(process: subprocess.Popen[bytes]) -> str:
    """What /proc says about a spawned process, for the message of an assertion that it runs."""
    parts = [f"pid {process.pid}, exit status {process.poll()}"]
    for name in ("stat", "cmdline"):
        try:
            parts.append(f"{name}: {Path(f'/proc/{process.pid}/{name}').read_bytes()!r}")
        except OSError as err:
            parts.append(f"{name}: {err}")
    return "; ".join(parts)


Spawn = Callable[..., subprocess.Popen[bytes]]


@pytest.fixture
def spawn_detached() -> Iterator[Spawn]:
    """Start ``sh -c SCRIPT sh ARGS...`` in its own session, as an emulator runs; killed after the test.

    The extra ``args`` land in the process's argv, which is where the sandbox
    looks for an emulator's port before it trusts a recorded PID.
    """
    started: list[subprocess.Popen[bytes]] = []

    def spawn(script: str, *args: str) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            ["sh", "-c", script, "sh", *args],
            start_new_session=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        started.append(process)
        return process

    yield spawn
    for process in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def _recorded(pid: int, port: int, tmp_path: Path) -> Emulator:
    """An Emulator as a later process rebuilds it from the state file: PID only, no process handle."""
    endpoint = f"http://127.0.0.1:{port}"
    return Emulator(
        name="moto",
        pid=pid,
        host="127.0.0.1",
        port=port,
        endpoint=endpoint,
        env=moto_env(endpoint),
        log_path=tmp_path / "moto.log",
    )


def _live_children() -> list[int]:
    """PIDs of this process's children that are still running (zombies excluded)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and fields[0] not in {"Z", "X"}:
            children.append(int(stat.parent.name))
    return children


# --- public surface -----------------------------------------------------------------------------


def test_public_surface_is_exactly_the_curated_names() -> None:
    assert set(sandbox_api.__all__) == {
        "AZURITE_ACCOUNT",
        "AZURITE_ACCOUNT_KEY",
        "EMULATOR_NAMES",
        "GCS_PROJECT",
        "Emulator",
        "EmulatorName",
        "EmulatorStatus",
        "Sandbox",
        "find_azurite",
        "parse_emulator_names",
        "pick_free_port",
        "reset_gcs",
        "reset_moto",
        "shell_exports",
        "start_azurite",
        "start_gcs",
        "start_moto",
        "state_file_path",
    }
    for name in sandbox_api.__all__:
        assert hasattr(sandbox_api, name), name


def test_sandbox_and_its_cli_import_no_cloud_sdk() -> None:
    code = textwrap.dedent(
        """
        import sys
        import omnicloud.sandbox, omnicloud.cli.sandbox
        print(sorted({m.split(".")[0] for m in sys.modules} & {"boto3", "botocore", "google", "azure"}))
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


# --- state file location ------------------------------------------------------------------------


def test_state_file_path_prefers_the_explicit_variable(tmp_path: Path) -> None:
    environ = {"OMNICLOUD_SANDBOX_STATE": str(tmp_path / "s.json"), "XDG_STATE_HOME": "/elsewhere"}
    assert state_file_path(environ) == tmp_path / "s.json"


def test_state_file_path_follows_xdg_state_home() -> None:
    assert state_file_path({"XDG_STATE_HOME": "/x/state"}) == Path("/x/state/omnicloud/sandbox.json")


def test_state_file_path_defaults_to_local_state_under_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/home/someone")
    assert state_file_path({}) == Path("/home/someone/.local/state/omnicloud/sandbox.json")


def test_sandbox_reads_the_state_file_from_the_environment_by_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("OMNICLOUD_SANDBOX_STATE", str(tmp_path / "here.json"))
    assert Sandbox().state_path == tmp_path / "here.json"


# --- ports --------------------------------------------------------------------------------------


def test_pick_free_port_returns_a_loopback_port_that_can_be_bound() -> None:
    port = pick_free_port()
    assert 1024 <= port <= 65535
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", port))


# --- names and environment ----------------------------------------------------------------------


def test_parse_emulator_names_keeps_the_canonical_order_and_drops_duplicates() -> None:
    assert parse_emulator_names(["gcs", " MOTO", "gcs"]) == ("moto", "gcs")
    assert parse_emulator_names(None) == ("moto", "azurite", "gcs")


def test_parse_emulator_names_rejects_unknown_names_and_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown emulator minio.*moto, azurite, gcs"):
        parse_emulator_names(["moto", "minio"])
    with pytest.raises(ConfigError):
        parse_emulator_names([""])


def test_each_emulator_env_uses_the_variables_its_sdk_reads() -> None:
    endpoint = "http://127.0.0.1:4242"
    assert moto_env(endpoint) == {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    connection = azurite_env(endpoint)["AZURE_STORAGE_CONNECTION_STRING"]
    assert "AccountName=devstoreaccount1;" in connection
    assert f"AccountKey={sandbox_api.AZURITE_ACCOUNT_KEY};" in connection
    assert connection.endswith("BlobEndpoint=http://127.0.0.1:4242/devstoreaccount1;")
    assert gcs_env(endpoint)["STORAGE_EMULATOR_HOST"] == endpoint
    assert gcs_env(endpoint)["GOOGLE_CLOUD_PROJECT"] == "omnicloud-sandbox"


def test_shell_exports_single_quote_every_value() -> None:
    assert shell_exports({"A": "plain", "B": "it's"}) == "export A='plain'\nexport B='it'\\''s'\n"
    assert shell_exports({}) == ""


def test_shell_exports_survive_eval_unchanged_with_awkward_characters() -> None:
    env = {
        "OC_QUOTE": "it's a 'test'",
        "OC_SHELL": '$HOME; `id` && echo $(id) \\ "x" * ?',
        "OC_CONN": azurite_env("http://127.0.0.1:1")["AZURE_STORAGE_CONNECTION_STRING"],
        "OC_EMPTY": "",
        "OC_UNICODE": "naïve 🚀",
    }
    show = 'printf "%s\\0" "$OC_QUOTE" "$OC_SHELL" "$OC_CONN" "$OC_EMPTY" "$OC_UNICODE"'
    script = shell_exports(env) + show
    result = subprocess.run(["sh", "-c", script], capture_output=True, check=True)
    assert result.stdout.decode().split("\0")[:-1] == list(env.values())


def test_shell_exports_refuse_names_a_shell_would_misread() -> None:
    with pytest.raises(ConfigError, match="not a valid environment variable name"):
        shell_exports({"BAD;rm -rf": "x"})


# --- Azurite discovery --------------------------------------------------------------------------


def test_missing_azurite_names_the_path_and_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "azurite-blob"
    monkeypatch.setenv("OMNICLOUD_AZURITE", str(missing))
    with pytest.raises(ConfigError) as caught:
        start_azurite()
    message = str(caught.value)
    assert str(missing) in message
    assert "npm install" in message
    assert "make demo" in message
    assert "\n" not in message


def test_azurite_without_node_says_to_install_node(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    script = tmp_path / "main.js"
    script.write_text("#!/usr/bin/env node\n")
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    monkeypatch.setenv("OMNICLOUD_AZURITE", str(script))
    monkeypatch.setenv("PATH", str(empty_bin))
    with pytest.raises(ConfigError, match=r"needs Node\.js.*npm install"):
        start_azurite()


def test_find_azurite_prefers_node_modules_above_the_current_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    script = tmp_path / "node_modules" / ".bin" / "azurite-blob"
    script.parent.mkdir(parents=True)
    script.write_text("#!/usr/bin/env node\n")
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    monkeypatch.delenv("OMNICLOUD_AZURITE", raising=False)
    monkeypatch.chdir(nested)
    assert find_azurite() == script


def test_find_azurite_honours_the_explicit_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    script = tmp_path / "my-azurite"
    script.write_text("#!/usr/bin/env node\n")
    monkeypatch.setenv("OMNICLOUD_AZURITE", str(script))
    assert find_azurite() == script


# --- process lifecycle --------------------------------------------------------------------------


def test_stop_kills_the_emulator_and_everything_it_spawned(tmp_path: Path, spawn_detached: Spawn) -> None:
    child_pid_file = tmp_path / "child.pid"
    parent = spawn_detached('sleep 300 & echo $! > "$1"; wait', str(child_pid_file), "4242")
    deadline = time.monotonic() + 5
    while not child_pid_file.exists() or not child_pid_file.read_text().strip():
        assert time.monotonic() < deadline, "the test process never started its child"
        time.sleep(0.02)
    child = int(child_pid_file.read_text())
    emulator = _recorded(parent.pid, 4242, tmp_path)
    assert emulator.is_running(), _described(parent)

    emulator.stop()

    parent.wait(timeout=5)
    assert _wait_dead(child)
    assert not emulator.is_running()


def test_stop_escalates_to_sigkill_when_sigterm_is_ignored(tmp_path: Path) -> None:
    armed = tmp_path / "armed"
    stubborn = launch(
        "moto",
        [
            sys.executable,
            "-c",
            "import pathlib, signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "pathlib.Path(sys.argv[1]).touch(); time.sleep(300)",
            str(armed),
            "4243",
        ],
        port=4243,
        # Ready only once SIGTERM is ignored, so the test cannot pass on SIGTERM alone.
        ready=lambda _endpoint: armed.exists(),
        sdk_env={},
    )
    started = time.monotonic()
    stubborn.stop(timeout=0.5)
    assert time.monotonic() - started < 3
    assert not pid_is_alive(stubborn.pid)


def test_stopping_an_emulator_twice_or_after_it_died_is_harmless(
    tmp_path: Path, spawn_detached: Spawn
) -> None:
    process = spawn_detached("exit 0", "4244")
    process.wait(timeout=5)
    emulator = _recorded(process.pid, 4244, tmp_path)
    assert not emulator.is_running()
    emulator.stop()
    emulator.stop()


def test_stop_leaves_alone_a_pid_that_now_belongs_to_another_program(
    tmp_path: Path, spawn_detached: Spawn
) -> None:
    # PIDs are reused: a recorded emulator whose PID now runs something without its port is not ours.
    stranger = spawn_detached("exec sleep 300")
    emulator = _recorded(stranger.pid, 4245, tmp_path)
    assert not emulator.is_running()
    emulator.stop()
    time.sleep(0.2)
    assert stranger.poll() is None


def test_stop_removes_the_log_folder_it_created() -> None:
    emulator = launch("gcs", ["sleep", "300", "4246"], port=4246, ready=lambda _endpoint: True, sdk_env={})
    assert emulator.log_path.parent.is_dir()
    emulator.stop()
    assert not emulator.log_path.parent.exists()


def test_launch_reports_the_log_tail_when_the_emulator_exits_early() -> None:
    command = ["sh", "-c", "echo 'address already in use (from the emulator)'; exit 3"]
    children_before = set(_live_children())
    with pytest.raises(EmulatorExitedError) as caught:
        launch("moto", command, port=4247, ready=lambda _endpoint: False, sdk_env={})
    message = str(caught.value)
    assert "exited with code 3" in message
    assert "address already in use (from the emulator)" in message
    assert set(_live_children()) <= children_before


def test_launch_times_out_with_the_log_tail_and_leaves_nothing_running(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    command = ["sh", "-c", 'echo $$ > "$1"; echo still warming up; exec sleep 300', "sh", str(pid_file)]
    started = time.monotonic()
    with pytest.raises(OmniCloudError, match=r"(?s)did not answer.*within 0.5 s.*still warming up") as caught:
        launch("azurite", command, port=4248, ready=lambda _endpoint: False, sdk_env={}, timeout=0.5)
    assert time.monotonic() - started < 10
    assert caught.value.retryable
    assert _wait_dead(int(pid_file.read_text()))


_STARTER = textwrap.dedent(
    """
    import sys, threading, time
    from pathlib import Path
    from omnicloud.sandbox._process import launch

    pid_file, outlive = Path(sys.argv[1]), sys.argv[2] == "outlive"
    started = []

    def start():
        command = ["sh", "-c", 'echo $$ > "$1"; exec sleep 300', "sh", str(pid_file), "4251"]
        ready = lambda _endpoint: pid_file.exists() and pid_file.read_text().strip() != ""
        started.append(launch("gcs", command, port=4251, ready=ready, sdk_env={}, outlive_caller=outlive))

    # From a thread that has ended by the time this process is killed, as `Sandbox.up` starts them.
    thread = threading.Thread(target=start)
    thread.start()
    thread.join()
    print(started[0].pid, flush=True)
    time.sleep(300)
    """
)


def _killed_starter(tmp_path: Path, mode: str) -> tuple[int, int]:
    """Start an emulator stand-in from another process, SIGKILL that process: (its watchdog or
    itself, the stand-in's own PID)."""
    pid_file = tmp_path / "emulator.pid"
    starter = subprocess.Popen(
        [sys.executable, "-c", _STARTER, str(pid_file), mode],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    assert starter.stdout is not None
    try:
        launched = int(starter.stdout.readline())
        emulator = int(pid_file.read_text())
        time.sleep(0.3)  # the thread that started it has ended; the emulator must still run
        assert pid_is_alive(launched) and pid_is_alive(emulator)
    finally:
        starter.kill()
        starter.wait(timeout=5)
        starter.stdout.close()
    return launched, emulator


def test_an_emulator_ends_with_the_process_that_started_it_even_one_killed(tmp_path: Path) -> None:
    watchdog, emulator = _killed_starter(tmp_path, "tied")
    assert watchdog != emulator
    assert _wait_dead(emulator, timeout=10)
    assert _wait_dead(watchdog, timeout=10)


def test_an_emulator_started_to_outlive_its_caller_does(tmp_path: Path) -> None:
    launched, emulator = _killed_starter(tmp_path, "outlive")
    try:
        assert launched == emulator  # no watchdog
        time.sleep(0.5)
        assert pid_is_alive(emulator)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(emulator, signal.SIGKILL)
    assert _wait_dead(emulator)


# --- the sandbox state file ---------------------------------------------------------------------


def test_sandbox_stops_emulators_recorded_by_another_process(tmp_path: Path, spawn_detached: Spawn) -> None:
    state = tmp_path / "state.json"
    # `& wait` keeps sh itself alive (a shell may otherwise exec sleep and lose the "4249" argument).
    worker = spawn_detached("sleep 300 & wait", "4249")
    state.write_text(
        json.dumps(
            {
                "version": 1,
                "emulators": [
                    {"name": "moto", "pid": worker.pid, "port": 4249, "endpoint": "http://127.0.0.1:4249"}
                ],
            }
        )
    )
    sandbox = Sandbox(state)

    [status] = sandbox.status()
    assert status.running, _described(worker)
    assert status.emulator.pid == worker.pid
    assert sandbox.env()["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4249"

    stopped = sandbox.down()

    assert [emulator.pid for emulator in stopped] == [worker.pid]
    worker.wait(timeout=5)
    assert not state.exists()
    assert sandbox.status() == []
    assert sandbox.env() == {}


def test_sandbox_with_only_dead_emulators_reports_them_and_down_forgets_them(
    tmp_path: Path, spawn_detached: Spawn
) -> None:
    gone = spawn_detached("exit 0", "4250")
    gone.wait(timeout=5)
    state = tmp_path / "state.json"
    record = {"name": "gcs", "pid": gone.pid, "port": 4250, "endpoint": "http://127.0.0.1:4250"}
    state.write_text(json.dumps({"version": 1, "emulators": [record]}))
    sandbox = Sandbox(state)

    assert [status.running for status in sandbox.status()] == [False]
    assert sandbox.emulators() == []
    assert sandbox.down() == []
    assert not state.exists()


def test_sandbox_rejects_a_corrupt_state_file_and_names_it(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_text("{not json")
    with pytest.raises(ConfigError, match=r"state\.json is not valid.*delete it"):
        Sandbox(state).status()


def test_sandbox_up_is_all_or_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OMNICLOUD_AZURITE", str(tmp_path / "missing"))
    sandbox = Sandbox(tmp_path / "state.json")
    children_before = set(_live_children())
    with pytest.raises(ConfigError, match="OMNICLOUD_AZURITE"):
        sandbox.up(["gcs", "azurite"])
    assert not sandbox.state_path.exists()
    # gcs may have started in parallel before Azurite failed; it must be gone again.
    assert set(_live_children()) <= children_before


@pytest.mark.emulator
def test_sandbox_up_reuses_running_emulators_and_down_stops_them(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    children_before = set(_live_children())
    first = Sandbox(state)
    try:
        [gcs] = first.up(["gcs"])
        # Another Sandbox (as in another process) sees the same emulator and does not start a second.
        [again] = Sandbox(state).up(["gcs"])
        assert again.pid == gcs.pid
        assert b"storage#buckets" in http_request(f"{gcs.endpoint}/storage/v1/b?project=p")
        assert [record["name"] for record in json.loads(state.read_text())["emulators"]] == ["gcs"]
    finally:
        stopped = first.down()
    assert [emulator.pid for emulator in stopped] == [gcs.pid]
    assert not pid_is_alive(gcs.pid)
    assert set(_live_children()) <= children_before


# --- the session fixtures and the reset helpers -------------------------------------------------


def test_moto_reset_forgets_every_bucket(moto_server: Emulator) -> None:
    import boto3

    s3 = boto3.client(
        "s3",
        endpoint_url=moto_server.endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3.create_bucket(Bucket="sandbox-reset-check")
    assert "sandbox-reset-check" in [b["Name"] for b in s3.list_buckets()["Buckets"]]

    reset_moto(moto_server)

    assert s3.list_buckets()["Buckets"] == []


def test_gcs_wipe_drops_every_bucket(gcs_emulator: Emulator) -> None:
    import urllib.request

    bucket_list = f"{gcs_emulator.endpoint}/storage/v1/b?project=omnicloud-sandbox"
    create = urllib.request.Request(
        bucket_list,
        data=json.dumps({"name": "sandbox-wipe-check"}).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    urllib.request.build_opener(urllib.request.ProxyHandler({})).open(create, timeout=10).read()
    assert "sandbox-wipe-check" in http_request(bucket_list).decode()

    reset_gcs(gcs_emulator)

    assert "sandbox-wipe-check" not in http_request(bucket_list).decode()


def test_azurite_fixture_answers_as_the_blob_service(azurite: Emulator) -> None:
    import urllib.error

    with pytest.raises(urllib.error.HTTPError) as caught:
        http_request(f"{azurite.endpoint}/devstoreaccount1?comp=list")
    # Unsigned requests are refused by the Blob service itself, which proves it is Azurite answering.
    assert caught.value.code == 403
    assert caught.value.headers["Server"].startswith("Azurite-Blob")


def test_fixtures_give_each_worker_distinct_live_emulators(
    moto_server: Emulator, azurite: Emulator, gcs_emulator: Emulator
) -> None:
    emulators = [moto_server, azurite, gcs_emulator]
    assert len({emulator.port for emulator in emulators}) == 3
    assert all(emulator.is_running() for emulator in emulators)
    assert all(emulator.host == "127.0.0.1" for emulator in emulators)


def test_sandbox_env_sets_every_emulator_variable_for_one_test(sandbox_env: dict[str, str]) -> None:
    for name in ("AWS_ENDPOINT_URL", "AZURE_STORAGE_CONNECTION_STRING", "STORAGE_EMULATOR_HOST"):
        assert os.environ[name] == sandbox_env[name]


def test_session_fixtures_do_not_point_the_process_environment_at_the_emulators(
    moto_server: Emulator, gcs_emulator: Emulator
) -> None:
    assert os.environ.get("AWS_ENDPOINT_URL") != moto_server.endpoint
    assert os.environ.get("STORAGE_EMULATOR_HOST") != gcs_emulator.endpoint
