"""`invoke new-layer`: a new layer is a folder. In a scratch copy of the repository,
`invoke new-layer --name audit --depends-on storage` makes a layer that `check`, its own tests
and CI pick up, changing nothing outside its folder but its CODEOWNERS line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from shared.errors import LayerError
from shared.layers import load_graph
from shared.new_layer import new_layer
from shared.testing import copy_projects, copy_repository


def run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run(
        argv, cwd=cwd, capture_output=True, text=True, env=environment, timeout=600
    )


@pytest.fixture
def repository_copy(tmp_path: Path, checkout: Path) -> Path:
    """A fresh clone after the set-up, committed in a throw-away git repository."""
    copy = copy_repository(tmp_path / "repository", checkout, with_virtualenv=True)
    for argv in (
        ["git", "init", "-q"],
        ["git", "add", "-A"],
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "base"],
    ):
        subprocess.run(argv, cwd=copy, check=True, capture_output=True)
    return copy


def test_a_new_layer_is_one_folder_and_one_codeowners_line(repository_copy: Path) -> None:
    invoke = [sys.executable, "-m", "invoke"]
    made = run(
        [*invoke, "new-layer", "--name", "audit", "--depends-on", "storage"], repository_copy
    )
    assert made.returncode == 0, made.stdout + made.stderr
    assert "`invoke check` passes with it" in made.stdout

    changed = run(["git", "status", "--porcelain", "--untracked-files=all"], repository_copy)
    paths = sorted({line[3:] for line in changed.stdout.splitlines()})
    outside = [path for path in paths if not path.startswith("projects/audit/")]
    assert outside == [".github/CODEOWNERS"], paths
    assert (
        "/projects/audit/  @your-org/audit-owners"
        in (repository_copy / ".github/CODEOWNERS").read_text()
    )
    folder = repository_copy / "projects" / "audit"
    assert {path.name for path in folder.iterdir()} >= {
        "Pulumi.yaml", "layer.yaml", "__main__.py", "audit_layer.py", "tests",
        "Pulumi.dev.yaml", "Pulumi.staging.yaml", "Pulumi.prod.yaml",
    }  # fmt: skip
    project = yaml.safe_load((folder / "Pulumi.yaml").read_text())
    assert project["name"] == "rawdata-audit"
    assert project["runtime"]["options"]["virtualenv"] == "../../.venv"

    checked = run([*invoke, "check", "--json"], repository_copy)
    assert checked.returncode == 0, checked.stdout[-2000:] + checked.stderr
    report = json.loads(checked.stdout)
    assert "audit" in report["layers"] and report["findings"] == []

    own_tests = run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "projects/audit",
         "tests/test_snapshots.py", "tests/test_workflows.py", "tests/test_layers_and_projects.py"],
        repository_copy,
    )  # fmt: skip
    assert own_tests.returncode == 0, own_tests.stdout[-3000:] + own_tests.stderr[-2000:]

    matrix = json.loads(run([*invoke, "ci-matrix", "--json"], repository_copy).stdout)
    assert matrix["layers"].index("audit") > matrix["layers"].index("storage")
    assert {"environment": "prod", "layer": "audit"} in matrix["matrix"]["include"]


def test_the_example_resource_reads_the_upstream_export_and_is_tagged(tmp_path: Path) -> None:
    graph = copy_projects(tmp_path / "projects", ["dev", "prod"])
    result = new_layer(graph, "audit", ["storage"], codeowners=tmp_path / "CODEOWNERS")
    assert result.directory == graph.projects_dir / "audit"
    from shared.harness import render_environment

    stack = render_environment("dev", graph=load_graph(graph.projects_dir))["audit"]
    parameter = stack.one("aws:ssm/parameter:Parameter")
    assert parameter["name"] == "dev-audit-example"
    assert parameter["value"] == "dev-rawdata-bucket"  # storage's first declared export
    assert parameter["tags"] == {
        "Environment": "dev", "Project": "rawdata-pipeline", "Layer": "audit", "ManagedBy": "pulumi",
    }  # fmt: skip
    assert stack.reads == [("storage", "bucket_name")]


@pytest.mark.parametrize(
    ("name", "depends_on", "message"),
    [
        ("storage", [], "layer 'storage' exists already"),
        ("Audit", [], "layer name 'Audit' is not allowed: use 2-20 lowercase letters and digits"),
        ("audit", ["network"], "unknown layer 'network'; known layers: "),
        ("dev", [], "'dev' is an environment name; choose another layer name"),
    ],
)
def test_bad_requests_are_refused_before_anything_is_written(
    tmp_path: Path, name: str, depends_on: list[str], message: str
) -> None:
    graph = copy_projects(tmp_path / "projects", ["dev"])
    before = sorted(path.name for path in graph.projects_dir.iterdir())
    with pytest.raises(LayerError) as refused:
        new_layer(graph, name, depends_on, codeowners=tmp_path / "CODEOWNERS")
    assert message in str(refused.value)
    assert sorted(path.name for path in graph.projects_dir.iterdir()) == before
    assert not (tmp_path / "CODEOWNERS").exists()
