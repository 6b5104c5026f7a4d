"""The task namespace itself: what `invoke --list` shows, help for every option, `lint`,
`test`, and that importing tasks.py stays cheap (no pulumi, pulumi_aws, boto3, moto)."""

from __future__ import annotations

import copy
import importlib.util
import os
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from invoke import Collection, Exit, MockContext, Result, Task, task

import tasks
from shared import consistency_tasks
from shared.layers import REPO_ROOT
from shared.testing import unused_environment_name

# (PyYAML is not listed: invoke itself imports it to read its configuration files.)
HEAVY_MODULES = ("pulumi", "pulumi_aws", "boto3", "botocore", "moto")


def all_tasks(collection: Collection, prefix: str = "") -> dict[str, Task]:
    found = {f"{prefix}{name}": task for name, task in collection.tasks.items()}
    for name, child in collection.collections.items():
        found.update(all_tasks(child, f"{prefix}{name}."))
    return found


def test_root_namespace_lists_the_tasks() -> None:
    # A superset check: other modules add their own tasks (render, check, new-env) to ns.
    assert set(all_tasks(tasks.ns)) >= {
        "deploy",
        "preview",
        "destroy",
        "outputs",
        "test",
        "lint",
        "local.start",
        "local.stop",
        "local.status",
    }


def test_root_namespace_is_an_explicit_collection_that_takes_more_tasks() -> None:
    @task
    def render(c: object) -> None:
        """Stand-in for a task another module adds."""

    extended = copy.deepcopy(tasks.ns)
    extended.add_task(render)
    assert {"deploy", "render", "local.start"} <= set(all_tasks(extended))


@pytest.mark.parametrize("name", sorted(all_tasks(tasks.ns)))
def test_every_task_and_every_option_has_help(name: str) -> None:
    task = all_tasks(tasks.ns)[name]
    assert (task.__doc__ or "").strip(), f"task {name} has no docstring"
    for argument in task.get_arguments():
        assert argument.help, f"option --{argument.name} of task {name} has no help text"


def test_invoke_list_shows_the_tasks_with_their_help() -> None:
    listed = subprocess.run(
        [sys.executable, "-m", "invoke", "--list"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for name in ("deploy", "preview", "destroy", "outputs", "local.start", "local.stop"):
        assert f"  {name} " in listed
    assert "Deploy ENV" in listed


def test_importing_tasks_imports_no_pulumi_or_cloud_sdk() -> None:
    probe = (
        "import sys\n"
        "from invoke.main import program\n"
        "program.run(['invoke', '--list'], exit=False)\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY_MODULES!r}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip().splitlines()[-1] == "[]"


# -- lint and test --------------------------------------------------------------------------


def lint_commands() -> list[str]:
    workflows = " ".join(
        str(path.relative_to(REPO_ROOT)) for path in sorted(tasks.WORKFLOWS_DIR.glob("*.yml"))
    )
    actions = " ".join(
        str(path.relative_to(REPO_ROOT)) for path in sorted(tasks.ACTIONS_DIR.glob("*/action.yml"))
    )
    python = shlex.quote(sys.executable)
    return [
        f"{python} -m ruff check .",
        f"{python} -m ruff format --check .",
        f"{python} -m check_jsonschema --builtin-schema vendor.github-workflows {workflows}",
        f"{python} -m check_jsonschema --builtin-schema vendor.github-actions {actions}",
    ]


def test_lint_runs_ruff_check_ruff_format_and_the_workflow_schema() -> None:
    c = MockContext(run=Result(exited=0))
    tasks.lint(c)
    assert [call.args[0] for call in c.run.call_args_list] == lint_commands()
    assert ".github/workflows/deploy.yml" in lint_commands()[2]


def test_lint_runs_every_check_and_names_the_failed_ones() -> None:
    ruff_check, ruff_format, schema, action_schema = lint_commands()
    c = MockContext(
        run={
            ruff_check: Result(exited=1),
            ruff_format: Result(exited=0),
            schema: Result(exited=1),
            action_schema: Result(exited=0),
        }
    )
    with pytest.raises(Exit) as raised:
        tasks.lint(c)
    assert raised.value.message == f"error: lint failed: {ruff_check}; {schema}"
    assert len(c.run.call_args_list) == 4


def test_test_task_runs_pytest_with_the_interpreter_running_invoke() -> None:
    c = MockContext(run=Result(exited=0))
    tasks.test(c)
    tasks.test(c, options="-k deploy -x")
    python = shlex.quote(sys.executable)
    assert [call.args[0] for call in c.run.call_args_list] == [
        f"{python} -m pytest",
        f"{python} -m pytest -k deploy -x",
    ]


def test_lint_and_test_need_nothing_on_path_only_the_running_interpreter() -> None:
    """`.venv/bin/invoke lint|test` works without activating the virtualenv: every command
    starts with sys.executable and runs a module that interpreter can import."""
    c = MockContext(run=Result(exited=0))
    tasks.lint(c)
    tasks.test(c)
    for call in c.run.call_args_list:
        python, flag, module, *_ = shlex.split(call.args[0])
        assert (python, flag) == (sys.executable, "-m"), call.args[0]
        assert importlib.util.find_spec(module) is not None, f"{module} is not installed"
        assert importlib.util.find_spec(f"{module}.__main__") is not None, module


def test_invoke_test_runs_from_the_venv_without_activating_it() -> None:
    """What CI does: `.venv/bin/invoke test` with the virtualenv's bin/ not on PATH."""
    venv_bin = str(Path(sys.executable).parent)
    path = os.pathsep.join(
        folder
        for folder in os.environ.get("PATH", os.defpath).split(os.pathsep)
        if folder and Path(folder).resolve() != Path(venv_bin).resolve()
    )
    env = {**os.environ, "PATH": path}
    env.pop("VIRTUAL_ENV", None)
    result = subprocess.run(
        [sys.executable, "-m", "invoke", "test", "--options", "--co -q tests/test_workflows.py"],
        cwd=REPO_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "tests collected" in result.stdout


# -- exit codes: 2 for bad input, 1 for a failure (tasks.py docstring) -------------------------


def pytest_exiting(code: int) -> MockContext:
    return MockContext(run=Result(exited=code))


@pytest.mark.parametrize(
    ("pytest_code", "task_code"),
    [(1, 1), (2, 1), (3, 1), (4, 2), (5, 2)],
    ids=["tests-failed", "interrupted", "internal-error", "bad-options", "nothing-collected"],
)
def test_test_task_exit_code_says_failure_or_bad_options(pytest_code: int, task_code: int) -> None:
    with pytest.raises(Exit) as raised:
        tasks.test(pytest_exiting(pytest_code), options="--bogus")
    assert raised.value.code == task_code


def test_failed_lint_exits_1() -> None:
    with pytest.raises(Exit) as raised:
        tasks.lint(MockContext(run=Result(exited=1)))
    assert raised.value.code == 1


@pytest.mark.parametrize(
    "run_task",
    [
        lambda c: consistency_tasks.render(c, env=unused_environment_name("qa")),
        lambda c: consistency_tasks.render(c, layer="network"),
        lambda c: consistency_tasks.new_env(c, name="Not-A-Name", from_="dev"),
    ],
    ids=["render-unknown-env", "render-unknown-layer", "new-env-bad-name"],
)
def test_bad_input_to_the_offline_tasks_exits_2_like_every_task(
    run_task: Callable[[MockContext], None],
) -> None:
    with pytest.raises(Exit) as raised:
        run_task(MockContext())
    assert raised.value.code == 2
