"""`invoke new-env`: a replicated environment is valid and passes check; nothing is overwritten;
bad names are refused with a message that says what is allowed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from invoke import Exit, MockContext

from shared import consistency_tasks
from shared.consistency.check import run_check
from shared.consistency.new_env import new_environment, rename_in_values
from shared.errors import StackEnvironmentError
from shared.layers import PROJECTS_DIR, layer_names

LAYERS = layer_names()


@pytest.fixture
def projects_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "projects"
    shutil.copytree(PROJECTS_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def stack_files(projects_dir: Path, environment: str) -> dict[str, str]:
    return {
        layer: (projects_dir / layer / f"Pulumi.{environment}.yaml").read_text()
        for layer in LAYERS
        if (projects_dir / layer / f"Pulumi.{environment}.yaml").is_file()
    }


def test_a_new_environment_is_written_in_every_layer_and_passes_check(
    projects_copy: Path,
) -> None:
    written = new_environment("qa", "staging", projects_copy)
    assert written == [projects_copy / layer / "Pulumi.qa.yaml" for layer in LAYERS]
    assert stack_files(projects_copy, "qa") == stack_files(projects_copy, "staging")

    report = run_check(projects_copy)
    assert report.ok, "\n".join(str(finding) for finding in report.findings)
    assert report.environments == ["dev", "staging", "prod", "qa"]
    assert report.stack_count == 12
    for row in report.matrix:
        assert row.values["qa"] == row.values["staging"], row.knob
    bucket = report.rendered["qa"]["storage"].one("aws:s3/bucket:Bucket")
    assert bucket["bucket"] == "qa-rawdata-bucket"


def test_the_new_env_task_writes_the_files_then_runs_check(
    projects_copy: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(consistency_tasks, "PROJECTS_DIR", projects_copy)
    consistency_tasks.new_env(MockContext(), name="perf", from_="prod")
    output = capsys.readouterr()
    assert "wrote projects/compute/Pulumi.perf.yaml" in output.err
    assert "check passed: 0 violations" in output.out
    assert "perf" in output.out.splitlines()[0]  # the matrix has a column for it


def test_only_whole_environment_tokens_in_values_are_renamed() -> None:
    source = (
        "# dev: copied from the dev template\n"
        "config:\n"
        "  aws:region: us-east-1\n"
        "  rawdata-compute:devMode: dev\n"
        "  rawdata-compute:alarmActions:\n"
        "    - arn:aws:sns:us-east-1:123456789012:dev-alerts\n"
        "  rawdata-storage:bucketNameSuffix: device-data\n"
        "  rawdata-storage:note: 'dev_bucket for devops'\n"
    )
    assert rename_in_values(source, "dev", "qa") == (
        "# qa: copied from the qa template\n"
        "config:\n"
        "  aws:region: us-east-1\n"
        "  rawdata-compute:devMode: qa\n"
        "  rawdata-compute:alarmActions:\n"
        "    - arn:aws:sns:us-east-1:123456789012:qa-alerts\n"
        "  rawdata-storage:bucketNameSuffix: device-data\n"
        "  rawdata-storage:note: 'qa_bucket for devops'\n"
    )


def test_the_source_name_in_a_value_becomes_the_new_name(projects_copy: Path) -> None:
    compute = projects_copy / "compute" / "Pulumi.dev.yaml"
    compute.write_text(
        compute.read_text()
        + "  rawdata-compute:alarmActions:\n    - arn:aws:sns:us-east-1:123456789012:dev-alerts\n"
    )
    new_environment("sandbox", "dev", projects_copy)
    written = (projects_copy / "compute" / "Pulumi.sandbox.yaml").read_text()
    assert "arn:aws:sns:us-east-1:123456789012:sandbox-alerts" in written
    assert "dev" not in written


@pytest.mark.parametrize("existing", ["staging", "prod"])
def test_existing_stack_files_are_never_overwritten(projects_copy: Path, existing: str) -> None:
    before = stack_files(projects_copy, existing)
    with pytest.raises(StackEnvironmentError, match="refusing to overwrite") as refused:
        new_environment(existing, "dev", projects_copy)
    assert f"Pulumi.{existing}.yaml" in str(refused.value)
    assert stack_files(projects_copy, existing) == before


def test_one_existing_file_stops_the_whole_environment_before_anything_is_written(
    projects_copy: Path,
) -> None:
    stray = projects_copy / "iam" / "Pulumi.qa.yaml"
    stray.write_text("config: {}\n")
    with pytest.raises(StackEnvironmentError, match=r"refusing to overwrite .*iam/Pulumi\.qa"):
        new_environment("qa", "dev", projects_copy)
    assert stack_files(projects_copy, "qa") == {"iam": "config: {}\n"}


@pytest.mark.parametrize("name", ["QA", "q", "qa-1", "qa_1", "1qa", "", "averyveryverylongname"])
def test_an_invalid_name_is_rejected_saying_what_is_allowed(projects_copy: Path, name: str) -> None:
    with pytest.raises(StackEnvironmentError) as rejected:
        new_environment(name, "dev", projects_copy)
    message = str(rejected.value)
    assert repr(name) in message
    assert "2-16 characters, lowercase letters and digits, starting with a letter" in message
    if name:
        assert stack_files(projects_copy, name) == {}


def test_an_unknown_source_environment_is_rejected_listing_the_known_ones(
    projects_copy: Path,
) -> None:
    with pytest.raises(StackEnvironmentError, match=r"'uat'.*dev, staging, prod"):
        new_environment("qa", "uat", projects_copy)


@pytest.mark.parametrize(("name", "word_in"), [("east", "us-east-1"), ("validator", "validator")])
def test_a_name_that_is_already_a_word_of_the_stacks_is_rejected(
    projects_copy: Path, name: str, word_in: str
) -> None:
    with pytest.raises(StackEnvironmentError, match="already a word") as rejected:
        new_environment(name, "dev", projects_copy)
    assert word_in in str(rejected.value)
    assert stack_files(projects_copy, name) == {}


def test_a_name_yaml_would_read_as_another_type_is_rejected(projects_copy: Path) -> None:
    storage = projects_copy / "storage" / "Pulumi.dev.yaml"
    storage.write_text(storage.read_text() + "  rawdata-storage:bucketNameSuffix: dev\n")
    with pytest.raises(StackEnvironmentError, match="YAML reads 'true' as another type"):
        new_environment("true", "dev", projects_copy)
    assert stack_files(projects_copy, "true") == {}


def test_the_task_turns_a_refusal_into_a_clear_exit(
    projects_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(consistency_tasks, "PROJECTS_DIR", projects_copy)
    with pytest.raises(Exit) as stopped:
        consistency_tasks.new_env(MockContext(), name="Prod2", from_="prod")
    assert stopped.value.code == 2
    assert "new-env: environment name 'Prod2' is not allowed" in str(stopped.value.message)
