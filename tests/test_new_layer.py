"""`invoke new-layer`: a new layer is a folder. In a scratch copy of the repository,
`invoke new-layer --name audit --depends-on storage` makes a layer that `check`, its own tests
and CI pick up, changing nothing outside its folder but its CODEOWNERS line."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from shared.errors import LayerError
from shared.layers import load_graph
from shared.new_layer import NewLayerRefused, new_layer
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
        ("class", [], "layer name 'class' is not allowed: it is a Python keyword"),
        ("env", [], "layer name 'env' is not allowed: the generated code already uses 'env'"),
        ("rendered", ["storage"], "already uses 'rendered' as a Python name"),
        ("audit", ["audit"], "layer 'audit' cannot depend on itself (--depends-on audit)"),
        ("audit", ["storage", "iam", "storage"], "--depends-on lists storage more than once"),
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


def test_every_name_the_generated_code_uses_is_refused_and_no_other(tmp_path: Path) -> None:
    """The refused names are the ones the templates really use (read from the rendered
    files, not listed by hand): a new template variable is covered without an edit here."""
    from shared.new_layer import names_the_code_uses

    graph = copy_projects(tmp_path / "projects", ["dev"])
    used = names_the_code_uses(graph, ["storage"])
    assert {"env", "rendered", "request", "pytest", "context", "settings"} <= used
    assert "audit" not in used
    for name in sorted(used):
        if name.isalnum() and name.islower() and name not in graph.names:
            with pytest.raises(LayerError, match=f"already uses '{name}' as a Python name"):
                new_layer(graph, name, ["storage"], codeowners=tmp_path / "CODEOWNERS")


def test_a_summary_and_owner_with_yaml_and_python_syntax_are_written_as_given(
    tmp_path: Path,
) -> None:
    summary = 'audit trail: every "object" read, \\ by whom; # not a comment'
    owner = "@acme/audit-team"
    graph = copy_projects(tmp_path / "projects", ["dev", "prod"])
    result = new_layer(graph, "audit", ["storage"], owner, summary, tmp_path / "CODEOWNERS")
    folder = result.directory
    assert yaml.safe_load((folder / "Pulumi.yaml").read_text())["description"] == summary
    manifest = yaml.safe_load((folder / "layer.yaml").read_text())
    assert manifest["summary"] == summary and manifest["owners"] == [owner]
    module = ast.parse((folder / "audit_layer.py").read_text())
    assert ast.get_docstring(module).splitlines()[0] == f"The audit layer: {summary}."
    ast.parse((folder / "tests" / "test_audit.py").read_text())
    layer = load_graph(graph.projects_dir).get("audit")
    assert layer.summary == summary and list(layer.owners) == [owner]


def test_shared_project_settings_are_copied_as_yaml_values(tmp_path: Path) -> None:
    """A value with a colon and a hash in every layer's Pulumi.yaml config reads back the
    same in the new layer's."""
    graph = copy_projects(tmp_path / "projects", ["dev", "prod"])
    shared = {"aws:profile": "acme: data platform #ops"}
    for layer in graph:
        path = layer.directory / "Pulumi.yaml"
        project = yaml.safe_load(path.read_text())
        project["config"].update(shared)
        path.write_text(yaml.safe_dump(project, sort_keys=False))
    result = new_layer(load_graph(graph.projects_dir), "audit", [], codeowners=tmp_path / "C")
    config = yaml.safe_load((result.directory / "Pulumi.yaml").read_text())["config"]
    assert {key: config[key] for key in shared} == shared


def test_a_codeowners_file_that_is_not_utf8_is_named_and_nothing_is_written(
    tmp_path: Path,
) -> None:
    graph = copy_projects(tmp_path / "projects", ["dev"])
    codeowners = tmp_path / "CODEOWNERS"
    codeowners.write_bytes(b"/projects/storage/  @acme/caf\xe9\n")
    before = sorted(path.name for path in graph.projects_dir.iterdir())
    with pytest.raises(LayerError) as refused:
        new_layer(graph, "audit", ["storage"], codeowners=codeowners)
    assert str(refused.value) == (
        f"cannot read {codeowners}: it is not UTF-8 text (byte 29); fix it (or move it "
        "away), then run new-layer again; nothing was written"
    )
    assert sorted(path.name for path in graph.projects_dir.iterdir()) == before
    assert codeowners.read_bytes() == b"/projects/storage/  @acme/caf\xe9\n"


def test_a_check_that_already_fails_without_the_new_layer_is_blamed_on_the_repository(
    tmp_path: Path,
) -> None:
    graph = copy_projects(tmp_path / "projects", ["dev", "prod"])
    path = graph.get("storage").directory / "Pulumi.prod.yaml"
    path.write_text(path.read_text().replace("config:\n", "config:\n  aws:region: eu-west-1\n", 1))
    codeowners = tmp_path / "CODEOWNERS"
    codeowners.write_text("/projects/storage/  @acme/storage\n")
    before = sorted(path.name for path in graph.projects_dir.iterdir())
    with pytest.raises(NewLayerRefused) as refused:
        new_layer(graph, "audit", ["storage"], codeowners=codeowners)
    message = str(refused.value)
    assert message.startswith(
        "layer 'audit' was not created (nothing was written): `invoke check` already fails "
        "without it, so whether it would pass cannot be told; fix the repository first: "
    )
    assert "aws:region" in message and "prod" in message
    assert sorted(path.name for path in graph.projects_dir.iterdir()) == before
    assert codeowners.read_text() == "/projects/storage/  @acme/storage\n"
