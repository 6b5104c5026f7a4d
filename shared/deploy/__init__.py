"""Run Pulumi over the layers, Terragrunt ``run --all`` style: deploy, preview, destroy, drift,
outputs.

- ``targets``: validate a run and say where its commands go (backend, local emulator);
- ``chain``: run a step per layer, stop at the first failure, print the summary, exit;
- ``steps``: the pulumi commands of each operation, per layer;
- ``guards``: the safety checks before a destroy (fail closed);
- ``interrupts``: Ctrl-C / SIGINT / SIGTERM stop the chain cleanly (exit 130 / 143);
- ``pulumi_json``: what ``pulumi ... --json`` printed (change counts, changed resources);
- ``report``: the JSON report (``--report``) and the GitHub job summary;
- ``policy_pack``: the CrossGuard pack passed to pulumi (``--policy-pack``);
- ``outputs``: every layer's stack outputs in one view.

The order comes from the layer graph (deploy order, or its reverse for destroy). Import-light:
standard library, invoke and ``shared`` only (``tasks.py`` imports this for ``invoke --list``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from invoke import Context

from shared.deploy import guards, steps
from shared.deploy.chain import Outcome, Run
from shared.deploy.interrupts import GuardedContext, Interrupted, Interrupts
from shared.deploy.outputs import show_outputs
from shared.deploy.policy_pack import policy_pack_for, warn_skipped
from shared.deploy.report import check_report_path
from shared.deploy.targets import Target, checked_layers, target_for
from shared.errors import EXIT_USER_ERROR, PipelineError, task_errors, task_exit
from shared.layers import Layer, LayerGraph, load_graph
from shared.text import say


@contextmanager
def _interruptible(action: str, environment: str) -> Iterator[Interrupts]:
    """Signals handled for the whole run, validation included; a signal that arrives before
    the chain starts still ends the run with the signal's exit code, and nothing runs."""
    interrupts = Interrupts()
    with interrupts.installed():
        try:
            yield interrupts
        except (Interrupted, KeyboardInterrupt):
            interrupts.note()
            raise task_exit(
                f"{action} {environment}: interrupted by {interrupts.name} before any layer "
                "ran; nothing was changed",
                interrupts.exit_code,
            ) from None


def _validated(
    action: str,
    environment: str,
    layer: str | None,
    order: Callable[[LayerGraph], list[Layer]],
    *,
    backend: str | None,
    local: bool,
    report: str | None,
    runs_policy_pack: bool,
    skip_policy_pack: bool,
    interrupts: Interrupts,
    **run_options: Any,
) -> tuple[LayerGraph, tuple[Layer, ...], Run]:
    """Everything a run needs, checked before anything runs (exit 2 on bad input)."""
    graph = load_graph()
    layers = checked_layers(graph, environment, layer, order(graph), backend=backend, local=local)
    report_path = check_report_path(report)
    pack = policy_pack_for(action, skip=skip_policy_pack) if runs_policy_pack else None
    run = Run(
        action,
        environment,
        interrupts,
        report=report_path,
        policy_pack=pack,
        **run_options,
    )
    return graph, layers, run


def _require_yes_for_report(action: str, report: str | None, yes: bool) -> None:
    if report is not None and not yes:
        raise PipelineError(
            f"--report needs --yes for {action}: with a report, pulumi prints JSON instead of "
            "its display and cannot ask for confirmation; look first (invoke preview --env "
            f"ENV), then run {action} with --yes --report"
        )


def _deployed_target(
    graph: LayerGraph,
    environment: str,
    layers: tuple[Layer, ...],
    *,
    backend: str | None,
    local: bool,
) -> Target:
    """The target of a task that reads what is deployed: with --local, the emulator must
    already run (starting one would only show that nothing is deployed)."""
    target = target_for(
        graph, environment, layers, backend=backend, local=local, start_emulator=False
    )
    if target is None:
        raise task_exit(
            "the local emulator is not running, so nothing is deployed locally; "
            f"deploy first: invoke deploy --env {environment} --local",
            EXIT_USER_ERROR,
        )
    return target


def _announce(run: Run) -> None:
    if run.policy_pack and run.policy_pack.skipped:
        warn_skipped(run.action, run.environment)


