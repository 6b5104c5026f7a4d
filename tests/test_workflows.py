"""The CI workflows take their lists from the repository (`invoke ci-matrix`, read with
`fromJSON`), install exactly as the README says into the virtualenv Pulumi.yaml names, use
OIDC only, and validate against the GitHub schemas check-jsonschema ships (offline); and
CODEOWNERS agrees with the owners each layer.yaml declares."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from invoke import MockContext

import shared.layers
import tasks
from shared.ci import ci_matrix
from shared.consistency.new_env import new_environment
from shared.environments import environments, promotion_order
from shared.layers import PROJECTS_DIR, REPO_ROOT, LayerGraph, load_graph
from shared.testing import copy_projects

GITHUB = REPO_ROOT / ".github"
WORKFLOWS = sorted((GITHUB / "workflows").glob("*.yml"))
SETUP_ACTION = GITHUB / "actions" / "setup" / "action.yml"


def load(path: Path | str) -> dict[str, Any]:
    path = path if isinstance(path, Path) else GITHUB / "workflows" / path
    document = yaml.safe_load(path.read_text())
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
        found.add(os.path.relpath(path.parent / runtime["options"]["virtualenv"], REPO_ROOT))
    assert len(found) == 1, f"the projects name different virtualenvs: {sorted(found)}"
    (virtualenv,) = found
    assert not virtualenv.startswith(".."), f"{virtualenv} is outside the repository"
    return virtualenv


VENV = pulumi_virtualenv()


def all_jobs() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path.name, name, job) for path in WORKFLOWS for name, job in load(path)["jobs"].items()
    ]


# -- the lists come from the repository --------------------------------------------------------


def test_ci_matrix_is_every_environment_in_promotion_order_times_every_layer(
    capsys: pytest.CaptureFixture[str],
) -> None:
    tasks.ci_matrix(MockContext(), json=True)
    document = json.loads(capsys.readouterr().out)
    graph = load_graph()
    order = [env for env in promotion_order(graph) if env in environments(graph)]
    assert document["environments"] == order
    assert document["layers"] == graph.names
    assert document["matrix"]["include"] == [
        {"environment": env, "layer": layer} for env in order for layer in graph.names
    ]
    assert document["any_preview"] is True


def test_a_new_environment_or_layer_reaches_ci_without_a_workflow_edit(tmp_path: Path) -> None:
    from shared.new_layer import new_layer

    graph = copy_projects(tmp_path / "projects", ["dev", "staging", "prod"])
    layer = next(name for name in ("audit", "audit2", "audit3") if name not in graph.names)
    new_environment("qa", "staging", "staging", graph)
    new_layer(graph, layer, ["storage"], codeowners=tmp_path / "CODEOWNERS")
    document = ci_matrix(load_graph(graph.projects_dir))
    assert document["environments"] == ["dev", "staging", "qa", "prod"]
    assert document["layers"].index(layer) > document["layers"].index("storage")
    assert {"environment": "qa", "layer": layer} in document["matrix"]["include"]


def test_the_github_output_lines_are_compact_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    output, summary = tmp_path / "output", tmp_path / "summary"
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    tasks.ci_matrix(MockContext(), github_output=True)
    values = dict(line.split("=", 1) for line in output.read_text().splitlines())
    assert json.loads(values["environments"]) == environments()
    assert json.loads(values["matrix"])["include"][0] == {
        "environment": environments()[0],
        "layer": load_graph().names[0],
    }
    assert values["any_preview"] == "true"
    assert "| layer | previewed | why |" in summary.read_text()


# -- pull requests ---------------------------------------------------------------------------


def test_pull_requests_preview_the_matrix_ci_matrix_prints() -> None:
    jobs = load("pull-request.yml")["jobs"]
    plan = jobs["plan"]
    assert steps_using(plan, "actions/checkout@")[0]["with"]["fetch-depth"] == 0
    (plan_line,) = run_lines(plan)
    argv = shlex.split(plan_line)
    assert argv[:2] == [f"{VENV}/bin/invoke", "ci-matrix"]
    assert "--github-output" in argv and "--changed-since" in argv
    assert plan["outputs"]["matrix"] == "${{ steps.plan.outputs.matrix }}"

    preview = jobs["preview"]
    assert preview["needs"] == "plan"
    assert preview["if"] == "needs.plan.outputs.any_preview == 'true'"
    assert preview["strategy"]["matrix"] == "${{ fromJSON(needs.plan.outputs.matrix) }}"
    assert run_lines(preview)[-1] == (
        f"{VENV}/bin/invoke preview --env ${{{{ matrix.environment }}}} "
        "--layer ${{ matrix.layer }} "
        "--report preview-${{ matrix.environment }}-${{ matrix.layer }}.json"
    )
    assert f"{VENV}/bin/invoke lint" in run_lines(jobs["lint"])
    assert f"{VENV}/bin/invoke test" in run_lines(jobs["test"])


def test_no_workflow_lists_an_environment_or_a_layer() -> None:
    graph = load_graph()
    for path in WORKFLOWS:
        document = load(path)
        for name, job in document["jobs"].items():
            matrix = (job.get("strategy") or {}).get("matrix")
            if matrix is not None:
                assert isinstance(matrix, str) or all(
                    isinstance(value, str) and "fromJSON" in value for value in matrix.values()
                ), f"{path.name} job {name} lists its matrix by hand: {matrix}"
        for layer in graph.names:
            assert f"--layer {layer}" not in path.read_text(), (path.name, layer)


def test_pull_requests_deploy_all_layers_to_the_emulator_with_the_real_cli() -> None:
    job = load("pull-request.yml")["jobs"]["local-deploy"]
    assert steps_using(job, "pulumi/actions@")
    assert "tests/test_e2e_local.py" in run_lines(job)[-1]


# -- one set-up, exactly as the README says ----------------------------------------------------


def setup_commands() -> list[list[str]]:
    action = load(SETUP_ACTION)
    steps = [step for step in action["runs"]["steps"] if "run" in step]
    return [
        shlex.split(line)
        for step in steps
        for line in step["run"].strip().splitlines()
        if line.strip()
    ]


def test_the_setup_action_installs_the_locked_versions_into_the_pulumi_virtualenv() -> None:
    commands = setup_commands()
    assert commands[0][-3:] == ["-m", "venv", VENV]
    install = commands[1]
    assert install[0] == f"{VENV}/bin/pip"
    assert install[1:] == ["install", "-c", "requirements.lock", "-e", ".[dev]"]
    action = load(SETUP_ACTION)
    (cache,) = [
        step
        for step in action["runs"]["steps"]
        if step.get("uses", "").startswith("actions/cache@")
    ]
    assert cache["with"]["path"] == VENV
    assert "hashFiles('requirements.lock', 'pyproject.toml')" in cache["with"]["key"]
    assert "python-version" in cache["with"]["key"]


def test_every_job_that_runs_invoke_sets_up_first_and_runs_it_from_the_virtualenv() -> None:
    checked = []
    for workflow, name, job in all_jobs():
        lines = [line for block in run_lines(job) for line in block.splitlines()]
        invoked = [shlex.split(line) for line in lines if "invoke " in line]
        if not invoked:
            continue
        steps = job["steps"]
        setup = next(
            i for i, step in enumerate(steps) if step.get("uses") == "./.github/actions/setup"
        )
        first_run = next(i for i, step in enumerate(steps) if "run" in step)
        assert setup < first_run, f"{workflow} {name}"
        for argv in invoked:
            assert argv[0] == f"{VENV}/bin/invoke", f"{workflow} {name}: {shlex.join(argv)}"
        assert not [line for line in lines if "pip install" in line], f"{workflow} {name}"
        checked.append(f"{workflow}:{name}")
    assert len(checked) >= 6, checked


# -- pushes to main ---------------------------------------------------------------------------


def test_pushes_to_main_deploy_every_environment_one_at_a_time_in_promotion_order() -> None:
    workflow = load("deploy.yml")
    assert workflow["on"]["push"]["branches"] == ["main"]
    assert workflow["concurrency"]["cancel-in-progress"] is False
    jobs = workflow["jobs"]
    assert run_lines(jobs["plan"]) == [f"{VENV}/bin/invoke ci-matrix --github-output"]
    assert jobs["plan"]["outputs"]["environments"] == "${{ steps.plan.outputs.environments }}"
    deploy = jobs["deploy"]
    assert deploy["needs"] == "plan"
    assert deploy["strategy"]["max-parallel"] == 1
    assert deploy["strategy"]["fail-fast"] is True
    assert deploy["strategy"]["matrix"] == {
        "environment": "${{ fromJSON(needs.plan.outputs.environments) }}"
    }
    assert deploy["uses"] == "./.github/workflows/deploy-environment.yml"
    assert deploy["with"]["environment"] == "${{ matrix.environment }}"
    assert deploy["permissions"]["id-token"] == "write"


def test_each_environment_job_runs_invoke_deploy_in_its_github_environment() -> None:
    called = load("deploy-environment.yml")
    assert "workflow_call" in called["on"]
    (job,) = called["jobs"].values()
    # The GitHub environment of the same name: "prod" carries the required-reviewer approval.
    assert job["environment"] == "${{ inputs.environment }}"
    assert run_lines(job)[-1] == (
        f"{VENV}/bin/invoke deploy --env ${{{{ inputs.environment }}}} --yes "
        "--report deploy-${{ inputs.environment }}.json"
    )


def test_credentials_come_from_oidc_role_assumption_never_stored_keys() -> None:
    cloud_jobs = [
        (workflow, job)
        for workflow, _, job in all_jobs()
        if steps_using(job, "aws-actions/configure-aws-credentials@")
    ]
    assert len(cloud_jobs) >= 2
    for workflow, job in cloud_jobs:
        permissions = job.get("permissions") or load(workflow).get("permissions")
        assert permissions["id-token"] == "write", workflow
        (step,) = steps_using(job, "aws-actions/configure-aws-credentials@")
        assert "role-to-assume" in step["with"]
    for path in [*WORKFLOWS, SETUP_ACTION]:
        text = path.read_text()
        assert "aws-access-key-id" not in text and "AWS_SECRET_ACCESS_KEY" not in text, path


# -- run reports and drift --------------------------------------------------------------------


def report_upload(job: dict[str, Any], report: str) -> dict[str, Any]:
    (step,) = steps_using(job, "actions/upload-artifact@")
    assert step["if"] == "always()"  # a failed, drifted or interrupted run keeps its report
    assert step["with"]["path"] == report
    return step


@pytest.mark.parametrize(
    ("workflow", "job_name", "task", "report"),
    [
        (
            "pull-request.yml",
            "preview",
            "preview",
            "preview-${{ matrix.environment }}-${{ matrix.layer }}.json",
        ),
        ("deploy-environment.yml", "deploy", "deploy", "deploy-${{ inputs.environment }}.json"),
        ("drift.yml", "drift", "drift", "drift-${{ matrix.environment }}.json"),
    ],
)
def test_preview_deploy_and_drift_jobs_write_a_report_and_keep_it(
    workflow: str, job_name: str, task: str, report: str
) -> None:
    """The task itself appends its table to $GITHUB_STEP_SUMMARY; the report is an artifact."""
    job = load(workflow)["jobs"][job_name]
    (line,) = [line for line in run_lines(job) if f"invoke {task} " in line]
    assert line.endswith(f" --report {report}")  # one file per job: the matrix values name it
    report_upload(job, report)


def test_drift_runs_nightly_and_on_demand_for_every_environment_ci_matrix_lists() -> None:
    workflow = load("drift.yml")
    assert [entry["cron"] for entry in workflow["on"]["schedule"]] == ["17 4 * * *"]
    assert "workflow_dispatch" in workflow["on"]
    assert set(workflow["on"]) == {"schedule", "workflow_dispatch"}
    jobs = workflow["jobs"]
    assert run_lines(jobs["plan"]) == [f"{VENV}/bin/invoke ci-matrix --github-output"]
    assert jobs["plan"]["outputs"]["environments"] == "${{ steps.plan.outputs.environments }}"
    drift = jobs["drift"]
    assert drift["needs"] == "plan"
    assert drift["strategy"]["fail-fast"] is False
    assert drift["strategy"]["matrix"] == {
        "environment": "${{ fromJSON(needs.plan.outputs.environments) }}"
    }
    assert run_lines(drift)[-1] == (
        f"{VENV}/bin/invoke drift --env ${{{{ matrix.environment }}}} "
        "--report drift-${{ matrix.environment }}.json"
    )
    assert steps_using(drift, "pulumi/actions@v6")


def test_drift_uses_the_read_only_preview_role_never_the_deploy_role() -> None:
    drift = load("drift.yml")["jobs"]["drift"]
    preview = load("pull-request.yml")["jobs"]["preview"]
    (assume,) = steps_using(drift, "aws-actions/configure-aws-credentials@")
    (preview_assume,) = steps_using(preview, "aws-actions/configure-aws-credentials@")
    assert assume["with"]["role-to-assume"] == preview_assume["with"]["role-to-assume"]
    assert "DEPLOY" not in (GITHUB / "workflows" / "drift.yml").read_text()
    assert drift["permissions"] == {"contents": "read", "id-token": "write"}
    assert "environment" not in drift  # no deploy environment, no approval gate needed


# -- schema, offline -------------------------------------------------------------------------


def check_jsonschema() -> str:
    executable = shutil.which("check-jsonschema") or str(
        Path(sys.executable).with_name("check-jsonschema")
    )
    if not Path(executable).exists():
        pytest.skip(
            "check-jsonschema is not installed (pip install -c requirements.lock -e '.[dev]')"
        )
    return executable


def offline_environment() -> dict[str, str]:
    # A dead proxy proves the check needs no network: the schemas are the ones it vendors.
    return {**os.environ, "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}


def test_every_workflow_and_the_setup_action_validate_against_the_github_schemas_offline() -> None:
    for schema, files in (
        ("vendor.github-workflows", WORKFLOWS),
        ("vendor.github-actions", [SETUP_ACTION]),
    ):
        result = subprocess.run(
            [check_jsonschema(), "--builtin-schema", schema, *map(str, files)],
            capture_output=True,
            text=True,
            env=offline_environment(),
            timeout=60,
        )
        assert result.returncode == 0, result.stdout + result.stderr
    assert len(WORKFLOWS) >= 3


def test_the_schema_check_rejects_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  deploy:\n    runs-onn: ubuntu-latest\n")
    result = subprocess.run(
        [check_jsonschema(), "--builtin-schema", "vendor.github-workflows", str(broken)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1


def test_lint_validates_the_workflows_and_the_setup_action() -> None:
    c = MockContext(run={})
    from invoke import Result

    c = MockContext(run=Result(exited=0))
    tasks.lint(c)
    commands = [call.args[0] for call in c.run.call_args_list]
    assert any("vendor.github-workflows" in command for command in commands)
    assert any(
        "vendor.github-actions" in command and "action.yml" in command for command in commands
    )


# -- CODEOWNERS -------------------------------------------------------------------------------


def codeowners() -> dict[str, list[str]]:
    rules: dict[str, list[str]] = {}
    for line in (GITHUB / "CODEOWNERS").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            pattern, *owners = line.split()
            rules[pattern] = owners
    return rules


def test_codeowners_gives_each_layer_folder_the_owners_its_manifest_declares(
    graph: LayerGraph,
) -> None:
    rules = codeowners()
    for layer in graph:
        assert rules.get(f"/projects/{layer.name}/") == list(layer.owners), (
            f"CODEOWNERS must say `/projects/{layer.name}/  {' '.join(layer.owners)}` "
            f"(the owners in {layer.shown(layer.manifest)})"
        )
    layer_rules = {
        pattern for pattern in rules if pattern.startswith("/projects/") and pattern.endswith("/")
    }
    assert layer_rules == {f"/projects/{name}/" for name in graph.names}
    for shared_path in ("/shared/", "/tasks.py", "/requirements.lock", "/.github/"):
        assert rules[shared_path] == ["@your-org/platform-owners"], shared_path


def test_new_layer_adds_its_codeowners_line_after_the_other_layers(tmp_path: Path) -> None:
    from shared.new_layer import with_codeowner

    text = (GITHUB / "CODEOWNERS").read_text()
    updated = with_codeowner(text, "/projects/audit/  @org/audit")
    lines = updated.splitlines()
    position = lines.index("/projects/audit/  @org/audit")
    assert lines[position - 1].startswith("/projects/") and "layer" not in lines[position - 1]
    assert len(lines) == len(text.splitlines()) + 1
    assert shared.layers  # the module the CODEOWNERS rules are checked against
