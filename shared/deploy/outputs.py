"""``invoke outputs``: every layer's stack outputs for one environment, in one view."""

from __future__ import annotations

import json
import sys
from typing import Any

from invoke import Context

from shared import pulumi_cli as cli
from shared.deploy.guards import read_outputs, result_text
from shared.deploy.targets import Target
from shared.errors import EXIT_FAILURE, PipelineError
from shared.text import Painter, format_table, say, use_colour


class OutputsError(PipelineError):
    exit_code = EXIT_FAILURE


def collect_outputs(c: Context, target: Target) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Each deployed layer's outputs, in deploy order, and the names of undeployed layers."""
    per_layer: dict[str, dict[str, Any]] = {}
    undeployed: list[str] = []
    for layer in target.layers:
        result = read_outputs(c, target, layer)
        text = result_text(result)
        if result.failed:
            if cli.says_no_such_stack(text):
                undeployed.append(layer.name)
                continue
            raise OutputsError(
                f"reading the outputs of layer {layer.name!r} failed: {text.strip()}"
            )
        try:
            values = json.loads(result.stdout or "{}")
        except ValueError as error:
            raise OutputsError(
                f"layer {layer.name!r}: pulumi printed outputs that are not JSON ({error})"
            ) from None
        if not isinstance(values, dict):
            raise OutputsError(
                f"layer {layer.name!r}: pulumi printed {type(values).__name__} JSON where a "
                f"JSON object of outputs was expected: {text.strip()[:200]}"
            )
        if values:
            per_layer[layer.name] = values
        else:
            undeployed.append(layer.name)
    return per_layer, undeployed


def merge_outputs(per_layer: dict[str, dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    owner: dict[str, str] = {}
    for layer, values in per_layer.items():
        for key, value in values.items():
            if key in merged:
                raise OutputsError(
                    f"output {key!r} is exported by both {owner[key]} and {layer}; "
                    "export keys must be unique across layers (each layer.yaml declares its own)"
                )
            merged[key] = value
            owner[key] = layer
    return merged


def outputs_table(per_layer: dict[str, dict[str, Any]], undeployed: list[str]) -> str:
    rows = [
        [layer, key, value if isinstance(value, str) else json.dumps(value)]
        for layer, values in per_layer.items()
        for key, value in values.items()
    ]
    rows += [[layer, "(not deployed)", ""] for layer in undeployed]
    return format_table(["layer", "output", "value"], rows, Painter(use_colour()), indent="")


def show_outputs(c: Context, target: Target, *, as_json: bool) -> dict[str, Any]:
    """Every layer's outputs merged into one view: a table, or JSON on stdout."""
    per_layer, undeployed = collect_outputs(c, target)
    merged = merge_outputs(per_layer)
    if as_json:
        print(json.dumps(merged, indent=2, sort_keys=False))
        if undeployed:
            print(f"not deployed in {target.environment}: {', '.join(undeployed)}", file=sys.stderr)
    else:
        say(outputs_table(per_layer, undeployed))
    return merged
