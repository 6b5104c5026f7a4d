"""`invoke doctor`: each prerequisite is found or named with what to do, and the task fails
only when what the asked-for use needs is missing."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from invoke import Exit, MockContext

import tasks
from shared import doctor
from shared.doctor import MISSING, NOTE, OK, Finding


def executable(folder: Path, name: str, script: str) -> Path:
    path = folder / name
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def no_aws_environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    """An environment where botocore finds credentials only if ``extra`` gives them."""
    kept = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "PULUMI_")) and key != "PATH"
    }
    return {
        **kept,
        "PATH": "/usr/bin:/bin",
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
        "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_DEFAULT_REGION": "us-east-1",
        **extra,
    }


def test_an_old_python_blocks_every_use() -> None:
    finding = doctor.python_version((3, 10, 12))
    assert finding.status == MISSING
    assert finding.detail == "Python 3.10.12; 3.11 or newer is needed"
    assert all(finding.blocks(use) for use in doctor.USES)
    assert doctor.python_version((3, 13, 1)).status == OK


def test_another_virtualenv_blocks_deploys_not_the_offline_work(tmp_path: Path) -> None:
    finding = doctor.virtualenv(tmp_path)
    assert finding.status == MISSING
    assert "every projects/*/Pulumi.yaml runs its program with ../../.venv" in finding.detail
    assert not finding.blocks("offline")
    assert finding.blocks("local") and finding.blocks("deploy")


def test_versions_other_than_the_locks_are_named_with_the_reinstall_command() -> None:
    finding = doctor.lock_in_sync(lambda: ["pulumi 3.1.0 is installed, the lock pins 3.272.0"])
    assert finding.status == MISSING
    assert "pulumi 3.1.0 is installed, the lock pins 3.272.0" in finding.detail
    assert finding.fix == "reinstall: .venv/bin/pip install -c requirements.lock -e '.[dev]'"
    assert doctor.lock_in_sync(lambda: []).status == OK


def test_the_pulumi_cli_is_found_on_path_with_its_version(tmp_path: Path) -> None:
    assert doctor.pulumi_cli({"PATH": str(tmp_path)}).status == MISSING
    executable(tmp_path, "pulumi", 'echo "v3.200.0"')
    found = doctor.pulumi_cli({"PATH": str(tmp_path)})
    assert (found.status, found.detail) == (OK, f"{tmp_path / 'pulumi'}, version 3.200.0")
    executable(tmp_path, "pulumi", 'echo "segfault" >&2; exit 139')
    broken = doctor.pulumi_cli({"PATH": str(tmp_path)})
    assert (
        broken.status == MISSING and "does not answer `pulumi version` (segfault)" in broken.detail
    )


def test_a_backend_is_the_environment_variable_or_a_login(tmp_path: Path) -> None:
    cli = Finding("pulumi CLI", MISSING, "")
    assert doctor.backend({"PULUMI_BACKEND_URL": "s3://state"}, cli).status == OK
    missing = doctor.backend({}, cli)
    assert missing.status == MISSING and missing.blocks("deploy") and not missing.blocks("local")
    executable(tmp_path, "pulumi", 'echo "error: PULUMI_ACCESS_TOKEN must be set" >&2; exit 1')
    logged_out = doctor.backend({"PATH": str(tmp_path)}, Finding("pulumi CLI", OK, ""))
    assert logged_out.detail == "not logged in (error: PULUMI_ACCESS_TOKEN must be set)"


def test_no_aws_credentials_is_named_and_blocks_only_deploys(tmp_path: Path) -> None:
    finding = doctor.aws_credentials(no_aws_environment(tmp_path))
    assert finding.status == MISSING
    assert finding.detail == "none found (environment, ~/.aws, SSO or instance role)"
    assert finding.blocks("deploy") and not finding.blocks("local")


def test_credentials_are_confirmed_by_sts_with_their_account(tmp_path: Path) -> None:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    try:
        host, port = server.get_host_and_port()
        environment = no_aws_environment(
            tmp_path,
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_ENDPOINT_URL=f"http://{host}:{port}",
            NO_PROXY="127.0.0.1",
        )
        finding = doctor.aws_credentials(environment)
    finally:
        server.stop()
    assert (finding.status, finding.detail) == (OK, "account 123456789012")


def test_credentials_sts_does_not_confirm_are_not_ok(tmp_path: Path) -> None:
    environment = no_aws_environment(
        tmp_path,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_ENDPOINT_URL="http://127.0.0.1:9",  # nothing listens there
        NO_PROXY="127.0.0.1",
    )
    finding = doctor.aws_credentials(environment)
    assert finding.status == MISSING
    assert finding.detail.startswith("found, but STS did not confirm them:")


FINDINGS = [
    Finding("python", OK, "Python 3.11.7", needed_for=frozenset(doctor.USES)),
    Finding("pulumi CLI", MISSING, "not on PATH", "install it", frozenset({"local", "deploy"})),
    Finding("local emulator", NOTE, "not running"),
]


def test_the_task_fails_only_for_what_the_use_needs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(doctor, "diagnose", lambda: FINDINGS)
    tasks.doctor(MockContext())
    out = capsys.readouterr().out
    assert "pulumi CLI" in out and "install it" in out
    assert out.rstrip().endswith("ready for offline")
    with pytest.raises(Exit) as stopped:
        tasks.doctor(MockContext(), for_="local")
    assert stopped.value.code == 1
    assert stopped.value.message == "error: not ready for local: 1 check failed (pulumi CLI)"


def test_an_unknown_use_is_refused_naming_the_allowed_ones() -> None:
    with pytest.raises(Exit) as stopped:
        tasks.doctor(MockContext(), for_="prod")
    assert stopped.value.code == 2
    assert stopped.value.message == (
        "error: --for 'prod' is not allowed; one of: offline, local, deploy"
    )
