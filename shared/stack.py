"""What every layer's program knows about the stack it runs in, read once.

``StackContext.load(__file__)`` finds the layer from the program's folder, reads the stack
name (the environment), the ``pipeline:`` settings every layer shares and ``aws:region``; it
is the one place that derives names, tags, export keys and upstream stack references, and it
holds the program to its layer's manifest: it may export only the keys its ``layer.yaml``
declares, and read only layers it ``depends_on`` and only the keys they declare.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pulumi
import pulumi.runtime.settings
from pydantic import Field

from shared.aws_resources import region_problem
from shared.environments import validate_environment_name
from shared.errors import ERROR_PREFIX, EXIT_USER_ERROR, SettingsError, StackEnvironmentError
from shared.layers import Layer, LayerGraph, load_graph, shown_path
from shared.naming import NamePart, export_key, resource_name
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


def exit_not_under_pulumi(directory: Path) -> NoReturn:
    """A layer's program run with plain ``python``: neither the Pulumi engine (``pulumi up``)
    nor the offline mocks (``invoke render``) is there to receive its resources."""
    layer = directory.name
    shown = shown_path(directory)
    print(
        f"{ERROR_PREFIX}{shown_path(directory / '__main__.py')} is the Pulumi program of layer "
        f"{layer!r}; it runs under the Pulumi engine (`pulumi up --stack ENV` in {shown}, or "
        f"`invoke deploy --env ENV --layer {layer}`) or offline under Pulumi's mocks "
        f"(`invoke render --env ENV --layer {layer}`, `invoke check`), not with plain python",
        file=sys.stderr,
    )
    raise SystemExit(EXIT_USER_ERROR)


ACCOUNT_ID = re.compile(r"^[0-9]{12}$")
ALLOWED_ACCOUNTS_RULE = 'a list of 12-digit AWS account IDs, e.g. ["111111111111"]'


def allowed_accounts(layer: Layer) -> list[str] | None:
    """``aws:allowedAccountIds``, checked: the AWS provider then refuses to deploy this
    environment with credentials of any other account."""
    raw = pulumi.Config("aws").get("allowedAccountIds")
    if raw is None:
        return None
    try:
        accounts = json.loads(raw)
    except ValueError:
        accounts = None
    if (
        not isinstance(accounts, list)
        or not accounts
        or not all(isinstance(item, str) and ACCOUNT_ID.match(item) for item in accounts)
    ):
        raise SettingsError(
            f"aws:allowedAccountIds = {raw!r} is not allowed (layer {layer.name!r}); allowed: "
            f"{ALLOWED_ACCOUNTS_RULE}, quoted so YAML keeps leading zeros"
        )
    return accounts


def upstream_stack_name(org: str, upstream: Layer, environment: str) -> str:
    """The fully qualified name a StackReference uses: ``{org}/{project}/{stack}``."""
    return f"{org}/{upstream.project}/{environment}"


@dataclass(frozen=True)
class StackContext:
    layer: Layer
    graph: LayerGraph
    environment: str
    region: str
    shared: SharedSettings

    @classmethod
    def load(cls, program: str | Path) -> StackContext:
        """The context of the layer whose program is ``program`` (its ``__main__.py``).

        Run by hand (``python projects/<layer>/__main__.py``), there is no engine to
        register resources with, and no stack: one line says how to run it, exit 2."""
        directory = Path(program).resolve().parent
        if pulumi.runtime.settings.get_monitor() is None:
            exit_not_under_pulumi(directory)
        graph = load_graph(directory.parent)
        layer = graph.get(directory.name)
        if pulumi.get_project() != layer.project:
            raise SettingsError(
                f"the program of layer {layer.name!r} runs as Pulumi project "
                f"{pulumi.get_project()!r}, but {layer.shown(directory / 'Pulumi.yaml')} names "
                f"{layer.project!r}; run it with `pulumi up` in {layer.shown(directory)} or "
                "`invoke render`"
            )
        try:
            environment = validate_environment_name(pulumi.get_stack())
        except StackEnvironmentError as error:
            raise SettingsError(f"stack name: {error}") from None
        region = pulumi.Config("aws").get("region")
        if not region:
            raise SettingsError(
                f"aws:region is required but not set for layer {layer.name!r}: set it in "
                f"{layer.shown(directory / 'Pulumi.yaml')} (config:) or in the stack file, "
                "e.g. us-east-1"
            )
        problem = region_problem(region)
        if problem:
            raise SettingsError(f"aws:region = {region!r} (layer {layer.name!r}) {problem}")
        allowed_accounts(layer)
        shared = read_settings(SharedSettings, SHARED_NAMESPACE)
        return cls(layer, graph, environment, region, shared)

    @property
    def tracing(self) -> bool:
        """Whether X-Ray tracing is on; a layer that asks must have it set."""
        if self.shared.tracing is None:
            raise SettingsError(
                f"{SHARED_NAMESPACE}:tracing is required by layer {self.layer.name!r}: set it "
                "to true or false in its stack file, the same as in every other layer's"
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

    def name(self, part: NamePart, suffix: str = "") -> str:
        return resource_name(self.environment, part, suffix)

    def export(self, key: str, value: pulumi.Input[object]) -> None:
        """Export ``{env}_<key>``; only keys declared in the layer's ``layer.yaml``."""
        if self.layer.export(key) is None:
            raise SettingsError(
                f"layer {self.layer.name!r} exports {key!r}, which "
                f"{self.layer.shown(self.layer.manifest)} does not declare; declared exports: "
                f"{', '.join(self.layer.export_keys()) or 'none'}. Declare it (description "
                "and example) so the layers downstream can rely on it"
            )
        pulumi.export(export_key(self.environment, key), value)

    def upstream(self, layer_name: str, parent: pulumi.Resource) -> UpstreamStack:
        if layer_name not in self.layer.depends_on:
            raise SettingsError(
                f"layer {self.layer.name!r} reads the stack outputs of {layer_name!r}, which is "
                f"not in its depends_on {list(self.layer.depends_on)} "
                f"({self.layer.shown(self.layer.manifest)})"
            )
        return UpstreamStack(self, self.graph.get(layer_name), parent)


# (reading layer, upstream layer, export key) of every upstream export a program read in this
# process: the offline tools draw the edges between layers from it (`invoke diagram`).
EXPORTS_READ: list[tuple[str, str, str]] = []


class UpstreamStack:
    """A StackReference to the same environment's stack of an upstream layer."""

    def __init__(self, context: StackContext, upstream: Layer, parent: pulumi.Resource) -> None:
        self._context = context
        self.layer = upstream
        self.stack_name = upstream_stack_name(context.shared.org, upstream, context.environment)
        self.reference = pulumi.StackReference(
            self.stack_name, opts=pulumi.ResourceOptions(parent=parent)
        )

    def require(self, key: str) -> pulumi.Output[object]:
        """The upstream export ``{env}_<key>``: one its ``layer.yaml`` declares. The deploy
        fails loudly if the upstream stack does not have it."""
        if self.layer.export(key) is None:
            reader = self._context.layer
            raise SettingsError(
                f"layer {reader.name!r} reads export {key!r} of layer {self.layer.name!r}, which "
                f"{self.layer.shown(self.layer.manifest)} does not declare; it declares: "
                f"{', '.join(self.layer.export_keys()) or 'none'}"
            )
        EXPORTS_READ.append((self._context.layer.name, self.layer.name, key))
        return self.reference.require_output(export_key(self._context.environment, key))
