"""The CI workflows and CODEOWNERS agree with the repository: the layer list and order come
from shared.layers, the environments from the stack files present; every workflow file is
valid against the GitHub workflow schema check-jsonschema ships (checked offline)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.environments import environments
from shared.layers import LAYERS, PROJECTS_DIR, REPO_ROOT, deploy_order, layer_names

GITHUB = REPO_ROOT / ".github"
WORKFLOWS = sorted((GITHUB / "workflows").glob("*.yml"))


def load(name: str) -> dict[str, Any]:
    document = yaml.safe_load((GITHUB / "workflows" / name).read_text())
    # YAML 1.1 reads the key `on` as True.
    if True in document:
        document["on"] = document.pop(True)
    return document


def steps_using(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [step for step in job.get("steps", []) if step.get("uses", "").startswith(action)]


def run_lines(job: dict[str, Any]) -> list[str]:
    return [step["run"].strip() for step in job.get("steps", []) if "run" in step]


def pulumi_virtualenv() -> str:
    """The one virtualenv every projects/*/Pulumi.yaml runs its program with, relative to the
    repository root (where CI's steps run)."""
    found = set()
    for path in sorted(PROJECTS_DIR.glob("*/Pulumi.yaml")):
        runtime = yaml.safe_load(path.read_text())["runtime"]
        virtualenv = runtime["options"]["virtualenv"]
        found.add(os.path.relpath(path.parent / virtualenv, REPO_ROOT))
    assert len(found) == 1, f"the projects name different virtualenvs: {sorted(found)}"
    (virtualenv,) = found
    assert not virtualenv.startswith(".."), f"{virtualenv} is outside the repository"
    return virtualenv


VENV = pulumi_virtualenv()


def commands_of(job: dict[str, Any]) -> list[list[str]]:
    """Every shell command the job's run steps execute, as argv, in order."""
    found = []
    for block in run_lines(job):
        for line in block.splitlines():
            for command in re.split(r"&&|\|\||;", line):
                if command.strip() and not command.strip().startswith("#"):
                    found.append(shlex.split(command))
    return found


def installs_the_project(argv: list[str]) -> bool:
    """`pip install -e ".[dev]"`, `python -m pip install .`, however spelled."""
    is_pip = os.path.basename(argv[0]).startswith("pip") or argv[1:3] == ["-m", "pip"]
    return is_pip and "install" in argv and any(arg == "." or arg.startswith(".[") for arg in argv)


# -- pull requests ---------------------------------------------------------------------------


def test_pull_requests_run_lint_tests_and_a_preview_per_environment_and_layer() -> None:
    workflow = load("pull-request.yml")
    assert "pull_request" in workflow["on"]
    jobs = workflow["jobs"]
    assert f"{VENV}/bin/invoke lint" in run_lines(jobs["lint"])
    assert f"{VENV}/bin/invoke test" in run_lines(jobs["test"])
    matrix = jobs["preview"]["strategy"]["matrix"]
    assert matrix["environment"] == environments()
    assert matrix["layer"] == layer_names(tuple(deploy_order()))
    assert run_lines(jobs["preview"])[-1] == (
        f"{VENV}/bin/invoke preview --env ${{{{ matrix.environment }}}} --layer ${{{{ matrix.layer }}}}"
    )


def test_pull_requests_deploy_all_layers_to_the_emulator_with_the_real_cli() -> None:
    job = load("pull-request.yml")["jobs"]["local-deploy"]
    assert steps_using(job, "pulumi/actions@")
    assert "tests/test_e2e_local.py" in run_lines(job)[-1]


def test_ci_installs_into_and_runs_invoke_from_the_virtualenv_pulumi_yaml_names() -> None:
    """Pulumi runs each program with the virtualenv Pulumi.yaml names: the project must be
    installed there, not into the runner's Python, and invoke must run from it too."""
    checked = []
    for path in WORKFLOWS:
        for name, job in load(path.name)["jobs"].items():
            commands = commands_of(job)
            installs = [argv for argv in commands if installs_the_project(argv)]
            runs_invoke = [argv for argv in commands if os.path.basename(argv[0]) == "invoke"]
            if not installs and not runs_invoke:
                continue
            where = f"{path.name}: job {name}"
            assert installs, f"{where} runs invoke but never installs the project"
            created = [
                index
                for index, argv in enumerate(commands)
                if argv[1:3] == ["-m", "venv"] and os.path.normpath(argv[-1]) == VENV
            ]
            assert created, f"{where}: no `python -m venv {VENV}` step"
            for argv in installs:
                assert os.path.normpath(argv[0]) in (f"{VENV}/bin/pip", f"{VENV}/bin/python"), (
                    f"{where} installs with {argv[0]!r}, not into {VENV}: {shlex.join(argv)}"
                )
                assert commands.index(argv) > created[0], f"{where} installs before creating {VENV}"
            for argv in runs_invoke:
                assert os.path.normpath(argv[0]) == f"{VENV}/bin/invoke", (
                    f"{where} runs {argv[0]!r}, not {VENV}/bin/invoke: {shlex.join(argv)}"
                )
                assert commands.index(argv) > commands.index(installs[0])
            checked.append(where)
    assert len(checked) == 5, checked  # lint, test, local-deploy, preview, deploy


