"""Run Pulumi over the layers, Terragrunt ``run --all`` style: deploy, preview, destroy, outputs.

The order comes from ``shared.layers`` (deploy order, or its reverse for destroy). Each layer
runs in turn; the first failure stops the chain, the layers after it are reported as
"not run", and the task exits non-zero after printing a summary table. Validation (layer,
environment, stack files, flags, the ``pulumi`` executable) happens before any command runs.

Import-light: this module is imported by ``tasks.py`` and so by ``invoke --list``; it imports
the standard library, invoke and ``shared`` only.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from invoke import Context, Exit, Result

from shared import pulumi_cli as cli
from shared.environments import read_stack_config, require_environment, stack_file
from shared.errors import (
    EXIT_FAILURE,
    EXIT_USER_ERROR,
    PipelineError,
)
from shared.layers import LAYERS, Layer, deploy_order, destroy_order, get_layer, select
from shared.local_emulator import LocalEmulator

DONE = "done"
FAILED = "failed"
NOT_RUN = "not run"
BLOCKED = "blocked"  # preview only: the stack, or an upstream one, has never been deployed
SKIPPED = "skipped"  # destroy only: the stack does not exist, so there is nothing to destroy

# An environment is production-grade, and destroying it needs --confirm-prod on top of
# everything else, when its stack files keep any of these settings on. The storage settings
# model defaults both to true, so a key that is not set counts as on.
PRODUCTION_GRADE_SETTINGS: tuple[str, ...] = (
    "rawdata-storage:protectStatefulResources",
    "rawdata-storage:deletionProtection",
)

Step = Callable[[Layer], tuple[str, str]]


@dataclass(frozen=True)
class Target:
    """Where the commands go: one environment, some layers, a backend, maybe the emulator."""

    environment: str
    layers: tuple[Layer, ...]
    env: dict[str, str] = field(default_factory=dict)
    local: LocalEmulator | None = None
    backend: str | None = None

    def stack_dir(self, layer: Layer) -> Path:
        """Where the stack is selected/created and its outputs are read."""
        return self.local.project_dir(layer) if self.local else layer.directory

    def config_file(self, layer: Layer) -> Path | None:
        return self.local.config_file(layer, self.environment) if self.local else None

    def invoke_hint(self, action: str, layer: Layer) -> str:
        """The task line a person would type next, e.g. to deploy an upstream layer first."""
        extra = " --local" if self.local else f" --backend {self.backend}" if self.backend else ""
        return f"invoke {action} --env {self.environment} --layer {layer.name}{extra}"


@dataclass(frozen=True)
class Outcome:
    layer: str
    result: str
    seconds: float | None = None
    note: str = ""


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the repository's own errors into a clean ``invoke.Exit`` with their message and
    their exit code (``EXIT_USER_ERROR`` for bad input, the default)."""
    try:
        yield
    except PipelineError as error:
        raise Exit(f"error: {error}", code=error.exit_code) from None


def _say(line: str = "") -> None:
    print(line, flush=True)


# -- validation and targets ---------------------------------------------------------------


def checked_layers(
    environment: str,
    layer: str | None,
    order: list[Layer],
    *,
    backend: str | None = None,
    local: bool = False,
) -> tuple[Layer, ...]:
    """Validate everything a run needs before anything runs; the layers to act on."""
    layers = tuple(select(layer, order))
    require_environment(environment, layers)
    if local and backend:
        raise PipelineError(
            f"--backend {backend!r} and --local cannot be combined: local mode always uses "
            "its own file backend under .local/state"
        )
    cli.require_pulumi()
    return layers


def remote_target(environment: str, layers: tuple[Layer, ...], backend: str | None) -> Target:
    """The logged-in backend, or ``PULUMI_BACKEND_URL``, or ``--backend`` when given."""
    env = {"PULUMI_BACKEND_URL": backend} if backend else {}
    return Target(environment, layers, env, backend=backend)


