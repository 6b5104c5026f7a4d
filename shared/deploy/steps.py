"""The per-layer steps of deploy, preview, destroy and drift: which pulumi commands run, in
which order, and what their results mean.

Without a report, pulumi's own display is on the terminal (``pulumi preview --diff``, the
progress of ``pulumi up``). When a run reads pulumi's JSON (``--report``, preview's
``--expect-no-changes``, and always for drift), pulumi prints JSON instead: the steps read
the change counts and the changed resources from it, and show a readable line per event.
"""

from __future__ import annotations

from typing import Any

from invoke import Context, Result

from shared import pulumi_cli as cli
from shared.deploy.chain import (
    BLOCKED,
    CHANGES,
    DONE,
    DRIFTED,
    ERROR,
    FAILED,
    IN_SYNC,
    NO_CHANGES,
    NOT_DEPLOYED,
    SKIPPED,
    Outcome,
    Run,
    StepResult,
    finish,
    run_chain,
)
from shared.deploy.guards import Deployment, deployment, publishes_outputs, result_text
from shared.deploy.pulumi_json import JsonEcho, PulumiJson, plain, read_events, read_preview
from shared.deploy.targets import Target
from shared.layers import Layer
from shared.text import plural, say, use_colour

NOTE_LIMIT = 200


