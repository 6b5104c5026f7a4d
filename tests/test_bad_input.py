"""Bad input is a message, not a traceback, in every task (shared.cli, docs/troubleshooting.md).

Most tests run the real command, `python -m invoke ...`, in a scratch copy of the repository
(some bad inputs edit files): stderr, stdout and the exit code are what a person or CI sees.
"""

from __future__ import annotations

import copy
import inspect
import json
import os
import pty
import re
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from invoke import Exit, Task

import tasks
from shared import cli
from shared.environments import full_key, read_stack_config, read_stack_document
from shared.errors import EXIT_BROKEN_PIPE, PipelineError, SettingsError
from shared.harness import render_stack
from shared.layers import REPO_ROOT, load_graph
from shared.testing import copy_projects, copy_repository, unused_environment_name
from shared.text import echo_format, shorten_long_values, use_colour

BROKEN_STACK_FILE = "config:\n  aws:region: us-east-1\n\tpipeline:tracing: true\n"
BROKEN_YAML_MESSAGE = (
    "error: projects/iam/Pulumi.staging.yaml: not valid YAML at line 3, column 1: "
    "found a tab character that violates indentation"
)
MISSING_STACK_FILE_MESSAGE = (
    "error: environment 'staging' is missing projects/iam/Pulumi.staging.yaml: every layer "
    "needs a stack file for each environment. Restore it (from git, or copy another "
    "environment's file and change the name in it); for a new environment, "
    "`invoke new-env --name NAME --from ENV` writes every layer's stack file"
)


@pytest.fixture
def scratch(tmp_path: Path, checkout: Path) -> Path:
    return copy_repository(tmp_path / "repo", checkout)


def invoke(
    cwd: Path, *argv: str | bytes, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "invoke", *argv],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="backslashreplace",
        timeout=120,
    )


def all_tasks() -> dict[str, Task]:
    found: dict[str, Task] = {}

    def walk(collection: object, prefix: str) -> None:
        for name, task in collection.tasks.items():  # type: ignore[attr-defined]
            found[f"{prefix}{name}"] = task
        for name, child in collection.collections.items():  # type: ignore[attr-defined]
            walk(child, f"{prefix}{name}.")

    walk(tasks.ns, "")
    return found


def all_arguments() -> dict[str, object]:
    """Every parameter of every task (a copy's get_arguments: invoke's consumes help texts)."""
    return {
        argument.name: argument
        for task in all_tasks().values()
        for argument in copy.deepcopy(task).get_arguments()
    }


def flag(name: str) -> str:
    return f"--{name.replace('_', '-').rstrip('-')}"


# -- a broken or missing stack file ---------------------------------------------------------


@pytest.mark.parametrize("argv", [["check"], ["render"], ["render", "--env", "staging"]])
def test_a_broken_stack_file_is_one_line_naming_file_and_line_exit_2(
    scratch: Path, argv: list[str]
) -> None:
    (scratch / "projects/iam/Pulumi.staging.yaml").write_text(BROKEN_STACK_FILE)
    result = invoke(scratch, *argv)
    assert (result.returncode, result.stderr) == (2, BROKEN_YAML_MESSAGE + "\n")
    assert result.stdout == ""


def test_a_misspelt_top_level_key_is_named_not_read_as_no_settings(scratch: Path) -> None:
    """`conifg:` would otherwise leave the stack with no settings of its own, silently."""
    path = scratch / "projects/iam/Pulumi.staging.yaml"
    path.write_text(path.read_text().replace("config:", "conifg:", 1))
    result = invoke(scratch, "check")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "error: projects/iam/Pulumi.staging.yaml: unknown top-level key 'conifg' (did you mean "
        "config?); a stack file holds config, secretsprovider, encryptedkey, encryptionsalt "
        "(settings go under config:)\n"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[]\n", "expected a mapping of stack settings (config: ...), got list []"),
        ("- config\n", "expected a mapping of stack settings (config: ...), got list ['config']"),
        ("config: []\n", "'config' must be a mapping of keys to values, got list []"),
        (
            "config: us-east-1\n",
            "'config' must be a mapping of keys to values, got str 'us-east-1'",
        ),
        ("environment: [shared]\n", "'environment' (Pulumi ESC) is not used here"),
    ],
    ids=["a-list", "a-list-of-keys", "config-a-list", "config-a-string", "esc-environment"],
)
def test_a_stack_file_that_is_not_stack_settings_is_refused_naming_the_file(
    tmp_path: Path, text: str, message: str
) -> None:
    graph = copy_projects(tmp_path / "projects", ["dev"])
    iam = graph.get("iam")
    (iam.directory / "Pulumi.dev.yaml").write_text(text)
    with pytest.raises(SettingsError) as refused:
        read_stack_config(iam, "dev")
    assert str(refused.value).startswith(f"projects/iam/Pulumi.dev.yaml: {message}")


