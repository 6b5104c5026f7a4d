"""Invoke tasks ``render``, ``check`` and ``new-env``: the environments, proven offline.

Importing this module must stay cheap (``invoke --list``): no pulumi, pulumi_aws or harness
here; each task imports what it needs when it runs. ``tasks.py`` adds these tasks to its root
namespace (``for task in consistency_tasks.TASKS: ns.add_task(task)``). Exit codes as every
task's (``tasks.py``): 2 for bad input (an unknown environment or layer, a bad new-env name),
1 for a failure (a stack that does not render, a check violation).
"""

from __future__ import annotations

import gc
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from invoke import Context, Exit, task

from shared.errors import EXIT_FAILURE, EXIT_USER_ERROR, PipelineError
from shared.layers import PROJECTS_DIR, deploy_order, layer_names

_HELP = {
    "env": "environment (stack name), e.g. dev; default: every environment with stack files",
    "layer": f"one layer only; one of: {', '.join(layer_names())} (default: all, in deploy order)",
    "json": "print JSON for machines instead of tables",
}


@contextmanager
def _without_cycle_collection() -> Iterator[None]:
    """A short command that allocates little: skip Python's cyclic GC while it runs. Once
    pulumi_aws is loaded, each full collection walks its ~120k objects (~60 ms, a fifth of
    `invoke check`) and reclaims nothing that matters; reference counting still frees."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _print_check(projects_dir: Path, as_json: bool, failure_hint: str = "") -> None:
    """Run the check, print it, and exit non-zero on any violation."""
    from shared.consistency.check import run_check
    from shared.consistency.report import Painter, use_colour

    with _without_cycle_collection():
        report = run_check(projects_dir)
    if as_json:
        print(json.dumps(report.to_json(), indent=2, sort_keys=True))
    else:
        print(report.format(Painter(use_colour())))
    if not report.ok:
        raise Exit(failure_hint or None, code=EXIT_FAILURE)


@task(
    help={
        "env": _HELP["env"],
        "layer": _HELP["layer"],
        "json": "print the plans as JSON (the snapshot format) instead of tables",
        "update_snapshots": "rewrite tests/snapshots/<layer>.<env>.json from this render "
        "(every layer of the environments rendered)",
    }
)
def render(
    c: Context,
    env: str | None = None,
    layer: str | None = None,
    json_: bool = False,
    update_snapshots: bool = False,
) -> None:
    """Render stacks offline: every resource with inputs, parent, dependencies; the exports.

    Layers are chained as in a real deploy (storage's exports feed the StackReferences of
    iam and compute), from the real stack files, under Pulumi's mocks: no cloud, no CLI.
    """
    from shared.consistency.check import render_all
    from shared.consistency.plan import format_plan, plan_document
    from shared.consistency.report import Painter, use_colour
    from shared.consistency.snapshots import write_snapshot
    from shared.environments import environments
    from shared.layers import get_layer

    try:
        selected = get_layer(layer).name if layer else None
        known = environments(PROJECTS_DIR)
        if env is not None and env not in known:
            raise PipelineError(
                f"unknown environment {env!r}; environments with stack files: "
                f"{', '.join(known) or 'none'}"
            )
    except PipelineError as error:
        raise Exit(str(error), code=EXIT_USER_ERROR) from None
    with _without_cycle_collection():
        rendered, failures = render_all([env] if env else known, PROJECTS_DIR)
    if failures:
        raise Exit("\n".join(str(failure) for failure in failures), code=EXIT_FAILURE)
    stacks = [
        stacks_of_env[item.name]
        for stacks_of_env in rendered.values()
        for item in deploy_order()
        if selected in (None, item.name)
    ]
    if update_snapshots:
        for stacks_of_env in rendered.values():
            for stack in stacks_of_env.values():
                path = write_snapshot(stack)
                print(f"wrote {path.relative_to(PROJECTS_DIR.parent)}", file=sys.stderr)
    if json_:
        documents = [plan_document(stack) for stack in stacks]
        print(json.dumps(documents, indent=2, sort_keys=True))
        return
    paint = Painter(use_colour())
    print("\n\n".join(format_plan(stack, paint) for stack in stacks))


@task(help={"json": "print the matrix and the findings as JSON instead of tables"})
def check(c: Context, json_: bool = False) -> None:
    """Prove every environment is the same architecture; exit 1 on any violation.

    Renders every layer x environment offline and checks: (1) the architectures are identical
    once the environment is taken out of names, apart from the knobs in shared/knobs.py;
    (2) prints the difference matrix of those knobs; (3) the policy rules (shared/policy.py);
    (4) the settings layers share agree across each environment's stack files.
    """
    _print_check(PROJECTS_DIR, json_)


@task(
    help={
        "name": "the new environment (stack) name: 2-16 lowercase letters and digits, "
        "starting with a letter",
        "from": "the environment to copy, e.g. staging",
        "json": "print the check that follows as JSON",
    }
)
def new_env(c: Context, name: str, from_: str, json_: bool = False) -> None:
    """Replicate an environment: write Pulumi.NAME.yaml in every layer, then run check.

    The stack files are the source environment's with its name replaced (in values, as a
    whole word only) and without its secrets-provider keys (encryptionsalt...: Pulumi creates
    fresh ones with the new stack). Existing files are never overwritten. Then
    `invoke render --update-snapshots`, and `invoke deploy --env NAME`.
    """
    from shared.consistency.new_env import new_environment

    try:
        result = new_environment(name, from_, PROJECTS_DIR)
    except PipelineError as error:
        raise Exit(f"new-env: {error}", code=EXIT_USER_ERROR) from None
    for path in result.written:
        print(f"wrote {path.relative_to(PROJECTS_DIR.parent)}", file=sys.stderr)
    for path, keys in result.secrets_left_out.items():
        print(
            f"left out {', '.join(keys)} of {path.relative_to(PROJECTS_DIR.parent)}: "
            f"{from_}'s own secrets settings; Pulumi creates fresh ones for {name} when its "
            f"stack is created (invoke deploy --env {name})",
            file=sys.stderr,
        )
    print(f"checking every environment, {name} included:", file=sys.stderr)
    _print_check(
        PROJECTS_DIR,
        json_,
        failure_hint=f"new-env: the stack files of {name!r} were written but check fails: "
        "fix them (or delete them) before deploying",
    )


TASKS = (render, check, new_env)
