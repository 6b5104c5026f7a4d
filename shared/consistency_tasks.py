"""Invoke tasks ``render``, ``check`` and ``new-env``: the environments, proven offline.

Importing this module must stay cheap (``invoke --list``): no pulumi, pulumi_aws or harness
here; each task imports what it needs when it runs. ``tasks.py`` adds these tasks to its root
namespace. Exit codes as every task's (``tasks.py``): 2 for bad input (an unknown environment
or layer, a bad new-env name), 1 for a failure (a stack that does not render, a violation).
"""

from __future__ import annotations

import gc
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from invoke import Context, task

from shared.errors import (
    EXIT_FAILURE,
    PipelineError,
    StackEnvironmentError,
    task_errors,
    task_exit,
)
from shared.layers import LayerGraph, load_graph


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


def _print_check(graph: LayerGraph, as_json: bool) -> None:
    """Run the check, print it, and exit non-zero on any violation."""
    from shared.consistency.check import run_check

    with task_errors(), _without_cycle_collection():
        report = run_check(graph)  # a stack file that cannot be read is bad input (exit 2)
    print_check_report(report, as_json)
    if not report.ok:
        raise task_exit("check failed: fix the violations above", EXIT_FAILURE)


def print_check_report(report: object, as_json: bool) -> None:
    from shared.text import Painter, use_colour

    if as_json:
        print(json.dumps(report.to_json(), indent=2, sort_keys=True))  # type: ignore[attr-defined]
    else:
        print(report.format(Painter(use_colour())))  # type: ignore[attr-defined]


def _known_environment(graph: LayerGraph, env: str | None) -> list[str]:
    from shared.environments import environments, unknown_environment

    known = environments(graph)
    if env is not None and env not in known:
        raise unknown_environment(env, known)
    return [env] if env else known


def _require_stack_files(graph: LayerGraph, environments: list[str]) -> None:
    """Every stack file a render of ``environments`` reads (every layer's: the layers are
    rendered as a chain) is there and readable; else bad input, naming each missing file, or
    the broken one with its line."""
    from shared.environments import read_stack_config, stack_file
    from shared.layers import shown_path

    for environment in environments:
        missing = [stack_file(layer, environment) for layer in graph]
        missing = [path for path in missing if not path.is_file()]
        if missing:
            names = ", ".join(shown_path(path) for path in missing)
            raise StackEnvironmentError(
                f"environment {environment!r} is missing {names}: every layer needs a stack "
                "file for each environment. Restore it (from git, or copy another "
                "environment's file and change the name in it); for a new environment, "
                "`invoke new-env --name NAME --from ENV` writes every layer's stack file"
            )
        for layer in graph:
            read_stack_config(layer, environment)  # a broken one names its file and line


def _readable_source(graph: LayerGraph, source: str) -> None:
    """The source environment's stack files that exist parse (a broken one is named with its
    line); which are missing, and whether ``source`` exists at all, new-env says itself."""
    from shared.environments import environments, read_stack_document, stack_file

    if source not in environments(graph):
        return
    for layer in graph:
        if stack_file(layer, source).is_file():
            read_stack_document(layer, source)


@task(
    help={
        "env": "environment (stack name), e.g. dev; default: every environment with stack files",
        "layer": "one layer only (default: all, in deploy order)",
        "json": "print the plans as JSON (the snapshot format) instead of tables",
        "update_snapshots": "rewrite projects/<layer>/tests/snapshots/<env>.json from this "
        "render (every layer of the environments rendered); prints only what it wrote (with "
        "--json: as JSON)",
    }
)
def render(
    c: Context,
    env: str | None = None,
    layer: str | None = None,
    json_: bool = False,
    update_snapshots: bool = False,
) -> None:
    """Render stacks offline: resources, inputs, exports.

    Render stacks offline: every resource with inputs, parent, dependencies; the exports.

    Layers are chained as in a real deploy (each layer's exports feed the StackReferences of
    the layers reading it), from the real stack files, under Pulumi's mocks: no cloud, no CLI.
    """
    from shared.consistency.check import render_all
    from shared.consistency.plan import format_plan, plan_document
    from shared.consistency.snapshots import update_snapshots as update_snapshots_of
    from shared.text import Painter, use_colour

    with task_errors():
        graph = load_graph()
        selected = graph.get(layer).name if layer is not None else None  # "" is unknown
        environments = _known_environment(graph, env)
        _require_stack_files(graph, environments)
    with _without_cycle_collection():
        rendered, failures = render_all(environments, graph)
    if failures:
        raise task_exit(
            "\n".join(
                f"{failure.layer}/{failure.environment} {failure.message}" for failure in failures
            ),
            EXIT_FAILURE,
        )
    stacks = [
        stacks_of_env[item.name]
        for stacks_of_env in rendered.values()
        for item in graph
        if selected in (None, item.name) and item.name in stacks_of_env
    ]
    if update_snapshots:
        with task_errors():
            written = update_snapshots_of(stacks, graph)
        if json_:
            print(json.dumps({"snapshots": written}, indent=2, sort_keys=True))
        else:
            print("\n".join(f"{each['status']} {each['path']}" for each in written))
        return
    if json_:
        print(json.dumps([plan_document(stack) for stack in stacks], indent=2, sort_keys=True))
        return
    paint = Painter(use_colour())
    print("\n\n".join(format_plan(stack, paint) for stack in stacks))


