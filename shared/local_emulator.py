"""Local mode: an AWS emulator (moto's server) on 127.0.0.1 and a file state backend beside it.

Everything local mode writes lives under one git-ignored folder (``.local/`` at the repository
root, or ``$RAWDATA_LOCAL_DIR``)::

    .local/emulator.json          pid and port of the running emulator
    .local/emulator.log           the emulator's own log
    .local/state/                 the Pulumi file backend (file://.../.local/state)
    .local/projects/<layer>/      a stand-in project per layer: Pulumi.yaml (name only) and a
                                  generated Pulumi.<env>.yaml = committed config + emulator settings

The committed ``projects/<layer>/Pulumi.<env>.yaml`` files are only ever read. Pulumi writes a
stack's encryption salt into the stack file when it creates the stack, so local stacks are
created from the stand-in project folder (same project name, so the same stack) and the
programs run with ``--config-file`` pointing at the generated copy.

The emulator keeps its resources in memory, so stopping it also deletes the state and the
generated stack files: the two never disagree. Import-light: the standard library only at
import time (PyYAML is imported when a stack file is generated).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.environments import SECRETS_PROVIDER_KEYS, stack_file
from shared.errors import EXIT_FAILURE, PipelineError
from shared.layers import REPO_ROOT, Layer

HOST = "127.0.0.1"  # loopback only, never a public interface
LOCAL_DIR_VARIABLE = "RAWDATA_LOCAL_DIR"
DEFAULT_LOCAL_DIR = REPO_ROOT / ".local"
FAKE_ACCESS_KEY = "testing"
FAKE_SECRET_KEY = "testing"
# Encrypts secrets in the throw-away local state only; not a secret itself.
LOCAL_PASSPHRASE = "local-emulator-passphrase"
# Every AWS API the three layers call, pointed at the emulator.
EMULATED_SERVICES: tuple[str, ...] = (
    "cloudwatch",
    "dynamodb",
    "iam",
    "lambda",
    "logs",
    "s3",
    "sqs",
    "sts",
)
_STARTUP_TIMEOUT_SECONDS = 30.0
_STOP_TIMEOUT_SECONDS = 10.0

# Emulators started by this Python process, so stop() can reap them (no zombies in tests).
_children: dict[int, subprocess.Popen[bytes]] = {}


class EmulatorError(PipelineError):
    """The local emulator cannot be used as asked (already running, a secret in a stack file)."""


class EmulatorFailed(EmulatorError):
    """The local emulator was started but never answered: a failure, not bad input."""

    exit_code = EXIT_FAILURE


@dataclass(frozen=True)
class EmulatorInfo:
    pid: int
    port: int

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}"


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


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def answers(endpoint: str, timeout: float = 1.0) -> bool:
    """True when a moto server answers at ``endpoint`` (proxies bypassed: it is loopback)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{endpoint}/moto-api/", timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _process_alive(pid: int) -> bool:
    child = _children.get(pid)
    if child is not None:
        return child.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    status = Path(f"/proc/{pid}/stat")
    if status.is_file():
        with contextlib.suppress(OSError, IndexError):
            if status.read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return False
    return True


def _looks_like_moto(pid: int) -> bool:
    """Guard against a recycled pid: only ever signal a process that is a moto server."""
    cmdline = Path(f"/proc/{pid}/cmdline")
    if not cmdline.is_file():  # no /proc (macOS): trust the pid file we wrote
        return True
    with contextlib.suppress(OSError):
        return b"moto" in cmdline.read_bytes()
    return False


@dataclass(frozen=True)
class LocalEmulator:
    root: Path

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
    def log_file(self) -> Path:
        return self.root / "emulator.log"

    @property
    def backend_url(self) -> str:
        return f"file://{self.state_dir.resolve().as_posix()}"

    # -- the emulator process -------------------------------------------------------------

    def _read_info(self) -> EmulatorInfo | None:
        try:
            data = json.loads(self.info_file.read_text())
            return EmulatorInfo(pid=int(data["pid"]), port=int(data["port"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def running(self) -> EmulatorInfo | None:
        """The emulator described by the pid file, if that process is alive and answering."""
        info = self._read_info()
        if info is None or not _process_alive(info.pid) or not answers(info.endpoint):
            return None
        return info

    def has_leftovers(self) -> bool:
        return any(path.exists() for path in (self.info_file, self.state_dir, self.projects_dir))

    def start(self, port: int = 0) -> EmulatorInfo:
        """Start the emulator on 127.0.0.1:``port`` (0: a free port) and wait until it answers.

        Leftover state from an emulator that is no longer running (crash, reboot) describes
        resources that no longer exist, so it is discarded first.
        """
        if self.running() is not None:
            raise EmulatorError(
                f"the local emulator is already running ({self.info_file}); "
                "stop it first with `invoke local.stop`"
            )
        self.discard_state()
        chosen = port or free_port()
        self.root.mkdir(parents=True, exist_ok=True)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(chosen)]
        with self.log_file.open("ab") as log:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.root,
                start_new_session=True,  # outlives the invoke process that started it
            )
        _children[process.pid] = process
        info = EmulatorInfo(pid=process.pid, port=chosen)
        self.info_file.write_text(json.dumps({"pid": info.pid, "port": info.port}) + "\n")
        deadline = time.monotonic() + _STARTUP_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            if answers(info.endpoint, timeout=0.5):
                return info
            time.sleep(0.1)
        self._terminate(info.pid)
        self.discard_state()
        raise EmulatorFailed(
            f"the local emulator did not answer on {info.endpoint} within "
            f"{_STARTUP_TIMEOUT_SECONDS:.0f}s (is port {chosen} taken?); "
            f"last lines of {self.log_file}:\n{self._log_tail()}"
        )

    def ensure_running(self, port: int = 0) -> tuple[EmulatorInfo, bool]:
        """The running emulator, starting one when needed; the flag says whether it started."""
        info = self.running()
        if info is not None:
            return info, False
        return self.start(port), True

    def stop(self) -> bool:
        """Stop the emulator and discard the local state; True when a process was stopped."""
        info = self._read_info()
        stopped = False
        if info is not None and _process_alive(info.pid) and _looks_like_moto(info.pid):
            self._terminate(info.pid)
            stopped = True
        self.discard_state()
        return stopped

    def discard_state(self) -> None:
        import shutil

        for folder in (self.state_dir, self.projects_dir):
            shutil.rmtree(folder, ignore_errors=True)
        self.info_file.unlink(missing_ok=True)

    def _terminate(self, pid: int) -> None:
        child = _children.pop(pid, None)
        if child is not None:
            child.terminate()
            try:
                child.wait(timeout=_STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + _STOP_TIMEOUT_SECONDS
        while time.monotonic() < deadline and _process_alive(pid):
            time.sleep(0.1)
        if _process_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

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
        committed = yaml.safe_load(committed_path.read_text()) or {}
        config = dict(committed.get("config") or {})
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
