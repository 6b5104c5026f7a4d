"""Which process is the local emulator, and how to stop it without ever signalling another.

The pid file is a claim, not a fact: its process may have died and the pid been reused, or
the file was edited, copied from another folder, written by an older version. A pid is
signalled only when all of this holds:

- the pid file is well formed: a pid from 2 to 2**31 - 1, a port from 1 to 65535, the marker
  token and the local folder it was written for (this one);
- the process exists, is not a zombie, and is not this process or its parent;
- its command line is moto's server on the recorded port, carrying the marker token
  (``python -X rawdata_local_emulator=<token> -m moto.server -H 127.0.0.1 -p <port>``; ``-X``
  options are CPython's documented place for such values: moto never sees it). Read from
  ``/proc/<pid>/cmdline``, or ``ps -ww -o stat= -o command= -p <pid>`` where there is no
  /proc (macOS);
- where ``/proc/<pid>/cwd`` is readable, it is the local folder (the emulator runs there).

Where the command line cannot be read at all, ``UnverifiableProcess`` is raised: the caller
refuses to signal. Signals go through a pinned handle: the ``subprocess.Popen`` object of a
child this process started, or a pidfd (Linux), so a pid reused between the check and the
signal is never hit; elsewhere the checks are repeated right before every signal. Only the
verified pid is signalled, never a process group: moto's server runs in one process.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.local.ports import HOST, MAX_PORT

PROC = Path("/proc")
MARKER_OPTION = "rawdata_local_emulator"
MIN_PID = 2  # 0 is "my process group", -1 "every process", 1 init: never the emulator
MAX_PID = 2**31 - 1  # pid_t; beyond it os.kill raises OverflowError
_PS_TIMEOUT_SECONDS = 5.0
_POLL_SECONDS = 0.1


class UnverifiableProcess(Exception):
    """Whether a pid is the emulator cannot be established here; never signal it."""


@dataclass(frozen=True)
class EmulatorRecord:
    """What the pid file says: the process, its port, its marker and the folder it serves."""

    pid: int
    port: int
    token: str
    root: str

    def as_json(self) -> dict[str, Any]:
        return {"pid": self.pid, "port": self.port, "token": self.token, "root": self.root}

    @classmethod
    def from_json(cls, data: object) -> EmulatorRecord:
        """The record, or ``ValueError`` saying what is wrong with it (a stale pid file)."""
        if not isinstance(data, dict):
            raise ValueError("it is not a JSON object")
        pid, port = data.get("pid"), data.get("port")
        token, root = data.get("token"), data.get("root")
        if type(pid) is not int or not MIN_PID <= pid <= MAX_PID:
            raise ValueError(
                f"pid {pid!r} is not our emulator: local mode records pids from {MIN_PID} "
                f"to {MAX_PID}"
            )
        if type(port) is not int or not 1 <= port <= MAX_PORT:
            raise ValueError(
                f"pid {pid} is not our emulator: port {port!r} is not from 1 to {MAX_PORT}"
            )
        if not isinstance(token, str) or not token.isalnum():
            raise ValueError(f"pid {pid} is not our emulator: the file has no marker token")
        if not isinstance(root, str) or not root:
            raise ValueError(f"pid {pid} is not our emulator: the file names no local folder")
        return cls(pid=pid, port=port, token=token, root=root)


def marker(token: str) -> str:
    return f"{MARKER_OPTION}={token}"


def emulator_command(port: int, token: str) -> list[str]:
    """moto's server on ``HOST:port`` exactly, carrying ``token`` so it can be recognised."""
    return [sys.executable, "-X", marker(token), "-m", "moto.server", "-H", HOST, "-p", str(port)]


def _adjacent(words: list[str], first: str, second: str) -> bool:
    return any(a == first and b == second for a, b in itertools.pairwise(words))


def is_emulator_command(words: list[str], port: int, token: str) -> bool:
    return (
        "moto.server" in words
        and _adjacent(words, "-p", str(port))
        and _adjacent(words, "-X", marker(token))
    )


@dataclass(frozen=True)
class _Seen:
    """One look at a process: None when it does not exist."""

    zombie: bool
    thread_group: int | None
    words: list[str]
    cwd: str | None


