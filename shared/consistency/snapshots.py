"""The rendered plan of every layer x environment, committed as readable JSON.

``projects/<layer>/tests/snapshots/<env>.json`` holds ``plan_document`` (sorted keys,
two-space indent, embedded policy documents decoded), in the layer's own folder, so a change
to the infrastructure shows in the pull request diff, owned by the layer's team.
``invoke render --update-snapshots`` rewrites them on purpose, and writes a new environment's
or layer's; the snapshot test fails with a unified diff when a render no longer matches, and
says to run it when a stack has no snapshot.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.consistency.plan import plan_document
from shared.layers import REPO_ROOT, Layer, LayerGraph

if TYPE_CHECKING:
    from shared.harness import RenderedStack

UPDATE_HINT = "run `invoke render --update-snapshots` if the change is intended"
MISSING_HINT = (
    "run `invoke render --update-snapshots` to write it (a new environment's snapshots are "
    "written that way), review it and commit it"
)


def snapshot_dir(layer: Layer) -> Path:
    return layer.directory / "tests" / "snapshots"


def snapshot_path(layer: Layer, environment: str) -> Path:
    return snapshot_dir(layer) / f"{environment}.json"


def snapshot_text(stack: RenderedStack) -> str:
    return json.dumps(plan_document(stack), indent=2, sort_keys=True) + "\n"


def shown(path: Path) -> Path:
    return path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path


def write_snapshot(stack: RenderedStack, graph: LayerGraph) -> Path:
    path = snapshot_path(graph.get(stack.layer), stack.environment)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(snapshot_text(stack))
    return path


def read_snapshot(layer: Layer, environment: str) -> dict[str, Any]:
    path = snapshot_path(layer, environment)
    if not path.is_file():
        raise FileNotFoundError(
            f"no snapshot for {layer.name}/{environment}: {shown(path)}; {MISSING_HINT}"
        )
    return json.loads(path.read_text())


def snapshot_diff(stack: RenderedStack, graph: LayerGraph) -> str | None:
    """``None`` when the render matches its snapshot, else a unified diff (snapshot -> now), or
    for a stack without a snapshot (a new environment's or layer's) how to write one."""
    path = snapshot_path(graph.get(stack.layer), stack.environment)
    if not path.is_file():
        return f"no snapshot at {shown(path)}; {MISSING_HINT}"
    actual = snapshot_text(stack)
    expected = path.read_text()
    if actual == expected:
        return None
    diff = difflib.unified_diff(
        expected.splitlines(keepends=True),
        actual.splitlines(keepends=True),
        fromfile=f"{shown(path)} (committed)",
        tofile=f"{stack.layer}/{stack.environment} (rendered now)",
        n=4,
    )
    return f"{''.join(diff)}\n{UPDATE_HINT}"