YAML_1_1_BOOLEAN = (
    "{0} is a boolean to YAML 1.1 readers (PyYAML, here) but the text '{0}' to YAML 1.2 ones "
    '(e.g. the Pulumi CLI\'s); write true or false for a boolean, or "{0}" in quotes for text'
)
NO_VALUE = (
    "pipeline:tracing has no value (empty, or null); give it one, or remove the key to use the "
    "default"
)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("yes", YAML_1_1_BOOLEAN.format("yes")),
        ("Off", YAML_1_1_BOOLEAN.format("Off")),
        ("", NO_VALUE),
        ("~", NO_VALUE),
    ],
    ids=["yes", "Off", "empty", "tilde-null"],
)
def test_a_value_readers_could_disagree_on_is_refused_naming_file_and_key(
    tmp_path: Path, value: str, message: str
) -> None:
    """PyYAML (YAML 1.1) reads `yes` as true; YAML 1.2 reads it as text: render and check
    must not read a setting otherwise than the CLI does. A null would read as 'None'."""
    graph = copy_projects(tmp_path / "projects", ["dev"])
    iam = graph.get("iam")
    path = iam.directory / "Pulumi.dev.yaml"
    text = path.read_text()
    assert "pipeline:tracing: " in text
    path.write_text(re.sub(r"pipeline:tracing: \S+", f"pipeline:tracing: {value}", text))
    with pytest.raises(PipelineError) as refused:
        read_stack_config(iam, "dev")
    assert "projects/iam/Pulumi.dev.yaml: " in str(refused.value)
    assert str(refused.value).endswith(message)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "config:\n  rawdata-compute:memorySize: !!int abc\n",
            "refused: a value its tag cannot make",
        ),
        ("config:\n  [a]: b\n", "found unhashable key"),
        (
            "config:\n  pipeline:tracing: !!bool maybe\n",
            "refused at line 2, column 21: 'maybe' is not a boolean",
        ),
    ],
    ids=["bad-tag", "unhashable-key", "not-a-boolean"],
)
def test_odd_yaml_is_one_line_naming_the_file(tmp_path: Path, text: str, message: str) -> None:
    graph = copy_projects(tmp_path / "projects", ["dev"])
    compute = graph.get("compute")
    (compute.directory / "Pulumi.dev.yaml").write_text(text)
    with pytest.raises(PipelineError) as refused:
        read_stack_config(compute, "dev")
    assert "projects/compute/Pulumi.dev.yaml: " in str(refused.value)
    assert message in str(refused.value)


def test_merge_keys_and_dates_in_lists_read_as_the_cli_reads_them(tmp_path: Path) -> None:
    graph = copy_projects(tmp_path / "projects", ["dev"])
    compute = graph.get("compute")
    (compute.directory / "Pulumi.dev.yaml").write_text(
        "config:\n"
        "  <<: {pipeline:tracing: True, rawdata-compute:memorySize: 512}\n"
        "  rawdata-compute:memorySize: 1024\n"
        "  rawdata-compute:note: [2024-01-01]\n"
    )
    config = read_stack_config(compute, "dev")
    assert config["pipeline:tracing"] == "True"  # merged, and still as written
    assert config["rawdata-compute:memorySize"] == "1024"  # the explicit key wins
    assert config["rawdata-compute:note"] == '["2024-01-01"]'


@pytest.mark.parametrize("written", ["  aws:region:\n", "  aws:region: null\n"])
def test_a_project_setting_with_no_value_names_pulumi_yaml(tmp_path: Path, written: str) -> None:
    """Not read as the text 'None' (then blamed on the region)."""
    graph = copy_projects(tmp_path / "projects", ["dev"])
    project_file = graph.projects_dir / "storage" / "Pulumi.yaml"
    text = project_file.read_text()
    assert "  aws:region: us-east-1\n" in text
    project_file.write_text(text.replace("  aws:region: us-east-1\n", written))
    storage = load_graph(graph.projects_dir).get("storage")
    with pytest.raises(SettingsError) as refused:
        read_stack_config(storage, "dev")
    assert str(refused.value).endswith(
        "projects/storage/Pulumi.yaml: aws:region has no value (empty, or null); give it one, or "
        "remove the key"
    )


