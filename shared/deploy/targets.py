"""Where a run's commands go: one environment, some layers, a backend, maybe the emulator.

Everything a run needs is validated here before any command runs: the layer, the
environment and its stack files, the flags, the ``pulumi`` executable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from shared import pulumi_cli as cli
from shared.environments import read_stack_config, require_environment
from shared.errors import PipelineError
from shared.layers import Layer, LayerGraph
from shared.local_emulator import LocalEmulator
from shared.text import say


@dataclass(frozen=True)
class Target:
    environment: str
    layers: tuple[Layer, ...]
    graph: LayerGraph
    env: dict[str, str] = field(default_factory=dict)
    local: LocalEmulator | None = None
    backend: str | None = None

    def stack_dir(self, layer: Layer) -> Path:
        """Where the stack is selected/created and its outputs are read."""
        return self.local.project_dir(layer) if self.local else layer.directory

    def config_file(self, layer: Layer) -> Path | None:
        return self.local.config_file(layer, self.environment) if self.local else None

    def invoke_hint(self, action: str, layer: Layer) -> str:
        """The task line a person would type next, e.g. to deploy an upstream layer first."""
        extra = " --local" if self.local else f" --backend {self.backend}" if self.backend else ""
        return f"invoke {action} --env {self.environment} --layer {layer.name}{extra}"


def checked_layers(
    graph: LayerGraph,
    environment: str,
    layer: str | None,
    order: list[Layer],
    *,
    backend: str | None = None,
    local: bool = False,
) -> tuple[Layer, ...]:
    """Validate everything a run needs before anything runs; the layers to act on."""
    layers = tuple(graph.select(layer, order))
    require_environment(environment, list(layers), graph)
    for each in layers:  # a broken stack file stops the run before the first layer, not at it
        read_stack_config(each, environment)
    if backend is not None and not backend.strip():
        raise PipelineError(
            "--backend is empty: give a state backend URL (e.g. s3://bucket, "
            "file:///path, https://api.pulumi.com), or leave the flag out to use the backend "
            "you are logged in to"
        )
    if local and backend:
        raise PipelineError(
            f"--backend {backend!r} and --local cannot be combined: local mode always uses "
            "its own file backend under .local/state"
        )
    return layers


def remote_target(
    graph: LayerGraph, environment: str, layers: tuple[Layer, ...], backend: str | None
) -> Target:
    """The logged-in backend, or ``PULUMI_BACKEND_URL``, or ``--backend`` when given."""
    env = {"PULUMI_BACKEND_URL": backend} if backend else {}
    return Target(environment, layers, graph, env, backend=backend)


def local_target(
    graph: LayerGraph, environment: str, layers: tuple[Layer, ...], *, start_emulator: bool
) -> Target | None:
    """Local mode: the emulator (started if asked and needed), its backend and stack files.

    None when the emulator is not running and ``start_emulator`` is false.
    """
    emulator = LocalEmulator.default()
    if start_emulator:
        info, started = emulator.ensure_running()
        if started:
            say(
                f"local emulator started on {info.endpoint}; "
                "`invoke local.stop` stops it and discards the local state"
            )
    else:
        found = emulator.running()
        if found is None:
            return None
        info = found
    for each in graph:
        emulator.prepare_project(each)
    for each in layers:
        emulator.write_stack_config(each, environment, info.endpoint)
    return Target(environment, layers, graph, emulator.environment(info), emulator)


def target_for(
    graph: LayerGraph,
    environment: str,
    layers: tuple[Layer, ...],
    *,
    backend: str | None,
    local: bool,
    start_emulator: bool,
) -> Target | None:
    """Where the run goes. Asked for after every input check, so that bad input is named even
    on a machine without the Pulumi CLI; this is where its absence stops the run."""
    cli.require_pulumi()
    if local:
        return local_target(graph, environment, layers, start_emulator=start_emulator)
    return remote_target(graph, environment, layers, backend)
