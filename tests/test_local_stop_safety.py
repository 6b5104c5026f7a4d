"""`stop` signals nothing but this folder's own, verified emulator: real processes (a real moto
server, a real `sleep` standing in for a stranger), each test in its own temp local folder.

Pids -1, 0 and 1 are never actually signalled here: ``os.kill``, ``os.killpg`` and
``signal.pidfd_send_signal`` are replaced by recorders, and the tests assert no call was made.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.local import process as local_process
from shared.local_emulator import EmulatorError, LocalEmulator, StopReport, answers


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[LocalEmulator]:
    local = LocalEmulator(tmp_path / "local")
    yield local
    local.stop()


def spawned(command: list[str]) -> subprocess.Popen[bytes]:
    """``command`` started, once its command line shows (right after a vfork, /proc can
    still show an empty one)."""
    child = subprocess.Popen(command)
    deadline = time.monotonic() + 10
    cmdline = Path(f"/proc/{child.pid}/cmdline")
    while cmdline.read_bytes().split(b"\0")[:-1] != [c.encode() for c in command]:
        assert time.monotonic() < deadline, f"{command} did not start"
        time.sleep(0.01)
    return child


@pytest.fixture
def stranger() -> Iterator[subprocess.Popen[bytes]]:
    """A harmless process that is not the emulator: it must survive every test."""
    child = spawned(["sleep", "60"])
    yield child
    child.kill()
    child.wait()


@pytest.fixture
def signals(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any, Any]]:
    """Every signal sent, recorded instead of sent."""
    sent: list[tuple[str, Any, Any]] = []

    def recorder(name: str) -> Any:
        return lambda target, signum: sent.append((name, target, signum))

    monkeypatch.setattr(os, "kill", recorder("kill"))
    monkeypatch.setattr(os, "killpg", recorder("killpg"))
    monkeypatch.setattr(signal, "pidfd_send_signal", recorder("pidfd_send_signal"))
    return sent


def alive(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


def write_pid_file(local: LocalEmulator, record: object) -> None:
    local.root.mkdir(parents=True, exist_ok=True)
    local.info_file.write_text(record if isinstance(record, str) else json.dumps(record))


def valid_looking(local: LocalEmulator, pid: object, port: object = 4599) -> dict[str, object]:
    return {"pid": pid, "port": port, "token": "0" * 32, "root": str(local.root.resolve())}


@pytest.mark.parametrize("pid", [-1, 0, 1])
def test_pid_minus_one_zero_or_init_is_stale_and_never_signalled(
    emulator: LocalEmulator, signals: list[tuple[str, Any, Any]], pid: int
) -> None:
    write_pid_file(emulator, valid_looking(emulator, pid))
    emulator.state_dir.mkdir()
    report = emulator.stop()
    assert signals == []
    assert report == StopReport(
        stale=f"stale pid file {emulator.info_file} (pid {pid} is not our emulator: local mode "
        "records pids from 2 to 2147483647): removed"
    )
    assert not emulator.info_file.exists()
    assert not emulator.state_dir.exists()


@pytest.mark.parametrize(
    "record",
    [
        {"pid": 2**64, "port": 4599},
        {"pid": 10**30, "port": 4599, "token": "a", "root": "/"},
        {"pid": "123", "port": 4599},
        {"pid": 12.0, "port": 4599},
        {"pid": True, "port": 4599},
        {"pid": None, "port": 4599},
        {"port": 4599},
        [1, 2],
        "not json",
        "[" * 100_000,
        "",
    ],
    ids=lambda record: repr(record)[:30],
)
def test_a_malformed_pid_file_is_stale_not_a_traceback(
    emulator: LocalEmulator, signals: list[tuple[str, Any, Any]], record: object
) -> None:
    write_pid_file(emulator, record)
    report = emulator.stop()
    assert signals == []
    assert report.stopped is None
    assert report.stale is not None
    assert report.stale.startswith(f"stale pid file {emulator.info_file} (")
    assert report.stale.endswith("): removed")
    assert not emulator.info_file.exists()


@pytest.mark.parametrize("port", [0, -5, 99999, "4599", None])
def test_a_bad_port_in_the_pid_file_is_stale(
    emulator: LocalEmulator, stranger: subprocess.Popen[bytes], port: object
) -> None:
    write_pid_file(emulator, valid_looking(emulator, stranger.pid, port))
    report = emulator.stop()
    assert report.stale == (
        f"stale pid file {emulator.info_file} (pid {stranger.pid} is not our emulator: port "
        f"{port!r} is not from 1 to 65535): removed"
    )
    assert alive(stranger.pid)


def test_a_stranger_in_the_pid_file_is_left_alone(
    emulator: LocalEmulator, stranger: subprocess.Popen[bytes]
) -> None:
    write_pid_file(emulator, valid_looking(emulator, stranger.pid))
    report = emulator.stop()
    assert report.stopped is None
    assert report.stale == (
        f"stale pid file {emulator.info_file} (pid {stranger.pid} is not our emulator: its "
        "command line is 'sleep 60', not moto's server on port 4599 with this folder's "
        "marker): removed"
    )
    assert alive(stranger.pid)
    assert not emulator.info_file.exists()


def test_a_process_that_merely_looks_like_moto_on_the_port_is_left_alone(
    emulator: LocalEmulator,
) -> None:
    lookalike = spawned(
        [sys.executable, "-c", "import time; time.sleep(60)", "moto.server", "-p", "4599"]
    )
    try:
        write_pid_file(emulator, valid_looking(emulator, lookalike.pid))
        report = emulator.stop()
        assert report.stopped is None
        assert report.stale is not None
        assert f"pid {lookalike.pid} is not our emulator: its command line is" in report.stale
        assert alive(lookalike.pid)
    finally:
        lookalike.kill()
        lookalike.wait()


def test_an_old_pid_file_without_the_marker_never_stops_a_moto_server(
    tmp_path: Path,
) -> None:
    """The pid file of an older version ({pid, port}) pointing at a real emulator: it may be
    anyone's, so it is stale and that emulator keeps running."""
    other = LocalEmulator(tmp_path / "other")
    mine = LocalEmulator(tmp_path / "mine")
    try:
        info = other.start()
        write_pid_file(mine, {"pid": info.pid, "port": info.port})
        report = mine.stop()
        assert report.stale == (
            f"stale pid file {mine.info_file} (pid {info.pid} is not our emulator: the file has "
            "no marker token): removed"
        )
        assert alive(info.pid)
        assert answers(info.endpoint)
    finally:
        other.stop()


