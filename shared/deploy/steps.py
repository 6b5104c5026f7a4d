"""The per-layer steps of deploy, preview and destroy: which pulumi commands run, in which
order, and what their failures mean."""

from __future__ import annotations

from invoke import Context, Result

from shared import pulumi_cli as cli
from shared.deploy.chain import BLOCKED, DONE, FAILED, SKIPPED, Outcome, finish, run_chain
from shared.deploy.guards import Deployment, deployment, result_text
from shared.deploy.targets import Target
from shared.layers import Layer
from shared.text import say


def _missing_reference_hint(target: Target, layer: Layer, result: Result) -> str:
    """After a failed run: name the upstream layer whose StackReference did not resolve."""
    for name in cli.unresolved_stack_references(result_text(result)):
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

    outcomes = run_chain("deploy", target.environment, target.layers, step)
    finish("deploy", target.environment, outcomes)
    return outcomes


def preview(c: Context, target: Target) -> list[Outcome]:
    """``pulumi stack select`` (never ``--create``) then ``pulumi preview --diff`` per layer.

    A preview never creates a stack: a pull request must not leave empty stacks in the shared
    backend, nor an ``encryptionsalt`` in a committed stack file. A layer whose own stack, or
    an upstream's, was never deployed is reported "blocked" with one line naming the layer to
    deploy first, instead of failing obscurely.
    """
    known: dict[str, Deployment] = {}

    def step(layer: Layer) -> tuple[str, str]:
        for upstream in target.graph.upstreams(layer):
            if deployment(c, target, upstream, known).deployed is False:
                say(
                    f"{layer.name}: cannot preview {target.environment} yet: upstream layer "
                    f"{upstream.name} has never been deployed there; deploy it first: "
                    f"{target.invoke_hint('deploy', upstream)}"
                )
                return BLOCKED, f"deploy {upstream.name} first"
        selected = _select_existing_stack(c, target, layer)
        if selected.failed:
            if cli.says_no_such_stack(result_text(selected)):
                known[layer.name] = Deployment(False)
                say(
                    f"{layer.name}: cannot preview {target.environment} yet: its stack "
                    f"{target.environment} does not exist (a preview never creates one); "
                    f"deploy it first: {target.invoke_hint('deploy', layer)}"
                )
                return BLOCKED, f"deploy {layer.name} first"
            say(result_text(selected).strip())
            return FAILED, "could not select the stack"
        preview_command = cli.preview(
            target.environment, layer.directory, config_file=target.config_file(layer)
        )
        return _run_layer_program(c, target, layer, preview_command)

    outcomes = run_chain("preview", target.environment, target.layers, step)
    finish("preview", target.environment, outcomes)
    return outcomes


def destroy(c: Context, target: Target, *, yes: bool) -> list[Outcome]:
    """``pulumi destroy`` per layer in reverse order; never unprotects anything. The guards
    (``shared.deploy.guards``) have run before."""

    def step(layer: Layer) -> tuple[str, str]:
        selected = _select_existing_stack(c, target, layer)
        if selected.failed:
            if cli.says_no_such_stack(result_text(selected)):
                say(f"{layer.name}: no stack {target.environment}; nothing to destroy")
                return SKIPPED, "no stack"
            say(result_text(selected).strip())
            return FAILED, "could not select the stack"
        destroy_command = cli.destroy(
            target.environment, layer.directory, yes=yes, config_file=target.config_file(layer)
        )
        result = c.run(destroy_command, warn=True, echo=True, pty=True, env=target.env)
        if result.failed:
            if cli.mentions_protected_resources(result_text(result)):
                say(
                    f"{layer.name}: protected resources stay; this task never unprotects them "
                    "(set protectStatefulResources: false and deploy first if you really mean it)"
                )
                return FAILED, "protected resources"
            return FAILED, ""
        return DONE, ""

    outcomes = run_chain("destroy", target.environment, target.layers, step)
    finish("destroy", target.environment, outcomes)
    return outcomes