def local_target(
    environment: str, layers: tuple[Layer, ...], *, start_emulator: bool
) -> Target | None:
    """Local mode: the emulator (started if asked and needed), its backend and stack files.

    None when the emulator is not running and ``start_emulator`` is false.
    """
    emulator = LocalEmulator.default()
    if start_emulator:
        info, started = emulator.ensure_running()
        if started:
            _say(
                f"local emulator started on {info.endpoint}; "
                "`invoke local.stop` stops it and discards the local state"
            )
    else:
        found = emulator.running()
        if found is None:
            return None
        info = found
    for each in LAYERS:
        emulator.prepare_project(each)
    for each in layers:
        emulator.write_stack_config(each, environment, info.endpoint)
    return Target(environment, layers, emulator.environment(info), emulator)


# -- running a chain of layers --------------------------------------------------------------


def run_chain(
    action: str,
    target: Target,
    step: Step,
    clock: Callable[[], float] = time.monotonic,
) -> list[Outcome]:
    """Run ``step`` per layer in order; after the first failure the rest are "not run"."""
    outcomes: list[Outcome] = []
    stopped = False
    total = len(target.layers)
    for index, layer in enumerate(target.layers, start=1):
        if stopped:
            outcomes.append(Outcome(layer.name, NOT_RUN))
            continue
        _say()
        _say(
            f"==> {action} {layer.name} [{index}/{total}] "
            f"(stack {target.environment}): {layer.summary}"
        )
        started = clock()
        result, note = step(layer)
        outcomes.append(Outcome(layer.name, result, clock() - started, note))
        stopped = result == FAILED
    return outcomes


def summary_table(action: str, environment: str, outcomes: list[Outcome]) -> str:
    rows = [("layer", "result", "duration", "note")]
    for outcome in outcomes:
        duration = "-" if outcome.seconds is None else f"{outcome.seconds:.1f}s"
        rows.append((outcome.layer, outcome.result, duration, outcome.note))
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    lines = [f"{action} summary for {environment}:"]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
        lines.append(("  " + "  ".join(cells)).rstrip())
    return "\n".join(lines)


def finish(action: str, environment: str, outcomes: list[Outcome]) -> None:
    """Print the summary; exit non-zero naming the failed layer and those not run."""
    _say()
    _say(summary_table(action, environment, outcomes))
    failed = [outcome.layer for outcome in outcomes if outcome.result == FAILED]
    if failed:
        not_run = [outcome.layer for outcome in outcomes if outcome.result == NOT_RUN]
        message = f"{action} {environment}: layer {failed[0]!r} failed"
        if not_run:
            message += f"; not run: {', '.join(not_run)}"
        raise Exit(message, code=EXIT_FAILURE)


def _text(result: Result) -> str:
    return f"{result.stdout or ''}\n{result.stderr or ''}"


def _missing_reference_hint(target: Target, layer: Layer, result: Result) -> str:
    """After a failed run: name the upstream layer whose StackReference did not resolve."""
    for name in cli.unresolved_stack_references(_text(result)):
        parts = name.split("/")
        project = parts[-2] if len(parts) >= 2 else ""
        upstream = next((each for each in LAYERS if each.project == project), None)
        if upstream is None:
            continue
        _say(
            f"{layer.name}: stack reference {name} does not exist: deploy {upstream.name} "
            f"first ({target.invoke_hint('deploy', upstream)}), or check that pipeline:org "
            "names your backend's organization"
        )
        return f"deploy {upstream.name} first"
    return ""


# -- deployed or not ---------------------------------------------------------------------


def _upstreams(layer: Layer) -> list[Layer]:
    """Every layer ``layer`` depends on, directly or not, in deploy order."""
    wanted: set[str] = set()
    pending = list(layer.depends_on)
    while pending:
        name = pending.pop()
        if name not in wanted:
            wanted.add(name)
            pending.extend(get_layer(name).depends_on)
    return [each for each in deploy_order() if each.name in wanted]


def _downstreams(layer: Layer) -> list[Layer]:
    """Every layer that depends on ``layer``, directly or not, in destroy order."""
    return [each for each in destroy_order() if layer in _upstreams(each)]


def _read_outputs(c: Context, target: Target, layer: Layer) -> Result:
    command = cli.stack_output(target.environment, target.stack_dir(layer))
    return c.run(command, warn=True, hide=True, env=target.env)


