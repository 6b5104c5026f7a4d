"""Local mode: an AWS emulator (moto's server) on 127.0.0.1 and a file state backend beside it.

Everything local mode writes lives under one git-ignored folder (``.local/`` at the repository
root, or ``$RAWDATA_LOCAL_DIR``)::

    .local/emulator.json          the running emulator: pid, port, marker token, this folder
    .local/emulator.lock          held while the emulator is started, stopped or inspected
    .local/emulator.log           the emulator's log since it was last started
    .local/emulator.log.1         the log of the start before that
    .local/state/                 the Pulumi file backend (file://.../.local/state)
    .local/projects/<layer>/      a stand-in project per layer: Pulumi.yaml (name only) and a
                                  generated Pulumi.<env>.yaml = committed config + emulator settings

One emulator per folder: starting, stopping and inspecting it take ``emulator.lock``, so
concurrent local tasks share the running emulator or wait for the one starting. A pid is only
ever signalled once it is verified to be this folder's emulator (``shared.local.process``);
a pid file that does not pass is stale: reported, removed, nothing signalled. See
``docs/local-mode.md``.

The committed ``projects/<layer>/Pulumi.<env>.yaml`` files are only ever read. Pulumi writes a
stack's encryption salt into the stack file when it creates the stack, so local stacks are
created from the stand-in project folder (same project name, so the same stack) and the
programs run with ``--config-file`` pointing at the generated copy.

The emulator keeps its resources in memory, so stopping it also deletes the state and the
generated stack files: the two never disagree. Import-light: the standard library only at
import time (PyYAML is imported when a stack file is generated).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.environments import (
    SECRETS_PROVIDER_KEYS,
    config_value,
    read_stack_document,
    scalar_texts,
    stack_file,
)
from shared.layers import REPO_ROOT, Layer
from shared.local import EmulatorError, EmulatorFailed
from shared.local.lock import FolderBusy, folder_lock
from shared.local.ports import ANY_PORT, HOST, free_port, parse_port, port_problem
from shared.local.process import (
    EmulatorRecord,
    PinnedProcess,
    UnverifiableProcess,
    emulator_command,
    listens_on,
    terminate,
    why_not_ours,
)

__all__ = [
    "EMULATED_SERVICES",
    "HOST",
    "LOCAL_DIR_VARIABLE",
    "NOT_ANSWERING",
    "NOT_RUNNING",
    "RUNNING",
    "STALE",
    "EmulatorError",
    "EmulatorFailed",
    "EmulatorInfo",
    "EmulatorStatus",
    "FolderBusy",
    "LocalEmulator",
    "StopReport",
    "answers",
    "emulator_provider_config",
    "free_port",
    "parse_port",
]

LOCAL_DIR_VARIABLE = "RAWDATA_LOCAL_DIR"
DEFAULT_LOCAL_DIR = REPO_ROOT / ".local"
FAKE_ACCESS_KEY = "testing"
FAKE_SECRET_KEY = "testing"
# Encrypts secrets in the throw-away local state only; not a secret itself.
LOCAL_PASSPHRASE = "local-emulator-passphrase"
# Every AWS API the layers call, pointed at the emulator (a test reads them from the snapshots).
EMULATED_SERVICES: tuple[str, ...] = (
    "cloudwatch",
    "dynamodb",
    "iam",
    "kms",
    "lambda",
    "logs",
    "s3",
    "sns",
    "sqs",
    "ssm",  # the example resource of a layer made by `invoke new-layer`
    "sts",
)
_STARTUP_TIMEOUT_SECONDS = 30.0
_STOP_TIMEOUT_SECONDS = 10.0
# Longer than a start (and a stop) takes, so a task waiting for another one's start sees it.
_LOCK_TIMEOUT_SECONDS = 60.0
# An automatically chosen port can be taken between choosing and binding it: choose again.
_AUTO_PORT_ATTEMPTS = 3
_PID_FILE_MAX_BYTES = 64 * 1024
_ADDRESS_IN_USE = ("Address already in use", "is in use by another program")

# Emulators started by this Python process, so stop() can reap them (no zombies in tests).
_children: dict[int, subprocess.Popen[bytes]] = {}

RUNNING = "running"
NOT_RUNNING = "not running"
NOT_ANSWERING = "not answering"
STALE = "stale"


@dataclass(frozen=True)
class EmulatorInfo:
    pid: int
    port: int

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}"


@dataclass(frozen=True)
class EmulatorStatus:
    """What the pid file and the process say: ``state`` is one of RUNNING, NOT_RUNNING,
    NOT_ANSWERING (our emulator, alive, but silent) or STALE (``detail`` says why)."""

    state: str
    info: EmulatorInfo | None = None
    detail: str = ""


@dataclass(frozen=True)
class StopReport:
    """What ``stop`` did: the emulator it stopped, and the notice for a stale pid file."""

    stopped: EmulatorInfo | None = None
    stale: str | None = None


def emulator_provider_config(endpoint: str) -> dict[str, Any]:
    """The ``aws:`` provider settings (pulumi-aws v7 keys) that point it at the emulator."""
    return {
        "aws:accessKey": FAKE_ACCESS_KEY,
        "aws:secretKey": FAKE_SECRET_KEY,
        "aws:skipCredentialsValidation": True,
        "aws:skipMetadataApiCheck": True,
        "aws:skipRequestingAccountId": True,
        "aws:s3UsePathStyle": True,
        "aws:endpoints": [dict.fromkeys(EMULATED_SERVICES, endpoint)],
    }


def answers(endpoint: str, timeout: float = 1.0) -> bool:
    """True when a moto server answers at ``endpoint`` (proxies bypassed: it is loopback)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{endpoint}/moto-api/", timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


