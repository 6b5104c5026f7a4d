"""Compare one layer's rendered stacks across environments, and build the difference matrix.

After ``normalise_stack`` has taken the environment out, every environment of a layer must
declare the same resources (type + logical name) with the same parent, dependencies,
``protect`` flag and inputs, and export the same keys with the same values, except where
a layer's ``layer.yaml`` declares an environment knob. Differences are reported at the shallowest
path that differs: a policy statement present only in prod is one difference at
``policy.Statement[WriteTraces]``, not one per field inside it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shared.consistency.normalise import (
    ABSENT,
    NormalisedStack,
    children,
    index_paths,
    join_path,
)
from shared.consistency.report import Finding
from shared.layers import EXISTS, STACK_RESOURCE, Knob


def knob_covering(layer: str, resource: str, path: str, knobs: Sequence[Knob]) -> Knob | None:
    """The knob that allows ``path`` of ``resource`` in ``layer`` to differ, if any."""
    return next((knob for knob in knobs if knob.covers(layer, resource, path)), None)


ARCHITECTURE = "architecture"
STALE_KNOB = "allowlist"


@dataclass(frozen=True)
class PathDifference:
    path: str
    values: dict[str, Any]  # environment -> value, ABSENT where that environment lacks it


def _canonical(value: Any) -> str:
    if value is ABSENT:
        return "\x00absent"
    return json.dumps(value, sort_keys=True, default=str)


def differing_paths(
    values_by_environment: Mapping[str, Any], prefix: str = ""
) -> Iterator[PathDifference]:
    """The shallowest paths at which the environments' values differ."""
    canonical = {env: _canonical(value) for env, value in values_by_environment.items()}
    if len(set(canonical.values())) == 1:
        return
    values = list(values_by_environment.values())
    all_dicts = all(isinstance(value, dict) for value in values)
    all_lists = all(isinstance(value, list) for value in values)
    if not (all_dicts or all_lists):
        yield PathDifference(prefix, dict(values_by_environment))
        return
    steps: dict[str, dict[str, Any]] = {}
    for env, value in values_by_environment.items():
        for step, child in children(value):
            steps.setdefault(step, {})[env] = child
    for step, found in steps.items():
        complete = {env: found.get(env, ABSENT) for env in values_by_environment}
        yield from differing_paths(complete, join_path(prefix, step))


def odd_ones_out(values: Mapping[str, Any]) -> list[str]:
    """The keys whose value is not the most common one (ties: the first key's value wins)."""
    canonical = {env: _canonical(value) for env, value in values.items()}
    counts = Counter(canonical.values())
    first = next(iter(canonical.values()))
    baseline = max(counts, key=lambda key: (counts[key], key == first))
    return [env for env, key in canonical.items() if key != baseline]


def _finding(layer: str, resource: str, difference: PathDifference, message: str) -> Finding:
    return Finding(
        check=ARCHITECTURE,
        layer=layer,
        environment=", ".join(odd_ones_out(difference.values)),
        resource=resource,
        input=difference.path or EXISTS,
        message=message,
        values=difference.values,
    )


def compare_layer(
    layer: str, stacks: Sequence[NormalisedStack], knobs: Sequence[Knob]
) -> list[Finding]:
    """Every difference between the environments of one layer that no knob allows."""
    findings: list[Finding] = []
    environments = [stack.environment for stack in stacks]
    keys: dict[tuple[str, str], None] = {}
    for stack in stacks:
        keys.update(dict.fromkeys(stack.resources))
    for key in sorted(keys, key=lambda key: (key[1], key[0])):
        resource_type, name = key
        present = [stack.environment for stack in stacks if key in stack.resources]
        if len(present) != len(stacks):
            if knob_covering(layer, name, EXISTS, knobs) is not None:
                continue
            values = {env: "present" if env in present else ABSENT for env in environments}
            message = f"{resource_type} is declared only in {', '.join(present)}"
            findings.append(_finding(layer, name, PathDifference("", values), message))
            continue
        comparable = {stack.environment: stack.resources[key].comparable() for stack in stacks}
        for difference in differing_paths(comparable):
            if knob_covering(layer, name, difference.path, knobs) is None:
                findings.append(
                    _finding(layer, name, difference, "differs and is not an environment knob")
                )
    exports = {stack.environment: {"exports": stack.exports} for stack in stacks}
    for difference in differing_paths(exports):
        if knob_covering(layer, STACK_RESOURCE, difference.path, knobs) is None:
            findings.append(
                _finding(
                    layer, STACK_RESOURCE, difference, "differs and is not an environment knob"
                )
            )
    return findings


@dataclass(frozen=True)
class MatrixRow:
    knob: Knob
    values: dict[str, Any]  # environment -> value at the knob's path, ABSENT where missing


def _paths_by_resource(stack: NormalisedStack) -> dict[str, dict[str, Any]]:
    """resource logical name -> every path of it (exports under ``<stack>``) -> value."""
    paths = {STACK_RESOURCE: index_paths({"exports": stack.exports})}
    for resource in stack.resources.values():
        paths[resource.name] = index_paths(resource.comparable())
    return paths


def _knob_value(paths: dict[str, dict[str, Any]], knob: Knob) -> Any:
    """A knob's value in one environment: the value at its path; for a glob, the one value
    its resources share, or the list of them; for ``(exists)``, the resources that exist."""
    names = sorted(name for name in paths if knob.names(name))
    if knob.input == EXISTS:
        return names if names else ABSENT
    values = [paths[name].get(knob.input, ABSENT) for name in names]
    present = [value for value in values if value is not ABSENT]
    if not present:
        return ABSENT
    if not knob.is_pattern:
        return present[0]
    distinct = {_canonical(value): value for value in present}
    return next(iter(distinct.values())) if len(distinct) == 1 else present


def difference_matrix(
    stacks_by_layer: Mapping[str, Sequence[NormalisedStack]], knobs: Sequence[Knob]
) -> tuple[list[MatrixRow], list[Finding]]:
    """One row per knob with its value in each environment; knobs that match nothing (an
    ``(exists)`` knob may: no environment need have such a resource)."""
    rows: list[MatrixRow] = []
    stale: list[Finding] = []
    indexes = {
        (layer, stack.environment): _paths_by_resource(stack)
        for layer, stacks in stacks_by_layer.items()
        for stack in stacks
    }
    for knob in knobs:
        stacks = stacks_by_layer.get(knob.layer)
        if not stacks:
            continue
        values = {
            stack.environment: _knob_value(indexes[(knob.layer, stack.environment)], knob)
            for stack in stacks
        }
        if knob.input != EXISTS and all(value is ABSENT for value in values.values()):
            stale.append(
                Finding(
                    check=STALE_KNOB,
                    layer=knob.layer,
                    environment=", ".join(values),
                    resource=knob.resource,
                    input=knob.input,
                    message=f"this knob in projects/{knob.layer}/layer.yaml matches nothing the "
                    "stacks declare: fix its resource or input path, or remove it",
                    values=values,
                )
            )
            continue
        rows.append(MatrixRow(knob, values))
    return rows, stale