def is_deployed(
    c: Context, target: Target, layer: Layer, cache: dict[str, bool | None]
) -> bool | None:
    """True: the stack has outputs. False: no stack, or never updated. None: could not tell."""
    if layer.name not in cache:
        result = _read_outputs(c, target, layer)
        if result.failed:
            cache[layer.name] = False if cli.says_no_such_stack(_text(result)) else None
        else:
            try:
                cache[layer.name] = bool(json.loads(result.stdout or "{}"))
            except ValueError:
                cache[layer.name] = None
    return cache[layer.name]


# -- the operations ------------------------------------------------------------------------


def _select_or_create_stack(c: Context, target: Target, layer: Layer) -> bool:
    """Deploy only: select the stack, creating it when missing."""
    command = cli.stack_select(target.environment, target.stack_dir(layer), create=True)
    return not c.run(command, warn=True, echo=True, env=target.env).failed


def _select_existing_stack(c: Context, target: Target, layer: Layer) -> Result:
    """Select the stack without ever creating it (preview, destroy). Output is hidden: the
    caller says what a failure means (no such stack, or pulumi's own text)."""
    command = cli.stack_select(target.environment, target.stack_dir(layer), create=False)
    return c.run(command, warn=True, hide=True, env=target.env)


def _run_layer_program(c: Context, target: Target, layer: Layer, command: str) -> tuple[str, str]:
    """Run `pulumi up` or `preview` with Pulumi's progress on the terminal; a failure caused by
    a missing upstream stack gets a hint naming the layer to deploy first."""
    result = c.run(command, warn=True, echo=True, pty=True, env=target.env)
    if result.failed:
        return FAILED, _missing_reference_hint(target, layer, result)
    return DONE, ""


def deploy(c: Context, target: Target, *, yes: bool) -> list[Outcome]:
    """``pulumi stack select --create`` then ``pulumi up`` per layer, in deploy order."""

    def step(layer: Layer) -> tuple[str, str]:
        if not _select_or_create_stack(c, target, layer):
            return FAILED, "could not select or create the stack"
        up_command = cli.up(
            target.environment, layer.directory, yes=yes, config_file=target.config_file(layer)
        )
        return _run_layer_program(c, target, layer, up_command)

    outcomes = run_chain("deploy", target, step)
    finish("deploy", target.environment, outcomes)
    return outcomes


def preview(c: Context, target: Target) -> list[Outcome]:
    """``pulumi stack select`` (never ``--create``) then ``pulumi preview --diff`` per layer.

    A preview never creates a stack: a pull request must not leave empty stacks in the shared
    backend, nor an ``encryptionsalt`` in a committed stack file. A layer whose own stack, or
    an upstream's, was never deployed is reported "blocked" with one line naming the layer to
    deploy first, instead of failing obscurely.
    """
    deployed: dict[str, bool | None] = {}

    def step(layer: Layer) -> tuple[str, str]:
        for upstream in _upstreams(layer):
            if is_deployed(c, target, upstream, deployed) is False:
                _say(
                    f"{layer.name}: cannot preview {target.environment} yet: upstream layer "
                    f"{upstream.name} has never been deployed there; deploy it first: "
                    f"{target.invoke_hint('deploy', upstream)}"
                )
                return BLOCKED, f"deploy {upstream.name} first"
        selected = _select_existing_stack(c, target, layer)
        if selected.failed:
            if cli.says_no_such_stack(_text(selected)):
                deployed[layer.name] = False
                _say(
                    f"{layer.name}: cannot preview {target.environment} yet: its stack "
                    f"{target.environment} does not exist (a preview never creates one); "
                    f"deploy it first: {target.invoke_hint('deploy', layer)}"
                )
                return BLOCKED, f"deploy {layer.name} first"
            _say(_text(selected).strip())
            return FAILED, "could not select the stack"
        preview_command = cli.preview(
            target.environment, layer.directory, config_file=target.config_file(layer)
        )
        return _run_layer_program(c, target, layer, preview_command)

    outcomes = run_chain("preview", target, step)
    finish("preview", target.environment, outcomes)
    return outcomes


def _is_off(value: str) -> bool:
    """Only an explicit false turns a safety setting off (YAML false, or "false" as
    `pulumi config set` writes it); anything else, a typo included, keeps it on."""
    return value.strip().lower() == "false"