class _PortTaken(Exception):
    """The emulator's own log says its port was taken (after our probe found it free)."""


def _print_notice(message: str) -> None:
    print(f"local mode: {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class LocalEmulator:
    root: Path
    # How long to wait for another local task that is starting or stopping the emulator.
    lock_timeout: float = field(default=_LOCK_TIMEOUT_SECONDS, compare=False)

    @classmethod
    def default(cls) -> LocalEmulator:
        configured = os.environ.get(LOCAL_DIR_VARIABLE)
        return cls(Path(configured).resolve() if configured else DEFAULT_LOCAL_DIR)

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    @property
    def projects_dir(self) -> Path:
        return self.root / "projects"

    @property
    def info_file(self) -> Path:
        return self.root / "emulator.json"

    @property
    def lock_file(self) -> Path:
        return self.root / "emulator.lock"

    @property
    def log_file(self) -> Path:
        return self.root / "emulator.log"

    @property
    def previous_log_file(self) -> Path:
        return self.root / "emulator.log.1"

    @property
    def backend_url(self) -> str:
        return f"file://{self.state_dir.resolve().as_posix()}"

    # -- which emulator runs ----------------------------------------------------------------

    def status(self) -> EmulatorStatus:
        """Running, not running, not answering or stale; waits for a start or stop underway."""
        if not self.root.is_dir():
            return EmulatorStatus(NOT_RUNNING)
        with self._locked(shared=True):
            return self._inspect()

    def running(self) -> EmulatorInfo | None:
        """The emulator described by the pid file, if it is verified ours and answering."""
        found = self.status()
        return found.info if found.state == RUNNING else None

    def stale_notice(self, detail: str) -> str:
        return f"stale pid file {self.info_file} ({detail}): removed"

    def has_leftovers(self) -> bool:
        return any(path.exists() for path in (self.info_file, self.state_dir, self.projects_dir))

    def _read_record(self) -> tuple[EmulatorRecord | None, str]:
        """The pid file's record; or None and why it is unusable ("" when there is none)."""
        try:
            with self.info_file.open("rb") as handle:
                raw = handle.read(_PID_FILE_MAX_BYTES + 1)
        except FileNotFoundError:
            return None, ""
        except OSError as error:
            return None, f"it cannot be read: {error.strerror or error}"
        if len(raw) > _PID_FILE_MAX_BYTES:
            return None, f"it is larger than {_PID_FILE_MAX_BYTES} bytes"
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):  # not UTF-8, not JSON, nested too deep
            return None, "it is not valid JSON"
        try:
            return EmulatorRecord.from_json(data), ""
        except ValueError as error:
            return None, str(error)

    def _verify(self, record: EmulatorRecord) -> str | None:
        """None when ``record`` is this folder's live emulator, else why not; refuses (raises
        ``EmulatorError``) when that cannot be established."""
        try:
            return why_not_ours(record, self.root)
        except UnverifiableProcess as error:
            raise EmulatorError(
                f"cannot tell whether pid {record.pid} in {self.info_file} is the local "
                f"emulator ({error}); nothing was signalled and the pid file is kept: stop that "
                f"process yourself if it is moto's server, then delete {self.info_file}"
            ) from None

    def _inspect(self) -> EmulatorStatus:
        record, problem = self._read_record()
        if record is None:
            return EmulatorStatus(STALE, detail=problem) if problem else EmulatorStatus(NOT_RUNNING)
        why = self._verify(record)
        if why is not None:
            return EmulatorStatus(STALE, detail=why)
        info = EmulatorInfo(pid=record.pid, port=record.port)
        if answers(info.endpoint) and listens_on(record.pid, record.port) is not False:
            return EmulatorStatus(RUNNING, info)
        return EmulatorStatus(
            NOT_ANSWERING,
            info,
            f"pid {info.pid} is this folder's emulator but does not answer on {info.endpoint}",
        )

    # -- starting and stopping --------------------------------------------------------------

    @contextmanager
    def _locked(self, *, shared: bool) -> Iterator[None]:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            problem = "is not a folder" if self.root.exists() else "cannot be created"
            raise EmulatorError(
                f"local folder {self.root} {problem} ({error.strerror or error}); "
                f"set {LOCAL_DIR_VARIABLE} to a folder you can write"
            ) from None
        with folder_lock(self.lock_file, shared=shared, timeout=self.lock_timeout):
            yield

    def start(
        self, port: int = ANY_PORT, notice: Callable[[str], None] = _print_notice
    ) -> EmulatorInfo:
        """Start the emulator on 127.0.0.1:``port`` (0: a free port) and wait until it answers.

        Refused when it already runs. Leftover state from an emulator that is no longer
        running (crash, reboot) describes resources that no longer exist, so it is discarded
        first; a stale pid file is reported through ``notice``.
        """
        port = parse_port(port, "port")
        with self._locked(shared=False):
            current = self._inspect()
            if current.state == RUNNING:
                raise EmulatorError(
                    f"the local emulator is already running ({self.info_file}); "
                    "stop it first with `invoke local.stop`"
                )
            return self._start_locked(port, current, notice)

    def ensure_running(
        self, port: int = ANY_PORT, notice: Callable[[str], None] = _print_notice
    ) -> tuple[EmulatorInfo, bool]:
        """The running emulator, starting one when needed; the flag says whether it started.

        Concurrent callers for one folder get one emulator: the first starts it, the others
        wait for it (at most ``lock_timeout`` seconds) and share it.
        """
        port = parse_port(port, "port")
        with self._locked(shared=False):
            current = self._inspect()
            if current.state == RUNNING and current.info is not None:
                if port not in (ANY_PORT, current.info.port):
                    raise EmulatorError(
                        f"port {port} was asked for, but the local emulator already runs on "
                        f"port {current.info.port} ({current.info.endpoint}); use that, or "
                        "`invoke local.stop` first"
                    )
                return current.info, False
            return self._start_locked(port, current, notice), True

    def _start_locked(
        self, port: int, current: EmulatorStatus, notice: Callable[[str], None]
    ) -> EmulatorInfo:
        if current.state == NOT_ANSWERING:
            raise EmulatorFailed(
                f"{current.detail}; `invoke local.stop` stops it (and discards the local "
                "state), then start again"
            )
        if current.state == STALE:
            notice(self.stale_notice(current.detail))
        self.discard_state()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        for _ in range(1 if port else _AUTO_PORT_ATTEMPTS):
            chosen = port or free_port()
            problem = port_problem(chosen)
            if problem is None:
                try:
                    return self._spawn_and_wait(chosen)
                except _PortTaken as taken:
                    problem = (
                        f"the emulator could not listen on {HOST}:{chosen}; last lines of "
                        f"{self.log_file} (this start only):\n{taken}"
                    )
            if port:
                raise EmulatorError(
                    f"port {port} is not free: {problem}\nChoose another port, or leave the "
                    "port out for any free one."
                )
        raise EmulatorFailed(
            f"the local emulator found no free port on {HOST} in {_AUTO_PORT_ATTEMPTS} tries; "
            f"last lines of {self.log_file}:\n{self._log_tail()}"
        )

    def _spawn_and_wait(self, port: int) -> EmulatorInfo:
        """Start moto's server on ``port`` and wait until it answers there and holds the port
        itself. Otherwise stop it, discard the pid file and raise: ``_PortTaken`` when its log
        says the address is in use, else ``EmulatorFailed`` quoting this start's log."""
        token = secrets.token_hex(16)
        self._fresh_log()
        with self.log_file.open("wb") as log:
            process = subprocess.Popen(
                emulator_command(port, token),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.root,
                close_fds=True,  # never inherit the folder lock: it would outlive the start
                start_new_session=True,  # outlives the invoke process (and its Ctrl-C)
            )
        _children[process.pid] = process
        record = EmulatorRecord(process.pid, port, token, str(self.root.resolve()))
        self._write_record(record)
        info = EmulatorInfo(pid=process.pid, port=port)
        try:
            if self._answers_as_our_child(process, info):
                return info
        except BaseException:  # Ctrl-C while waiting: no half-started emulator left behind
            self._stop_child(process)
            raise
        exited = process.poll()
        self._stop_child(process)
        log_text = self._log_tail()
        if exited is not None and any(marker in log_text for marker in _ADDRESS_IN_USE):
            raise _PortTaken(log_text)
        what = (
            f"exited with code {exited} before answering"
            if exited is not None
            else f"did not answer within {_STARTUP_TIMEOUT_SECONDS:.0f}s"
        )
        raise EmulatorFailed(
            f"the local emulator {what} on {info.endpoint}; last lines of {self.log_file} "
            f"(this start only):\n{log_text}"
        )

    @staticmethod
    def _answers_as_our_child(process: subprocess.Popen[bytes], info: EmulatorInfo) -> bool:
        """Wait until ``info.endpoint`` answers and the answering server is ``process``."""
        deadline = time.monotonic() + _STARTUP_TIMEOUT_SECONDS
        while time.monotonic() < deadline and process.poll() is None:
            # Answering alone could be another server that took the port first: the port
            # counts only once our child holds it (where that can be read) and still lives.
            if (
                answers(info.endpoint, timeout=0.5)
                and listens_on(process.pid, info.port) is not False
                and process.poll() is None
            ):
                return True
            time.sleep(0.1)
        return False

    def _stop_child(self, process: subprocess.Popen[bytes]) -> None:
        """Stop a child that never became the emulator, and forget it."""
        with PinnedProcess(process.pid, process) as child:
            terminate(child, lambda: True, _STOP_TIMEOUT_SECONDS)
        _children.pop(process.pid, None)
        self.discard_state()

    def stop(self) -> StopReport:
        """Stop this folder's emulator and discard the local state.

        Only a process verified to be this folder's emulator is signalled; a pid file that
        does not pass is stale: removed, and reported in the result, nothing signalled.
        """
        if not self.root.is_dir():
            return StopReport()
        with self._locked(shared=False):
            record, problem = self._read_record()
            if record is None:
                self.discard_state()
                return StopReport(stale=self.stale_notice(problem) if problem else None)
            stale = self._stop_verified(record)
            self.discard_state()
            if stale is not None:
                return StopReport(stale=self.stale_notice(stale))
            return StopReport(stopped=EmulatorInfo(pid=record.pid, port=record.port))

    def _stop_verified(self, record: EmulatorRecord) -> str | None:
        """Terminate ``record``'s process if it is verified ours; else why it is not."""
        child = _children.pop(record.pid, None)
        if child is not None and child.poll() is not None:
            child = None  # reaped now: the pid is no longer ours to pin
        try:
            # Pinned before it is verified, so the verified process is the one signalled.
            process = PinnedProcess(record.pid, child)
        except ProcessLookupError:
            return f"pid {record.pid} is not our emulator: no such process"
        with process:
            why = self._verify(record)
            if why is not None:
                return why
            terminate(process, lambda: self._verify(record) is None, _STOP_TIMEOUT_SECONDS)
        return None

    def discard_state(self) -> None:
        for folder in (self.state_dir, self.projects_dir):
            shutil.rmtree(folder, ignore_errors=True)
        try:
            self.info_file.unlink(missing_ok=True)
        except IsADirectoryError:
            shutil.rmtree(self.info_file, ignore_errors=True)
        except OSError as error:
            raise EmulatorError(
                f"the pid file {self.info_file} cannot be removed ({error.strerror or error})"
            ) from None

    def _write_record(self, record: EmulatorRecord) -> None:
        """Atomically: a reader never sees half a pid file."""
        partial = self.info_file.with_name(f"{self.info_file.name}.{os.getpid()}.tmp")
        partial.write_text(json.dumps(record.as_json()) + "\n")
        os.replace(partial, self.info_file)

    def _fresh_log(self) -> None:
        """Each start writes a new log; the one before is kept as ``emulator.log.1``."""
        if self.log_file.exists():
            os.replace(self.log_file, self.previous_log_file)

    def _log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    # -- what pulumi needs to use it ---------------------------------------------------------

    def environment(self, info: EmulatorInfo) -> dict[str, str]:
        """Environment for every pulumi subprocess in local mode."""
        no_proxy = ",".join(
            part for part in (os.environ.get("NO_PROXY", ""), HOST, "localhost") if part
        )
        return {
            "PULUMI_BACKEND_URL": self.backend_url,
            "PULUMI_CONFIG_PASSPHRASE": LOCAL_PASSPHRASE,
            "AWS_ACCESS_KEY_ID": FAKE_ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": FAKE_SECRET_KEY,
            "AWS_ENDPOINT_URL": info.endpoint,
            "NO_PROXY": no_proxy,
        }

    def project_dir(self, layer: Layer) -> Path:
        """The stand-in project folder where local stacks are selected and created."""
        return self.projects_dir / layer.name

    def config_file(self, layer: Layer, environment: str) -> Path:
        return self.project_dir(layer) / stack_file(layer, environment).name

    def prepare_project(self, layer: Layer) -> Path:
        folder = self.project_dir(layer)
        folder.mkdir(parents=True, exist_ok=True)
        manifest = folder / "Pulumi.yaml"
        manifest.write_text(
            f"# Generated by local mode: stand-in for projects/{layer.name} "
            "(stack selection only).\n"
            f"name: {layer.project}\nruntime: python\n"
        )
        return folder

    def write_stack_config(self, layer: Layer, environment: str, endpoint: str) -> Path:
        """Generate the local copy of ``Pulumi.<env>.yaml`` with the emulator settings added.

        Reads the committed file, never writes it. Keeps the secrets-provider keys Pulumi
        added to an earlier copy, so the local stack's secrets stay readable.
        """
        import yaml

        committed_path = stack_file(layer, environment)
        committed = read_stack_document(layer, environment)
        # A scalar the CLI would pass otherwise than its YAML value reads (True, 0x800) is
        # copied as its text, so the local stack gets what the real one would.
        texts = scalar_texts(committed_path)
        config = {
            key: texts[str(key)]
            if str(key) in texts and config_value(value) != texts[str(key)]
            else value
            for key, value in (committed.get("config") or {}).items()
        }
        for key, value in config.items():
            if isinstance(value, dict) and "secure" in value:
                raise EmulatorError(
                    f"{committed_path}: config {key!r} is an encrypted "
                    "secret, which local mode cannot decrypt; give it a plain value in a "
                    "non-secret environment to use local mode"
                )
        config.update(emulator_provider_config(endpoint))
        document = {k: v for k, v in committed.items() if k not in SECRETS_PROVIDER_KEYS}
        document["config"] = config

        target = self.config_file(layer, environment)
        if target.is_file():
            earlier = yaml.safe_load(target.read_text()) or {}
            document.update({k: earlier[k] for k in SECRETS_PROVIDER_KEYS if k in earlier})
        self.prepare_project(layer)
        header = (
            f"# Generated by local mode from projects/{layer.name}/{committed_path.name}; "
            "regenerated on every local run, deleted by `invoke local.stop`.\n"
        )
        target.write_text(header + yaml.safe_dump(document, sort_keys=False))
        return target
