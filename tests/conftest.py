"""Shared fixtures: every layer of the required environments, rendered once per session from
the real stack files through the offline harness (``shared.harness``).

``ENVIRONMENTS`` are the environments whose values ``tests/requirements.py`` requires (dev,
staging, prod; a permanent environment is added there). The repository may have more
(``invoke new-env``): tests about discovery and consistency read those from the stack files
(``shared.environments.environments()``), never from this tuple.
"""

from __future__ import annotations

import shutil
from collections.abc import Collection
from pathlib import Path

import pytest

from shared.environments import environments, read_stack_config
from shared.harness import RenderedStack, render_environment
from shared.layers import PROJECTS_DIR, get_layer
from tests.requirements import EXPECTED

ENVIRONMENTS = tuple(EXPECTED)


@pytest.fixture(scope="session")
def rendered() -> dict[str, dict[str, RenderedStack]]:
    return {environment: render_environment(environment) for environment in ENVIRONMENTS}


@pytest.fixture(params=ENVIRONMENTS)
def env(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def storage(rendered: dict[str, dict[str, RenderedStack]], env: str) -> RenderedStack:
    return rendered[env]["storage"]


@pytest.fixture
def iam(rendered: dict[str, dict[str, RenderedStack]], env: str) -> RenderedStack:
    return rendered[env]["iam"]


@pytest.fixture
def compute(rendered: dict[str, dict[str, RenderedStack]], env: str) -> RenderedStack:
    return rendered[env]["compute"]


def stack_config_with(layer: str, environment: str, **overrides: str | None) -> dict[str, str]:
    """A layer's real stack config with some keys replaced (``None`` removes a key).

    Keys without a namespace belong to the layer's project, as in a stack file.
    """
    project = get_layer(layer).project
    config = read_stack_config(get_layer(layer), environment)
    for key, value in overrides.items():
        full_key = key if ":" in key else f"{project}:{key}"
        if value is None:
            config.pop(full_key, None)
        else:
            config[full_key] = value
    return config


def copy_projects(destination: Path, environments: Collection[str] | None = None) -> Path:
    """A copy of ``projects/`` at ``destination``, for a test to edit; with ``environments``,
    only their stack files, so the test's expectations do not depend on other environments."""

    def ignored(folder: str, names: list[str]) -> set[str]:
        skipped = {name for name in names if name == "__pycache__"}
        if environments is not None:
            skipped |= {
                name
                for name in names
                if name.startswith("Pulumi.")
                and name.endswith(".yaml")
                and name not in ("Pulumi.yaml", *(f"Pulumi.{env}.yaml" for env in environments))
            }
        return skipped

    shutil.copytree(PROJECTS_DIR, destination, ignore=ignored)
    return destination


def unused_environment_name(preferred: str, projects_dir: Path = PROJECTS_DIR) -> str:
    """``preferred``, or it followed by a number: a name with no stack file in ``projects_dir``
    (the repository may already have a ``qa``, made by the README's own example)."""
    existing = set(environments(projects_dir))
    candidates = [preferred, *(f"{preferred}{number}" for number in range(2, 100))]
    return next(name for name in candidates if name not in existing)
