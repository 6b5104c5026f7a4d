"""The rules of ``policies.rules`` as Pulumi CrossGuard policies (pulumi-policy's Python SDK).

What the engine hands a policy, and where each thing a rule needs comes from:

- A ``ResourceValidationPolicy`` gets ``ResourceValidationArgs``: ``resource_type``, ``urn``,
  ``name``, ``props`` (the resource's inputs, camelCase) and ``opts.parent``; no
  dependencies. A ``StackValidationPolicy`` gets ``StackValidationArgs.resources``:
  ``PolicyResource`` objects whose ``props`` are outputs (during a preview, the inputs carried
  over), with ``parent`` and ``dependencies`` as resources. The root stack resource
  (``pulumi:pulumi:Stack``) is one of them; its outputs are the stack's exports.
- The environment is the stack's name, read from the URN (``urn:pulumi:<stack>::<project>::
  <type>::<name>``); the layer is the one whose Pulumi project is the URN's project.
- Every environment (the cross-environment rule needs them) and every layer's project are
  read from this repository (``shared.layers``, ``shared.environments``) when the pack starts:
  the pack runs in the repository's virtualenv (``PulumiPolicy.yaml``), where ``shared`` and
  ``policies`` are installed from this checkout.
- Stack config (``pipeline:tracing``) through ``pulumi.Config``: before each call the SDK
  loads the config the CLI hands the pack (the stack's).
- Unknown values: the SDK wraps ``props`` so that reading an unknown value raises
  ``UnknownValueError``, and a policy it escapes from is skipped for the whole resource with
  an advisory "can't run policy during preview". Instead, ``known_props`` copies the props to
  plain data with each unknown value replaced by ``policies.rules.UNKNOWN``, so a rule skips
  only the property it cannot judge yet.

Building a ``PolicyPack`` starts its gRPC server and never returns: only ``__main__.py`` does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi_policy import (
    Policy,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

from policies.rules import (
    UNKNOWN,
    Resource,
    ResourceRule,
    Rule,
    RuleViolation,
    StackContext,
    StackRule,
)
from shared.environments import environments
from shared.layers import LayerGraph, load_graph

PACK_NAME = "rawdata-pipeline-policies"

ConfigReader = Callable[[str], str | None]


def engine_config(key: str) -> str | None:
    """A config value of the stack being deployed (``pipeline:tracing``), or None."""
    namespace, _, name = key.partition(":")
    return pulumi.Config(namespace).get(name)


# --------------------------------------------------------------------------- engine values
def _read(container: Any, key: Any) -> Any:
    try:
        value = container[key]
    except UnknownValueError:
        return UNKNOWN
    return _plain(value)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(key): _read(value, key) for key in value}  # iterating keys never raises
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [_read(value, index) for index in range(len(value))]
    if isinstance(value, float) and value.is_integer():
        return int(value)  # the wire protocol carries every number as a double
    return value


def known_props(props: Mapping[str, Any]) -> dict[str, Any]:
    """The SDK's props as plain data, every unknown value (at any depth) replaced by UNKNOWN."""
    return _plain(props)


def stack_and_project(urn: str) -> tuple[str, str]:
    """(stack, project) of ``urn:pulumi:<stack>::<project>::<type>::<name>``."""
    head, separator, rest = urn.partition("::")
    if not head.startswith("urn:pulumi:") or not separator:
        raise ValueError(
            f"{urn!r} is not a Pulumi URN (urn:pulumi:<stack>::<project>::<type>::<name>)"
        )
    return head.removeprefix("urn:pulumi:"), rest.split("::", 1)[0]


def resource_from_args(args: ResourceValidationArgs) -> Resource:
    return Resource(
        urn=args.urn,
        type=args.resource_type,
        name=args.name,
        props=known_props(args.props),
        parent=args.opts.parent or None,
    )


def resource_from_stack(resource: PolicyResource) -> Resource:
    return Resource(
        urn=resource.urn,
        type=resource.resource_type,
        name=resource.name,
        props=known_props(resource.props),
        parent=resource.parent.urn if resource.parent is not None else None,
        dependencies=tuple(dependency.urn for dependency in resource.dependencies),
    )


# --------------------------------------------------------------------------- the repository
@dataclass(frozen=True)
class Repository:
    """What the pack knows of this repository: which layer each Pulumi project is, every
    environment, and where stack config comes from."""

    layers_by_project: Mapping[str, str]
    environments: tuple[str, ...]
    read_config: ConfigReader = engine_config

    @classmethod
    def load(
        cls, graph: LayerGraph | None = None, read_config: ConfigReader = engine_config
    ) -> Repository:
        graph = graph or load_graph()
        return cls(
            layers_by_project={layer.project: layer.name for layer in graph},
            environments=tuple(environments(graph)),
            read_config=read_config,
        )

    def context_for(self, urn: str) -> StackContext:
        stack, project = stack_and_project(urn)
        return StackContext(
            environment=stack,
            layer=self.layers_by_project.get(project),
            environments=self.environments,
            config=self.read_config,
        )


# --------------------------------------------------------------------------- the policies
def violation_message(violation: RuleViolation) -> str:
    return f"{violation.input}: {violation.message}"


def _resource_policy(rule: ResourceRule, repository: Repository) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if not rule.applies_to(args.resource_type):
            return
        context = repository.context_for(args.urn)
        for violation in rule.violations(resource_from_args(args), context):
            report_violation(violation_message(violation), None)

    return ResourceValidationPolicy(
        name=rule.name,
        description=rule.description,
        validate=validate,
        enforcement_level=rule.enforcement,
    )


def _stack_policy(rule: StackRule, repository: Repository) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        resources = [resource_from_stack(resource) for resource in args.resources]
        if not resources:
            return
        context = repository.context_for(resources[0].urn)
        for violation in rule.violations(resources, context):
            report_violation(violation_message(violation), violation.resource.urn)

    return StackValidationPolicy(
        name=rule.name,
        description=rule.description,
        validate=validate,
        enforcement_level=rule.enforcement,
    )


def pack_policies(rules: Iterable[Rule], repository: Repository) -> list[Policy]:
    """One CrossGuard policy per rule, each at the rule's enforcement level."""
    return [
        _resource_policy(rule, repository)
        if isinstance(rule, ResourceRule)
        else _stack_policy(rule, repository)
        for rule in rules
    ]
