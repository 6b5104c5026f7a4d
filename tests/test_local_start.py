"""Starting the emulator: the port asked for or a free one, refused when taken, the one moto
really listens on recorded; a fresh log per start; one emulator per folder under concurrent
starts. Real moto servers, real sockets holding ports, real threads and processes."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import shared.local_emulator as local_emulator
from shared.local.lock import FolderBusy
from shared.local.ports import parse_port
from shared.local.process import listens_on
from shared.local_emulator import (
    HOST,
    NOT_ANSWERING,
    RUNNING,
    STALE,
    EmulatorError,
    EmulatorFailed,
    EmulatorInfo,
    EmulatorStatus,
    LocalEmulator,
    StopReport,
    answers,
    free_port,
)

REPO = Path(__file__).resolve().parent.parent
ALLOWED = "give a whole number from 1 to 65535, or 0 (or no flag) for any free port"


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[LocalEmulator]:
    local = LocalEmulator(tmp_path / "local")
    yield local
    local.stop()


@pytest.fixture
def held_port() -> Iterator[int]:
    """A port another program holds: a real listening socket on 127.0.0.1."""
    with socket.socket() as holder:
        holder.bind((HOST, 0))
        holder.listen()
        yield int(holder.getsockname()[1])


def emulators_serving(root: Path) -> list[int]:
    """Pids of moto servers running in ``root``, read from /proc, whatever the pid file says."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            words = (entry / "cmdline").read_bytes().split(b"\0")
            cwd = os.readlink(entry / "cwd")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if b"moto.server" in words and cwd == str(root.resolve()) and state != "Z":
            found.append(int(entry.name))
    return found


# -- the port asked for ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("abc", "is not a port"),
        ("-5", "is not a port"),
        ("1.5", "is not a port"),
        ("99999", "is out of range"),
        ("65536", "is out of range"),
        (99999, "is out of range"),
        (-5, "is out of range"),
        (True, "is not a port"),
    ],
)
def test_a_bad_port_is_refused_naming_the_flag_the_value_and_what_is_allowed(
    value: object, problem: str
) -> None:
    with pytest.raises(EmulatorError) as raised:
        parse_port(value, "--port")
    assert str(raised.value) == f"--port {value!r} {problem}: {ALLOWED}"
    assert raised.value.exit_code == 2


@pytest.mark.parametrize(
    ("value", "port"), [("8080", 8080), (" 1 ", 1), ("65535", 65535), (0, 0), (None, 0), ("", 0)]
)
def test_a_good_port_is_its_number_and_nothing_means_any(value: object, port: int) -> None:
    assert parse_port(value) == port


def test_an_out_of_range_port_is_refused_before_moto_starts(emulator: LocalEmulator) -> None:
    with pytest.raises(EmulatorError, match="port 99999 is out of range"):
        emulator.start(99999)
    assert not emulator.log_file.exists()
    assert emulators_serving(emulator.root) == []


def test_the_port_asked_for_is_the_one_moto_listens_on_and_is_recorded(
    emulator: LocalEmulator,
) -> None:
    port = free_port()
    info = emulator.start(port)
    assert info.port == port
    assert json.loads(emulator.info_file.read_text())["port"] == port
    assert listens_on(info.pid, port) is True  # the child itself holds the socket
    assert answers(f"http://{HOST}:{port}")
    assert emulators_serving(emulator.root) == [info.pid]


