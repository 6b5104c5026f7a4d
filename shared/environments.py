"""Environments are the stack files present: ``projects/<layer>/Pulumi.<env>.yaml``.

An environment is deployable when every layer has a stack file for it. The promotion order
(the order CI deploys them in) is declared once, in ``projects/environments.yaml``;
``invoke new-env --after ENV`` places a new environment in it and ``invoke check`` fails when
the order and the stack files disagree.

A layer's settings are its project's ``config:`` (``Pulumi.yaml``, shared by every
environment) overlaid with the stack file's ``config:``, as the Pulumi CLI merges them.

Import-light: standard library and PyYAML only.
"""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path
from typing import Any

from shared.errors import SettingsError, StackEnvironmentError
from shared.layers import Layer, LayerGraph, load_graph, load_yaml, shown_path
from shared.text import closest_hint, shorten

PROMOTION_FILE = "environments.yaml"
ENVIRONMENT_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9]{1,15}$")
ENVIRONMENT_NAME_RULE = "2-16 characters, lowercase letters and digits, starting with a letter"
# Top-level keys Pulumi writes into a stack file for the stack's secrets provider when it
# creates the stack: they belong to that one stack on that one backend, never to a copy.
SECRETS_PROVIDER_KEYS: tuple[str, ...] = ("secretsprovider", "encryptedkey", "encryptionsalt")
# Pulumi's stack settings file reference also has ``environment`` (Pulumi ESC), left out on
# purpose: its values are read at deploy time only, so render and check could not see them.
STACK_FILE_KEYS: tuple[str, ...] = ("config", *SECRETS_PROVIDER_KEYS)


def stack_file(layer: Layer, environment: str) -> Path:
    return layer.directory / f"Pulumi.{environment}.yaml"


def promotion_file(graph: LayerGraph) -> Path:
    return graph.projects_dir / PROMOTION_FILE


def promotion_order(graph: LayerGraph | None = None) -> list[str]:
    """The environments in the order CI promotes a change through them."""
    path = promotion_file(graph or load_graph())
    shown = shown_path(path)
    if not path.is_file():
        raise StackEnvironmentError(
            f"no {shown}: it lists the environments in promotion order, e.g. [dev, staging, prod]"
        )
    document = load_yaml(path)
    if not isinstance(document, dict) or set(document) != {"promotion_order"}:
        raise StackEnvironmentError(
            f"{shown}: expected one key, promotion_order: a list of environment names"
        )
    order = document["promotion_order"]
    if not isinstance(order, list) or not all(isinstance(name, str) for name in order):
        raise StackEnvironmentError(
            f"{shown}: promotion_order = {order!r} is not allowed; expected a list of names"
        )
    for name in order:
        validate_environment_name(name)
    duplicates = sorted({name for name in order if order.count(name) > 1})
    if duplicates:
        raise StackEnvironmentError(f"{shown}: promotion_order lists {duplicates} twice")
    return list(order)


def stack_file_environments(graph: LayerGraph) -> set[str]:
    """The environments the layers have stack files for; a ``Pulumi.<name>.yaml`` whose name
    is not an environment name is an error (a stray file would otherwise pass for one)."""
    found = set()
    for layer in graph:
        for path in layer.directory.glob("Pulumi.*.yaml"):
            name = path.name.removeprefix("Pulumi.").removesuffix(".yaml")
            if not ENVIRONMENT_NAME_PATTERN.fullmatch(name):
                raise StackEnvironmentError(
                    f"{layer.shown(path)}: {name!r} is not an environment name "
                    f"({ENVIRONMENT_NAME_RULE}); rename the stack file or remove it"
                )
            found.add(name)
    return found


def environments(graph: LayerGraph | None = None) -> list[str]:
    """Every environment with a stack file in at least one layer: those in the promotion order
    first, in that order, then any others by name."""
    graph = graph or load_graph()
    found = stack_file_environments(graph)
    try:
        order = promotion_order(graph)
    except StackEnvironmentError:
        order = []  # reported by `invoke check`; discovery still works without it
    ranked = [name for name in order if name in found]
    return ranked + sorted(found - set(ranked))


def validate_environment_name(name: str) -> str:
    if not isinstance(name, str) or not ENVIRONMENT_NAME_PATTERN.fullmatch(name):
        raise StackEnvironmentError(
            f"environment name {name!r} is not allowed: use {ENVIRONMENT_NAME_RULE} "
            "(it becomes the prefix of every resource name)"
        )
    return name


def unknown_environment(
    name: str, known: list[str], what: str = "environment"
) -> StackEnvironmentError:
    """The error for a name that is not one of ``known``, with the closest as a hint."""
    return StackEnvironmentError(
        f"unknown {what} {name!r}; environments with stack files: "
        f"{', '.join(known) or 'none'}"
        + closest_hint(name, known, f"; one {what} per run: run the task once for each")
    )


