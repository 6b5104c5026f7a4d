"""A rendered stack as a plan: every resource with its inputs, parent and dependencies, and
the stack's exports. ``invoke render`` prints it; the snapshots store it as JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.consistency.normalise import (
    STACK_RESOURCE,
    UNKNOWN_DISPLAY,
    UNKNOWN_SENTINEL,
    decode_documents,
    display,
    leaf_paths,
)
from shared.text import BOLD, DIM, Painter, format_table

if TYPE_CHECKING:
    from shared.harness import RenderedStack


def _resolved(value: Any) -> Any:
    """Embedded JSON documents decoded; an Output the harness could not resolve named so."""
    if value == UNKNOWN_SENTINEL:
        return UNKNOWN_DISPLAY
    if isinstance(value, dict):
        return {key: _resolved(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolved(item) for item in value]
    return value


def plan_document(stack: RenderedStack) -> dict[str, Any]:
    """The stack as plain JSON-able data, resources in URN order (registration order is not
    deterministic: it follows the order in which Outputs resolve)."""
    resources = [
        {
            "urn": resource.urn,
            "type": resource.type,
            "name": resource.name,
            "custom": resource.custom,
            "parent": resource.parent,
            "dependencies": list(resource.dependencies),
            "protect": resource.protect,
            "inputs": _resolved(decode_documents(resource.inputs)),
        }
        for resource in sorted(stack.resources, key=lambda resource: resource.urn)
    ]
    return {
        "layer": stack.layer,
        "environment": stack.environment,
        "project": stack.project,
        "resources": resources,
        "exports": _resolved(stack.exports),
    }


def format_plan(stack: RenderedStack, paint: Painter) -> str:
    """Readable plan: per resource its type, parent, dependencies and every input path."""
    names_by_urn = {resource.urn: resource.name for resource in stack.resources}

    def name_of(urn: str | None) -> str:
        return names_by_urn.get(urn, STACK_RESOURCE) if urn else "-"

    document = plan_document(stack)
    lines = [
        paint(
            f"{stack.layer}/{stack.environment}: project {stack.project}, stack "
            f"{stack.environment}, {len(stack.resources)} resources",
            BOLD,
        )
    ]
    for resource, entry in zip(
        sorted(stack.resources, key=lambda resource: resource.urn),
        document["resources"],
        strict=True,
    ):
        flags = [] if resource.custom else ["component"]
        flags += ["protect"] if resource.protect else []
        title = f"{resource.name}  {paint(resource.type, DIM)}"
        lines.append("")
        lines.append("  " + title + (f"  [{', '.join(flags)}]" if flags else ""))
        rows = [
            ["parent", name_of(resource.parent)],
            ["depends on", ", ".join(name_of(urn) for urn in resource.dependencies) or "-"],
            *(
                [path, display(value, width=120)]
                for path, value in leaf_paths(entry["inputs"])
                if path
            ),
        ]
        lines.append(format_table(["", ""], rows, paint, indent="    ").split("\n", 1)[1])
    lines += ["", "  " + paint("exports", BOLD)]
    rows = [[key, display(value, width=120)] for key, value in document["exports"].items()]
    if rows:
        lines.append(format_table(["", ""], rows, paint, indent="    ").split("\n", 1)[1])
    return "\n".join(lines)