@pytest.mark.parametrize(
    ("key", "written"),
    [
        ("pipeline:tracing", "True"),
        ("pipeline:tracing", "FALSE"),
        ("rawdata-compute:memorySize", "0x800"),
        ("rawdata-compute:memorySize", "0o1000"),
        ("rawdata-compute:memorySize", "+512"),
        ("rawdata-compute:memorySize", "1_024"),
        ("rawdata-compute:memorySize", "512.0"),
    ],
)
def test_a_scalar_setting_reaches_the_program_as_written_as_the_cli_passes_it(
    tmp_path: Path, key: str, written: str
) -> None:
    """pulumi hands a program a scalar's source text (its config.Value unmarshals it into a
    string first), not what a YAML reader makes of it: `True` stays "True", `0x800` "0x800".
    So the settings model refuses in render and check what it will refuse at deploy."""
    graph = copy_projects(tmp_path / "projects", ["dev"])
    compute = graph.get("compute")
    path = compute.directory / "Pulumi.dev.yaml"
    bare = key.split(":", 1)[1] if key.startswith("rawdata-compute:") else key
    text = path.read_text()
    line = re.compile(rf"^(  (?:{re.escape(key)}|{re.escape(bare)}):) .*$", re.MULTILINE)
    assert line.search(text), key
    path.write_text(line.sub(lambda match: f"{match[1]} {written}", text))
    assert read_stack_config(compute, "dev")[key] == written
    with pytest.raises(
        SettingsError, match=rf"{re.escape(key)} = '?{re.escape(written)}'? is not allowed"
    ):
        render_stack("compute", "dev", config=read_stack_config(compute, "dev"))


def test_an_empty_stack_file_is_a_stack_with_no_settings_of_its_own(tmp_path: Path) -> None:
    graph = copy_projects(tmp_path / "projects", ["dev"])
    iam = graph.get("iam")
    own = read_stack_document(iam, "dev")["config"]
    (iam.directory / "Pulumi.dev.yaml").write_text("")
    project_only = read_stack_config(iam, "dev")
    (iam.directory / "Pulumi.dev.yaml").write_text("config:\n")
    assert read_stack_config(iam, "dev") == project_only
    only_in_the_stack_file = [key for key in own if key not in iam.project_config]
    assert only_in_the_stack_file
    assert not any(full_key(iam, key) in project_only for key in only_in_the_stack_file)


@pytest.mark.parametrize("task", ["check", "render"])
def test_with_json_stdout_is_an_error_object_when_the_task_fails_first(
    scratch: Path, task: str
) -> None:
    (scratch / "projects/iam/Pulumi.staging.yaml").write_text(BROKEN_STACK_FILE)
    result = invoke(scratch, task, "--json")
    assert json.loads(result.stdout) == {
        "ok": False,
        "error": {"message": BROKEN_YAML_MESSAGE.removeprefix("error: "), "exit_code": 2},
    }
    assert (result.returncode, result.stderr) == (2, BROKEN_YAML_MESSAGE + "\n")


def test_render_names_a_missing_stack_file_and_how_to_write_one(scratch: Path) -> None:
    (scratch / "projects/iam/Pulumi.staging.yaml").unlink()
    for argv in (["render"], ["render", "--env", "staging", "--layer", "storage"]):
        result = invoke(scratch, *argv)
        assert (result.returncode, result.stderr) == (2, MISSING_STACK_FILE_MESSAGE + "\n")


def test_a_stack_that_does_not_render_is_named_with_each_bad_setting(scratch: Path) -> None:
    graph = load_graph(scratch / "projects")
    first = graph.deploy_order()[0]
    stack_file = first.directory / "Pulumi.staging.yaml"
    document = yaml.safe_load(stack_file.read_text())
    broken = sorted(document["config"])[:2]
    for key in broken:
        document["config"][key] = {"not": "a setting"}
    stack_file.write_text(yaml.safe_dump(document))
    result = invoke(scratch, "render", "--env", "staging")
    assert result.returncode == 1
    first_line, *details = result.stderr.splitlines()
    assert first_line.startswith(f"error: {first.name}/staging does not render: ")
    settings = [line for line in details if " = " in line]
    assert sorted(line.split(" = ")[0] for line in settings) == broken
    assert [line.split(" ")[0] for line in details if " = " not in line] == [
        f"{layer.name}/staging" for layer in graph.downstreams(first)[::-1]
    ]


