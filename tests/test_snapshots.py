"""The rendered plan of every layer x environment matches its committed snapshot, kept in the
layer's own folder (projects/<layer>/tests/snapshots/<env>.json).

A failure prints a unified diff (committed -> rendered now); when the change is intended,
`invoke render --update-snapshots` rewrites the snapshots and the diff shows in review. A new
environment or layer fails here, saying to run `invoke render --update-snapshots`, until its
snapshots are written (`invoke new-env` and `invoke new-layer` write them).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.consistency.snapshots import (
    MISSING_HINT,
    SnapshotError,
    read_snapshot,
    snapshot_diff,
    snapshot_dir,
    snapshot_path,
    update_snapshots,
)
from shared.environments import environments
from shared.harness import render_environment
from shared.layers import REPO_ROOT, LayerGraph, load_graph
from shared.testing import Rendered, copy_projects, unused_environment_name

GRAPH = load_graph()
STACKS = [(layer.name, env) for layer in GRAPH for env in environments(GRAPH)]


@pytest.mark.parametrize(
    ("layer", "environment"), STACKS, ids=[f"{layer}-{env}" for layer, env in STACKS]
)
def test_rendered_plan_matches_its_snapshot(
    rendered: Rendered, graph: LayerGraph, layer: str, environment: str
) -> None:
    diff = snapshot_diff(rendered[environment][layer], graph)
    if diff is not None:
        pytest.fail(f"{layer}/{environment} does not match its snapshot:\n{diff}", pytrace=False)


def test_there_is_one_snapshot_per_layer_and_environment_and_no_other(graph: LayerGraph) -> None:
    expected = {snapshot_path(layer, env) for layer in graph for env in environments(graph)}
    present = {path for layer in graph for path in snapshot_dir(layer).glob("*.json")}
    problems = [
        f"no snapshot at {path.relative_to(REPO_ROOT)}; {MISSING_HINT}"
        for path in sorted(expected - present)
    ] + [
        f"{path.relative_to(REPO_ROOT)} is the snapshot of no stack (its environment has no "
        "stack file): delete it"
        for path in sorted(present - expected)
    ]
    assert not problems, "\n".join(problems)


def test_a_new_environment_without_snapshots_fails_saying_how_to_write_them(
    tmp_path: Path,
) -> None:
    graph = copy_projects(tmp_path / "projects")
    name = unused_environment_name("qa", graph)
    for layer in graph:
        source = layer.directory / "Pulumi.staging.yaml"
        source.with_name(f"Pulumi.{name}.yaml").write_text(source.read_text())
    first = graph.layers[0]

    diff = snapshot_diff(render_environment(name, graph=graph)[first.name], graph)

    assert diff == (
        f"no snapshot at {snapshot_path(first, name)}; run `invoke render --update-snapshots` "
        "to write it (a new environment's snapshots are written that way), review it and "
        "commit it"
    )


@pytest.mark.parametrize(
    "path",
    sorted(path for layer in GRAPH for path in snapshot_dir(layer).glob("*.json")),
    ids=lambda path: str(path.relative_to(REPO_ROOT / "projects")),
)
def test_snapshots_are_sorted_indented_json(path: Path) -> None:
    text = path.read_text()
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"


def test_a_snapshot_holds_every_resource_with_inputs_parent_dependencies_and_the_exports(
    graph: LayerGraph,
) -> None:
    plan = read_snapshot(graph.get("iam"), "prod")
    policy = next(res for res in plan["resources"] if res["name"] == "validator-policy")
    assert policy["type"] == "aws:iam/policy:Policy"
    assert policy["parent"].endswith("rawdata:layers:Iam::iam")
    assert any(
        urn.endswith("::organization/rawdata-storage/prod") for urn in policy["dependencies"]
    )
    sids = [statement["Sid"] for statement in policy["inputs"]["policy"]["Statement"]]
    assert "WriteTraces" in sids  # embedded policy documents are stored decoded, readable
    assert plan["exports"]["prod_tracing"] is True


def test_a_changed_input_fails_with_a_readable_diff(tmp_path: Path) -> None:
    graph = copy_projects(tmp_path / "projects", ["dev"])
    stack_file = graph.get("compute").directory / "Pulumi.dev.yaml"
    stack_file.write_text(stack_file.read_text().replace("memorySize: 512", "memorySize: 640"))

    diff = snapshot_diff(render_environment("dev", graph=graph)["compute"], graph)

    assert diff is not None
    lines = diff.splitlines()
    assert lines[0] == f"--- {snapshot_path(graph.get('compute'), 'dev')} (committed)"
    assert lines[1] == "+++ compute/dev (rendered now)"
    assert [line for line in lines if line.startswith(("-", "+"))][2:] == [
        '-        "memorySize": 512,',
        '+        "memorySize": 640,',
    ]
    assert '"name": "dev-validator-function",' in diff  # context says which resource
    assert diff.endswith("run `invoke render --update-snapshots` if the change is intended")


def test_update_writes_what_the_check_then_accepts(tmp_path: Path) -> None:
    graph = copy_projects(tmp_path / "projects", ["staging"])
    first = graph.layers[0]
    snapshot_path(first, "staging").unlink()
    stack = render_environment("staging", graph=graph)[first.name]
    assert snapshot_diff(stack, graph) == (
        f"no snapshot at {snapshot_path(first, 'staging')}; {MISSING_HINT}"
    )
    assert update_snapshots([stack], graph) == [
        {"path": str(snapshot_path(first, "staging")), "status": "wrote"}
    ]
    assert snapshot_diff(stack, graph) is None
    assert update_snapshots([stack], graph)[0]["status"] == "unchanged"
    assert read_snapshot(first, "staging")["environment"] == "staging"


def test_a_file_where_a_snapshot_folder_belongs_stops_the_update_before_any_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from invoke import Exit, MockContext

    import shared.layers
    from shared import consistency_tasks

    graph = copy_projects(tmp_path / "projects", ["dev"])
    monkeypatch.setattr(shared.layers, "PROJECTS_DIR", graph.projects_dir)
    storage_snapshots = snapshot_dir(graph.get("storage"))
    for path in storage_snapshots.iterdir():
        path.unlink()
    storage_snapshots.rmdir()
    storage_snapshots.write_text("not a folder\n")
    compute = snapshot_path(graph.get("compute"), "dev")
    compute.unlink()  # the update would write it, were it not stopped first
    stacks = list(render_environment("dev", graph=graph).values())
    with pytest.raises(SnapshotError) as refused:
        update_snapshots(stacks, graph)
    assert str(refused.value) == (
        f"cannot write {snapshot_path(graph.get('storage'), 'dev')}: {storage_snapshots} is a "
        "file, not a folder; move it away, then run `invoke render --update-snapshots` again "
        "(nothing was written)"
    )
    assert not compute.exists()
    with pytest.raises(Exit) as stopped:
        consistency_tasks.render(MockContext(), env="dev", update_snapshots=True)
    assert stopped.value.code == 1
    assert stopped.value.message.startswith("error: cannot write ")
    assert not compute.exists()
