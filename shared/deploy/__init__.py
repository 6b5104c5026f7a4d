"""Run Pulumi over the layers, Terragrunt ``run --all`` style: deploy, preview, destroy, outputs.

- ``targets``: validate a run and say where its commands go (backend, local emulator);
- ``chain``: run a step per layer, stop at the first failure, print the summary;
- ``steps``: the pulumi commands of each operation, per layer;
- ``guards``: the safety checks before a destroy (fail closed);
- ``outputs``: every layer's stack outputs in one view.

The order comes from the layer graph (deploy order, or its reverse for destroy). Import-light:
standard library, invoke and ``shared`` only (``tasks.py`` imports this for ``invoke --list``).
"""

from __future__ import annotations

from typing import Any

from invoke import Context

from shared.deploy import guards, steps
from shared.deploy.chain import Outcome
from shared.deploy.outputs import show_outputs
from shared.deploy.targets import Target, checked_layers, target_for
from shared.errors import EXIT_USER_ERROR, task_errors, task_exit
from shared.layers import load_graph
from shared.text import say


def _target_starting_emulator(
    environment: str, layer: str | None, backend: str | None, local: bool
) -> Target:
    """Validated target for deploy and preview, which start the local emulator if needed."""
    with task_errors():
        graph = load_graph()
        layers = checked_layers(
            graph, environment, layer, graph.deploy_order(), backend=backend, local=local
        )
        target = target_for(
            graph, environment, layers, backend=backend, local=local, start_emulator=True
        )
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
    return steps.deploy(c, _target_starting_emulator(environment, layer, backend, local), yes=yes)


def run_preview(
    c: Context,
    environment: str,
    layer: str | None = None,
    *,
    backend: str | None = None,
    local: bool = False,
) -> list[Outcome]:
    return steps.preview(c, _target_starting_emulator(environment, layer, backend, local))


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
    with task_errors():
        graph = load_graph()
        layers = checked_layers(
            graph, environment, layer, graph.destroy_order(), backend=backend, local=local
        )
        guards.require_destroy_confirmation(graph, environment, confirm_prod)
        target = target_for(
            graph, environment, layers, backend=backend, local=local, start_emulator=False
        )
        if target is None:
            say("the local emulator is not running, so nothing is deployed locally: nothing to do")
            return []
        guards.refuse_orphaning(c, target)
    return steps.destroy(c, target, yes=yes)


def run_outputs(
    c: Context,
    environment: str,
    layer: str | None = None,
    *,
    as_json: bool = False,
    backend: str | None = None,
    local: bool = False,
) -> dict[str, Any]:
    with task_errors():
        graph = load_graph()
        layers = checked_layers(
            graph, environment, layer, graph.deploy_order(), backend=backend, local=local
        )
        target = target_for(
            graph, environment, layers, backend=backend, local=local, start_emulator=False
        )
        if target is None:
            raise task_exit(
                "the local emulator is not running, so nothing is deployed locally; "
                f"deploy first: invoke deploy --env {environment} --local",
                EXIT_USER_ERROR,
            )
        return show_outputs(c, target, as_json=as_json)