def test_new_env_from_a_broken_source_names_the_file_and_writes_nothing(scratch: Path) -> None:
    (scratch / "projects/iam/Pulumi.staging.yaml").write_text(BROKEN_STACK_FILE)
    before = sorted(path.name for path in (scratch / "projects/iam").iterdir())
    result = invoke(scratch, "new-env", "--name", "qa", "--from", "staging")
    assert (result.returncode, result.stderr) == (2, BROKEN_YAML_MESSAGE + "\n")
    assert sorted(path.name for path in (scratch / "projects/iam").iterdir()) == before


def test_the_check_with_a_violation_keeps_its_own_json_document(scratch: Path) -> None:
    """A task that printed its document and then fails adds no second one."""
    (scratch / "projects/iam/Pulumi.staging.yaml").unlink()
    result = invoke(scratch, "check", "--json")
    document = json.loads(result.stdout)
    assert document["ok"] is False
    assert [finding["check"] for finding in document["findings"]][:1] == ["stack-files"]
    assert result.returncode == 1
    assert result.stderr == "error: check failed: fix the violations above\n"


# -- a layer's program run with plain python ----------------------------------------------


@pytest.mark.parametrize("layer", ["compute", "storage"])
def test_a_layer_program_run_directly_says_how_to_run_it(layer: str) -> None:
    result = subprocess.run(
        [sys.executable, f"projects/{layer}/__main__.py"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr == (
        f"error: projects/{layer}/__main__.py is the Pulumi program of layer '{layer}'; it "
        f"runs under the Pulumi engine (`pulumi up --stack ENV` in projects/{layer}, or "
        f"`invoke deploy --env ENV --layer {layer}`) or offline under Pulumi's mocks "
        f"(`invoke render --env ENV --layer {layer}`, `invoke check`), not with plain python\n"
    )


# -- a closed stdout --------------------------------------------------------------------------


@pytest.mark.parametrize("argv", [["check"], ["render", "--json"]])
def test_a_reader_that_stops_early_ends_the_task_quietly(argv: list[str]) -> None:
    """`invoke check | head -1`: read one line, close the pipe, and the task ends without a
    traceback (141 when its writes met the closed pipe, 0 when they all fitted before)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "invoke", *argv],
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    first = process.stdout.readline()
    process.stdout.close()
    stderr = process.stderr.read().decode()
    process.stderr.close()
    code = process.wait(timeout=120)
    assert first.strip()
    assert stderr == ""
    assert code in (0, EXIT_BROKEN_PIPE)


@pytest.mark.parametrize(
    "argv", [["render", "--json", "--env", "dev"], ["ci-matrix", "--json"], ["--list"]]
)
def test_a_stdout_closed_before_the_first_write_ends_with_141_and_no_traceback(
    argv: list[str],
) -> None:
    """The same, made certain: the pipe's reader is gone before the task writes anything."""
    reader, writer = os.pipe()
    os.close(reader)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "invoke", *argv],
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(writer)
    assert (result.returncode, result.stderr) == (EXIT_BROKEN_PIPE, "")


# -- mistyped flags -----------------------------------------------------------------------


def flags_of(task: str) -> str:
    """The flags a task takes, as the hints list them."""
    arguments = copy.deepcopy(all_tasks()[task]).get_arguments()
    return ", ".join(flag(argument.name) for argument in arguments)


def tasks_with(wanted: str) -> str:
    return ", ".join(
        name
        for name, task in all_tasks().items()
        if wanted in {flag(a.name) for a in copy.deepcopy(task).get_arguments()}
    )


FLAG_MISTAKES = {
    ("deploy", "--environment", "dev"): "error: deploy has no flag --environment: did you mean "
    f"--env? (flags of deploy: {flags_of('deploy')}; `invoke --help deploy`)",
    ("preview", "--stack", "dev"): "error: preview has no flag --stack: did you mean --env? "
    f"(flags of preview: {flags_of('preview')}; `invoke --help preview`)",
    ("deploy", "--env", "dev", "--layers", "iam"): "error: deploy has no flag --layers: did you "
    f"mean --layer? (flags of deploy: {flags_of('deploy')}; `invoke --help deploy`)",
    ("destroy", "--env", "dev", "--yse"): "error: destroy has no flag --yse: did you mean --yes? "
    f"(flags of destroy: {flags_of('destroy')}; `invoke --help destroy`)",
    ("deploy", "--env", "dev", "--dry-run"): "error: deploy has no flag --dry-run: `invoke "
    "preview --env ENV` shows what a deploy would change, `invoke render` and `invoke check` "
    "the stacks offline; deploy and destroy without --yes show pulumi's plan and ask before "
    "changing anything",
    ("check", "--env", "dev"): "error: check has no flag --env (flags of check: --json; "
    f"`invoke --help check`); --env is a flag of {tasks_with('--env')}",
    ("deploy", "dev"): "error: deploy: 'dev' is neither a flag nor a task: a value follows its "
    "flag's name, e.g. --env dev (`invoke --help deploy`)",
    ("deploy",): "error: deploy needs --env VALUE (environment = stack name; one of: "
    f"{tasks._ENVIRONMENTS})",
    ("deploy", "--env"): "error: deploy: --env needs a value: environment = stack name; one of: "
    f"{tasks._ENVIRONMENTS}",
    ("deploy", "--env", "dev", "--yes=no"): "error: deploy: --yes takes no value (given "
    "'--yes=no')",
    ("deplyo", "--env", "dev"): "error: no task named 'deplyo'; did you mean deploy? "
    "(`invoke --list` shows every task)",
    ("--help", "deplyo"): "error: no task named 'deplyo'; did you mean deploy? (`invoke --list` "
    "shows every task)",
    ("--bogus", "check"): "error: invoke has no flag --bogus (its own flags: `invoke --help`; a "
    "task's flags follow the task's name: `invoke --help TASK`)",
    ("new-env", "--name", "qa", "--form", "dev"): "error: new-env has no flag --form: did you "
    f"mean --from? (flags of new-env: {flags_of('new-env')}; `invoke --help new-env`)",
    ("deploy", "--env", "dev", "--env", "prod"): "error: deploy: --env is given twice ('dev', "
    "then 'prod'); it takes one value: run the task once for each",
    ("destroy", "--env=staging", "--yes", "-e", "prod"): "error: destroy: --env is given twice "
    "('staging', then 'prod'); it takes one value: run the task once for each",
    ("render", "-l", "storage", "--layer=iam"): "error: render: --layer is given twice "
    "('storage', then 'iam'); it takes one value: run the task once for each",
}


@pytest.mark.parametrize("argv", FLAG_MISTAKES, ids=[" ".join(argv) for argv in FLAG_MISTAKES])
def test_a_mistyped_command_line_gets_a_hint_and_exit_2(
    argv: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    """invoke's own command (`invoke.main.program`), run in this process: tasks.py handed its
    parse errors to shared.cli."""
    from invoke.main import program

    assert isinstance(program, cli.PipelineProgram)
    with pytest.raises(SystemExit) as exited:
        program.run(["invoke", "--search-root", str(REPO_ROOT), *argv])
    captured = capsys.readouterr()
    assert (exited.value.code, captured.err) == (2, FLAG_MISTAKES[argv] + "\n")
    assert captured.out == ""


def test_a_flag_that_takes_a_number_is_named_with_the_value_given() -> None:
    from invoke.parser import Argument, ParserContext

    context = ParserContext(name="wait", args=[Argument(names=("seconds", "s"), kind=int)])
    core = ParserContext(args=[])
    explain = cli.explain_argv
    assert explain(["wait", "--seconds", "soon"], [context], core) == (
        "wait: --seconds takes a whole number, got 'soon'"
    )
    assert explain(["wait", "-s10x"], [context], core) == (
        "wait: -s takes a whole number, got '10x'"
    )
    assert explain(["wait", "--seconds", "10"], [context], core) is None


def test_the_invoke_command_itself_gives_the_hint() -> None:
    result = invoke(REPO_ROOT, "deploy", "--environment", "dev")
    assert (result.returncode, result.stderr) == (
        2,
        FLAG_MISTAKES[("deploy", "--environment", "dev")] + "\n",
    )


def test_a_parse_error_with_json_is_an_error_object_too() -> None:
    result = invoke(REPO_ROOT, "render", "--json", "--envs", "dev")
    message = (
        "render has no flag --envs: did you mean --env? (flags of render: "
        f"{flags_of('render')}; `invoke --help render`)"
    )
    assert json.loads(result.stdout) == {"ok": False, "error": {"message": message, "exit_code": 2}}
    assert (result.returncode, result.stderr) == (2, f"error: {message}\n")


def test_every_synonym_names_a_flag_some_task_has() -> None:
    flags = {f"--{name.replace('_', '-').rstrip('-')}" for name in all_arguments()}
    assert set(cli.FLAG_SYNONYMS.values()) <= flags


# -- one voice around every task --------------------------------------------------------------


def test_an_unexpected_exception_is_one_line_that_says_it_is_a_bug() -> None:
    with pytest.raises(Exit) as raised, cli.one_voice():
        {}["missing"]
    assert raised.value.code == 1
    assert re.fullmatch(
        r"error: unexpected KeyError: 'missing' \(at tests/test_bad_input\.py:\d+ in "
        r"test_an_unexpected_exception_is_one_line_that_says_it_is_a_bug\); this is a bug in "
        r"the tasks: run the same command with `invoke --debug` for the traceback",
        raised.value.message,
    )


def test_debug_lets_the_traceback_through() -> None:
    with pytest.raises(KeyError), cli.one_voice(debug=True):
        {}["missing"]


def test_an_exit_without_the_prefix_gets_it_and_keeps_its_code() -> None:
    with pytest.raises(Exit) as raised, cli.one_voice():
        raise Exit("something failed", code=1)
    assert (raised.value.message, raised.value.code) == ("error: something failed", 1)


def test_a_pipeline_error_escaping_a_task_is_bad_input() -> None:
    with pytest.raises(Exit) as raised, cli.one_voice():
        raise PipelineError("unknown thing 'x'; known: y")
    assert (raised.value.message, raised.value.code) == ("error: unknown thing 'x'; known: y", 2)


def test_json_error_object_only_when_nothing_was_printed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(Exit), cli.one_voice(as_json=True):
        raise PipelineError("bad")
    assert json.loads(capsys.readouterr().out) == {
        "ok": False,
        "error": {"message": "bad", "exit_code": 2},
    }
    with pytest.raises(Exit), cli.one_voice(as_json=True):
        print(json.dumps({"ok": False, "findings": []}))
        raise Exit("error: check failed", code=1)
    assert json.loads(capsys.readouterr().out) == {"ok": False, "findings": []}


def test_a_huge_value_is_named_not_echoed() -> None:
    huge = "x" * 20000
    assert shorten_long_values(f"unknown environment {huge!r}; known: dev") == (
        f"unknown environment '{'x' * 40}...' (20000 characters); known: dev"
    )
    result = invoke(REPO_ROOT, "render", "--env", huge)
    assert result.returncode == 2
    assert result.stderr == (
        f"error: unknown environment '{'x' * 40}...' (20000 characters); environments with "
        f"stack files: {tasks._ENVIRONMENTS}\n"
    )


def test_only_a_long_quoted_value_is_cut_never_the_text_between_two_short_ones() -> None:
    """The message `invoke new-env --name true` once ended in: the closing quote of 'true' was
    taken for an opening one, and the 225 characters up to 'dev' were cut as one value."""
    message = (
        "environment 'true' was not created: `invoke check` fails with it (tried on a scratch "
        "copy; nothing was written): stack-files: -/- projects/environments.yaml "
        "promotion_order: projects/environments.yaml: promotion_order = ['dev', 'staging', "
        "'prod', True] is not allowed; expected a list of names"
    )
    assert shorten_long_values(message) == message
    huge = "y" * 300
    assert shorten_long_values(f"'a' then {huge!r}, 'b' and staging's {huge!r}") == (
        f"'a' then '{'y' * 40}...' (300 characters), 'b' and staging's "
        f"'{'y' * 40}...' (300 characters)"
    )
    quoted = "it's " + "z" * 300  # repr quotes it with double quotes
    assert shorten_long_values(f"--summary {quoted!r} is not allowed") == (
        f'--summary "it\'s {"z" * 35}..." (305 characters) is not allowed'
    )
    escaped = repr("it's \"" + "w" * 300)  # both quotes: repr escapes the single one
    assert shorten_long_values(f"value {escaped}") == (
        f"value 'it\\'s \"{'w' * 33}...' (307 characters)"
    )


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (
            {"owner": ""},
            "error: --owner '' is not allowed; expected a GitHub team, e.g. @org/team",
        ),
        (
            {"summary": ""},
            "error: --summary '' is not allowed; expected one line of 1-200 characters saying "
            "what the layer declares",
        ),
        (
            {"summary": "two\nlines"},
            "error: --summary 'two\\nlines' is not allowed; expected one line of 1-200 "
            "characters saying what the layer declares",
        ),
    ],
    ids=["empty-owner", "empty-summary", "two-lines"],
)
def test_new_layer_refuses_an_empty_owner_or_summary_instead_of_the_default(
    given: dict[str, str], message: str
) -> None:
    from invoke import MockContext

    from shared import consistency_tasks

    with pytest.raises(Exit) as raised:
        consistency_tasks.new_layer(MockContext(), name="extra", **given)
    assert (raised.value.code, raised.value.message) == (2, message)
    assert not (REPO_ROOT / "projects" / "extra").exists()


