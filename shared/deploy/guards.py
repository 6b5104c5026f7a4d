"""Safety checks before anything is destroyed. Each one fails closed: when it cannot establish
that an action is safe (a stack file it cannot read, outputs it cannot read), it refuses with
exit 2 and says what it could not read."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from invoke import Context, Result

from shared import pulumi_cli as cli
from shared.deploy.targets import Target
from shared.environments import full_key, read_stack_config, stack_file
from shared.errors import PipelineError
from shared.layers import Layer, LayerGraph


@dataclass(frozen=True)
class Deployment:
    """Whether a stack is deployed: True (it has outputs, or resources in its state), False (no
    stack, or a state with no resources: never updated, or destroyed), None (could not tell;
    ``reason`` says why)."""

    deployed: bool | None
    reason: str = ""


def result_text(result: Result) -> str:
    return f"{result.stdout or ''}\n{result.stderr or ''}"


def read_outputs(c: Context, target: Target, layer: Layer) -> Result:
    command = cli.stack_output(target.environment, target.stack_dir(layer))
    return c.run(command, warn=True, hide=True, env=target.env)


def read_state(c: Context, target: Target, layer: Layer) -> Result:
    command = cli.stack_export(target.environment, target.stack_dir(layer))
    return c.run(command, warn=True, hide=True, env=target.env)


def deployment(
    c: Context, target: Target, layer: Layer, cache: dict[str, Deployment]
) -> Deployment:
    """Whether the stack holds resources. Outputs answer the common case in one call; a stack
    with none (destroyed, never updated, or an update that failed before its exports were set)
    is judged by the resources in its state, so a half-created stack still counts as deployed:
    what the destroy guard and drift need."""
    if layer.name not in cache:
        state = _deployment(read_outputs(c, target, layer))
        if state.deployed is False and state.reason == _NO_OUTPUTS:
            state = _deployment_from_state(read_state(c, target, layer))
        cache[layer.name] = state
    return cache[layer.name]


def publishes_outputs(
    c: Context, target: Target, layer: Layer, cache: dict[str, Deployment]
) -> Deployment:
    """Whether the stack has outputs a downstream layer can read: what a preview of that
    layer needs (a half-created upstream with resources but no exports does not do)."""
    if layer.name not in cache:
        cache[layer.name] = _deployment(read_outputs(c, target, layer))
    return cache[layer.name]


_NO_OUTPUTS = "the stack has no outputs"

# What every stack's state holds besides the resources it manages.
_BOOKKEEPING_TYPES = ("pulumi:pulumi:Stack",)
_BOOKKEEPING_PREFIXES = ("pulumi:providers:",)


def _read_json(result: Result, command: str, empty: str) -> tuple[Any, Deployment | None]:
    """What ``pulumi <command>`` printed, parsed; or, instead, the Deployment it tells: no
    such stack (not deployed), or a failure or non-JSON output (could not tell)."""
    text = result_text(result)
    if result.failed:
        if cli.says_no_such_stack(text):
            return None, Deployment(False)
        return None, Deployment(None, f"`pulumi {command}` failed: {cli.first_error_line(text)}")
    try:
        return json.loads(result.stdout or empty), None
    except ValueError:
        return None, Deployment(None, f"`pulumi {command}` printed no JSON: {text.strip()[:200]!r}")


def _deployment_from_state(result: Result) -> Deployment:
    exported, told = _read_json(result, "stack export", "")
    if told is not None:
        return told
    if not isinstance(exported, dict) or "version" not in exported:
        return Deployment(None, "`pulumi stack export` printed no deployment object")
    deployment_state = exported.get("deployment")
    if deployment_state is None:  # never updated: null (file/s3 backends), or left out (empty)
        return Deployment(False)
    if not isinstance(deployment_state, dict):
        return Deployment(None, "`pulumi stack export` printed no deployment object")
    resources = deployment_state.get("resources") or []
    pending = deployment_state.get("pending_operations") or []
    if not isinstance(resources, list) or not isinstance(pending, list):
        return Deployment(None, "`pulumi stack export` printed resources that are not a list")
    managed = [
        resource
        for resource in resources
        if not (
            isinstance(resource, dict)
            and (
                resource.get("type") in _BOOKKEEPING_TYPES
                or str(resource.get("type", "")).startswith(_BOOKKEEPING_PREFIXES)
            )
        )
    ]
    if managed or pending:
        return Deployment(
            True, f"no outputs, but {len(managed) + len(pending)} resources in its state"
        )
    return Deployment(False)


def _deployment(result: Result) -> Deployment:
    outputs, told = _read_json(result, "stack output", "{}")
    if told is not None:
        return told
    if not isinstance(outputs, dict):
        return Deployment(None, f"`pulumi stack output` printed {type(outputs).__name__} JSON")
    return Deployment(True) if outputs else Deployment(False, _NO_OUTPUTS)


def refuse_orphaning(c: Context, target: Target) -> None:
    """Destroying one layer while a layer that reads it is deployed would orphan that layer;
    when that cannot be told, the destroy is refused too."""
    if len(target.layers) != 1:
        return
    layer = target.layers[0]
    seen: dict[str, Deployment] = {}
    for downstream in target.graph.downstreams(layer):
        state = deployment(c, target, downstream, seen)
        if state.deployed is False:
            continue
        hint = target.invoke_hint("destroy", downstream)
        if state.deployed is None:
            raise PipelineError(
                f"cannot destroy {layer.name} in {target.environment}: could not tell whether "
                f"{downstream.name}, which depends on it, is still deployed ({state.reason}); "
                f"nothing was destroyed. Fix that (e.g. `pulumi login`) and run again, or "
                f"destroy {downstream.name} first: {hint}"
            )
        raise PipelineError(
            f"cannot destroy {layer.name} in {target.environment} while {downstream.name}, "
            f"which depends on it, is deployed; destroy it first: {hint}"
        )


def _is_off(value: str) -> bool:
    """Only an explicit false turns a safety setting off (YAML false, or "false" as
    `pulumi config set` writes it); anything else, a typo included, keeps it on."""
    return value.strip().lower() == "false"


def production_grade_reasons(graph: LayerGraph, environment: str) -> list[str]:
    """Why ``environment`` is production-grade: one entry per setting a layer's manifest names
    in ``production_grade_settings`` that is on in its stack file (or not set and on by
    default). Empty when every one of them is explicitly false. A stack file that cannot be
    read is an error: the environment cannot be shown not to be production-grade."""
    reasons: list[str] = []
    for layer in graph:
        if not layer.production_grade_settings:
            continue
        shown = layer.shown(stack_file(layer, environment))
        config = read_stack_config(layer, environment)
        for setting, default in layer.production_grade_settings.items():
            key = full_key(layer, setting)
            value = config.get(key)
            if value is None:
                if default:
                    reasons.append(f"{shown} does not set {key}, which defaults to true")
            elif not _is_off(value):
                reasons.append(f"{shown} sets {key}: {value}")
    return reasons


def require_destroy_confirmation(graph: LayerGraph, environment: str, confirmed: bool) -> None:
    """Destroying a production-grade environment needs --confirm-prod, whatever its name."""
    if confirmed:
        return
    reasons = production_grade_reasons(graph, environment)
    if reasons:
        raise PipelineError(
            f"destroying environment {environment!r} needs --confirm-prod as well: it is "
            f"production-grade ({'; '.join(reasons)}); protected resources stay protected "
            "either way"
        )
