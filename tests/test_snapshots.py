"""The rendered plan of every layer x environment matches its committed snapshot.

A failure prints a unified diff (committed -> rendered now); when the change is intended,
`invoke render --update-snapshots` rewrites the snapshots and the diff shows in review. The
environments are the stack files present: a new environment (`invoke new-env`) fails here,
saying to run `invoke render --update-snapshots`, until its snapshots are written.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.consistency.snapshots import (
    MISSING_HINT,
    SNAPSHOT_DIR,
    read_snapshot,
    snapshot_diff,
    snapshot_path,
    write_snapshot,
)
from shared.environments import environments
from shared.harness import RenderedStack, render_environment
from shared.layers import REPO_ROOT, layer_names
from tests.conftest import copy_projects, unused_environment_name

ENVIRONMENTS = environments()
LAYERS = layer_names()


@pytest.fixture(scope="module")
def rendered() -> dict[str, dict[str, RenderedStack]]:
    return {environment: render_environment(environment) for environment in ENVIRONMENTS}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
@pytest.mark.parametrize("layer", LAYERS)
def test_rendered_plan_matches_its_snapshot(
    rendered: dict[str, dict[str, RenderedStack]], layer: str, environment: str
) -> None:
    diff = snapshot_diff(rendered[environment][layer])
    if diff is not None:
        pytest.fail(f"{layer}/{environment} does not match its snapshot:\n{diff}", pytrace=False)


def test_there_is_one_snapshot_per_layer_and_environment_and_no_other() -> None:
    expected = {snapshot_path(layer, env) for layer in LAYERS for env in ENVIRONMENTS}
    present = set(SNAPSHOT_DIR.glob("*.json"))
    problems = [
        f"no snapshot at {path.relative_to(REPO_ROOT)}; {MISSING_HINT}"
        for path in sorted(expected - present)
    ] + [
        f"{path.relative_to(REPO_ROOT)} is the snapshot of no stack (its layer or environment "
        "has no stack file): delete it"
        for path in sorted(present - expected)
    ]
    assert not problems, "\n".join(problems)


def test_a_new_environment_without_snapshots_fails_saying_how_to_write_them(
    tmp_path: Path,
) -> None:
    projects = copy_projects(tmp_path / "projects")
    name = unused_environment_name("qa", projects)
    for layer in LAYERS:
        source = projects / layer / "Pulumi.staging.yaml"
        source.with_name(f"Pulumi.{name}.yaml").write_text(source.read_text())

    diff = snapshot_diff(render_environment(name, projects_dir=projects)["storage"])

    assert diff == (
        f"no snapshot at tests/snapshots/storage.{name}.json; run `invoke render "
        "--update-snapshots` to write it (a new environment's snapshots are written that way), "
        "review it and commit it"
    )


@pytest.mark.parametrize("path", sorted(SNAPSHOT_DIR.glob("*.json")), ids=lambda path: path.name)
def test_snapshots_are_sorted_indented_json(path: Path) -> None:
    text = path.read_text()
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"


def test_a_snapshot_holds_every_resource_with_inputs_parent_dependencies_and_the_exports() -> None:
    plan = read_snapshot("iam", "prod")
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
    projects = copy_projects(tmp_path / "projects", ["dev"])
    stack_file = projects / "compute" / "Pulumi.dev.yaml"
    stack_file.write_text(stack_file.read_text().replace("memorySize: 512", "memorySize: 640"))

    diff = snapshot_diff(render_environment("dev", projects_dir=projects)["compute"])

    assert diff is not None
    lines = diff.splitlines()
    assert lines[0] == "--- tests/snapshots/compute.dev.json (committed)"
    assert lines[1] == "+++ compute/dev (rendered now)"
    assert [line for line in lines if line.startswith(("-", "+"))][2:] == [
        '-        "memorySize": 512,',
        '+        "memorySize": 640,',
    ]
    assert '"name": "dev-validator-function",' in diff  # context says which resource
    assert diff.endswith("run `invoke render --update-snapshots` if the change is intended")


def test_update_writes_what_the_check_then_accepts(
    rendered: dict[str, dict[str, RenderedStack]], tmp_path: Path
) -> None:
    stack = rendered["staging"]["storage"]
    assert snapshot_diff(stack, tmp_path) == (
        f"no snapshot at {tmp_path / 'storage.staging.json'}; {MISSING_HINT}"
    )
    write_snapshot(stack, tmp_path)
    assert snapshot_diff(stack, tmp_path) is None
    assert read_snapshot("storage", "staging", tmp_path)["environment"] == "staging"