# -- every task, every kind of bad input -----------------------------------------------------

# Valid values for the required flags, so that one bad value at a time is tried.
VALID = {"env": "dev", "name": unused_environment_name("qa"), "from_": "dev"}
# Bad values for a flag: empty, non-ASCII and huge, not UTF-8 at all; for a number also a
# word and values out of range.
TEXT_JUNK: tuple[str | bytes, ...] = ("", b"\xff\xfe" + "-ünï☃-".encode() + b"x" * 20000)
NUMBER_JUNK: tuple[str | bytes, ...] = ("x", "-1", "70000")
# Values the sweep would call bad that a task documents as meaning something.
NOT_BAD = {
    ("local.start", "port", ""): "any free port, as no flag (shared/local/ports.py)",
}
# The bad set-ups: (file to break, what to write there; None: remove it).
SETUPS = {
    "broken stack file": ("projects/iam/Pulumi.staging.yaml", BROKEN_STACK_FILE),
    "missing stack file": ("projects/iam/Pulumi.staging.yaml", None),
    "broken layer.yaml": ("projects/iam/layer.yaml", "summary: [\n"),
}
# Tasks run only with bad flags, not in the bad set-ups: what they do with good flags is long,
# needs the network or leaves something running.
NOT_IN_SETUPS = {
    "benchmarks": "runs every benchmark, for minutes; it reads no stack file the set-ups break",
    "doctor": "asks AWS whose credentials these are (the network)",
    "test": "runs the whole test suite",
    "lock": "resolves every dependency against PyPI",
    "local.start": "starts the emulator",
    "lint": "reads none of the files the set-ups break; runs ruff and the schema checks",
}


