"""``invoke doctor``: is this machine ready for what you want to do, and if not, what to do.

Three uses, each needing more than the one before:

- ``offline``: render, check, the tests: Python 3.11+ and the locked dependencies;
- ``local``: deploy to the local emulator: also the Pulumi CLI and the repository's .venv
  (every Pulumi.yaml runs its program with it);
- ``deploy``: deploy to AWS: also a state backend and AWS credentials.

Every check is shown; the task fails (exit 1) only when a check the asked-for use needs fails.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from shared.layers import REPO_ROOT

USES = ("offline", "local", "deploy")
MINIMUM_PYTHON = (3, 11)
SET_UP = "python3 -m venv .venv && .venv/bin/pip install -c requirements.lock -e '.[dev]'"
OK, MISSING, NOTE = "ok", "missing", "note"


@dataclass(frozen=True)
class Finding:
    name: str
    status: str  # ok, missing, or note (informational: never blocks)
    detail: str
    fix: str = ""
    needed_for: frozenset[str] = field(default_factory=frozenset)

    def blocks(self, use: str) -> bool:
        return self.status == MISSING and use in self.needed_for


def _uses_from(first: str) -> frozenset[str]:
    return frozenset(USES[USES.index(first) :])


def _run(argv: list[str], environ: Mapping[str, str], timeout: float = 20) -> tuple[int, str]:
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, env=dict(environ)
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return -1, str(error)
    return done.returncode, (done.stdout + done.stderr).strip()


def python_version(version: tuple[int, ...] = tuple(sys.version_info)) -> Finding:
    shown = ".".join(map(str, version[:3]))
    if tuple(version[:2]) >= MINIMUM_PYTHON:
        return Finding("python", OK, f"Python {shown}", needed_for=_uses_from("offline"))
    wanted = ".".join(map(str, MINIMUM_PYTHON))
    return Finding(
        "python",
        MISSING,
        f"Python {shown}; {wanted} or newer is needed",
        f"install Python {wanted}+ and make the virtualenv with it: {SET_UP}",
        _uses_from("offline"),
    )


def virtualenv(prefix: Path = Path(sys.prefix)) -> Finding:
    expected = REPO_ROOT / ".venv"
    if prefix.resolve() == expected.resolve():
        return Finding("virtualenv", OK, f"running from {expected}", needed_for=_uses_from("local"))
    return Finding(
        "virtualenv",
        MISSING,
        f"running from {prefix}, not {expected}: every projects/*/Pulumi.yaml runs its program "
        "with ../../.venv",
        f"set up .venv and run the tasks with .venv/bin/invoke: {SET_UP}",
        _uses_from("local"),
    )


def lock_in_sync(mismatches: Callable[[], list[str]] | None = None) -> Finding:
    from shared.lockfile import installed_mismatches

    problems = (mismatches or installed_mismatches)()
    if not problems:
        return Finding(
            "dependencies",
            OK,
            "installed versions are the locked ones",
            needed_for=_uses_from("offline"),
        )
    shown = "; ".join(problems[:3]) + (
        f"; and {len(problems) - 3} more" if len(problems) > 3 else ""
    )
    return Finding(
        "dependencies",
        MISSING,
        f"not the versions requirements.lock pins: {shown}",
        "reinstall: .venv/bin/pip install -c requirements.lock -e '.[dev]'",
        _uses_from("offline"),
    )


def pulumi_cli(environ: Mapping[str, str]) -> Finding:
    path = shutil.which("pulumi", path=environ.get("PATH"))
    if path is None:
        return Finding(
            "pulumi CLI",
            MISSING,
            "`pulumi` is not on PATH (render, check and the tests do not need it)",
            "install it: https://www.pulumi.com/docs/install/ "
            "(curl -fsSL https://get.pulumi.com | sh)",
            _uses_from("local"),
        )
    code, output = _run([path, "version"], environ)
    version = re.search(r"v?(\d+\.\d+\.\d+)", output)
    if code != 0 or version is None:
        return Finding(
            "pulumi CLI",
            MISSING,
            f"{path} does not answer `pulumi version` ({output[:120] or f'exit {code}'})",
            "reinstall it: https://www.pulumi.com/docs/install/",
            _uses_from("local"),
        )
    return Finding(
        "pulumi CLI", OK, f"{path}, version {version[1]}", needed_for=_uses_from("local")
    )


def backend(environ: Mapping[str, str], cli: Finding) -> Finding:
    needed = _uses_from("deploy")
    url = environ.get("PULUMI_BACKEND_URL")
    if url:
        return Finding("state backend", OK, f"PULUMI_BACKEND_URL={url}", needed_for=needed)
    if cli.status != OK:
        return Finding(
            "state backend",
            MISSING,
            "no PULUMI_BACKEND_URL, and no Pulumi CLI to ask who is logged in",
            "install the Pulumi CLI, then `pulumi login` (Pulumi Cloud, s3://..., file://...)",
            needed,
        )
    path = shutil.which("pulumi", path=environ.get("PATH")) or "pulumi"
    code, output = _run([path, "whoami", "--verbose"], environ)
    if code == 0:
        return Finding("state backend", OK, " ".join(output.split())[:160], needed_for=needed)
    return Finding(
        "state backend",
        MISSING,
        f"not logged in ({output.splitlines()[0] if output else f'exit {code}'})",
        "`pulumi login` (Pulumi Cloud, s3://bucket, file://path), or set PULUMI_BACKEND_URL; "
        "local mode needs neither",
        needed,
    )


def aws_credentials(environ: Mapping[str, str]) -> Finding:
    """Credentials botocore would use, and the account they belong to (asked of STS)."""
    needed = _uses_from("deploy")
    code = (
        "import boto3, botocore.config, json\n"
        "session = boto3.session.Session()\n"
        "if session.get_credentials() is None: print('NONE'); raise SystemExit\n"
        "config = botocore.config.Config(\n"
        "    connect_timeout=5, read_timeout=5, retries={'max_attempts': 1}\n"
        ")\n"
        "print(session.client('sts', config=config).get_caller_identity()['Account'])\n"
    )
    status, output = _run([sys.executable, "-c", code], environ, timeout=30)
    last = output.splitlines()[-1] if output else ""
    if status == 0 and last == "NONE":
        return Finding(
            "AWS credentials",
            MISSING,
            "none found (environment, ~/.aws, SSO or instance role)",
            "`aws sso login` / `aws configure`, or export AWS_PROFILE; local mode needs none",
            needed,
        )
    if status == 0 and re.fullmatch(r"\d{12}", last):
        return Finding("AWS credentials", OK, f"account {last}", needed_for=needed)
    return Finding(
        "AWS credentials",
        MISSING,
        f"found, but STS did not confirm them: {last[:160]}",
        "refresh them (expired SSO session?) and check AWS_REGION / network access to STS",
        needed,
    )


def local_emulator() -> Finding:
    from shared.local_emulator import LocalEmulator

    try:
        info = LocalEmulator.default().running()
    except Exception as error:  # a report, never a crash: say what went wrong
        return Finding("local emulator", NOTE, f"could not tell: {error}")
    if info is None:
        return Finding(
            "local emulator",
            NOTE,
            "not running; `invoke deploy --env dev --local` starts it",
        )
    return Finding("local emulator", NOTE, f"running on {info.endpoint} (pid {info.pid})")


def diagnose(environ: Mapping[str, str] | None = None) -> list[Finding]:
    environ = os.environ if environ is None else environ
    cli = pulumi_cli(environ)
    return [
        python_version(),
        virtualenv(),
        lock_in_sync(),
        cli,
        backend(environ, cli),
        aws_credentials(environ),
        local_emulator(),
    ]
