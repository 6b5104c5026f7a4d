"""Shared fixtures: every layer of every environment, rendered once per session from the real
stack files through the offline harness (``shared.harness``)."""

from __future__ import annotations

import pytest

from shared.harness import RenderedStack, read_stack_config, render_environment
from shared.layers import get_layer

ENVIRONMENTS = ("dev", "staging", "prod")


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
