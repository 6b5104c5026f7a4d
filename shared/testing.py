"""What every layer's tests (``projects/<layer>/tests/``) and the repository's own tests
(``tests/``) use: the graph, every stack rendered once per session from the real stack files,
stack config with some keys changed, and throw-away copies of ``projects/``.

A pytest plugin: the root ``conftest.py`` loads it, so its fixtures are everywhere.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Collection
from pathlib import Path

import pytest

from shared.environments import environments, read_stack_config
from shared.harness import RenderedStack, render_environment
from shared.layers import REPO_ROOT, LayerGraph, load_graph

Rendered = dict[str, dict[str, RenderedStack]]  # environment -> layer -> stack


@pytest.fixture(scope="session")
def graph() -> LayerGraph:
    return load_graph()


@pytest.fixture(scope="session")
def rendered(graph: LayerGraph) -> Rendered:
    """Every layer of every environment with stack files, chained as in a real deploy."""
    return {
        environment: render_environment(environment, graph=graph)
        for environment in environments(graph)
    }


def stack_config_with(layer: str, environment: str, **overrides: str | None) -> dict[str, str]:
    """A layer's real config for ``environment`` with some keys replaced (``None`` removes a
    key). Keys without a namespace belong to the layer's project, as in a stack file."""
    found = load_graph().get(layer)
    config = read_stack_config(found, environment)
    for key, value in overrides.items():
        full_key = key if ":" in key else f"{found.project}:{key}"
        if value is None:
            config.pop(full_key, None)
        else:
            config[full_key] = value
    return config


def copy_projects(destination: Path, environments: Collection[str] | None = None) -> LayerGraph:
    """A copy of ``projects/`` at ``destination`` for a test to edit, as a graph; with
    ``environments``, only their stack files and snapshots (and the promotion order cut to
    them), so the test's expectations do not depend on other environments."""
    source = load_graph().projects_dir

    def ignored(folder: str, names: list[str]) -> set[str]:
        skipped = {name for name in names if name in ("__pycache__", ".pytest_cache")}
        if environments is not None:
            kept = {"Pulumi.yaml", *(f"Pulumi.{env}.yaml" for env in environments)}
            skipped |= {
                name
                for name in names
                if name.startswith("Pulumi.") and name.endswith(".yaml") and name not in kept
            }
            if Path(folder).name == "snapshots":
                skipped |= {
                    name for name in names if name.removesuffix(".json") not in environments
                }
        return skipped

    shutil.copytree(source, destination, ignore=ignored)
    copy = load_graph(destination)
    if environments is not None:
        order_file = destination / "environments.yaml"
        text = order_file.read_text()
        import yaml

        order = [env for env in yaml.safe_load(text)["promotion_order"] if env in environments]
        order_file.write_text(f"promotion_order: [{', '.join(order)}]\n")
    return copy


def unused_environment_name(preferred: str, graph: LayerGraph | None = None) -> str:
    """``preferred``, or it followed by a number: a name with no stack file yet (the
    repository may already have a ``qa``, made by the README's own example)."""
    existing = set(environments(graph or load_graph()))
    candidates = [preferred, *(f"{preferred}{number}" for number in range(2, 100))]
    return next(name for name in candidates if name not in existing)


def repository_files(root: Path | None = None) -> list[str]:
    """What a fresh clone holds: the tracked files, and any new ones git does not ignore."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root or REPO_ROOT,
        capture_output=True,
        check=True,
    ).stdout
    return sorted({name.decode() for name in listed.split(b"\0") if name})


@pytest.fixture(scope="session")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One copy of the repository as a fresh clone has it, its Python compiled once (a
    command run in a copy of it then loads the bytecode instead of compiling every module)."""
    root = tmp_path_factory.mktemp("checkout") / "repo"
    for name in repository_files():
        source = REPO_ROOT / name
        if source.is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, root / name)
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "shared", "projects", "policies", "tasks.py"],
        cwd=root,
        check=True,
        capture_output=True,
    )
    return root


def copy_repository(destination: Path, checkout: Path, *, with_virtualenv: bool = False) -> Path:
    """A scratch copy of the repository for commands to run in (and edit); with the
    repository's set-up virtualenv linked in as .venv when asked."""
    shutil.copytree(checkout, destination, symlinks=True)
    if with_virtualenv:
        (destination / ".venv").symlink_to(REPO_ROOT / ".venv")
    return destination