def test_a_child_that_loses_its_port_is_reported_with_this_starts_log_only(
    emulator: LocalEmulator, held_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The port was free when probed, then taken before moto bound it (simulated by skipping
    the probe): moto dies with "Address already in use", and the error says so."""
    emulator.root.mkdir(parents=True)
    emulator.log_file.write_text("Traceback from an earlier start: STALE-SENTINEL\n")
    monkeypatch.setattr(local_emulator, "port_problem", lambda port: None)
    with pytest.raises(EmulatorError) as raised:
        emulator.start(held_port)
    message = str(raised.value)
    assert message.startswith(
        f"port {held_port} is not free: the emulator could not listen on 127.0.0.1:{held_port}"
    )
    assert "Address already in use" in message
    assert "STALE-SENTINEL" not in message
    assert raised.value.exit_code == 2
    assert "STALE-SENTINEL" in emulator.previous_log_file.read_text()
    assert not emulator.info_file.exists()
    assert emulators_serving(emulator.root) == []


def test_an_emulator_that_dies_on_start_is_a_failure_quoting_this_starts_log(
    emulator: LocalEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator.root.mkdir(parents=True)
    emulator.log_file.write_text("Traceback from an earlier start: STALE-SENTINEL\n")
    crashing = [sys.executable, "-c", "print('boom from this start'); raise SystemExit(3)"]
    monkeypatch.setattr(local_emulator, "emulator_command", lambda port, token: crashing)
    port = free_port()
    with pytest.raises(EmulatorFailed) as raised:
        emulator.start(port)
    assert str(raised.value) == (
        f"the local emulator exited with code 3 before answering on http://127.0.0.1:{port}; "
        f"last lines of {emulator.log_file} (this start only):\nboom from this start"
    )
    assert raised.value.exit_code == 1
    assert not emulator.info_file.exists()


def test_a_port_answered_by_another_moto_is_not_taken_for_ours(
    emulator: LocalEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another folder's emulator answers /moto-api/ on the port: our child's start still
    fails, because the answering process is not our child."""
    other = LocalEmulator(tmp_path / "other")
    try:
        theirs = other.start()
        monkeypatch.setattr(local_emulator, "port_problem", lambda port: None)
        with pytest.raises(EmulatorError, match=f"port {theirs.port} is not free"):
            emulator.start(theirs.port)
        assert other.running() == theirs
        assert emulators_serving(emulator.root) == []
    finally:
        other.stop()


@pytest.mark.parametrize("probe", ["real probe", "probe fooled"])
def test_an_automatic_port_that_is_taken_is_replaced_by_another(
    emulator: LocalEmulator, held_port: int, monkeypatch: pytest.MonkeyPatch, probe: str
) -> None:
    ports = iter([held_port, free_port()])
    monkeypatch.setattr(local_emulator, "free_port", lambda: next(ports))
    if probe == "probe fooled":  # the child itself meets the taken port and dies
        monkeypatch.setattr(local_emulator, "port_problem", lambda port: None)
    info = emulator.start()
    assert info.port != held_port
    assert listens_on(info.pid, info.port) is True
    assert emulators_serving(emulator.root) == [info.pid]


def test_each_start_writes_a_fresh_log_and_keeps_the_one_before(emulator: LocalEmulator) -> None:
    emulator.root.mkdir(parents=True)
    emulator.log_file.write_text("STALE-SENTINEL\n")
    emulator.start()
    assert "STALE-SENTINEL" not in emulator.log_file.read_text()
    assert emulator.previous_log_file.read_text() == "STALE-SENTINEL\n"


def test_asking_for_another_port_than_the_running_one_is_refused(
    emulator: LocalEmulator,
) -> None:
    info, _ = emulator.ensure_running()
    other = free_port()
    with pytest.raises(EmulatorError) as raised:
        emulator.ensure_running(other)
    assert str(raised.value) == (
        f"port {other} was asked for, but the local emulator already runs on port {info.port} "
        f"({info.endpoint}); use that, or `invoke local.stop` first"
    )
    assert emulator.ensure_running(info.port) == (info, False)


# -- an emulator that is ours but silent ------------------------------------------------------


def test_our_emulator_that_stops_answering_is_reported_and_stop_still_stops_it(
    emulator: LocalEmulator,
) -> None:
    info = emulator.start()
    os.kill(info.pid, signal.SIGSTOP)  # our own child: frozen, it cannot answer
    try:
        silent = f"pid {info.pid} is this folder's emulator but does not answer on {info.endpoint}"
        assert emulator.status() == EmulatorStatus(NOT_ANSWERING, info, silent)
        with pytest.raises(EmulatorFailed) as raised:
            emulator.ensure_running()
        assert str(raised.value) == (
            f"{silent}; `invoke local.stop` stops it (and discards the local state), then "
            "start again"
        )
        assert raised.value.exit_code == 1
    finally:
        os.kill(info.pid, signal.SIGCONT)
    assert emulator.stop() == StopReport(stopped=info)
    assert emulators_serving(emulator.root) == []


def test_status_reports_a_stale_pid_file_and_leaves_it(emulator: LocalEmulator) -> None:
    emulator.root.mkdir(parents=True)
    emulator.info_file.write_text('{"pid": 0, "port": 4599}')
    found = emulator.status()
    assert found.state == STALE
    assert found.detail == "pid 0 is not our emulator: local mode records pids from 2 to 2147483647"
    assert emulator.info_file.exists()


# -- one emulator per folder ------------------------------------------------------------------


def test_concurrent_starts_in_threads_share_one_emulator(tmp_path: Path) -> None:
    root = tmp_path / "local"
    barrier = threading.Barrier(4)
    results: list[tuple[EmulatorInfo, bool]] = []
    errors: list[BaseException] = []

    def start() -> None:
        barrier.wait()
        try:
            results.append(LocalEmulator(root).ensure_running())
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=start) for _ in range(4)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert len({info for info, _ in results}) == 1
        assert sorted(started for _, started in results) == [False, False, False, True]
        assert emulators_serving(root) == [results[0][0].pid]
    finally:
        LocalEmulator(root).stop()
    assert emulators_serving(root) == []