def _look_in_proc(pid: int) -> _Seen | None:
    folder = PROC / str(pid)
    try:
        status = (folder / "status").read_text(errors="replace")
        raw = (folder / "cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return None
    except OSError as error:
        raise UnverifiableProcess(f"cannot read {folder}: {error.strerror or error}") from None
    fields = dict(
        line.split(":", 1) for line in status.splitlines() if ":" in line
    )  # "State:\tS (sleeping)", "Tgid:\t123"
    state = fields.get("State", "").strip()[:1]
    tgid = fields.get("Tgid", "").strip()
    cwd = None
    with contextlib.suppress(OSError):
        cwd = os.readlink(folder / "cwd")
    return _Seen(
        zombie=state in ("Z", "X"),
        thread_group=int(tgid) if tgid.isdigit() else None,
        words=raw.decode(errors="replace").split("\0")[:-1],
        cwd=cwd,
    )


def _look_with_ps(pid: int) -> _Seen | None:
    ps = shutil.which("ps")
    if ps is None:
        raise UnverifiableProcess("there is no /proc and no `ps` on PATH")
    try:
        result = subprocess.run(
            [ps, "-ww", "-o", "stat=", "-o", "command=", "-p", str(pid)],
            capture_output=True,
            text=True,
            timeout=_PS_TIMEOUT_SECONDS,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise UnverifiableProcess(f"`ps` failed: {error}") from None
    line = result.stdout.strip()
    if not line:
        if result.returncode == 1 and not result.stderr.strip():
            return None  # ps found no such process
        raise UnverifiableProcess(
            f"`ps -p {pid}` exited {result.returncode}: {result.stderr.strip()[:200]}"
        )
    state, _, command = line.partition(" ")
    return _Seen(zombie=state.startswith("Z"), thread_group=pid, words=command.split(), cwd=None)


def look(pid: int) -> _Seen | None:
    """The process ``pid`` as /proc (or, without /proc, ``ps``) shows it; None if none."""
    return _look_in_proc(pid) if PROC.is_dir() else _look_with_ps(pid)


def why_not_ours(record: EmulatorRecord, root: Path) -> str | None:
    """None when ``record`` describes a live emulator started for ``root``; otherwise why it
    does not. Raises ``UnverifiableProcess`` when this cannot be told."""
    pid = record.pid
    if Path(record.root) != root.resolve():
        return f"pid {pid} is not our emulator: the file was written for {record.root}"
    if pid in (os.getpid(), os.getppid()):
        return f"pid {pid} is not our emulator: it is this task's own process"
    seen = look(pid)
    if seen is None:
        return f"pid {pid} is not our emulator: no such process"
    if seen.zombie:
        return f"pid {pid} is not our emulator: it has exited"
    if seen.thread_group not in (None, pid):
        return f"pid {pid} is not our emulator: it is a thread of pid {seen.thread_group}"
    if not is_emulator_command(seen.words, record.port, record.token):
        shown = " ".join(seen.words)[:120] or "(none)"
        return (
            f"pid {pid} is not our emulator: its command line is {shown!r}, not moto's server "
            f"on port {record.port} with this folder's marker"
        )
    if seen.cwd is not None and seen.cwd != str(root.resolve()):
        return f"pid {pid} is not our emulator: it runs in {seen.cwd}, not {root.resolve()}"
    return None


def listens_on(pid: int, port: int) -> bool | None:
    """Whether ``pid`` itself holds the listening socket on ``HOST:port``; None when that
    cannot be read here (no /proc and no ``lsof``)."""
    if PROC.is_dir():
        return _listens_per_proc(pid, port)
    lsof = shutil.which("lsof")
    if lsof is None:
        return None
    try:
        result = subprocess.run(
            [lsof, "-a", "-nP", "-p", str(pid), f"-iTCP@{HOST}:{port}", "-sTCP:LISTEN", "-t"],
            capture_output=True,
            text=True,
            timeout=_PS_TIMEOUT_SECONDS,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return str(pid) in result.stdout.split()


def _listens_per_proc(pid: int, port: int) -> bool | None:
    # /proc/net/tcp prints the address as the kernel's 32-bit value in the machine's order.
    address = "0100007F" if sys.byteorder == "little" else "7F000001"
    wanted = f"{address}:{port:04X}"
    try:
        table = (PROC / str(pid) / "net" / "tcp").read_text()
        descriptors = os.listdir(PROC / str(pid) / "fd")
    except (FileNotFoundError, ProcessLookupError):
        return False
    except OSError:
        return None
    listening = {
        columns[9]
        for columns in (row.split() for row in table.splitlines()[1:])
        if len(columns) > 9 and columns[1] == wanted and columns[3] == "0A"  # 0A: LISTEN
    }
    held = set()
    for descriptor in descriptors:
        with contextlib.suppress(OSError):
            held.add(os.readlink(PROC / str(pid) / "fd" / descriptor))
    return any(f"socket:[{inode}]" in held for inode in listening)


class PinnedProcess:
    """One process, pinned so that a signal never reaches a later process given its pid.

    A ``Popen`` of our own (its pid is not reused before we reap it) or a Linux pidfd; on
    other systems the plain pid, which ``terminate`` re-verifies before each signal.
    """

    def __init__(self, pid: int, child: subprocess.Popen[bytes] | None = None) -> None:
        self.pid = pid
        self.child = child
        self.pidfd: int | None = None
        if child is None and hasattr(os, "pidfd_open"):
            try:
                self.pidfd = os.pidfd_open(pid)
            except ProcessLookupError:
                raise
            except OSError:  # an old kernel: fall back to re-checking before each signal
                self.pidfd = None

    @property
    def pinned(self) -> bool:
        return self.child is not None or self.pidfd is not None

    def close(self) -> None:
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None

    def __enter__(self) -> PinnedProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            if self.child is not None:
                self.child.send_signal(signum)  # a no-op once the child is reaped
            elif self.pidfd is not None:
                signal.pidfd_send_signal(self.pidfd, signum)
            else:
                os.kill(self.pid, signum)

    def wait(self, timeout: float) -> bool:
        """True when the process exited within ``timeout`` seconds."""
        if self.child is not None:
            try:
                self.child.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                return False
            return True
        if self.pidfd is not None:
            poller = select.poll()
            poller.register(self.pidfd, select.POLLIN)  # readable once the process exits
            return bool(poller.poll(int(timeout * 1000)))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            seen = look(self.pid)
            if seen is None or seen.zombie:
                return True
            time.sleep(_POLL_SECONDS)
        return False


def terminate(process: PinnedProcess, still_ours: Callable[[], bool], timeout: float) -> None:
    """SIGTERM, then SIGKILL if it outlives ``timeout``. Unpinned, ``still_ours()`` is asked
    again right before each signal, and a process that no longer passes is left alone."""
    for signum in (signal.SIGTERM, signal.SIGKILL):
        if not process.pinned and not still_ours():
            return
        process.send(signum)
        if process.wait(timeout):
            return
