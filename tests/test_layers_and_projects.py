"""The layer declaration, environment discovery, and what `pulumi up` needs in each project."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from shared.environments import (
    PROMOTION_ORDER,
    environments,
    require_environment,
    validate_environment_name,
)
from shared.errors import LayerError, StackEnvironmentError
from shared.layers import LAYERS, REPO_ROOT, Layer, deploy_order, destroy_order, get_layer
from tests.conftest import ENVIRONMENTS, unused_environment_name


def names(layers: list[Layer]) -> list[str]:
    return [layer.name for layer in layers]


def test_deploy_order_follows_dependencies() -> None:
    assert names(deploy_order()) == ["storage", "iam", "compute"]
    assert names(destroy_order()) == ["compute", "iam", "storage"]


def test_a_dependency_cycle_is_refused_naming_the_cycle() -> None:
    cyclic = (Layer("a", "", ("c",)), Layer("b", "", ("a",)), Layer("c", "", ("b",)))
    with pytest.raises(LayerError, match=r"layer dependencies form a cycle: (\w -> ){3}\w"):
        deploy_order(cyclic)


def test_an_unknown_upstream_is_refused() -> None:
    with pytest.raises(
        LayerError, match="layer 'b' depends on unknown layer 'x'; known layers: a, b"
    ):
        deploy_order((Layer("a", ""), Layer("b", "", ("x",))))


def test_an_unknown_layer_lists_the_known_ones() -> None:
    with pytest.raises(
        LayerError, match="unknown layer 'network'; known layers: storage, iam, compute"
    ):
        get_layer("network")


def test_environments_are_the_stack_files_present_in_promotion_order() -> None:
    """dev, staging, prod first; an environment added later (`invoke new-env`) after them, by
    name."""
    present = {
        path.name.removeprefix("Pulumi.").removesuffix(".yaml")
        for layer in LAYERS
        for path in layer.directory.glob("Pulumi.*.yaml")
    }
    found = environments()
    assert set(found) == present
    assert found[: len(PROMOTION_ORDER)] == list(PROMOTION_ORDER)
    assert set(ENVIRONMENTS) <= set(found)
    assert found[len(PROMOTION_ORDER) :] == sorted(present - set(PROMOTION_ORDER))


def test_unknown_environment_lists_the_known_ones() -> None:
    unknown = unused_environment_name("qa")
    with pytest.raises(StackEnvironmentError) as refused:
        require_environment(unknown)
    assert str(refused.value) == (
        f"unknown environment {unknown!r}; environments with stack files: "
        + ", ".join(environments())
    )
    assert ", ".join(environments()).startswith("dev, staging, prod")


@pytest.mark.parametrize("bad", ["Prod", "p", "dev-1", "1dev", "a" * 17, ""])
def test_bad_environment_names_are_refused_with_the_rule(bad: str) -> None:
    with pytest.raises(
        StackEnvironmentError, match="2-16 characters, lowercase letters and digits"
    ):
        validate_environment_name(bad)


@pytest.mark.parametrize("layer", LAYERS, ids=lambda layer: layer.name)
def test_each_project_works_alone_with_the_pulumi_cli(layer: Layer) -> None:
    """`cd projects/<layer> && pulumi up -s <env>` finds the project, the program, the venv."""
    project = yaml.safe_load((layer.directory / "Pulumi.yaml").read_text())
    assert project["name"] == layer.project
    assert project["runtime"]["name"] == "python"
    virtualenv = (layer.directory / project["runtime"]["options"]["virtualenv"]).resolve()
    assert virtualenv == REPO_ROOT / ".venv"
    assert "main" not in project  # the folder itself is the program: __main__.py
    assert (layer.directory / "__main__.py").is_file()
    for environment in environments():
        assert (layer.directory / f"Pulumi.{environment}.yaml").is_file()


@pytest.mark.parametrize("layer", LAYERS, ids=lambda layer: layer.name)
def test_main_programs_stay_tiny(layer: Layer) -> None:
    code_lines = [
        line
        for line in Path(layer.directory / "__main__.py").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith(("#", '"""'))
    ]
    assert len(code_lines) <= 6, code_lines
