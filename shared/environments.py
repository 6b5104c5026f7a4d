"""Environments are the stack files present: ``projects/<layer>/Pulumi.<env>.yaml``.

An environment is deployable when every layer has a stack file for it. The promotion order
is declared here once; environments added later (``invoke new-env``) follow it
alphabetically.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shared.errors import SettingsError, StackEnvironmentError
from shared.layers import LAYERS, Layer
from shared.naming import ENVIRONMENT_NAME_PATTERN, ENVIRONMENT_NAME_RULE

PROMOTION_ORDER: tuple[str, ...] = ("dev", "staging", "prod")
# Top-level keys Pulumi writes into a stack file for the stack's secrets provider when it
# creates the stack: they belong to that one stack on that one backend, never to a copy.
SECRETS_PROVIDER_KEYS: tuple[str, ...] = ("secretsprovider", "encryptedkey", "encryptionsalt")


def stack_file(layer: Layer, environment: str, projects_dir: Path | None = None) -> Path:
    """``projects/<layer>/Pulumi.<environment>.yaml``, or the same under another projects folder."""
    directory = layer.directory if projects_dir is None else projects_dir / layer.name
    return directory / f"Pulumi.{environment}.yaml"


def _promotion_key(environment: str) -> tuple[int, str]:
    if environment in PROMOTION_ORDER:
        return (PROMOTION_ORDER.index(environment), environment)
    return (len(PROMOTION_ORDER), environment)


def environments(projects_dir: Path | None = None, layers: tuple[Layer, ...] = LAYERS) -> list[str]:
    """Every environment that has a stack file in at least one layer, in promotion order."""
    found = {
        path.name.removeprefix("Pulumi.").removesuffix(".yaml")
        for layer in layers
        for path in stack_file(layer, "*", projects_dir).parent.glob("Pulumi.*.yaml")
    }
    return sorted(found, key=_promotion_key)


def validate_environment_name(name: str) -> str:
    if not ENVIRONMENT_NAME_PATTERN.fullmatch(name):
        raise StackEnvironmentError(
            f"environment name {name!r} is not allowed: use {ENVIRONMENT_NAME_RULE} "
            "(it becomes the prefix of bucket, table and function names)"
        )
    return name


def require_environment(environment: str, layers: tuple[Layer, ...] = LAYERS) -> str:
    """Fail unless every given layer has a stack file for ``environment``."""
    known = environments()
    if environment not in known:
        listed = ", ".join(known) or "none"
        raise StackEnvironmentError(
            f"unknown environment {environment!r}; environments with stack files: {listed}"
        )
    missing = [layer for layer in layers if not stack_file(layer, environment).is_file()]
    if missing:
        names = ", ".join(
            f"{layer.name} (projects/{layer.name}/{stack_file(layer, environment).name})"
            for layer in missing
        )
        raise StackEnvironmentError(
            f"environment {environment!r} has no stack file in layer(s): {names}"
        )
    return environment


def _config_value(value: Any) -> str:
    """Stack-file values as the Pulumi CLI hands them to a program: strings, JSON for objects."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def read_stack_config(
    layer: Layer, environment: str, projects_dir: Path | None = None
) -> dict[str, str]:
    """The ``config:`` block of ``Pulumi.<environment>.yaml``: keys fully namespaced (a bare key
    belongs to the layer's project), values as the Pulumi CLI passes them to the program."""
    import yaml  # invoke imports PyYAML already; kept local so importing this module stays cheap

    path = stack_file(layer, environment, projects_dir)
    if not path.is_file():
        raise SettingsError(f"layer {layer.name!r} has no stack file for {environment!r}: {path}")
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise SettingsError(f"{path} is not valid YAML: {error}") from None
    raw = (document.get("config") if isinstance(document, dict) else None) or {}
    if not isinstance(raw, dict):
        raise SettingsError(f"{path}: 'config' must be a mapping of keys to values, got {raw!r}")
    config: dict[str, str] = {}
    for key, value in raw.items():
        if isinstance(value, dict) and "secure" in value:
            raise SettingsError(
                f"{path}: {key} is a secret; this repository reads stack settings offline and "
                "cannot decrypt it. Keep secrets out of the settings it validates."
            )
        full_key = key if ":" in key else f"{layer.project}:{key}"
        config[full_key] = _config_value(value)
    return config