def test_the_virtualenv_check_catches_the_runners_python() -> None:
    job = {"steps": [{"run": 'pip install -e ".[dev]"'}, {"run": "invoke lint"}]}
    (install,) = [argv for argv in commands_of(job) if installs_the_project(argv)]
    assert install[0] == "pip"  # so the check above reports it: not {VENV}/bin/pip
    assert installs_the_project(shlex.split("python -m pip install -e '.[dev]'"))
    assert installs_the_project(shlex.split(".venv/bin/pip install ."))
    assert not installs_the_project(shlex.split("pip install check-jsonschema"))


# -- pushes to main ---------------------------------------------------------------------------


def needs(job: dict[str, Any]) -> list[str]:
    value = job.get("needs", [])
    return [value] if isinstance(value, str) else list(value)


def deploy_chain() -> list[tuple[str, dict[str, Any]]]:
    """The deploy jobs from first to last: each needs exactly the one before it."""
    jobs = load("deploy.yml")["jobs"]
    ordered: list[tuple[str, dict[str, Any]]] = []
    previous: list[str] = []
    while len(ordered) < len(jobs):
        done = {name for name, _ in ordered}
        ready = [name for name, job in jobs.items() if name not in done and needs(job) == previous]
        assert len(ready) == 1, f"deploy jobs must form one chain; after {previous}: {ready}"
        ordered.append((ready[0], jobs[ready[0]]))
        previous = [ready[0]]
    return ordered


def test_pushes_to_main_deploy_every_environment_in_promotion_order() -> None:
    workflow = load("deploy.yml")
    assert workflow["on"]["push"]["branches"] == ["main"]
    chain = deploy_chain()
    assert [job["with"]["environment"] for _, job in chain] == environments()
    for _, job in chain:
        assert job["uses"] == "./.github/workflows/deploy-environment.yml"
        assert job["permissions"]["id-token"] == "write"
    assert workflow["concurrency"]["cancel-in-progress"] is False


def test_each_environment_job_runs_invoke_deploy_in_its_github_environment() -> None:
    called = load("deploy-environment.yml")
    assert "workflow_call" in called["on"]
    (job,) = called["jobs"].values()
    # The GitHub environment of the same name: "prod" carries the required-reviewer approval.
    assert job["environment"] == "${{ inputs.environment }}"
    assert (
        run_lines(job)[-1] == f"{VENV}/bin/invoke deploy --env ${{{{ inputs.environment }}}} --yes"
    )


def test_credentials_come_from_oidc_role_assumption_never_stored_keys() -> None:
    for name in ("pull-request.yml", "deploy-environment.yml"):
        workflow = load(name)
        cloud_jobs = [
            job
            for job in workflow["jobs"].values()
            if steps_using(job, "aws-actions/configure-aws-credentials@")
        ]
        assert cloud_jobs, name
        for job in cloud_jobs:
            permissions = job.get("permissions") or workflow.get("permissions")
            assert permissions["id-token"] == "write"
            (step,) = steps_using(job, "aws-actions/configure-aws-credentials@")
            assert "role-to-assume" in step["with"]
    for path in WORKFLOWS:
        text = path.read_text()
        assert "aws-access-key-id" not in text and "AWS_SECRET_ACCESS_KEY" not in text, path


def test_every_workflow_validates_against_the_github_workflow_schema_offline() -> None:
    executable = shutil.which("check-jsonschema") or str(
        Path(sys.executable).with_name("check-jsonschema")
    )
    if not Path(executable).exists():
        pytest.skip("check-jsonschema is not installed (pip install -e '.[dev]')")
    # A dead proxy proves the check needs no network: the schema is the one it vendors.
    offline = {
        **os.environ,
        "HTTP_PROXY": "http://127.0.0.1:9",
        "HTTPS_PROXY": "http://127.0.0.1:9",
    }
    result = subprocess.run(
        [executable, "--builtin-schema", "vendor.github-workflows", *map(str, WORKFLOWS)],
        capture_output=True,
        text=True,
        env=offline,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(WORKFLOWS) >= 3


def test_the_schema_check_rejects_a_broken_workflow(tmp_path: Path) -> None:
    executable = shutil.which("check-jsonschema") or str(
        Path(sys.executable).with_name("check-jsonschema")
    )
    if not Path(executable).exists():
        pytest.skip("check-jsonschema is not installed (pip install -e '.[dev]')")
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  deploy:\n    runs-onn: ubuntu-latest\n")
    result = subprocess.run(
        [executable, "--builtin-schema", "vendor.github-workflows", str(broken)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1


# -- CODEOWNERS -------------------------------------------------------------------------------


def codeowners() -> dict[str, list[str]]:
    rules: dict[str, list[str]] = {}
    for line in (GITHUB / "CODEOWNERS").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            pattern, *owners = line.split()
            rules[pattern] = owners
    return rules


def test_codeowners_has_one_team_per_layer_and_shared_code_owned_jointly() -> None:
    rules = codeowners()
    layer_owners = {}
    for layer in LAYERS:
        owners = rules.get(f"/projects/{layer.name}/")
        assert owners is not None and len(owners) == 1, f"layer {layer.name}: {owners}"
        layer_owners[layer.name] = owners[0]
    assert len(set(layer_owners.values())) == len(LAYERS)
    everyone = sorted(layer_owners.values())
    assert sorted(rules["/shared/"]) == everyone
    assert sorted(rules["/tasks.py"]) == everyone
    assert set(rules) == {*(f"/projects/{name}/" for name in layer_owners), "/shared/", "/tasks.py"}