def test_concurrent_local_start_tasks_share_one_emulator(tmp_path: Path) -> None:
    root = tmp_path / "local"
    env = {**os.environ, "RAWDATA_LOCAL_DIR": str(root)}
    command = [sys.executable, "-m", "invoke", "local.start"]
    runs = [
        subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    try:
        outputs = sorted(run.communicate()[0] for run in runs)
        assert [run.returncode for run in runs] == [0, 0]
        info = LocalEmulator(root).running()
        assert info is not None
        line = f"on {info.endpoint} (pid {info.pid}); files: {root}\n"
        assert outputs == [
            f"local emulator already running {line}",
            f"local emulator started {line}",
        ]
        assert emulators_serving(root) == [info.pid]
    finally:
        LocalEmulator(root).stop()
    assert emulators_serving(root) == []


def test_waiting_for_a_locked_folder_is_bounded_and_names_the_lock(tmp_path: Path) -> None:
    root = tmp_path / "local"
    root.mkdir()
    lock_file = root / "emulator.lock"
    with lock_file.open("a+") as holder:
        fcntl.flock(holder, fcntl.LOCK_EX)
        holder.write("pid 4242 (invoke deploy --env dev --local)\n")
        holder.flush()
        impatient = LocalEmulator(root, lock_timeout=0.2)
        for action in (impatient.ensure_running, impatient.stop, impatient.status):
            with pytest.raises(FolderBusy) as raised:
                action()
            assert str(raised.value) == (
                f"{lock_file} is still locked by pid 4242 (invoke deploy --env dev --local) "
                "after 0s (starting or stopping the local emulator); try again when it is done, "
                "`invoke local.status` says what runs"
            )
            assert raised.value.exit_code == 1
    assert emulators_serving(root) == []


def test_the_emulator_does_not_inherit_the_folder_lock(emulator: LocalEmulator) -> None:
    """Otherwise the lock would be held for as long as the emulator runs."""
    info = emulator.start()
    assert emulator.status() == EmulatorStatus(RUNNING, info)
    with emulator.lock_file.open("a+") as probe:
        fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises if anyone still holds it
        fcntl.flock(probe, fcntl.LOCK_UN)