@task(help={"json": "print the matrix and the findings as JSON instead of tables"})
def check(c: Context, json_: bool = False) -> None:
    """Prove every environment is one architecture.

    Prove every environment is the same architecture; exit 1 on any violation.

    Renders every layer x environment offline and checks: (1) the architectures are identical
    once the environment is taken out of names, apart from the knobs each layer declares in
    its layer.yaml; (2) prints the difference matrix of those knobs; (3) the policy rules;
    (4) the settings layers share agree across each environment's stack files; and that
    every stack exports exactly what its layer declares.
    """
    with task_errors():
        graph = load_graph()
    _print_check(graph, json_)


@task(
    help={
        "name": "the new environment (stack) name: 2-16 lowercase letters and digits, "
        "starting with a letter",
        "from": "the environment to copy, e.g. staging",
        "after": "the environment it follows in the promotion order (default: last)",
        "json": "print the check that proved it as JSON",
    }
)
def new_env(
    c: Context, name: str, from_: str, after: str | None = None, json_: bool = False
) -> None:
    """Add an environment, only if `check` then passes.

    Replicate an environment: Pulumi.NAME.yaml in every layer, its place in the promotion
    order and its snapshots, written only if `invoke check` then passes.

    The stack files are the source environment's with its name replaced (in values, as a
    whole word only) and without its secrets-provider keys (encryptionsalt...: Pulumi creates
    fresh ones with the new stack). Existing files are never overwritten. Then
    `invoke deploy --env NAME`.
    """
    from shared.consistency.new_env import NewEnvironmentRefused, new_environment

    with task_errors():
        graph = load_graph()
        _readable_source(graph, from_)
        try:
            result = new_environment(name, from_, after, graph)
        except NewEnvironmentRefused as refused:
            print_check_report(refused.report, json_)
            raise
    for path in result.written:
        print(f"wrote {path.relative_to(graph.projects_dir.parent)}", file=sys.stderr)
    print(
        f"promotion order (projects/environments.yaml): {' -> '.join(result.promotion_order)}",
        file=sys.stderr,
    )
    for path, keys in result.secrets_left_out.items():
        print(
            f"left out {', '.join(keys)} of {path.relative_to(graph.projects_dir.parent)}: "
            f"{from_}'s own secrets settings; Pulumi creates fresh ones for {name} when its "
            f"stack is created (invoke deploy --env {name})",
            file=sys.stderr,
        )
    if result.allowed_accounts:
        print(
            f"copied aws:allowedAccountIds {result.allowed_accounts} from {from_}: if {name} "
            f"has its own AWS account, set it in every layer's Pulumi.{name}.yaml",
            file=sys.stderr,
        )
    print(f"checked every environment, {name} included:", file=sys.stderr)
    print_check_report(result.report, json_)


@task(
    help={
        "name": "the new layer (folder) name: 2-20 lowercase letters and digits, starting "
        "with a letter",
        "depends_on": "the layers it reads, comma-separated, e.g. storage,compute",
        "owner": "the GitHub team that owns it (default: @your-org/<name>-owners)",
        "summary": "one line saying what it declares",
    }
)
def new_layer(
    c: Context,
    name: str,
    depends_on: str = "",
    owner: str | None = None,
    summary: str | None = None,
) -> None:
    """Add a layer folder, only if `check` then passes.

    Create projects/NAME: a working layer with one example resource, written only if
    `invoke check` then passes; its owner line is added to .github/CODEOWNERS.
    """
    from shared.new_layer import new_layer as create

    upstreams = [part.strip() for part in depends_on.split(",") if part.strip()]
    with task_errors():
        graph = load_graph()
        result = create(graph, name, upstreams, owner, summary)
    root = graph.projects_dir.parent
    for path in result.written:
        print(f"wrote {path.relative_to(root)}", file=sys.stderr)
    if result.codeowners_line:
        print(f"added to .github/CODEOWNERS: {result.codeowners_line}", file=sys.stderr)
    print(
        f"layer {name} created; `invoke check` passes with it. Next: replace the example "
        f"resource in projects/{name}/{name}_layer.py, declare its exports in "
        f"projects/{name}/layer.yaml, `invoke render --update-snapshots`, then "
        f"`invoke deploy --env dev --layer {name}`"
    )


def markdown_files(root: Path) -> list[Path]:
    """The documentation: README.md and docs/*.md."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


@task(
    help={
        "env": "the environment to draw (default: dev; every environment has the same shape, "
        "`invoke check` proves it)",
        "detail": "named: the resources AWS knows by a name (default); all: every resource",
        "write": "redraw every diagram block in README.md and docs/*.md instead of printing",
    }
)
def diagram(c: Context, env: str = "dev", detail: str = "named", write: bool = False) -> None:
    """Draw the architecture as a Mermaid diagram.

    Draw the layers, their resources and the exports each layer reads, as Mermaid.
    """
    from shared.diagram import DETAILS, mermaid, redrawn
    from shared.harness import render_environment

    with task_errors():
        graph = load_graph()
        if detail not in DETAILS:
            raise PipelineError(f"--detail {detail!r} is not allowed; one of: {', '.join(DETAILS)}")
        _known_environment(graph, env)
    renders: dict[str, dict] = {}

    def draw(detail: str, environment: str) -> str:
        if environment not in renders:
            with task_errors(), _without_cycle_collection():
                _known_environment(graph, environment)
                renders[environment] = render_environment(environment, graph=graph)
        return mermaid(graph, renders[environment], detail)

    if not write:
        print(draw(detail, env), end="")
        return
    root = graph.projects_dir.parent
    for path in markdown_files(root):
        if not path.is_file():
            continue
        text = path.read_text()
        updated = redrawn(text, draw)
        if updated != text:
            path.write_text(updated)
        print(f"{'wrote' if updated != text else 'unchanged'} {path.relative_to(root)}")


TASKS = (render, check, new_env, new_layer, diagram)
