"""`invoke ci-matrix --changed-since REF`: a pull request previews the layers its change can
affect, in a real git repository: the layers whose folder changed, every layer reading them,
every layer when shared code changed, none for docs alone."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from invoke import Exit, MockContext

import shared.ci
import shared.layers
import tasks
from shared.ci import affected_layers, changed_files, ci_matrix
from shared.errors import PipelineError
from shared.layers import LayerGraph
from shared.testing import copy_projects


def git(repo: Path, *argv: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *argv],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


@pytest.fixture
def repository(tmp_path: Path) -> tuple[Path, LayerGraph]:
    """A git repository holding a copy of projects/ and a bit of shared code, committed on
    main; the test then works on a branch."""
    repo = tmp_path / "repo"
    graph = copy_projects(repo / "projects", ["dev", "prod"])
    (repo / "shared").mkdir()
    (repo / "shared" / "naming.py").write_text("RULE = 1\n")
    (repo / "README.md").write_text("# readme\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    git(repo, "checkout", "-q", "-b", "change")
    return repo, graph


def commit(repo: Path, path: str, text: str) -> None:
    target = repo / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", f"change {path}")


def test_a_change_in_one_layer_previews_it_and_every_layer_reading_it(
    repository: tuple[Path, LayerGraph],
) -> None:
    repo, graph = repository
    commit(repo, "projects/iam/iam_layer.py", "# changed\n")
    files = changed_files("main", repo)
    assert files == ["projects/iam/iam_layer.py"]
    affected = affected_layers(graph, files)
    readers = [
        layer.name for layer in graph.deploy_order() if graph.get("iam") in graph.upstreams(layer)
    ]
    assert affected.layers == ["iam", *readers]
    assert affected.reasons["iam"] == "its folder changed (projects/iam/iam_layer.py)"
    for reader in readers:
        assert "iam" in affected.reasons[reader] and "which changed" in affected.reasons[reader]
    assert affected.reasons["storage"] == "nothing it is built from changed"
    document = ci_matrix(graph, affected)
    assert {row["layer"] for row in document["matrix"]["include"]} == set(affected.layers)
    assert {row["environment"] for row in document["matrix"]["include"]} == {"dev", "prod"}


def test_a_change_to_shared_code_previews_every_layer(repository: tuple[Path, LayerGraph]) -> None:
    repo, graph = repository
    commit(repo, "shared/naming.py", "RULE = 2\n")
    affected = affected_layers(graph, changed_files("main", repo))
    assert affected.layers == graph.names
    assert affected.everything_because == "shared/naming.py"


def test_docs_alone_preview_nothing(repository: tuple[Path, LayerGraph]) -> None:
    repo, graph = repository
    commit(repo, "README.md", "# better readme\n")
    affected = affected_layers(graph, changed_files("main", repo))
    document = ci_matrix(graph, affected)
    assert affected.layers == []
    assert document["any_preview"] is False
    assert document["matrix"] == {"include": []}


def test_only_commits_since_the_branch_left_the_ref_count(
    repository: tuple[Path, LayerGraph],
) -> None:
    """main moving on after the branch was made is not this change."""
    repo, _ = repository
    commit(repo, "projects/storage/storage_layer.py", "# branch change\n")
    git(repo, "checkout", "-q", "main")
    commit(repo, "shared/naming.py", "RULE = 3\n")
    git(repo, "checkout", "-q", "change")
    assert changed_files("main", repo) == ["projects/storage/storage_layer.py"]


@pytest.mark.parametrize(
    ("ref", "message"), [("nowhere", "git cannot compare with it"), ("", "is empty")]
)
def test_a_ref_git_cannot_compare_with_is_refused(
    repository: tuple[Path, LayerGraph], ref: str, message: str
) -> None:
    repo, _ = repository
    with pytest.raises(PipelineError) as refused:
        changed_files(ref, repo)
    assert message in str(refused.value)


def test_the_task_prints_the_affected_matrix_and_why(
    repository: tuple[Path, LayerGraph],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    repo, graph = repository
    commit(repo, "projects/compute/compute_layer.py", "# changed\n")
    monkeypatch.setattr(shared.ci, "REPO_ROOT", repo)
    monkeypatch.setattr(shared.layers, "PROJECTS_DIR", graph.projects_dir)
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "output"))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    tasks.ci_matrix(MockContext(), json=True, changed_since="main", github_output=True)
    document = json.loads(capsys.readouterr().out)
    assert document["preview_layers"][0] == "compute"
    assert "storage" not in document["preview_layers"]
    assert "| storage | skipped | nothing it is built from changed |" in summary.read_text()
    with pytest.raises(Exit) as stopped:
        tasks.ci_matrix(MockContext(), changed_since="nowhere")
    assert stopped.value.code == 2
    with pytest.raises(Exit) as stopped:
        tasks.ci_matrix(MockContext(), changed_since="--octopus")
    assert stopped.value.code == 2
    assert str(stopped.value.message).startswith("error: --changed-since '--octopus'")


def test_a_file_moved_out_of_a_layer_changes_that_layer(
    repository: tuple[Path, LayerGraph],
) -> None:
    """A rename is listed as both paths: the layer it left changed too."""
    repo, graph = repository
    git(repo, "mv", "projects/iam/iam_layer.py", "README-iam.py")
    git(repo, "commit", "-qm", "move the iam program out")
    files = changed_files("HEAD~1", repo)
    assert "projects/iam/iam_layer.py" in files and "README-iam.py" in files
    assert "iam" in affected_layers(graph, files).layers


@pytest.mark.parametrize("ref", ["--octopus", "--all", "-h", "--output=x"])
def test_a_ref_that_reads_as_a_git_option_is_refused(
    repository: tuple[Path, LayerGraph], ref: str
) -> None:
    repo, _ = repository
    with pytest.raises(PipelineError) as refused:
        changed_files(ref, repo)
    assert f"--changed-since {ref!r}: git cannot compare with it" in str(refused.value)
    assert not (repo / "x").exists()


def test_a_ref_with_no_history_in_common_is_refused(repository: tuple[Path, LayerGraph]) -> None:
    repo, _ = repository
    git(repo, "checkout", "-q", "--orphan", "unrelated")
    commit(repo, "README.md", "# another history\n")
    git(repo, "checkout", "-q", "change")
    with pytest.raises(PipelineError) as refused:
        changed_files("unrelated", repo)
    assert "no history in common with HEAD" in str(refused.value)
    assert refused.value.exit_code == 2


def test_uncommitted_and_untracked_work_counts_but_ignored_files_do_not(
    repository: tuple[Path, LayerGraph],
) -> None:
    """Run by hand, the working tree is the change; in CI it equals HEAD."""
    repo, graph = repository
    commit(repo, ".gitignore", "__pycache__/\n")
    (repo / "projects" / "storage" / "storage_layer.py").write_text("# edited, not committed\n")
    (repo / "projects" / "iam" / "new_policy.py").write_text("# new, not added\n")
    (repo / "projects" / "compute" / "__pycache__").mkdir()
    (repo / "projects" / "compute" / "__pycache__" / "x.pyc").write_text("ignored\n")
    files = changed_files("main", repo)
    assert files == [
        ".gitignore",
        "projects/iam/new_policy.py",
        "projects/storage/storage_layer.py",
    ]
    assert {"storage", "iam"} <= set(affected_layers(graph, files).layers)


@pytest.mark.parametrize(
    "path",
    [
        "invoke.yaml",
        "tasks.py",
        "pyproject.toml",
        "requirements.lock",
        "policies/rules.py",
        ".github/workflows/pull-request.yml",
        ".github/actions/setup/action.yml",
        "projects/environments.yaml",
    ],
)
def test_what_every_task_or_program_runs_with_previews_every_layer(
    repository: tuple[Path, LayerGraph], path: str
) -> None:
    repo, graph = repository
    commit(repo, path, "changed: true\n")
    affected = affected_layers(graph, changed_files("main", repo))
    assert affected.layers == graph.names
    assert affected.everything_because == path


@pytest.mark.parametrize(
    "path", ["conftest.py", ".github/CODEOWNERS", "tasks.py.orig", "tests/test_x.py"]
)
def test_what_no_preview_runs_with_previews_nothing(
    repository: tuple[Path, LayerGraph], path: str
) -> None:
    """The offline tests run on every pull request anyway; a preview never reads these."""
    repo, graph = repository
    commit(repo, path, "changed\n")
    assert affected_layers(graph, changed_files("main", repo)).layers == []


def test_a_file_name_git_would_quote_still_names_its_layer(
    repository: tuple[Path, LayerGraph],
) -> None:
    repo, graph = repository
    commit(repo, "projects/iam/régles.py", "# changed\n")
    assert changed_files("main", repo) == ["projects/iam/régles.py"]
    assert "iam" in affected_layers(graph, ["projects/iam/régles.py"]).layers


@pytest.mark.parametrize(
    ("order_text", "remove", "named"),
    [
        (
            "promotion_order: []\n",
            None,
            "'dev' has stack files but no place in the promotion order",
        ),
        ("promotion_order: [dev]\n", None, "'prod' has stack files but no place in the promotion"),
        (
            "promotion_order: [dev, prod]\n",
            "iam/Pulumi.prod.yaml",
            "missing: projects/iam/Pulumi.prod.yaml",
        ),
    ],
    ids=["empty-order", "an-environment-left-out", "a-layer-without-its-stack-file"],
)
def test_a_matrix_that_would_leave_something_out_is_refused(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    order_text: str,
    remove: str | None,
    named: str,
) -> None:
    """The workflows trust this list: an environment with stack files that it leaves out would
    never be previewed or deployed, and CI would still be green."""
    graph = copy_projects(tmp_path / "projects", ["dev", "prod"])
    (graph.projects_dir / "environments.yaml").write_text(order_text)
    if remove:
        (graph.projects_dir / remove).unlink()
    monkeypatch.setattr(shared.layers, "PROJECTS_DIR", graph.projects_dir)
    with pytest.raises(Exit) as refused:
        tasks.ci_matrix(MockContext(), json=True)
    assert refused.value.code == 2
    message = str(refused.value.message)
    assert message.startswith("error: CI cannot tell what to run: ")
    assert named in message
    assert message.endswith("(`invoke check` reports the same)")
    assert capsys.readouterr().out == ""
