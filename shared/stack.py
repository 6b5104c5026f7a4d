"""What every layer knows about the stack it runs in, parsed once.

``StackContext.load(layer)`` reads the stack name (the environment), the ``pipeline:``
settings every layer shares and ``aws:region``; it is the one place that derives names,
tags, export keys and upstream stack references.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pydantic import Field

from shared.environments import validate_environment_name
from shared.errors import SettingsError, StackEnvironmentError
from shared.layers import Layer, get_layer
from shared.naming import export_key, resource_name
from shared.settings import StackSettings, read_settings

SHARED_NAMESPACE = "pipeline"
SELF_MANAGED_BACKEND_ORG = "organization"


class SharedSettings(StackSettings):
    """``pipeline:*`` keys: the same in every layer's stack file of one environment."""

    project: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._:/=+@-]{0,255}$",
        description="the Project tag's value: up to 256 letters, digits, spaces and ._:/=+@-",
    )
    org: str = Field(
        SELF_MANAGED_BACKEND_ORG,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        description="a Pulumi organization name (letters, digits, _ . -); "
        f"{SELF_MANAGED_BACKEND_ORG!r} for file:// and s3:// backends",
    )
    tracing: bool | None = None


@dataclass(frozen=True)
class StackContext:
    layer: Layer
    environment: str
    region: str
    shared: SharedSettings

    @classmethod
    def load(cls, layer_name: str) -> StackContext:
        layer = get_layer(layer_name)
        try:
            environment = validate_environment_name(pulumi.get_stack())
        except StackEnvironmentError as error:
            raise SettingsError(f"stack name: {error}") from None
        region = pulumi.Config("aws").get("region")
        if not region:
            raise SettingsError(
                "aws:region is required but not set in the stack file "
                f"(projects/{layer.name}/Pulumi.{environment}.yaml), e.g. us-east-1"
            )
        shared = read_settings(SharedSettings, SHARED_NAMESPACE)
        return cls(layer=layer, environment=environment, region=region, shared=shared)

    @property
    def tracing(self) -> bool:
        """Whether X-Ray tracing is on; layers that depend on it call this, so it must be set."""
        if self.shared.tracing is None:
            raise SettingsError(
                f"{SHARED_NAMESPACE}:tracing is required by layer {self.layer.name!r}: "
                "set it to true or false, the same in the iam and compute stack files"
            )
        return self.shared.tracing

    @property
    def tags(self) -> dict[str, str]:
        return {
            "Environment": self.environment,
            "Project": self.shared.project,
            "Layer": self.layer.name,
            "ManagedBy": "pulumi",
        }

    def name(self, part: tuple[str, str], suffix: str = "") -> str:
        return resource_name(self.environment, part, suffix)

    def export(self, name: str, value: pulumi.Input[object]) -> None:
        pulumi.export(export_key(self.environment, name), value)

    def upstream_stack_name(self, layer_name: str) -> str:
        upstream = get_layer(layer_name)
        return f"{self.shared.org}/{upstream.project}/{self.environment}"

    def upstream(self, layer_name: str, parent: pulumi.Resource) -> UpstreamStack:
        if layer_name not in self.layer.depends_on:
            raise SettingsError(
                f"layer {self.layer.name!r} reads stack outputs of {layer_name!r}, "
                f"not in its depends_on {self.layer.depends_on} (declared in shared/layers.py)"
            )
        return UpstreamStack(self, self.upstream_stack_name(layer_name), parent)


class UpstreamStack:
    """A StackReference to the same environment's stack of an upstream layer."""

    def __init__(self, context: StackContext, stack_name: str, parent: pulumi.Resource) -> None:
        self._environment = context.environment
        self.stack_name = stack_name
        self.reference = pulumi.StackReference(
            stack_name, opts=pulumi.ResourceOptions(parent=parent)
        )

    def require(self, name: str) -> pulumi.Output[object]:
        """The upstream export ``{env}_{name}``; the deploy fails loudly if it is missing."""
        return self.reference.require_output(export_key(self._environment, name))
