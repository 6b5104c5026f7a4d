"""The rendered plan of every layer x environment matches its committed snapshot.

A failure prints a unified diff (committed -> rendered now); when the change is intended,
`invoke render --update-snapshots` rewrites the snapshots and the diff shows in review.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from shared.consistency.snapshots import (
    SNAPSHOT_DIR,
    read_snapshot,
    snapshot_diff,
    snapshot_path,
    write_snapshot,
)
from shared.consistency.stack_files import discover_environments
from shared.harness import RenderedStack, render_environment
from shared.layers import PROJECTS_DIR, layer_names

ENVIRONMENTS = discover_environments()
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
        pytest.fail(f"{layer}/{environment} differs from its snapshot:\n{diff}", pytrace=False)


def test_there_is_one_snapshot_per_layer_and_environment_and_no_other() -> None:
    expected = {snapshot_path(layer, env).name for layer in LAYERS for env in ENVIRONMENTS}
    assert {path.name for path in SNAPSHOT_DIR.glob("*.json")} == expected


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
    projects = tmp_path / "projects"
    shutil.copytree(PROJECTS_DIR, projects, ignore=shutil.ignore_patterns("__pycache__"))
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
    assert snapshot_diff(stack, tmp_path) is not None  # no snapshot there yet
    write_snapshot(stack, tmp_path)
    assert snapshot_diff(stack, tmp_path) is None
    assert read_snapshot("storage", "staging", tmp_path)["environment"] == "staging"