def production_grade_reasons(environment: str) -> list[str]:
    """Why ``environment`` is production-grade: one entry per setting of
    ``PRODUCTION_GRADE_SETTINGS`` that is on in its stack file (or not set, so on by default).
    Empty when every one of them is explicitly false."""
    reasons: list[str] = []
    configs: dict[str, dict[str, str]] = {}
    for setting in PRODUCTION_GRADE_SETTINGS:
        project = setting.split(":", 1)[0]
        layer = next(each for each in LAYERS if each.project == project)
        path = stack_file(layer, environment)
        shown = f"projects/{layer.name}/{path.name}"
        if layer.name not in configs:
            configs[layer.name] = read_stack_config(layer, environment) if path.is_file() else {}
        value = configs[layer.name].get(setting)
        if value is None:
            reasons.append(f"{shown} does not set {setting}, which defaults to true")
        elif not _is_off(value):
            reasons.append(f"{shown} sets {setting}: {value}")
    return reasons


def require_destroy_confirmation(environment: str, confirmed: bool) -> None:
    """Destroying a production-grade environment (see ``PRODUCTION_GRADE_SETTINGS``) needs
    --confirm-prod, whatever the environment is called."""
    if confirmed:
        return
    reasons = production_grade_reasons(environment)
    if reasons:
        raise PipelineError(
            f"destroying environment {environment!r} needs --confirm-prod as well: it is "
            f"production-grade ({'; '.join(reasons)}); protected resources stay protected "
            "either way"
        )


def refuse_orphaning(c: Context, target: Target) -> None:
    """Destroying one layer while a layer that depends on it is deployed would orphan it."""
    if len(target.layers) != 1:
        return
    deployed: dict[str, bool | None] = {}
    for downstream in _downstreams(target.layers[0]):
        if is_deployed(c, target, downstream, deployed):
            raise Exit(
                f"error: cannot destroy {target.layers[0].name} in {target.environment} while "
                f"{downstream.name}, which depends on it, is deployed; destroy it first: "
                f"{target.invoke_hint('destroy', downstream)}",
                code=EXIT_USER_ERROR,
            )


def destroy(c: Context, target: Target, *, yes: bool) -> list[Outcome]:
    """``pulumi destroy`` per layer in reverse order; never unprotects anything."""
    refuse_orphaning(c, target)

    def step(layer: Layer) -> tuple[str, str]:
        selected = _select_existing_stack(c, target, layer)
        if selected.failed:
            if cli.says_no_such_stack(_text(selected)):
                _say(f"{layer.name}: no stack {target.environment}; nothing to destroy")
                return SKIPPED, "no stack"
            _say(_text(selected).strip())
            return FAILED, "could not select the stack"
        destroy_command = cli.destroy(
            target.environment, layer.directory, yes=yes, config_file=target.config_file(layer)
        )
        result = c.run(destroy_command, warn=True, echo=True, pty=True, env=target.env)
        if result.failed:
            if cli.mentions_protected_resources(_text(result)):
                _say(
                    f"{layer.name}: protected resources stay; this task never unprotects them "
                    "(set protectStatefulResources: false and deploy first if you really mean it)"
                )
                return FAILED, "protected resources"
            return FAILED, ""
        return DONE, ""

    outcomes = run_chain("destroy", target, step)
    finish("destroy", target.environment, outcomes)
    return outcomes


def collect_outputs(c: Context, target: Target) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Each deployed layer's outputs, in deploy order, and the names of undeployed layers."""
    per_layer: dict[str, dict[str, Any]] = {}
    undeployed: list[str] = []
    for layer in target.layers:
        result = _read_outputs(c, target, layer)
        if result.failed:
            if cli.says_no_such_stack(_text(result)):
                undeployed.append(layer.name)
                continue
            raise Exit(
                f"error: reading the outputs of layer {layer.name!r} failed: "
                f"{_text(result).strip()}",
                code=EXIT_FAILURE,
            )
        try:
            values = json.loads(result.stdout or "{}")
        except ValueError as error:
            raise Exit(
                f"error: layer {layer.name!r}: pulumi printed outputs that are not JSON ({error})",
                code=EXIT_FAILURE,
            ) from None
        if values:
            per_layer[layer.name] = values
        else:
            undeployed.append(layer.name)
    return per_layer, undeployed


