"""`invoke diagram`: the architecture picture is drawn from the offline render, and the copies
embedded in the README and the docs are what a fresh render draws."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from invoke import Exit, MockContext

import shared.layers
from shared import consistency_tasks
from shared.diagram import UPDATE_HINT, blocks, fenced, mermaid, redrawn
from shared.layers import REPO_ROOT, LayerGraph
from shared.testing import Rendered

MARKDOWN = consistency_tasks.markdown_files(REPO_ROOT)


def test_the_readme_embeds_the_diagram() -> None:
    assert [block.path for block in blocks(MARKDOWN)].count(REPO_ROOT / "README.md") >= 1


@pytest.mark.parametrize(
    "block", blocks(MARKDOWN), ids=lambda b: f"{b.path.name}:{b.detail}:{b.environment}"
)
def test_every_embedded_diagram_is_a_fresh_render(
    block: object, graph: LayerGraph, rendered: Rendered
) -> None:
    expected = fenced(mermaid(graph, rendered[block.environment], block.detail))  # type: ignore[attr-defined]
    assert block.body == expected, (  # type: ignore[attr-defined]
        f"the diagram in {block.path.relative_to(REPO_ROOT)} is out of date: {UPDATE_HINT}"  # type: ignore[attr-defined]
    )


def test_each_layer_is_a_box_and_each_read_an_arrow(graph: LayerGraph, rendered: Rendered) -> None:
    text = mermaid(graph, rendered["dev"])
    for layer in graph:
        assert f'  subgraph {layer.name}["{layer.name}: {layer.summary}"]' in text
        for upstream in layer.depends_on:
            keys = sorted(
                key for name, key in rendered["dev"][layer.name].reads if name == upstream
            )
            assert keys, (layer.name, upstream)
            assert f'  {upstream} -->|"{", ".join(keys)}"| {layer.name}' in text
    arrows = re.findall(r"^  (\w+) -->\|", text, re.MULTILINE)
    assert len(arrows) == sum(len(layer.depends_on) for layer in graph)


def test_a_summary_is_shown_as_written_and_cannot_break_out_of_its_label(
    graph: LayerGraph, rendered: Rendered
) -> None:
    """A quote would end the label, <...> would read as HTML, # starts an entity code."""
    storage = graph.get("storage")
    odd = dataclasses.replace(storage, summary='the "raw" bucket <b>#1</b>\nand a table')
    odd_graph = dataclasses.replace(
        graph, layers=tuple(odd if layer is storage else layer for layer in graph)
    )
    text = mermaid(odd_graph, rendered["dev"])
    assert (
        '  subgraph storage["storage: the #quot;raw#quot; bucket #lt;b#gt;#35;1#lt;/b#gt; '
        'and a table"]\n'
    ) in text
    labels = re.findall(r'\["([^"\n]*)"\]', text)
    assert len(labels) == text.count("[") and all('"' not in label for label in labels)


def test_named_draws_what_aws_knows_by_name_and_all_draws_every_resource(
    graph: LayerGraph, rendered: Rendered
) -> None:
    named = mermaid(graph, rendered["prod"], "named")
    every = mermaid(graph, rendered["prod"], "all")
    assert '["prod-rawdata-bucket<br/>s3 Bucket"]' in named
    assert '["/aws/lambda/prod-validator-function<br/>cloudwatch LogGroup"]' in named
    assert "rawdata-bucket-versioning" not in named
    assert '["rawdata-bucket-versioning<br/>s3 BucketVersioning"]' in every
    custom = sum(
        1
        for stack in rendered["prod"].values()
        for r in stack
        if r.custom and r.type.startswith("aws:")
    )
    assert every.count("<br/>") == custom


def test_write_redraws_a_stale_block_and_leaves_the_rest(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("intro\n<!-- diagram: named dev -->\nold\n<!-- /diagram -->\noutro\n")
    page.write_text(redrawn(page.read_text(), lambda detail, env: f"drawn {detail} {env}\n"))
    assert page.read_text() == (
        "intro\n<!-- diagram: named dev -->\n```mermaid\ndrawn named dev\n```\n"
        "<!-- /diagram -->\noutro\n"
    )


def test_the_task_refuses_an_unknown_detail_or_environment() -> None:
    with pytest.raises(Exit) as stopped:
        consistency_tasks.diagram(MockContext(), detail="some")
    assert stopped.value.message == "error: --detail 'some' is not allowed; one of: named, all"
    with pytest.raises(Exit) as stopped:
        consistency_tasks.diagram(MockContext(), env="nowhere")
    assert stopped.value.code == 2
    assert stopped.value.message.startswith("error: unknown environment 'nowhere'")
    assert shared.layers  # the tasks read the repository's layers
