"""End to end, for real: `invoke deploy --env dev --local --yes` with the real Pulumi CLI
deploys every layer to the local emulator; boto3 finds the resources the stack outputs name;
`invoke outputs` and `invoke destroy` work the same way; the committed stack files are
untouched.

Needs the `pulumi` executable on PATH (CI's local-deploy job installs it). Where it is
missing the test is skipped and says why (shown by `pytest -ra`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.layers import PROJECTS_DIR, REPO_ROOT, load_graph
from shared.local_emulator import LOCAL_DIR_VARIABLE, LocalEmulator
from shared.pulumi_cli import INSTALL_URL

ENVIRONMENT = "dev"
TIMEOUT_SECONDS = 30 * 60


def committed_stack_files() -> dict[Path, str]:
    return {
        path: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(PROJECTS_DIR.glob("*/Pulumi*.yaml"))
    }


@pytest.fixture(scope="module")
def local_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    if shutil.which("pulumi") is None:
        pytest.skip(
            "end-to-end local deploy needs the Pulumi CLI, which is not on PATH here; "
            f"install it from {INSTALL_URL} to run it"
        )
    local_dir = tmp_path_factory.mktemp("local")
    env = {**os.environ, LOCAL_DIR_VARIABLE: str(local_dir), "PULUMI_SKIP_UPDATE_CHECK": "true"}
    yield env
    invoke("local.stop", env=env)


def invoke(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
    )


def succeeded(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"{result.args}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def aws(service: str, env: dict[str, str]) -> Any:
    import boto3

    info = LocalEmulator(Path(env[LOCAL_DIR_VARIABLE])).running()
    assert info is not None, "the emulator should still be running"
    return boto3.client(
        service,
        endpoint_url=info.endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def test_local_deploy_outputs_and_destroy_with_the_real_cli(local_env: dict[str, str]) -> None:
    before = committed_stack_files()

    deployed = succeeded(invoke("deploy", "--env", ENVIRONMENT, "--local", "--yes", env=local_env))
    for layer in load_graph():
        assert f"==> deploy {layer.name}" in deployed

    outputs = json.loads(
        succeeded(invoke("outputs", "--env", ENVIRONMENT, "--local", "--json", env=local_env))
    )
    key = f"{ENVIRONMENT}_{{}}".format

    buckets = [b["Name"] for b in aws("s3", local_env).list_buckets()["Buckets"]]
    assert outputs[key("bucket_name")] in buckets, buckets
    tables = aws("dynamodb", local_env).list_tables()["TableNames"]
    assert outputs[key("table_name")] in tables, tables
    queues = aws("sqs", local_env).list_queues().get("QueueUrls", [])
    assert outputs[key("dead_letter_queue_url")].rsplit("/", 1)[1] in str(queues), queues
    roles = [r["RoleName"] for r in aws("iam", local_env).list_roles()["Roles"]]
    assert outputs[key("role_name")] in roles, roles
    functions = [f["FunctionName"] for f in aws("lambda", local_env).list_functions()["Functions"]]
    assert outputs[key("function_name")] in functions, functions

    succeeded(invoke("destroy", "--env", ENVIRONMENT, "--local", "--yes", env=local_env))
    buckets = [b["Name"] for b in aws("s3", local_env).list_buckets()["Buckets"]]
    assert outputs[key("bucket_name")] not in buckets, buckets

    assert committed_stack_files() == before, "local mode must not modify committed stack files"