def merge_outputs(per_layer: dict[str, dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    owner: dict[str, str] = {}
    for layer, values in per_layer.items():
        for key, value in values.items():
            if key in merged:
                raise Exit(
                    f"error: output {key!r} is exported by both {owner[key]} and {layer}; "
                    "export keys must be unique across layers",
                    code=EXIT_FAILURE,
                )
            merged[key] = value
            owner[key] = layer
    return merged


def outputs_table(per_layer: dict[str, dict[str, Any]], undeployed: list[str]) -> str:
    rows = [("layer", "output", "value")]
    for layer, values in per_layer.items():
        for key, value in values.items():
            shown = value if isinstance(value, str) else json.dumps(value)
            rows.append((layer, key, shown))
    rows.extend((layer, "(not deployed)", "") for layer in undeployed)
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def show_outputs(c: Context, target: Target, *, as_json: bool) -> dict[str, Any]:
    """Every layer's outputs merged into one view: a table, or JSON on stdout."""
    per_layer, undeployed = collect_outputs(c, target)
    merged = merge_outputs(per_layer)
    if as_json:
        print(json.dumps(merged, indent=2, sort_keys=False))
        if undeployed:
            print(f"not deployed in {target.environment}: {', '.join(undeployed)}", file=sys.stderr)
    else:
        _say(outputs_table(per_layer, undeployed))
    return merged


# -- entry points for the tasks -------------------------------------------------------------


def _target(
    environment: str,
    layers: tuple[Layer, ...],
    *,
    backend: str | None,
    local: bool,
    start_emulator: bool,
) -> Target | None:
    if local:
        return local_target(environment, layers, start_emulator=start_emulator)
    return remote_target(environment, layers, backend)


def _target_starting_emulator(
    environment: str, layer: str | None, backend: str | None, local: bool
) -> Target:
    """Validated target for deploy and preview, which start the local emulator if needed."""
    with user_errors():
        layers = checked_layers(environment, layer, deploy_order(), backend=backend, local=local)
        target = _target(environment, layers, backend=backend, local=local, start_emulator=True)
    assert target is not None  # started on demand
    return target


def run_deploy(
    c: Context,
    environment: str,
    layer: str | None = None,
    *,
    yes: bool = False,
    backend: str | None = None,
    local: bool = False,
) -> list[Outcome]:
    return deploy(c, _target_starting_emulator(environment, layer, backend, local), yes=yes)


def run_preview(
    c: Context,
    environment: str,
    layer: str | None = None,
    *,
    backend: str | None = None,
    local: bool = False,
) -> list[Outcome]:
    return preview(c, _target_starting_emulator(environment, layer, backend, local))


def run_destroy(
    c: Context,
    environment: str,
    layer: str | None = None,
    *,
    yes: bool = False,
    confirm_prod: bool = False,
    backend: str | None = None,
    local: bool = False,
) -> list[Outcome]:
    with user_errors():
        layers = checked_layers(environment, layer, destroy_order(), backend=backend, local=local)
        require_destroy_confirmation(environment, confirm_prod)
        target = _target(environment, layers, backend=backend, local=local, start_emulator=False)
    if target is None:
        _say(
            "the local emulator is not running, so nothing is deployed locally: nothing to destroy"
        )
        return []
    return destroy(c, target, yes=yes)


def run_outputs(
    c: Context,
    environment: str,
    layer: str | None = None,
    *,
    as_json: bool = False,
    backend: str | None = None,
    local: bool = False,
) -> dict[str, Any]:
    with user_errors():
        layers = checked_layers(environment, layer, deploy_order(), backend=backend, local=local)
        target = _target(environment, layers, backend=backend, local=local, start_emulator=False)
    if target is None:
        raise Exit(
            "error: the local emulator is not running, so nothing is deployed locally; "
            f"deploy first: invoke deploy --env {environment} --local",
            code=EXIT_USER_ERROR,
        )
    return show_outputs(c, target, as_json=as_json)
