"""The rendered plan of every layer x environment, committed as readable JSON.

``tests/snapshots/<layer>.<env>.json`` holds ``plan_document`` (sorted keys, two-space
indent, embedded policy documents decoded), so a change to the infrastructure shows in the
pull request diff. ``invoke render --update-snapshots`` rewrites them on purpose, and writes
a new environment's; the snapshot test fails with a unified diff when a render no longer
matches, and says to run it when a stack has no snapshot.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.consistency.plan import plan_document
from shared.layers import REPO_ROOT

if TYPE_CHECKING:
    from shared.harness import RenderedStack

SNAPSHOT_DIR = REPO_ROOT / "tests" / "snapshots"
UPDATE_HINT = "run `invoke render --update-snapshots` if the change is intended"
MISSING_HINT = (
    "run `invoke render --update-snapshots` to write it (a new environment's snapshots are "
    "written that way), review it and commit it"
)


def snapshot_path(layer: str, environment: str, directory: Path = SNAPSHOT_DIR) -> Path:
    return directory / f"{layer}.{environment}.json"


def snapshot_text(stack: RenderedStack) -> str:
    return json.dumps(plan_document(stack), indent=2, sort_keys=True) + "\n"


def write_snapshot(stack: RenderedStack, directory: Path = SNAPSHOT_DIR) -> Path:
    path = snapshot_path(stack.layer, stack.environment, directory)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(snapshot_text(stack))
    return path


def read_snapshot(layer: str, environment: str, directory: Path = SNAPSHOT_DIR) -> dict[str, Any]:
    path = snapshot_path(layer, environment, directory)
    if not path.is_file():
        raise FileNotFoundError(f"no snapshot for {layer}/{environment}: {path}; {MISSING_HINT}")
    return json.loads(path.read_text())


def snapshot_diff(stack: RenderedStack, directory: Path = SNAPSHOT_DIR) -> str | None:
    """``None`` when the render matches its snapshot, else a unified diff (snapshot -> now), or
    for a stack without a snapshot (a new environment's) how to write one."""
    path = snapshot_path(stack.layer, stack.environment, directory)
    label = path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path
    if not path.is_file():
        return f"no snapshot at {label}; {MISSING_HINT}"
    actual = snapshot_text(stack)
    expected = path.read_text()
    if actual == expected:
        return None
    diff = difflib.unified_diff(
        expected.splitlines(keepends=True),
        actual.splitlines(keepends=True),
        fromfile=f"{label} (committed)",
        tofile=f"{stack.layer}/{stack.environment} (rendered now)",
        n=4,
    )
    return f"{''.join(diff)}\n{UPDATE_HINT}"