def require_environment(environment: str, layers: list[Layer], graph: LayerGraph) -> str:
    """Fail unless every given layer has a stack file for ``environment``."""
    known = environments(graph)
    if environment not in known:
        raise unknown_environment(environment, known)
    missing = [layer for layer in layers if not stack_file(layer, environment).is_file()]
    if missing:
        names = ", ".join(
            f"{layer.name} ({layer.shown(stack_file(layer, environment))})" for layer in missing
        )
        raise StackEnvironmentError(
            f"environment {environment!r} has no stack file in layer(s): {names}"
        )
    return environment


def config_value(value: Any) -> str:
    """A config value as the Pulumi CLI hands it to a program: strings, JSON for the rest."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, default=str)  # a date inside a list stays its text
    return str(value)


def _project_value(value: Any) -> tuple[bool, Any]:
    """A ``Pulumi.yaml`` config entry: a plain value, ``{value: ...}``, or a declaration with an
    optional ``default``. (present, value)."""
    if isinstance(value, dict) and ("value" in value or "type" in value or "default" in value):
        if "value" in value:
            return True, value["value"]
        return ("default" in value), value.get("default")
    return True, value


def full_key(layer: Layer, key: str) -> str:
    """Config keys are namespaced; a bare key belongs to the layer's own project."""
    return key if ":" in key else f"{layer.project}:{key}"


def read_stack_document(layer: Layer, environment: str) -> dict[str, Any]:
    path = stack_file(layer, environment)
    if not path.is_file():
        raise SettingsError(
            f"layer {layer.name!r} has no stack file for {environment!r}: {layer.shown(path)}"
        )
    document = load_yaml(path)
    if document is None:  # an empty stack file is a stack with no settings of its own
        return {}
    if not isinstance(document, dict):
        raise SettingsError(
            f"{layer.shown(path)}: expected a mapping of stack settings (config: ...), "
            f"got {type(document).__name__} {shorten(document)}"
        )
    unknown = [key for key in document if key not in STACK_FILE_KEYS]
    if "environment" in unknown:
        raise SettingsError(
            f"{layer.shown(path)}: 'environment' (Pulumi ESC) is not used here: its values reach "
            "the program only at deploy time, so render and check could not see or check "
            "them; put the settings under config:"
        )
    if unknown:
        close = difflib.get_close_matches(str(unknown[0]).lower(), STACK_FILE_KEYS, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise SettingsError(
            f"{layer.shown(path)}: unknown top-level key {shorten(unknown[0])}{hint}; a stack "
            f"file holds {', '.join(STACK_FILE_KEYS)} (settings go under config:)"
        )
    config = document.get("config")
    if config is not None and not isinstance(config, dict):
        raise SettingsError(
            f"{layer.shown(path)}: 'config' must be a mapping of keys to values, "
            f"got {type(config).__name__} {shorten(config)}"
        )
    return document


def scalar_texts(path: Path) -> dict[str, str]:
    """The stack file's top-level ``config:`` scalars as written (``True``, ``0x800``, ``010``):
    the Pulumi CLI hands a program a scalar setting's source text, not what a YAML reader
    would make of it (pulumi's ``config.Value`` unmarshals it into a string first)."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the one load_yaml reads with
    root = yaml.compose(path.read_text(encoding="utf-8"), Loader=loader)
    if not isinstance(root, yaml.MappingNode):
        return {}
    for key_node, value_node in root.value:
        if key_node.value == "config" and isinstance(value_node, yaml.MappingNode):
            yaml.SafeLoader("").flatten_mapping(value_node)  # `<<:` merged keys, as loaded
            return {
                key.value: value.value
                for key, value in value_node.value
                if isinstance(value, yaml.ScalarNode)
            }
    return {}


def read_stack_config(layer: Layer, environment: str) -> dict[str, str]:
    """Every config value the program gets for ``environment``: ``Pulumi.yaml``'s ``config:``
    overlaid with the stack file's, keys fully namespaced, values as the CLI passes them: a
    scalar as written in the stack file, a list or mapping as JSON."""
    path = stack_file(layer, environment)
    raw = read_stack_document(layer, environment).get("config") or {}
    texts = scalar_texts(path) if raw else {}
    config: dict[str, str] = {}
    project_file = layer.shown(layer.directory / "Pulumi.yaml")
    for key, value in layer.project_config.items():
        present, plain = _project_value(value)
        if present and plain is None:
            raise SettingsError(
                f"{project_file}: {full_key(layer, str(key))} has no value (empty, or null); "
                "give it one, or remove the key"
            )
        if present:
            config[full_key(layer, str(key))] = config_value(plain)
    for key, value in raw.items():
        if value is None:
            raise SettingsError(
                f"{layer.shown(path)}: {full_key(layer, str(key))} has no value (empty, or null); "
                "give it one, or remove the key to use the default"
            )
        if isinstance(value, dict) and "secure" in value:
            raise SettingsError(
                f"{layer.shown(path)}: {key} is a secret; this repository reads stack settings "
                "offline and cannot decrypt it. Keep secrets out of the settings it validates."
            )
        as_written = texts.get(str(key))
        scalar = not isinstance(value, list | dict) and as_written is not None
        config[full_key(layer, str(key))] = as_written if scalar else config_value(value)
    return config