def _short(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= NOTE_LIMIT else line[: NOTE_LIMIT - 3] + "..."


def _missing_reference_hint(target: Target, layer: Layer, text: str) -> str:
    """After a failed run: name the upstream layer whose StackReference did not resolve."""
    for name in cli.unresolved_stack_references(text):
        parts = name.split("/")
        upstream = target.graph.by_project(parts[-2]) if len(parts) >= 2 else None
        if upstream is None:
            continue
        say(
            f"{layer.name}: stack reference {name} does not exist: deploy {upstream.name} "
            f"first ({target.invoke_hint('deploy', upstream)}), or check that pipeline:org "
            "names your backend's organization"
        )
        return f"deploy {upstream.name} first"
    return ""


def _error_line(result: Result) -> str:
    """pulumi's own ``error:`` line (it prints one on stderr, also in JSON mode)."""
    for line in plain(result_text(result)).splitlines():
        if line.strip().lower().startswith("error:"):
            return line.strip()
    return f"pulumi exited with {result.exited}"


def _failure_note(
    target: Target,
    layer: Layer,
    result: Result,
    read: PulumiJson | None,
    errors: list[str] | None = None,
) -> str:
    """Why a pulumi program run failed: a missing upstream, else (when pulumi printed JSON
    instead of its display) its first error."""
    text = result_text(result) + ("\n" + read.text() if read else "")
    hint = _missing_reference_hint(target, layer, text)
    if hint or read is None:
        return hint
    errors = list(read.errors) if errors is None else errors
    return _short(errors[0] if errors else read.problem or _error_line(result))


def _select_or_create_stack(c: Context, target: Target, layer: Layer) -> bool:
    """Deploy only: select the stack, creating it when missing."""
    command = cli.stack_select(target.environment, target.stack_dir(layer), create=True)
    return not c.run(command, warn=True, echo=True, env=target.env).failed


def _select_existing_stack(c: Context, target: Target, layer: Layer) -> Result:
    """Select the stack without ever creating it (preview, destroy). Output is hidden: the
    caller says what a failure means (no such stack, or pulumi's own text)."""
    command = cli.stack_select(target.environment, target.stack_dir(layer), create=False)
    return c.run(command, warn=True, hide=True, env=target.env)


def _run_program(c: Context, target: Target, command: str, *, reads_json: bool) -> Result:
    """Run `pulumi up`, `preview` or `destroy` on a pty (pulumi's progress reaches the
    terminal, and an interrupt reaches pulumi); JSON output is shown as readable lines. On a
    pty pulumi always sees a terminal, so unless ours is one (and NO_COLOR is not set) it is
    told not to colour: its output may be going to a file or a CI log."""
    env = target.env if use_colour() else {**target.env, "NO_COLOR": "1"}
    options: dict[str, Any] = {"warn": True, "echo": True, "pty": True, "env": env}
    echo = JsonEcho() if reads_json else None
    if echo is not None:
        options["out_stream"] = echo
    result = c.run(command, **options)
    if echo is not None:
        echo.close()
    return result


def _unknown(read: PulumiJson) -> str:
    return "" if read.changes is not None else _short(f"changes unknown: {read.problem}")


def _say_resources(layer: Layer, resources: tuple[Any, ...], verb: str) -> None:
    if resources:
        say(f"{layer.name}: {plural(len(resources), 'resource')} {verb}:")
        for resource in resources:
            say(f"  {resource.describe()}")


def deploy(c: Context, target: Target, run: Run, *, yes: bool) -> list[Outcome]:
    """``pulumi stack select --create`` then ``pulumi up`` per layer, in deploy order."""
    pack = run.policy_pack.path if run.policy_pack else None

    def step(layer: Layer) -> StepResult:
        if not _select_or_create_stack(c, target, layer):
            return StepResult(FAILED, "could not select or create the stack")
        up_command = cli.up(
            target.environment,
            layer.directory,
            yes=yes,
            config_file=target.config_file(layer),
            policy_pack=pack,
            json=run.reads_json,
        )
        result = _run_program(c, target, up_command, reads_json=run.reads_json)
        read = read_events(result.stdout or "") if run.reads_json else None
        changes = read.changes if read else None
        if result.failed:
            return StepResult(FAILED, _failure_note(target, layer, result, read), changes)
        if read is None:
            return StepResult(DONE)
        return StepResult(DONE, _unknown(read), changes, read.resources)

    outcomes = run_chain(run, target.layers, step)
    finish(run, outcomes)
    return outcomes


def preview(c: Context, target: Target, run: Run) -> list[Outcome]:
    """``pulumi stack select`` (never ``--create``) then ``pulumi preview`` per layer.

    A preview never creates a stack: a pull request must not leave empty stacks in the shared
    backend, nor an ``encryptionsalt`` in a committed stack file. A layer whose own stack, or
    an upstream's, was never deployed is reported "blocked" with one line naming the layer to
    deploy first, instead of failing obscurely. When the run reads pulumi's JSON, each layer
    is "changes" or "no changes" instead of "done".
    """
    known: dict[str, Deployment] = {}
    pack = run.policy_pack.path if run.policy_pack else None

    def step(layer: Layer) -> StepResult:
        for upstream in target.graph.upstreams(layer):
            # A downstream preview reads the upstream's exports; one that declares none is
            # judged by the resources in its state.
            judge = publishes_outputs if upstream.exports else deployment
            if judge(c, target, upstream, known).deployed is False:
                say(
                    f"{layer.name}: cannot preview {target.environment} yet: upstream layer "
                    f"{upstream.name} has no outputs there (never deployed, or its last update "
                    f"failed before exporting); deploy it first: "
                    f"{target.invoke_hint('deploy', upstream)}"
                )
                return StepResult(BLOCKED, f"deploy {upstream.name} first")
        selected = _select_existing_stack(c, target, layer)
        if selected.failed:
            if cli.says_no_such_stack(result_text(selected)):
                known[layer.name] = Deployment(False)
                say(
                    f"{layer.name}: cannot preview {target.environment} yet: its stack "
                    f"{target.environment} does not exist (a preview never creates one); "
                    f"deploy it first: {target.invoke_hint('deploy', layer)}"
                )
                return StepResult(BLOCKED, f"deploy {layer.name} first")
            say(result_text(selected).strip())
            return StepResult(FAILED, "could not select the stack")
        preview_command = cli.preview(
            target.environment,
            layer.directory,
            config_file=target.config_file(layer),
            policy_pack=pack,
            json=run.reads_json,
        )
        result = _run_program(c, target, preview_command, reads_json=run.reads_json)
        if not run.reads_json:
            if result.failed:
                return StepResult(FAILED, _failure_note(target, layer, result, None))
            return StepResult(DONE)
        read = read_preview(result.stdout or "")
        if result.failed:
            return StepResult(FAILED, _failure_note(target, layer, result, read), read.changes)
        _say_resources(layer, read.resources, "would change")
        has_changes = read.has_changes
        if has_changes is None:
            return StepResult(DONE, _unknown(read))
        if not has_changes:
            return StepResult(NO_CHANGES, "", read.changes)
        return StepResult(CHANGES, "", read.changes, read.resources)

    outcomes = run_chain(run, target.layers, step)
    finish(run, outcomes)
    return outcomes


def destroy(c: Context, target: Target, run: Run, *, yes: bool) -> list[Outcome]:
    """``pulumi destroy`` per layer in reverse order; never unprotects anything. The guards
    (``shared.deploy.guards``) have run before."""

    def step(layer: Layer) -> StepResult:
        selected = _select_existing_stack(c, target, layer)
        if selected.failed:
            if cli.says_no_such_stack(result_text(selected)):
                say(f"{layer.name}: no stack {target.environment}; nothing to destroy")
                return StepResult(SKIPPED, "no stack")
            say(result_text(selected).strip())
            return StepResult(FAILED, "could not select the stack")
        destroy_command = cli.destroy(
            target.environment,
            layer.directory,
            yes=yes,
            config_file=target.config_file(layer),
            json=run.reads_json,
        )
        result = _run_program(c, target, destroy_command, reads_json=run.reads_json)
        read = read_events(result.stdout or "") if run.reads_json else None
        changes = read.changes if read else None
        if result.failed:
            text = result_text(result) + ("\n" + read.text() if read else "")
            if cli.mentions_protected_resources(text):
                settings = " and ".join(f"{key}: false" for key in layer.production_grade_settings)
                how = f"set {settings} and deploy first" if settings else "unprotect them yourself"
                say(
                    f"{layer.name}: protected resources stay; this task never unprotects them "
                    f"({how} if you really mean it)"
                )
                return StepResult(FAILED, "protected resources", changes)
            return StepResult(FAILED, _failure_note(target, layer, result, read), changes)
        if read is None:
            return StepResult(DONE)
        return StepResult(DONE, _unknown(read), changes, read.resources)

    outcomes = run_chain(run, target.layers, step)
    finish(run, outcomes)
    return outcomes


def drift(c: Context, target: Target, run: Run) -> list[Outcome]:
    """Per layer, a refresh preview that never writes state: ``pulumi preview --refresh
    --expect-no-changes --json``. In sync, drifted (which resources, which properties), not
    deployed, or error. Never ``pulumi refresh``, which writes the refreshed state even when
    it then fails (pulumi/pulumi#10967). Every layer is checked: nothing changes, so one
    layer's error does not stop the others."""
    known: dict[str, Deployment] = {}
    pack = run.policy_pack.path if run.policy_pack else None

    def step(layer: Layer) -> StepResult:
        state = deployment(c, target, layer, known)
        if state.deployed is None:
            return StepResult(ERROR, _short(state.reason))
        if not state.deployed:
            say(f"{layer.name}: not deployed in {target.environment}; nothing to compare")
            return StepResult(NOT_DEPLOYED)
        command = cli.preview(
            target.environment,
            layer.directory,
            config_file=target.config_file(layer),
            policy_pack=pack,
            json=True,
            refresh=True,
            expect_no_changes=True,
        )
        result = _run_program(c, target, command, reads_json=True)
        read = read_preview(result.stdout or "")
        errors = [error for error in read.errors if not cli.says_changes_not_expected(error)]
        if errors or (result.failed and not read.has_changes):
            note = _failure_note(target, layer, result, read, errors)
            return StepResult(ERROR, note, read.changes, read.resources)
        if read.has_changes:
            _say_resources(layer, read.resources, "drifted")
            names = ", ".join(resource.name for resource in read.resources)
            note = f"{plural(len(read.resources), 'resource')}: {names}" if names else ""
            return StepResult(
                DRIFTED, _short(note or "pulumi reports changes"), read.changes, read.resources
            )
        if read.changes is None:
            return StepResult(ERROR, _unknown(read))
        return StepResult(IN_SYNC, "", read.changes)

    outcomes = run_chain(run, target.layers, step)
    finish(run, outcomes)
    return outcomes