@dataclass(frozen=True)
class Case:
    task: str
    argv: tuple[str | bytes, ...]
    setup: str | None = None
    allowed: frozenset[int] = field(default=frozenset({1, 2}))

    @property
    def id(self) -> str:
        shown = " ".join(
            repr(arg)[:24] if isinstance(arg, bytes) or len(arg) > 24 or not arg else arg
            for arg in self.argv
        )
        return f"{shown} [{self.setup}]" if self.setup else shown


def required_flags(task: Task, environment: str = "dev", but: str | None = None) -> list[str]:
    """Good values for the task's required flags (but one)."""
    argv = []
    for parameter in list(inspect.signature(task.body).parameters.values())[1:]:
        if parameter.default is inspect.Parameter.empty and parameter.name != but:
            value = environment if parameter.name in ("env", "from_") else VALID[parameter.name]
            argv += [flag(parameter.name), value]
    return argv


def sweep() -> list[Case]:
    cases = []
    for name, task in all_tasks().items():
        cases.append(Case(name, (name, *required_flags(task), "--no-such-flag"), allowed={2}))
        signature = inspect.signature(task.body).parameters
        for argument in copy.deepcopy(task).get_arguments():
            if argument.kind is bool:
                continue
            default = signature[argument.name].default
            junk = NUMBER_JUNK if argument.kind is int else TEXT_JUNK
            others = required_flags(task, but=argument.name)
            for value in junk:
                if value != default and (name, argument.name, value) not in NOT_BAD:
                    cases.append(Case(name, (name, *others, flag(argument.name), value)))
        if name not in NOT_IN_SETUPS:
            for setup in SETUPS:
                argv = (name, *required_flags(task, environment="staging"))
                cases.append(Case(name, argv, setup, allowed=frozenset({0, 1, 2})))
    return cases


