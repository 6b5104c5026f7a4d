"""``invoke diagram``: the architecture as a Mermaid flowchart, drawn from the offline render.

One box per layer with its resources, and one arrow per upstream layer a layer reads, labelled
with the exports it reads (recorded as the programs call ``UpstreamStack.require``). GitHub
renders Mermaid in Markdown, so the README and the docs embed the picture between markers::

    <!-- diagram: named dev -->
    ```mermaid
    ...
    ```
    <!-- /diagram -->

``named`` draws the resources AWS knows by a name (bucket, table, function...), ``all`` every
resource. ``invoke diagram --write`` redraws every marked block; a test fails when one differs
from a fresh render, saying to run it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from shared.layers import LayerGraph

if TYPE_CHECKING:
    from shared.harness import RenderedResource, RenderedStack

DETAILS = ("named", "all")
MARKER = re.compile(
    r"(?P<open><!-- diagram: (?P<detail>\w+) (?P<environment>\w+) -->\n)"
    r"(?P<body>.*?)"
    r"(?P<close><!-- /diagram -->)",
    re.DOTALL,
)
UPDATE_HINT = "run `invoke diagram --write` to redraw it"


@dataclass(frozen=True)
class Block:
    """One marked diagram in a Markdown file."""

    path: Path
    detail: str
    environment: str
    body: str


def _node_id(layer: str, name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", f"{layer}__{name}")


def _short_type(type_token: str) -> str:
    """``aws:s3/bucket:Bucket`` -> ``s3 Bucket``."""
    package, module_path, class_name = type_token.split(":")
    return f"{module_path.split('/')[0]} {class_name}" if package == "aws" else class_name


# Mermaid's entity codes for what would end a quoted label or read as markup.
_MERMAID_ENTITIES = {"#": "#35;", '"': "#quot;", "<": "#lt;", ">": "#gt;"}


def _text(value: str) -> str:
    """``value`` as the text of a quoted Mermaid label: shown as written, on one line."""
    one_line = " ".join(value.split())
    return "".join(_MERMAID_ENTITIES.get(character, character) for character in one_line)


def _label(resource: RenderedResource) -> str:
    from shared.aws_resources import physical_name_input

    key = physical_name_input(resource.type)
    name = resource.inputs.get(key) if key else None
    title = str(name) if isinstance(name, str) and name else resource.name
    return f"{_text(title)}<br/>{_text(_short_type(resource.type))}"


def _shown(resource: RenderedResource, detail: str) -> bool:
    from shared.aws_resources import physical_name_input

    if not resource.custom or not resource.type.startswith("aws:"):
        return False
    return detail == "all" or physical_name_input(resource.type) is not None


def mermaid(graph: LayerGraph, stacks: Mapping[str, RenderedStack], detail: str = "named") -> str:
    """The flowchart of one environment's rendered stacks."""
    if detail not in DETAILS:
        raise ValueError(f"detail {detail!r}: one of {', '.join(DETAILS)}")
    lines = ["flowchart LR"]
    for layer in graph:
        stack = stacks[layer.name]
        lines.append(f'  subgraph {layer.name}["{_text(f"{layer.name}: {layer.summary}")}"]')
        lines.append("    direction TB")
        for resource in sorted(stack.resources, key=lambda resource: resource.name):
            if _shown(resource, detail):
                node = _node_id(layer.name, resource.name)
                lines.append(f'    {node}["{_label(resource)}"]')
        lines.append("  end")
    for layer in graph:
        read: dict[str, list[str]] = {}
        for upstream, key in stacks[layer.name].reads:
            read.setdefault(upstream, []).append(key)
        for upstream, keys in read.items():
            lines.append(f'  {upstream} -->|"{", ".join(sorted(keys))}"| {layer.name}')
    return "\n".join(lines) + "\n"


def fenced(diagram: str) -> str:
    return f"```mermaid\n{diagram}```\n"


def blocks(paths: list[Path]) -> list[Block]:
    found = []
    for path in paths:
        for match in MARKER.finditer(path.read_text()):
            found.append(Block(path, match["detail"], match["environment"], match["body"]))
    return found


def redrawn(text: str, draw: callable) -> str:  # type: ignore[valid-type]
    """``text`` with every marked block replaced by ``draw(detail, environment)``."""

    def replace(match: re.Match[str]) -> str:
        return match["open"] + fenced(draw(match["detail"], match["environment"])) + match["close"]

    return MARKER.sub(replace, text)
