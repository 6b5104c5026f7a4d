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
from shared.errors import EXIT_FAILURE, PipelineError
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


class SnapshotError(PipelineError):
    """A snapshot that cannot be written where it belongs."""

    exit_code = EXIT_FAILURE


def update_snapshots(stacks: list[RenderedStack], graph: LayerGraph) -> list[dict[str, str]]:
    """Write the snapshot of each of ``stacks`` that differs from its render; one
    ``{"path", "status"}`` ("wrote" or "unchanged") per stack. Every path is checked before
    the first is written: a file where a snapshot folder belongs stops the update whole."""
    planned = [
        (snapshot_path(graph.get(stack.layer), stack.environment), snapshot_text(stack))
        for stack in stacks
    ]
    for path, _ in planned:
        blocking = next((part for part in [path, *path.parents] if _not_a_folder(part)), None)
        if blocking is not None and blocking != path:
            raise SnapshotError(
                f"cannot write {shown(path)}: {shown(blocking)} is a file, not a folder; move "
                "it away, then run `invoke render --update-snapshots` again (nothing was written)"
            )
        if path.is_dir():
            raise SnapshotError(
                f"cannot write {shown(path)}: it is a folder; move it away, then run "
                "`invoke render --update-snapshots` again (nothing was written)"
            )
    written = []
    for path, text in planned:
        unchanged = path.is_file() and path.read_text() == text
        if not unchanged:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
            except OSError as error:
                done = sum(each["status"] == "wrote" for each in written)
                raise SnapshotError(
                    f"cannot write {shown(path)}: {error.strerror or error} (after writing "
                    f"{done} of the {len(planned)} snapshots)"
                ) from None
        written.append({"path": str(shown(path)), "status": "unchanged" if unchanged else "wrote"})
    return written


def _not_a_folder(path: Path) -> bool:
    return path.exists() and not path.is_dir()


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