@pytest.fixture(scope="module")
def fake_pulumi(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A `pulumi` that is there and fails: the deploy tasks go as far as they can offline."""
    folder = tmp_path_factory.mktemp("bin")
    script = folder / "pulumi"
    script.write_text("#!/bin/sh\necho 'pulumi: not available in this test' >&2\nexit 1\n")
    script.chmod(0o755)
    return folder


def run_case(case: Case, root: Path, checkout: Path, fake_bin: Path) -> tuple[Case, object]:
    repo = copy_repository(root, checkout)
    if case.setup:
        name, text = SETUPS[case.setup]
        if text is None:
            (repo / name).unlink()
        else:
            (repo / name).write_text(text)
    path = os.pathsep.join([str(fake_bin), str(Path(sys.executable).parent), os.defpath])
    return case, invoke(repo, *case.argv, env={"PATH": path, "NO_COLOR": "1"})


def test_every_task_refuses_every_bad_input_with_one_error_line(
    tmp_path: Path, checkout: Path, fake_pulumi: Path
) -> None:
    cases = sweep()
    assert {case.task for case in cases} == set(all_tasks())
    assert set(NOT_IN_SETUPS) <= set(all_tasks())
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(
            pool.map(
                lambda numbered: run_case(
                    numbered[1], tmp_path / str(numbered[0]), checkout, fake_pulumi
                ),
                enumerate(cases),
            )
        )
    problems = []
    for case, result in results:
        assert isinstance(result, subprocess.CompletedProcess)
        why = []
        if "Traceback" in result.stderr or "Exception ignored" in result.stderr:
            why.append("a traceback")
        if result.returncode not in case.allowed:
            why.append(f"exit {result.returncode}, not one of {sorted(case.allowed)}")
        if result.returncode and not re.search(r"^error: \S", result.stderr, re.M):
            why.append("no `error: ` line")
        if why:
            problems.append(f"{case.id}: {', '.join(why)}\n{result.stderr[-1500:]}")
    assert problems == []


# -- colour -----------------------------------------------------------------------------------


def run_on_a_terminal(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    """Run with stdout on a pseudo-terminal; what it wrote there, and its exit code."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=terminal, stderr=subprocess.PIPE
    )
    os.close(terminal)
    chunks = []
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the terminal's other end closed: the process is done writing
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(controller)
    process.communicate(timeout=120)
    return process.returncode, b"".join(chunks).decode(errors="replace")


