"""Tasks for the raw-data ingestion pipeline: `invoke --list`, `invoke --help <task>`.

A table of contents: each task validates its flags and hands over to ``shared.deploy`` (the
layer chain), ``shared.local_emulator`` (local mode) or a tool. The layers and their order
come from the layer folders (``projects/<layer>/layer.yaml``, read by ``shared.layers``);
environments are the stack files present (``shared.environments``).

Exit codes, the same for every task (``shared.errors``, ``shared.deploy.chain``):

- 0: done. A preview whose layers are only "blocked" (not deployed yet) is done too; so is a
  preview with changes, unless --expect-no-changes was given; drift: every layer in sync (or
  not deployed).
- 1 (``EXIT_FAILURE``): the task ran and something failed: a layer's pulumi command, reading
  outputs, the emulator not answering, ``check`` or ``render`` finding a problem in the stack
  files, lint, the tests, writing the --report file; drift: a layer that could not be checked
  (this outranks drift found in another layer: the table names both).
- 2 (``EXIT_USER_ERROR``): bad input; the task refused before changing anything, and the
  message says what to fix: an unknown environment or layer, flags that cannot be combined,
  a missing --confirm-prod, a layer whose dependants are still deployed, no ``pulumi`` on
  PATH, a missing policy pack (policies/PulumiPolicy.yaml) without --skip-policy-pack, a
  --report file that cannot be written there, pytest options it cannot use, a bad ``new-env``
  name.
- 3 (``EXIT_CHANGES``): the task ran, and the infrastructure is not as declared: ``drift``
  found a drifted layer, or ``preview --expect-no-changes`` found a layer that would change
  (or is not deployed yet).
- 130 / 143: interrupted by SIGINT (Ctrl-C) / SIGTERM (128 + the signal number). The pulumi
  command that was running finished or cancelled (pulumi handles the interrupt itself; it is
  never killed), no later layer started, and the summary (and --report) says which layer was
  interrupted and which were not run.

The same for the command line itself (``shared.cli``): an unknown or mistyped flag (with the
flag meant: ``--environment`` is ``--env``), a flag without its value, a missing required flag
or a value given without its flag is bad input, exit 2. Every message starts with ``error: ``;
none is a traceback. With ``--json``, stdout stays one JSON document (``{"ok": false, "error":
{"message": ..., "exit_code": ...}}`` when the task failed first). A stdout closed by its reader
(``invoke check | head -1``) ends quietly with 141, an unhandled Ctrl-C with 130.
docs/troubleshooting.md lists the messages and what to do.

Importing this file must stay cheap (`invoke --list` < 0.5 s): no pulumi, pulumi_aws, boto3 or
moto imports here or in the modules it imports; see benchmarks/tasks_import.py.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from invoke import Collection, Context, task

from shared import cli, consistency_tasks
from shared import deploy as chain
from shared.environments import environments
from shared.errors import EXIT_FAILURE, EXIT_USER_ERROR, PipelineError, task_errors, task_exit
from shared.layers import REPO_ROOT, load_graph
from shared.local_emulator import NOT_ANSWERING, RUNNING, STALE, LocalEmulator, parse_port
from shared.text import echo_format

WORKFLOWS_DIR = REPO_ROOT / ".github" / "workflows"
ACTIONS_DIR = REPO_ROOT / ".github" / "actions"


def _choices() -> tuple[str, str]:
    """The environments and layers for the help texts; a broken manifest shows there, and
    the task that needs it says what is wrong when it runs."""
    try:
        graph = load_graph()
        return ", ".join(environments(graph)) or "(none yet)", (
            f"{', '.join(graph.names)} (default: all, {' -> '.join(graph.names)})"
        )
    except PipelineError as error:
        return f"(unreadable: {error})", f"(unreadable: {error})"


_ENVIRONMENTS, _LAYERS = _choices()
_HELP = {
    "env": f"environment = stack name; one of: {_ENVIRONMENTS}",
    "layer": f"run one layer only; one of: {_LAYERS}",
    "yes": "do not ask before changing anything (pulumi --yes); CI passes it",
    "backend": "state backend URL for this run (sets PULUMI_BACKEND_URL), e.g. s3://bucket; "
    "default: the backend you are logged in to, or PULUMI_BACKEND_URL",
    "local": "use the local AWS emulator on 127.0.0.1 and a file backend under .local/ "
    "(no AWS account needed; committed stack files are never modified)",
    "report": "also write a JSON report to this file (per layer: status, duration, note, "
    "pulumi's resource change counts); pulumi then prints JSON, shown as one line per event, "
    "instead of its own display; written also when the run fails or is interrupted",
    "skip_policy_pack": "run without the CrossGuard policy pack in policies/ (a WARNING line, "
    "and recorded in the report); by default pulumi runs it (--policy-pack)",
}


def _help(*names: str, **extra: str) -> dict[str, str]:
    return {**{name: _HELP[name] for name in names}, **extra}


@task(
    help=_help(
        "env",
        "layer",
        "backend",
        "local",
        "skip_policy_pack",
        yes=_HELP["yes"] + "; --report needs it",
        report=_HELP["report"],
    )
)
def deploy(
    c: Context,
    env: str,
    layer: str | None = None,
    yes: bool = False,
    backend: str | None = None,
    local: bool = False,
    report: str | None = None,
    skip_policy_pack: bool = False,
) -> None:
    """Deploy ENV: `pulumi up` per layer, in order.

    Deploy ENV: `pulumi up` per layer in dependency order, then a summary table.

    The first failed layer stops the chain; the layers after it are reported "not run" and
    the task exits non-zero. Ctrl-C stops it cleanly (exit 130). With --local the emulator is
    started when it is not running.
    """
    chain.run_deploy(
        c,
        env,
        layer,
        yes=yes,
        backend=backend,
        local=local,
        report=report,
        skip_policy_pack=skip_policy_pack,
    )


@task(
    help=_help(
        "env",
        "layer",
        "backend",
        "local",
        "report",
        "skip_policy_pack",
        expect_no_changes="exit 3 when a layer would change (or is not deployed yet); each "
        'layer is reported "changes" or "no changes" (pulumi\'s JSON is read, as with '
        "--report)",
    )
)
def preview(
    c: Context,
    env: str,
    layer: str | None = None,
    backend: str | None = None,
    local: bool = False,
    report: str | None = None,
    skip_policy_pack: bool = False,
    expect_no_changes: bool = False,
) -> None:
    """Preview ENV: `pulumi preview` per layer, in order.

    Preview ENV: `pulumi preview --diff` per layer in dependency order.

    A layer whose upstream stack has never been deployed is not previewed; one line names the
    layer to deploy first (reported "blocked"; that alone does not fail the task).
    """
    chain.run_preview(
        c,
        env,
        layer,
        backend=backend,
        local=local,
        report=report,
        skip_policy_pack=skip_policy_pack,
        expect_no_changes=expect_no_changes,
    )


@task(
    help=_help(
        "env",
        "layer",
        "backend",
        "local",
        yes=_HELP["yes"] + "; --report needs it",
        report=_HELP["report"],
        confirm_prod="also required to destroy a production-grade environment, one whose "
        "storage stack file keeps protectStatefulResources or deletionProtection on (prod, and "
        "any environment copied from it); resources marked protect stay protected",
    )
)
def destroy(
    c: Context,
    env: str,
    layer: str | None = None,
    yes: bool = False,
    confirm_prod: bool = False,
    backend: str | None = None,
    local: bool = False,
    report: str | None = None,
) -> None:
    """Destroy ENV: `pulumi destroy` per layer, reversed.

    Destroy ENV in reverse dependency order.

    Never unprotects anything. A single --layer is refused while a layer that depends on it
    is still deployed. A production-grade environment (see --confirm-prod) also needs
    --confirm-prod.
    """
    chain.run_destroy(
        c,
        env,
        layer,
        yes=yes,
        confirm_prod=confirm_prod,
        backend=backend,
        local=local,
        report=report,
    )


@task(help=_help("env", "layer", "backend", "local", "report", "skip_policy_pack"))
def drift(
    c: Context,
    env: str,
    layer: str | None = None,
    backend: str | None = None,
    local: bool = False,
    report: str | None = None,
    skip_policy_pack: bool = False,
) -> None:
    """Check ENV for drift, without writing state.

    Check ENV for drift: per layer `pulumi preview --refresh --expect-no-changes --json`.

    Reads the real state of every resource and compares it with the program, without
    writing any state (never `pulumi refresh`). A table says per layer: in sync, drifted
    (which resources, which properties), not deployed, or error. Exit 0 in sync, 3 drifted,
    1 when a layer could not be checked, 2 bad input.
    """
    chain.run_drift(
        c,
        env,
        layer,
        backend=backend,
        local=local,
        report=report,
        skip_policy_pack=skip_policy_pack,
    )


@task(help=_help("env", "layer", "backend", "local", json="print one JSON object instead"))
def outputs(
    c: Context,
    env: str,
    layer: str | None = None,
    json: bool = False,
    backend: str | None = None,
    local: bool = False,
) -> None:
    """Show every layer's stack outputs for ENV.

    Show every layer's stack outputs for ENV merged into one view (a table, or --json).
    """
    chain.run_outputs(c, env, layer, as_json=json, backend=backend, local=local)


@task(
    help={
        "port": "port on 127.0.0.1 to listen on: 1-65535, refused when something else holds it "
        "(default, or 0: any free port)"
    }
)
def local_start(c: Context, port: str | None = None) -> None:
    """Start the local AWS emulator on 127.0.0.1.

    Start the local AWS emulator (moto server) on 127.0.0.1 for --local runs.

    One emulator per local folder: when it already runs, says so (on another port than
    --port: refused). A stale pid file is reported and removed; nothing else is signalled.
    """
    emulator = LocalEmulator.default()
    with task_errors():
        chosen = parse_port(port, "--port")
        info, started = emulator.ensure_running(chosen)
    state = "started" if started else "already running"
    print(f"local emulator {state} on {info.endpoint} (pid {info.pid}); files: {emulator.root}")


@task
def local_stop(c: Context) -> None:
    """Stop the local emulator; discard the local state.

    Stop the local emulator and discard the local state and stack files that described it.

    Only a process verified to be this folder's emulator is signalled; a pid file that does
    not describe one is stale: reported and removed.
    """
    emulator = LocalEmulator.default()
    with task_errors():
        report = emulator.stop()
    if report.stale:
        print(report.stale)
    print(
        ("local emulator stopped" if report.stopped else "local emulator was not running")
        + f"; local state discarded ({emulator.root})"
    )


@task
def local_status(c: Context) -> None:
    """Say whether the local emulator is running.

    Say whether the local emulator is running, not running, not answering, or whether its
    pid file is stale (`invoke local.stop` removes it); changes nothing.
    """
    emulator = LocalEmulator.default()
    with task_errors():
        found = emulator.status()
    if found.info is not None and found.state == RUNNING:
        print(f"running on {found.info.endpoint} (pid {found.info.pid}); files: {emulator.root}")
    elif found.state == NOT_ANSWERING:
        print(f"not answering: {found.detail}; `invoke local.stop` stops it")
    elif found.state == STALE:
        print(
            f"stale pid file {emulator.info_file} ({found.detail}); `invoke local.stop` removes it"
        )
    else:
        print("not running")


def _tool(module: str) -> str:
    """Run a tool from the interpreter running invoke (the repository's .venv), so
    `.venv/bin/invoke test` works without activating the virtualenv or anything on PATH."""
    return f"{shlex.quote(sys.executable)} -m {module}"


# pytest's own exit codes that mean "the options were wrong", not "a test failed".
_PYTEST_USAGE_ERRORS = {4: "pytest usage error: check --options", 5: "no tests were collected"}


@task(help={"options": 'extra pytest arguments, e.g. "-k deploy -x"'})
def test(c: Context, options: str = "") -> None:
    """Run the offline test suite (pytest)."""
    with c.cd(REPO_ROOT):
        result = c.run(f"{_tool('pytest')} {options}".rstrip(), pty=True, warn=True)
    if result.failed:
        if result.exited in _PYTEST_USAGE_ERRORS:
            raise task_exit(f"test: {_PYTEST_USAGE_ERRORS[result.exited]}", EXIT_USER_ERROR)
        raise task_exit(f"test: pytest exited with {result.exited}", EXIT_FAILURE)


def workflow_files(folder: Path = WORKFLOWS_DIR) -> list[Path]:
    return sorted([*folder.glob("*.yml"), *folder.glob("*.yaml")])


def action_files(folder: Path = ACTIONS_DIR) -> list[Path]:
    return sorted([*folder.glob("*/action.yml"), *folder.glob("*/action.yaml")])


LOCK_FILE = "requirements.lock"
# The one command that writes the lock: every dependency of pyproject.toml (with the dev
# extra), pinned for any platform, as pip constraints (README: set-up).
LOCK_COMMAND = (
    "uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 "
    f"--output-file {LOCK_FILE}"
)


@task(help={"upgrade": "also move every pin to the newest release pyproject.toml allows"})
def lock(c: Context, upgrade: bool = False) -> None:
    """Rewrite requirements.lock from pyproject.toml.

    Write requirements.lock from pyproject.toml (uv pip compile); commit the result.
    """
    with c.cd(REPO_ROOT):
        result = c.run(
            f"{shlex.quote(sys.executable)} -m {LOCK_COMMAND} --quiet"
            + (" --upgrade" if upgrade else ""),
            warn=True,
        )
    if result.failed:
        raise task_exit(f"lock: uv exited with {result.exited}", EXIT_FAILURE)


@task
def lint(c: Context) -> None:
    """Lint: ruff, ruff format, workflow and action schemas.

    Lint: ruff check, ruff format --check, and the GitHub workflows and actions against
    their schemas.
    """

    def relative(paths: list[Path]) -> str:
        return " ".join(str(path.relative_to(REPO_ROOT)) for path in paths)

    schema = f"{_tool('check_jsonschema')} --builtin-schema"
    commands = [
        f"{_tool('ruff')} check .",
        f"{_tool('ruff')} format --check .",
        f"{schema} vendor.github-workflows {relative(workflow_files())}",
        f"{schema} vendor.github-actions {relative(action_files())}",
    ]
    with c.cd(REPO_ROOT):
        failed = [command for command in commands if c.run(command, warn=True).failed]
    if failed:
        raise task_exit("lint failed: " + "; ".join(failed), EXIT_FAILURE)


@task(
    help={
        "json": "print the whole document as JSON (default: a short summary)",
        "changed_since": "only the layers a change since this git ref affects (its folder, "
        "or a layer it reads, changed; shared code, tasks.py, the lock file or the workflows: "
        "every layer), e.g. origin/main",
        "github_output": "append the outputs to the file $GITHUB_OUTPUT names (and a summary "
        "to $GITHUB_STEP_SUMMARY), for a workflow's fromJSON",
    }
)
def ci_matrix(
    c: Context, json: bool = False, changed_since: str | None = None, github_output: bool = False
) -> None:
    """Print what CI runs: environments, layers, matrix.

    Print what CI runs, read from the repository: environments in promotion order, layers
    in deploy order, the environment x layer preview matrix.
    """
    import json as json_module
    import os

    from shared.ci import (
        affected_layers,
        changed_files,
        ci_matrix,
        github_outputs,
        summary_markdown,
    )

    with task_errors():
        graph = load_graph()
        affected = (
            affected_layers(graph, changed_files(changed_since))
            if changed_since is not None
            else None
        )
        document = ci_matrix(graph, affected)
    if github_output:
        for variable, text in (
            ("GITHUB_OUTPUT", github_outputs(document)),
            ("GITHUB_STEP_SUMMARY", summary_markdown(document)),
        ):
            target = os.environ.get(variable)
            if target:
                with open(target, "a", encoding="utf-8") as file:
                    file.write(text)
            elif variable == "GITHUB_OUTPUT":
                raise task_exit(
                    "--github-output: $GITHUB_OUTPUT is not set (not in GitHub Actions?)",
                    EXIT_USER_ERROR,
                )
    if json:
        print(json_module.dumps(document, indent=2))
    elif not github_output:
        print(f"environments (promotion order): {' -> '.join(document['environments'])}")
        print(f"layers (deploy order): {' -> '.join(document['layers'])}")
        print(
            f"preview: {', '.join(document['preview_layers']) or 'no layer'} in every environment"
        )
        for layer, why in document.get("reasons", {}).items():
            print(f"  {layer}: {why}")


@task(
    help={
        "for": "what you want to do: offline (render, check, tests; the default), local "
        "(deploy to the local emulator) or deploy (to AWS); only what it needs fails the task",
    }
)
def doctor(c: Context, for_: str = "offline") -> None:
    """Check this machine's prerequisites, and say what to do.

    Check this machine's prerequisites (Python, virtualenv and lock, Pulumi CLI, backend,
    AWS credentials, the local emulator) and say what to do for each one missing.
    """
    from shared.doctor import MISSING, NOTE, USES, diagnose
    from shared.text import GREEN, RED, YELLOW, Painter, format_table, plural, use_colour

    if for_ not in USES:
        raise task_exit(
            f"--for {for_!r} is not allowed; one of: {', '.join(USES)}", EXIT_USER_ERROR
        )
    findings = diagnose()
    paint = Painter(use_colour())
    colours = {MISSING: RED, NOTE: YELLOW}
    rows = [
        [
            finding.name,
            finding.status,
            finding.detail,
            finding.fix if finding.status == MISSING else "",
        ]
        for finding in findings
    ]

    def style(row: int, column: int, text: str) -> tuple[str, ...]:
        return (colours.get(text, GREEN),) if column == 1 else ()

    print(format_table(["check", "status", "found", "what to do"], rows, paint, style))
    blocking = [finding for finding in findings if finding.blocks(for_)]
    if blocking:
        names = ", ".join(finding.name for finding in blocking)
        raise task_exit(
            f"not ready for {for_}: {plural(len(blocking), 'check')} failed ({names})",
            EXIT_FAILURE,
        )
    print(f"ready for {for_}")


@task
def benchmarks(c: Context) -> None:
    """Run the benchmarks; rewrite docs/benchmarks.md.

    Run every benchmark script and write docs/benchmarks.md (figures, commands, machine).
    """
    from shared.benchmarks import write_page

    path = write_page()
    print(f"wrote {path.relative_to(REPO_ROOT)}")


local = Collection("local")
local.add_task(local_start, "start")
local.add_task(local_stop, "stop")
local.add_task(local_status, "status")

# The root namespace is explicit so more task modules can be added to it (ns.add_task /
# ns.add_collection), e.g. the offline render, check and new-env tasks.
ns = Collection()
for _task in (
    deploy,
    preview,
    destroy,
    drift,
    outputs,
    test,
    lint,
    lock,
    doctor,
    benchmarks,
    ci_matrix,
    *consistency_tasks.TASKS,
):
    ns.add_task(_task)
ns.add_collection(local)
# Flags only, never positional: a mistyped flag is then named, not taken for a value.
cli.flags_only(ns)
# Commands echoed by c.run(echo=True): bold on a terminal only, never under NO_COLOR.
ns.configure({"run": {"echo_format": echo_format()}})
# `invoke` itself explains a bad flag (shared.cli); invoke.yaml names the executor that
# gives every task's errors their one form.
cli.adopt_running_program()