def run_deploy(
    c: Context,
    environment: str,
    layer: str | None = None,
    *,
    yes: bool = False,
    backend: str | None = None,
    local: bool = False,
    report: str | None = None,
    skip_policy_pack: bool = False,
) -> list[Outcome]:
    with _interruptible("deploy", environment) as interrupts:
        with task_errors():
            graph, layers, run = _validated(
                "deploy",
                environment,
                layer,
                LayerGraph.deploy_order,
                backend=backend,
                local=local,
                report=report,
                runs_policy_pack=True,
                skip_policy_pack=skip_policy_pack,
                interrupts=interrupts,
                reads_json=report is not None,
            )
            _require_yes_for_report("deploy", report, yes)
            target = target_for(
                graph, environment, layers, backend=backend, local=local, start_emulator=True
            )
        assert target is not None  # started on demand
        _announce(run)
        return steps.deploy(GuardedContext(c, interrupts), target, run, yes=yes)


def run_preview(
    c: Context,
    environment: str,
    layer: str | None = None,
    *,
    backend: str | None = None,
    local: bool = False,
    report: str | None = None,
    skip_policy_pack: bool = False,
    expect_no_changes: bool = False,
) -> list[Outcome]:
    with _interruptible("preview", environment) as interrupts:
        with task_errors():
            graph, layers, run = _validated(
                "preview",
                environment,
                layer,
                LayerGraph.deploy_order,
                backend=backend,
                local=local,
                report=report,
                runs_policy_pack=True,
                skip_policy_pack=skip_policy_pack,
                interrupts=interrupts,
                reads_json=report is not None or expect_no_changes,
                expect_no_changes=expect_no_changes,
            )
            target = target_for(
                graph, environment, layers, backend=backend, local=local, start_emulator=True
            )
        assert target is not None  # started on demand
        _announce(run)
        return steps.preview(GuardedContext(c, interrupts), target, run)


def run_destroy(
    c: Context,
    environment: str,
    layer: str | None = None,
    *,
    yes: bool = False,
    confirm_prod: bool = False,
    backend: str | None = None,
    local: bool = False,
    report: str | None = None,
) -> list[Outcome]:
    with _interruptible("destroy", environment) as interrupts:
        guarded = GuardedContext(c, interrupts)
        with task_errors():
            graph, layers, run = _validated(
                "destroy",
                environment,
                layer,
                LayerGraph.destroy_order,
                backend=backend,
                local=local,
                report=report,
                runs_policy_pack=False,
                skip_policy_pack=False,
                interrupts=interrupts,
                reads_json=report is not None,
            )
            _require_yes_for_report("destroy", report, yes)
            guards.require_destroy_confirmation(graph, environment, confirm_prod)
            target = target_for(
                graph, environment, layers, backend=backend, local=local, start_emulator=False
            )
            if target is None:
                say(
                    "the local emulator is not running, so nothing is deployed locally: "
                    "nothing to do"
                )
                return []
            guards.refuse_orphaning(guarded, target)
        return steps.destroy(guarded, target, run, yes=yes)


def run_drift(
    c: Context,
    environment: str,
    layer: str | None = None,
    *,
    backend: str | None = None,
    local: bool = False,
    report: str | None = None,
    skip_policy_pack: bool = False,
) -> list[Outcome]:
    with _interruptible("drift", environment) as interrupts:
        with task_errors():
            graph, layers, run = _validated(
                "drift",
                environment,
                layer,
                LayerGraph.deploy_order,
                backend=backend,
                local=local,
                report=report,
                runs_policy_pack=True,
                skip_policy_pack=skip_policy_pack,
                interrupts=interrupts,
                reads_json=True,
                stop_on_failure=False,
            )
            target = _deployed_target(graph, environment, layers, backend=backend, local=local)
        _announce(run)
        return steps.drift(GuardedContext(c, interrupts), target, run)


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
        target = _deployed_target(graph, environment, layers, backend=backend, local=local)
        return show_outputs(c, target, as_json=as_json)


__all__ = ["Target", "run_deploy", "run_destroy", "run_drift", "run_outputs", "run_preview"]