ECHO_PROBE = '''

@task
def echo_probe(c):
    """Echo one command, as deploy does."""
    c.run("true", echo=True)


ns.add_task(echo_probe)
'''


@pytest.fixture
def echo_repo(scratch: Path) -> Path:
    with (scratch / "tasks.py").open("a") as file:
        file.write(ECHO_PROBE)
    return scratch


@pytest.mark.parametrize(
    ("terminal", "no_color", "coloured"),
    [(False, False, False), (True, True, False), (True, False, True)],
    ids=["pipe", "terminal-NO_COLOR", "terminal"],
)
def test_echoed_commands_are_coloured_only_on_a_terminal_without_no_color(
    echo_repo: Path, terminal: bool, no_color: bool, coloured: bool
) -> None:
    env = {key: value for key, value in os.environ.items() if key != "NO_COLOR"}
    env["TERM"] = "xterm-256color"
    if no_color:
        env["NO_COLOR"] = "1"
    argv = [sys.executable, "-m", "invoke", "echo-probe"]
    if terminal:
        code, out = run_on_a_terminal(argv, echo_repo, env)
    else:
        result = subprocess.run(argv, cwd=echo_repo, env=env, capture_output=True, text=True)
        code, out = result.returncode, result.stdout
    assert code == 0
    assert out.strip() == ("\x1b[1;37mtrue\x1b[0m" if coloured else "true")


@pytest.mark.parametrize(
    ("no_color", "term", "coloured"),
    [(True, "xterm-256color", False), (False, "xterm-256color", True), (False, "dumb", False)],
    ids=["NO_COLOR", "terminal", "TERM=dumb"],
)
def test_reports_are_coloured_on_a_terminal_unless_no_color(
    no_color: bool, term: str, coloured: bool
) -> None:
    env = {key: value for key, value in os.environ.items() if key != "NO_COLOR"}
    env["TERM"] = term
    if no_color:
        env["NO_COLOR"] = "1"
    argv = [sys.executable, "-m", "invoke", "render", "--env", "dev", "--layer", "storage"]
    code, out = run_on_a_terminal(argv, REPO_ROOT, env)
    assert code == 0
    assert ("\x1b[" in out) is coloured
    assert "dev_bucket_name" in out


def test_no_colour_in_a_file_or_under_no_color(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with (tmp_path / "out.txt").open("w") as file:
        assert not use_colour(file)
        assert echo_format(file) == "{command}"
    controller, terminal = pty.openpty()
    with os.fdopen(terminal, "w") as on_terminal:
        monkeypatch.delenv("NO_COLOR", raising=False)
        assert use_colour(on_terminal)
        monkeypatch.setenv("NO_COLOR", "1")
        assert not use_colour(on_terminal)
        assert echo_format(on_terminal) == "{command}"
    os.close(controller)


@pytest.fixture(autouse=True)
def _no_leftover_stdout() -> Iterator[None]:
    stdout = sys.stdout
    yield
    assert sys.stdout is stdout
