"""Take the environment out of a rendered stack, so two environments can be compared.

Logical names are environment-free, but physical names, URNs, ARNs, export keys and
StackReference names all contain the environment. ``normalise_stack`` replaces the
environment wherever it stands as a whole token (``dev-audit-bucket``, ``dev_bucket_name``,
``organization/rawdata-audit/dev``), never inside another word (``device`` stays ``device``),
and decodes embedded JSON documents (IAM and bucket policies) so that a difference is
reported at the statement that differs, not as one long string.

Import-light: standard library only; it reads ``RenderedStack`` objects, it never renders.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from shared.layers import STACK_RESOURCE

if TYPE_CHECKING:
    from shared.harness import RenderedStack

ENV_PLACEHOLDER = "{env}"
# pulumi.runtime.rpc.UNKNOWN: what an Output the harness could not resolve deserialises to.
UNKNOWN_SENTINEL = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
UNKNOWN_DISPLAY = "<unknown until deploy>"

# Pseudo-inputs: what the engine records about a resource besides its inputs.
PARENT = "(parent)"
DEPENDENCIES = "(dependencies)"
PROTECT = "(protect)"


class Absent:
    """The value of a path that one environment does not have."""

    _instance: Absent | None = None

    def __new__(cls) -> Absent:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT = Absent()


@cache
def environment_token(environment: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![A-Za-z0-9]){re.escape(environment)}(?![A-Za-z0-9])")


def without_environment(text: str, environment: str) -> str:
    """``text`` with every whole-token occurrence of ``environment`` replaced by ``{env}``."""
    return environment_token(environment).sub(ENV_PLACEHOLDER, text)


def _decoded_document(text: str) -> Any:
    """A JSON object or array embedded in a string input (a policy document), else ``None``."""
    stripped = text.lstrip()
    if not stripped.startswith(("{", "[")):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def normalise_value(value: Any, environment: str | None) -> Any:
    """``value`` with embedded JSON documents decoded and, given an ``environment``, that
    environment taken out of every string (keys included)."""
    if isinstance(value, str):
        document = _decoded_document(value)
        if document is not None:
            return normalise_value(document, environment)
        return without_environment(value, environment) if environment else value
    if isinstance(value, Mapping):
        return {
            (without_environment(str(key), environment) if environment else str(key)): (
                normalise_value(item, environment)
            )
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [normalise_value(item, environment) for item in value]
    return value


def decode_documents(value: Any) -> Any:
    """``value`` with embedded JSON documents (policies) decoded, nothing else changed."""
    return normalise_value(value, None)


def _list_keys(items: list[Any]) -> list[str]:
    """How a list's elements are addressed: IAM statements by ``Sid`` when every one has a
    unique Sid (order carries no meaning there, and a statement present in one environment
    only then reads as one difference), everything else by index."""
    sids = [item.get("Sid") if isinstance(item, dict) else None for item in items]
    if items and all(isinstance(sid, str) for sid in sids) and len(set(sids)) == len(sids):
        return [f"[{sid}]" for sid in sids]
    return [f"[{index}]" for index in range(len(items))]


def children(value: Any) -> Iterator[tuple[str, Any]]:
    """The (path step, child) pairs of a mapping or list: ``.key``, ``[Sid]`` or ``[index]``."""
    if isinstance(value, dict):
        for key in sorted(value):
            yield f".{key}", value[key]
    elif isinstance(value, list):
        yield from zip(_list_keys(value), value, strict=True)


def join_path(prefix: str, step: str) -> str:
    if not prefix:
        return step.removeprefix(".")
    return f"{prefix}{step}"


def index_paths(value: Any, prefix: str = "") -> dict[str, Any]:
    """Every node of a nested value by its path (``a.b[Sid].c``), containers included."""
    found: dict[str, Any] = {}
    if prefix:
        found[prefix] = value
    for step, child in children(value):
        found.update(index_paths(child, join_path(prefix, step)))
    return found


def leaf_paths(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(path, value) of every scalar and every empty container, depth first."""
    if is_container(value) and value:
        for step, child in children(value):
            yield from leaf_paths(child, join_path(prefix, step))
    else:
        yield prefix, value


def is_container(value: Any) -> bool:
    return isinstance(value, dict | list)


@dataclass(frozen=True)
class NormalisedResource:
    type: str
    name: str
    custom: bool
    parent: str
    dependencies: tuple[str, ...]
    protect: bool
    inputs: dict[str, Any]

    @property
    def key(self) -> tuple[str, str]:
        return (self.type, self.name)

    def comparable(self) -> dict[str, Any]:
        """What must match across environments: inputs, plus the engine's view of it."""
        return {
            PARENT: self.parent,
            DEPENDENCIES: list(self.dependencies),
            PROTECT: self.protect,
            **self.inputs,
        }


@dataclass(frozen=True)
class NormalisedStack:
    layer: str
    environment: str
    resources: dict[tuple[str, str], NormalisedResource]
    exports: dict[str, Any]


def _logical_name_of_urn(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]


def normalise_stack(stack: RenderedStack) -> NormalisedStack:
    """The stack with its environment taken out; references by logical name, not URN."""
    environment = stack.environment
    names_by_urn = {resource.urn: resource.name for resource in stack.resources}

    def reference(urn: str | None) -> str:
        if urn is None:
            return "-"
        if urn not in names_by_urn:
            return STACK_RESOURCE  # the root pulumi:pulumi:Stack, which is not recorded
        return without_environment(names_by_urn[urn], environment)

    resources: dict[tuple[str, str], NormalisedResource] = {}
    for resource in stack.resources:
        normalised = NormalisedResource(
            type=resource.type,
            name=without_environment(resource.name, environment),
            custom=resource.custom,
            parent=reference(resource.parent),
            dependencies=tuple(sorted(reference(urn) for urn in resource.dependencies)),
            protect=resource.protect,
            inputs=normalise_value(resource.inputs, environment),
        )
        if normalised.key in resources:
            raise ValueError(
                f"{stack.layer}/{environment}: two resources of type {resource.type} are named "
                f"{resource.name!r}; logical names must be unique per type within a stack"
            )
        resources[normalised.key] = normalised
    return NormalisedStack(
        layer=stack.layer,
        environment=environment,
        resources=resources,
        exports=normalise_value(stack.exports, environment),
    )


def display(value: Any, width: int = 48) -> str:
    """One table cell: scalars as written, containers as compact JSON, long text shortened."""
    if value is ABSENT:
        return "absent"
    if value == UNKNOWN_SENTINEL:
        return UNKNOWN_DISPLAY
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif value is None:
        text = "null"
    elif isinstance(value, dict):
        text = "present" if value else "{}"
    elif isinstance(value, list):
        text = json.dumps(value, separators=(",", ":"), sort_keys=True)
    else:
        text = str(value)
    if len(text) <= width:
        return text
    keep = (width - 3) // 2
    return f"{text[:keep]}...{text[-(width - 3 - keep) :]}"
