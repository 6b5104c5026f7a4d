"""What CI runs, derived from the repository: the environment x layer matrix, the promotion
order, and (for a pull request) the layers a change can affect.

The workflows read these from ``invoke ci-matrix`` (``fromJSON``), so adding a layer or an
environment needs no workflow edit. Import-light: standard library only, plus ``git`` when
asked what changed.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from shared.environments import promotion_order
from shared.errors import PipelineError, StackEnvironmentError
from shared.layers import REPO_ROOT, LayerGraph

SHARED_CODE_AND_POLICY_PACK: tuple[str, ...] = ("shared/", "policies/")
WHAT_EVERY_TASK_RUNS_IN: tuple[str, ...] = ("tasks.py", "invoke.yaml")
WHAT_IS_INSTALLED: tuple[str, ...] = ("pyproject.toml", "requirements.lock")
HOW_CI_RUNS_A_PREVIEW: tuple[str, ...] = (".github/workflows/", ".github/actions/")
THE_ENVIRONMENTS: tuple[str, ...] = ("projects/environments.yaml",)
AFFECTS_EVERY_LAYER: tuple[str, ...] = (
    *SHARED_CODE_AND_POLICY_PACK,
    *WHAT_EVERY_TASK_RUNS_IN,
    *WHAT_IS_INSTALLED,
    *HOW_CI_RUNS_A_PREVIEW,
    *THE_ENVIRONMENTS,
)


def affects_every_layer(path: str) -> bool:
    """Whether ``path`` (relative to the repository root) is one of ``AFFECTS_EVERY_LAYER``,
    or inside one of its folders (those end with "/"): what every layer's preview runs with.

    Tests (``conftest.py``, ``tests/``), docs, ``.github/CODEOWNERS`` and ``.ci/`` are not:
    no preview reads them, and the offline tests run on every pull request anyway.
    """
    return any(
        path.startswith(entry) if entry.endswith("/") else path == entry
        for entry in AFFECTS_EVERY_LAYER
    )


@dataclass(frozen=True)
class Affected:
    """The layers a change affects (in deploy order), and why each one is in or out."""

    layers: list[str]
    reasons: dict[str, str] = field(default_factory=dict)  # layer -> why it runs or is skipped
    everything_because: str | None = None


def changed_files(ref: str, repo: Path | None = None) -> list[str]:
    """Files changed since the branch left ``ref`` (their merge base, as GitHub compares a pull
    request), sorted: committed, uncommitted and untracked (not ignored) work, a rename as both
    of its paths. In CI the working tree is HEAD, so that is what the branch changed."""
    repo = repo or REPO_ROOT
    if not ref.strip():
        raise PipelineError(
            "--changed-since is empty: give the git ref to compare with, e.g. origin/main"
        )
    commit = _git(
        ref, repo, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"
    ).strip()
    merge_base = _git(ref, repo, "merge-base", commit, "HEAD", no_answer="").strip()
    if not merge_base:
        raise PipelineError(
            f"--changed-since {ref!r}: it has no history in common with HEAD (no merge base), "
            "so there is no change to compare; give the branch this one was made from"
        )
    listed = _git(ref, repo, "diff", "--name-only", "--no-renames", "-z", merge_base, "--")
    untracked = _git(ref, repo, "ls-files", "--others", "--exclude-standard", "-z")
    return sorted({name for name in f"{listed}\0{untracked}".split("\0") if name})


def _git(ref: str, repo: Path, *argv: str, no_answer: str | None = None) -> str:
    """What ``git argv`` prints, run in ``repo``. Failing is ``ref`` refused, unless git failed
    without a word and ``no_answer`` says what that means (``merge-base`` of unrelated
    histories)."""
    try:
        done = subprocess.run(
            ["git", *argv],
            cwd=repo,
            capture_output=True,
            encoding="utf-8",
            errors="surrogateescape",
        )
    except FileNotFoundError:
        raise PipelineError("--changed-since needs git, which is not on PATH") from None
    if done.returncode == 0:
        return done.stdout
    detail = done.stderr.strip().splitlines()
    if not detail and no_answer is not None:
        return no_answer
    raise PipelineError(
        f"--changed-since {ref!r}: git cannot compare with it "
        f"({detail[0] if detail else 'unknown revision'}); give a branch, tag or commit "
        "that exists here (in CI: fetch it first, e.g. fetch-depth: 0)"
    )


def affected_layers(graph: LayerGraph, files: Iterable[str]) -> Affected:
    """Layers whose folder changed, plus every layer downstream of them; a change to shared
    code, the task file, the dependencies or the workflows means every layer."""
    projects = graph.projects_dir.name
    touched: dict[str, str] = {}
    for name in files:
        path = PurePosixPath(name)
        text = path.as_posix()
        if affects_every_layer(text):
            return Affected(
                graph.names,
                {layer: f"{text} changed (it affects every layer)" for layer in graph.names},
                everything_because=text,
            )
        parts = path.parts
        if len(parts) >= 2 and parts[0] == projects and parts[1] in graph.names:
            touched.setdefault(parts[1], text)
    reasons: dict[str, str] = {}
    for layer in graph:
        if layer.name in touched:
            reasons[layer.name] = f"its folder changed ({touched[layer.name]})"
            continue
        changed_upstreams = [up.name for up in graph.upstreams(layer) if up.name in touched]
        if changed_upstreams:
            reasons[layer.name] = f"it reads {', '.join(changed_upstreams)}, which changed"
    skipped = {
        layer: "nothing it is built from changed" for layer in graph.names if layer not in reasons
    }
    return Affected([name for name in graph.names if name in reasons], {**reasons, **skipped})


def ci_matrix(graph: LayerGraph, affected: Affected | None = None) -> dict[str, Any]:
    """Everything the workflows need, as one JSON-able document. Refused when the promotion
    order and the stack files disagree, or an environment lacks a layer's stack file: a
    matrix that silently left an environment out, or previewed a stack with no file, would
    pass for a complete run."""
    from shared.consistency.stack_files import missing_stack_files, promotion_order_mismatches

    order = promotion_order(graph)
    problems = promotion_order_mismatches(graph) + missing_stack_files(graph, order)
    if problems:
        raise StackEnvironmentError(
            "CI cannot tell what to run: "
            + "; ".join(problem.message for problem in problems)
            + " (`invoke check` reports the same)"
        )
    layers = affected.layers if affected else graph.names
    document: dict[str, Any] = {
        "environments": order,
        "layers": graph.names,
        "preview_layers": layers,
        "any_preview": bool(layers),
        "matrix": {
            "include": [{"environment": env, "layer": layer} for env in order for layer in layers]
        },
    }
    if affected is not None:
        document["reasons"] = affected.reasons
    return document


def github_outputs(document: dict[str, Any]) -> str:
    """Lines for ``$GITHUB_OUTPUT``: each value compact JSON on one line."""
    keys = ("environments", "layers", "preview_layers", "any_preview", "matrix")
    return "".join(f"{key}={json.dumps(document[key], separators=(',', ':'))}\n" for key in keys)


def summary_markdown(document: dict[str, Any]) -> str:
    """A job summary: which layers are previewed in which environments, which are skipped, why."""
    reasons = document.get("reasons", {})
    lines = [
        "### Layers to preview",
        "",
        f"Environments, in promotion order: {', '.join(document['environments'])}",
        "",
        "| layer | previewed | why |",
        "|---|---|---|",
    ]
    for layer in document["layers"]:
        previewed = "yes" if layer in document["preview_layers"] else "skipped"
        lines.append(
            f"| {layer} | {previewed} | {reasons.get(layer, 'every layer is previewed')} |"
        )
    return "\n".join(lines) + "\n"
