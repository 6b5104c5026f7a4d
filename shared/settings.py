"""Typed, validated stack settings, read once from Pulumi config.

Each layer declares a pydantic model of its settings; ``read_settings`` reads every key of
the layer's config namespace through ``pulumi.Config``, validates it, and turns any problem
into one ``SettingsError`` that names each bad key, its value and what is allowed. Unknown
keys are errors too, so a typo in a stack file never silently falls back to a default.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

import pulumi
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel
from pydantic.fields import FieldInfo

from shared.errors import SettingsError

ModelT = TypeVar("ModelT", bound="StackSettings")


class StackSettings(BaseModel):
    """Base of every settings model: camelCase config keys, no unknown keys, immutable, and
    strict types: ``yes`` or ``1`` is not a boolean, ``5.0`` not a whole number, as a reader
    of the stack file would not expect them to be."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True, strict=True
    )


def config_namespace(namespace: str) -> dict[str, str]:
    """Every ``namespace:key`` value the program was given, keyed by ``key``.

    The Pulumi CLI hands a program its config in the ``PULUMI_CONFIG`` environment variable
    (the offline harness does the same); the keys are listed from it, the values read through
    ``pulumi.Config``.
    """
    prefix = f"{namespace}:"
    config = pulumi.Config(namespace)
    keys = [
        key.removeprefix(prefix)
        for key in pulumi.runtime.get_config_env()
        if key.startswith(prefix)
    ]
    return {key: value for key in keys if (value := config.get(key)) is not None}


def _decode(model: type[BaseModel], raw: dict[str, str]) -> dict[str, Any]:
    """Config values arrive as strings; numbers, booleans, lists and maps arrive JSON-encoded.

    Text settings keep the string as written; every other setting is JSON-decoded when it
    parses, and otherwise handed to validation as the string, which then names it.
    """
    text_keys = {
        field.alias or name
        for name, field in model.model_fields.items()
        if field.annotation in (str, str | None)
    }
    decoded: dict[str, Any] = {}
    for key, value in raw.items():
        if key in text_keys or not isinstance(value, str):
            decoded[key] = value
            continue
        try:
            decoded[key] = json.loads(value)
        except json.JSONDecodeError:
            decoded[key] = value
    return decoded


def _allowed(field: FieldInfo | None) -> str:
    """What a setting accepts, in words: its description, or what its type says."""
    if field is None:
        return ""
    if field.description:
        return field.description
    if field.annotation in (bool, bool | None):
        return "true or false"
    return ""


def _as_written(value: Any) -> str:
    """A value as a stack file writes it: text quoted, the rest as YAML/JSON does (``true``,
    ``null``, ``[1, 2]``), never Python's ``True``/``None``."""
    if isinstance(value, str):
        return repr(value)
    try:
        return json.dumps(value, separators=(", ", ": "))
    except (TypeError, ValueError):
        return repr(value)


def describe_errors(error: ValidationError, namespace: str, model: type[BaseModel]) -> str:
    fields_by_key = {field.alias or name: field for name, field in model.model_fields.items()}
    allowed_keys = ", ".join(f"{namespace}:{key}" for key in fields_by_key) or (
        "none (this namespace has no settings yet)"
    )
    lines = []
    for problem in error.errors():
        location = ".".join(str(part) for part in problem["loc"])
        key = f"{namespace}:{location}" if location else namespace
        allowed = _allowed(fields_by_key.get(str(problem["loc"][0]))) if location else ""
        if problem["type"] == "extra_forbidden":
            lines.append(f"{key} is not a known setting; allowed keys: {allowed_keys}")
        elif problem["type"] == "missing":
            hint = f" (allowed: {allowed})" if allowed else ""
            lines.append(f"{key} is required but not set in the stack file{hint}")
        elif location:
            # A regex says less to a reader than the description of what it accepts.
            reason = (
                "" if problem["type"] == "string_pattern_mismatch" and allowed else problem["msg"]
            )
            line = f"{key} = {_as_written(problem['input'])} is not allowed"
            line += f": {reason}" if reason else ""
            line += f"; allowed: {allowed}" if allowed else ""
            lines.append(line)
        else:
            lines.append(f"{namespace}: {problem['msg'].removeprefix('Value error, ')}")
    return "\n".join(lines)


def read_settings(model: type[ModelT], namespace: str) -> ModelT:
    raw = config_namespace(namespace)
    try:
        return model.model_validate(_decode(model, raw))
    except ValidationError as error:
        raise SettingsError(
            f"invalid stack configuration in namespace {namespace!r}:\n"
            + describe_errors(error, namespace, model)
        ) from None
