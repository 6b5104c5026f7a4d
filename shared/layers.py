"""The one declaration of the pipeline's layers and their dependencies.

Everything that needs the layer order (the Invoke tasks, the tests, the CI workflow check,
the offline renderer) reads it from here. Deploy order is a topological sort of
``depends_on``; destroy order is its reverse.
"""

from __future__ import annotations

from dataclasses import dataclass
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

from shared.errors import LayerError

REPO_ROOT = Path(__file__).resolve().parent.parent
PROJECTS_DIR = REPO_ROOT / "projects"
PROJECT_PREFIX = "rawdata"


@dataclass(frozen=True)
class Layer:
    name: str
    summary: str
    depends_on: tuple[str, ...] = ()

    @property
    def directory(self) -> Path:
        return PROJECTS_DIR / self.name

    @property
    def project(self) -> str:
        """The Pulumi project name, as in ``Pulumi.yaml`` and ``{org}/{project}/{stack}``."""
        return f"{PROJECT_PREFIX}-{self.name}"


LAYERS: tuple[Layer, ...] = (
    Layer("storage", "raw-data bucket, metadata table, dead-letter queue"),
    Layer("iam", "the validator's role and least-privilege policy", depends_on=("storage",)),
    Layer(
        "compute",
        "log group, validator Lambda, S3 notification, failure alarm",
        depends_on=("storage", "iam"),
    ),
)


def layer_names(layers: tuple[Layer, ...] = LAYERS) -> list[str]:
    return [layer.name for layer in layers]


def get_layer(name: str, layers: tuple[Layer, ...] = LAYERS) -> Layer:
    for layer in layers:
        if layer.name == name:
            return layer
    known = ", ".join(layer_names(layers))
    raise LayerError(f"unknown layer {name!r}; known layers: {known}")


def deploy_order(layers: tuple[Layer, ...] = LAYERS) -> list[Layer]:
    """Layers in an order where every layer comes after the layers it depends on.

    Ties keep declaration order, so the result is stable.
    """
    by_name = {layer.name: layer for layer in layers}
    for layer in layers:
        for upstream in layer.depends_on:
            if upstream not in by_name:
                raise LayerError(
                    f"layer {layer.name!r} depends on unknown layer {upstream!r}; "
                    f"known layers: {', '.join(by_name)}"
                )
    sorter = TopologicalSorter({layer.name: layer.depends_on for layer in layers})
    try:
        sorter.prepare()
    except CycleError as error:
        cycle = " -> ".join(error.args[1])
        raise LayerError(f"layer dependencies form a cycle: {cycle}") from None
    position = {layer.name: index for index, layer in enumerate(layers)}
    ordered: list[Layer] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready(), key=position.__getitem__)
        for name in ready:
            ordered.append(by_name[name])
            sorter.done(name)
    return ordered


def destroy_order(layers: tuple[Layer, ...] = LAYERS) -> list[Layer]:
    return list(reversed(deploy_order(layers)))


def select(layer_name: str | None, order: list[Layer]) -> list[Layer]:
    """All of ``order``, or just the named layer (validated)."""
    if layer_name is None:
        return order
    wanted = get_layer(layer_name)
    return [layer for layer in order if layer.name == wanted.name]