def test_another_folders_emulator_is_never_stopped_from_this_folder(tmp_path: Path) -> None:
    other = LocalEmulator(tmp_path / "other")
    mine = LocalEmulator(tmp_path / "mine")
    try:
        info = other.start()
        copied = json.loads(other.info_file.read_text())
        write_pid_file(mine, copied)  # copied verbatim: written for the other folder
        report = mine.stop()
        assert report.stale == (
            f"stale pid file {mine.info_file} (pid {info.pid} is not our emulator: the file was "
            f"written for {other.root.resolve()}): removed"
        )
        write_pid_file(mine, {**copied, "root": str(mine.root.resolve())})  # edited to match
        report = mine.stop()
        assert report.stale == (
            f"stale pid file {mine.info_file} (pid {info.pid} is not our emulator: it runs in "
            f"{other.root.resolve()}, not {mine.root.resolve()}): removed"
        )
        assert alive(info.pid)
        assert answers(info.endpoint)
        assert other.running() == info
    finally:
        other.stop()


def start_with_invoke(local: LocalEmulator) -> str:
    """`invoke local.start` in its own process, which exits: the emulator is not our child."""
    return subprocess.run(
        [sys.executable, "-m", "invoke", "local.start"],
        cwd=Path(__file__).resolve().parent.parent,
        env={**os.environ, "RAWDATA_LOCAL_DIR": str(local.root)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_an_emulator_started_by_another_process_is_stopped(emulator: LocalEmulator) -> None:
    """The usual case: `invoke local.start` exited long ago; `local.stop` finds and stops its
    emulator (through a pidfd on Linux)."""
    started = start_with_invoke(emulator)
    info = emulator.running()
    assert info is not None
    assert f"local emulator started on {info.endpoint} (pid {info.pid})" in started
    assert emulator.stop() == StopReport(stopped=info)
    assert not alive(info.pid)
    assert not answers(info.endpoint)


# -- without /proc (macOS): `ps` and `lsof` --------------------------------------------------


@pytest.fixture
def no_proc(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(local_process, "PROC", tmp_path / "no-proc")


def test_without_proc_a_stranger_is_recognised_with_ps_and_left_alone(
    emulator: LocalEmulator, stranger: subprocess.Popen[bytes], no_proc: None
) -> None:
    write_pid_file(emulator, valid_looking(emulator, stranger.pid))
    report = emulator.stop()
    assert report.stale is not None
    assert f"pid {stranger.pid} is not our emulator: its command line is 'sleep 60'" in (
        report.stale
    )
    assert alive(stranger.pid)


def test_without_proc_or_pidfd_our_emulator_is_verified_with_ps_and_stopped(
    emulator: LocalEmulator, no_proc: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delattr(os, "pidfd_open", raising=False)
    start_with_invoke(emulator)
    info = emulator.running()  # ps for the command line, lsof for the listening socket
    assert info is not None
    assert emulator.stop() == StopReport(stopped=info)
    assert not alive(info.pid)


def test_a_process_that_cannot_be_identified_is_refused_not_signalled(
    emulator: LocalEmulator,
    stranger: subprocess.Popen[bytes],
    no_proc: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no ps
    write_pid_file(emulator, valid_looking(emulator, stranger.pid))
    with pytest.raises(EmulatorError) as raised:
        emulator.stop()
    assert str(raised.value) == (
        f"cannot tell whether pid {stranger.pid} in {emulator.info_file} is the local emulator "
        "(there is no /proc and no `ps` on PATH); nothing was signalled and the pid file is "
        f"kept: stop that process yourself if it is moto's server, then delete "
        f"{emulator.info_file}"
    )
    assert raised.value.exit_code == 2
    assert alive(stranger.pid)
    assert emulator.info_file.exists()
