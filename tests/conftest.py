"""Shared fixtures: every layer of every environment, rendered once per session from the real
stack files through the offline harness (``shared.harness``)."""

from __future__ import annotations

import pytest

from shared.harness import RenderedStack, render_environment

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
