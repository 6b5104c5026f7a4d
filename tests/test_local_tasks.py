"""The three local tasks as a user runs them: bad input is one message and exit 2, never a
traceback; `local.status` tells running, not running and stale apart. Real `invoke` processes
where the command line itself matters, each with its own temp local folder."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from invoke import Exit, MockContext

import tasks
from shared.local import process as local_process
from shared.local_emulator import HOST, LOCAL_DIR_VARIABLE, LocalEmulator

REPO = Path(__file__).resolve().parent.parent
ALLOWED = "give a whole number from 1 to 65535, or 0 (or no flag) for any free port"


def invoke(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=REPO,
        env={**os.environ, LOCAL_DIR_VARIABLE: str(root)},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A temp local folder, for invoke processes and for tasks called here; nothing is left
    running in it afterwards."""
    folder = tmp_path / "local"
    monkeypatch.setenv(LOCAL_DIR_VARIABLE, str(folder))
    yield folder
    LocalEmulator(folder).stop()


@pytest.mark.parametrize(
    ("value", "problem"),
    [("abc", "is not a port"), ("99999", "is out of range"), ("-5", "is not a port")],
)
def test_local_start_with_a_bad_port_is_a_message_and_exit_2(
    root: Path, value: str, problem: str
) -> None:
    result = invoke(root, "local.start", "--port", value)
    assert result.returncode == 2
    assert result.stderr == f"error: --port {value!r} {problem}: {ALLOWED}\n"
    assert result.stdout == ""
    assert not (root / "emulator.json").exists()


def test_local_start_on_a_port_held_by_another_program_is_exit_2(root: Path) -> None:
    with socket.socket() as holder:
        holder.bind((HOST, 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = invoke(root, "local.start", "--port", str(port))
    assert result.returncode == 2
    assert result.stderr.startswith(
        f"error: port {port} is not free: 127.0.0.1:{port} is already in use"
    )
    assert "Traceback" not in result.stderr
    assert "local emulator started" not in result.stdout


@pytest.mark.parametrize(
    ("record", "detail"),
    [
        ({"pid": 2**70, "port": 4599}, f"pid {2**70} is not our emulator: local mode records pids"),
        ({"pid": "abc", "port": 4599}, "pid 'abc' is not our emulator: local mode records pids"),
        ("{not json", "it is not valid JSON"),
    ],
    ids=["huge pid", "text pid", "not json"],
)
def test_local_stop_with_a_bad_pid_file_reports_it_stale_and_removes_it(
    root: Path, record: object, detail: str
) -> None:
    root.mkdir()
    pid_file = root / "emulator.json"
    pid_file.write_text(record if isinstance(record, str) else json.dumps(record))
    result = invoke(root, "local.stop")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    stale, stopped = result.stdout.splitlines()
    assert stale.startswith(f"stale pid file {pid_file} ({detail}")
    assert stale.endswith("): removed")
    assert stopped == f"local emulator was not running; local state discarded ({root})"
    assert not pid_file.exists()


def test_local_start_with_an_invalid_port_called_directly_exits_2(root: Path) -> None:
    with pytest.raises(Exit) as raised:
        tasks.local_start(MockContext(), port="abc")
    assert raised.value.code == 2
    assert raised.value.message == f"error: --port 'abc' is not a port: {ALLOWED}"


def test_local_status_says_not_running_stale_and_running(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tasks.local_status(MockContext())
    assert capsys.readouterr().out == "not running\n"

    root.mkdir()
    (root / "emulator.json").write_text('{"pid": -1, "port": 4599}')
    tasks.local_status(MockContext())
    assert capsys.readouterr().out == (
        f"stale pid file {root / 'emulator.json'} (pid -1 is not our emulator: local mode "
        "records pids from 2 to 2147483647); `invoke local.stop` removes it\n"
    )
    assert (root / "emulator.json").exists()  # status changes nothing

    tasks.local_start(MockContext())
    info = LocalEmulator(root).running()
    assert info is not None
    assert capsys.readouterr().out == (
        f"local emulator started on {info.endpoint} (pid {info.pid}); files: {root}\n"
    )
    tasks.local_status(MockContext())
    assert capsys.readouterr().out == (
        f"running on {info.endpoint} (pid {info.pid}); files: {root}\n"
    )
    tasks.local_stop(MockContext())
    assert capsys.readouterr().out == f"local emulator stopped; local state discarded ({root})\n"
    tasks.local_status(MockContext())
    assert capsys.readouterr().out == "not running\n"


def test_local_stop_refuses_a_process_it_cannot_identify_with_exit_2(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        root.mkdir()
        record = {"pid": sleeper.pid, "port": 4599, "token": "f" * 32, "root": str(root)}
        (root / "emulator.json").write_text(json.dumps(record))
        monkeypatch.setattr(local_process, "PROC", tmp_path / "no-proc")
        monkeypatch.setenv("PATH", str(tmp_path / "empty"))
        with pytest.raises(Exit) as raised:
            tasks.local_stop(MockContext())
        assert raised.value.code == 2
        assert raised.value.message.startswith(
            f"error: cannot tell whether pid {sleeper.pid} in {root / 'emulator.json'} is the "
            "local emulator (there is no /proc and no `ps` on PATH); nothing was signalled"
        )
        assert sleeper.poll() is None
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_local_folder_that_is_a_file_is_a_message_and_exit_2(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "local"
    not_a_folder.write_text("")
    result = invoke(not_a_folder, "local.start")
    assert result.returncode == 2
    assert result.stderr == (
        f"error: local folder {not_a_folder} is not a folder (File exists); set "
        "RAWDATA_LOCAL_DIR to a folder you can write\n"
    )
