"""`invoke new-env`: a replicated environment is valid and passes check; nothing is overwritten;
the source's secrets settings are not copied; bad names are refused with a message that says
what is allowed.

Each test works on a copy of ``projects/`` with every environment the repository has, and
names its new environment ``unused_environment_name(...)``: the README's own example may
already have added a ``qa``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from invoke import Exit, MockContext

from shared import consistency_tasks
from shared.consistency.check import run_check
from shared.consistency.new_env import new_environment, rename_in_values, without_secrets_provider
from shared.environments import PROMOTION_ORDER, SECRETS_PROVIDER_KEYS, environments
from shared.errors import StackEnvironmentError
from shared.layers import layer_names
from tests.conftest import copy_projects, unused_environment_name

LAYERS = layer_names()


@pytest.fixture
def projects_copy(tmp_path: Path) -> Path:
    return copy_projects(tmp_path / "projects")


def stack_files(projects_dir: Path, environment: str) -> dict[str, str]:
    return {
        layer: (projects_dir / layer / f"Pulumi.{environment}.yaml").read_text()
        for layer in LAYERS
        if (projects_dir / layer / f"Pulumi.{environment}.yaml").is_file()
    }


def test_a_new_environment_is_written_in_every_layer_and_passes_check(
    projects_copy: Path,
) -> None:
    name = unused_environment_name("qa", projects_copy)
    before = environments(projects_copy)
    result = new_environment(name, "staging", projects_copy)
    assert result.written == [projects_copy / layer / f"Pulumi.{name}.yaml" for layer in LAYERS]
    assert result.secrets_left_out == {}
    assert stack_files(projects_copy, name) == stack_files(projects_copy, "staging")

    report = run_check(projects_copy)
    assert report.ok, "\n".join(str(finding) for finding in report.findings)
    assert sorted(report.environments) == sorted([*before, name])
    assert report.environments[: len(PROMOTION_ORDER)] == list(PROMOTION_ORDER)
    assert report.stack_count == len(LAYERS) * len(report.environments)
    for row in report.matrix:
        assert row.values[name] == row.values["staging"], row.knob
    bucket = report.rendered[name]["storage"].one("aws:s3/bucket:Bucket")
    assert bucket["bucket"] == f"{name}-rawdata-bucket"


def test_the_new_env_task_writes_the_files_then_runs_check(
    projects_copy: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    name = unused_environment_name("perf", projects_copy)
    monkeypatch.setattr(consistency_tasks, "PROJECTS_DIR", projects_copy)
    consistency_tasks.new_env(MockContext(), name=name, from_="prod")
    output = capsys.readouterr()
    assert f"wrote projects/compute/Pulumi.{name}.yaml" in output.err
    assert "left out" not in output.err  # the committed stack files have no secrets settings
    assert "check passed: 0 violations" in output.out
    assert name in output.out.splitlines()[0]  # the matrix has a column for it


SECRETS_SETTINGS = (
    "secretsprovider: awskms://alias/staging-stacks\n"
    "encryptedkey: >-\n"
    "  AQICAHhlongbase64ciphertext\n"
    "  continuedonthenextline==\n"
)


def test_the_source_stacks_secrets_settings_are_not_copied_and_the_task_says_so(
    projects_copy: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """After a deploy to a self-managed backend, Pulumi has written the stack's secrets
    settings into its stack file; a copy would share, or fail to read, staging's secrets."""
    storage = projects_copy / "storage" / "Pulumi.staging.yaml"
    storage.write_text(SECRETS_SETTINGS + storage.read_text())
    iam = projects_copy / "iam" / "Pulumi.staging.yaml"
    iam.write_text(iam.read_text() + "encryptionsalt: v1:c2FsdA==:v1:abc:def\n")
    name = unused_environment_name("qa", projects_copy)
    monkeypatch.setattr(consistency_tasks, "PROJECTS_DIR", projects_copy)

    consistency_tasks.new_env(MockContext(), name=name, from_="staging")

    err = capsys.readouterr().err
    assert (
        "left out secretsprovider, encryptedkey of projects/storage/Pulumi.staging.yaml: "
        f"staging's own secrets settings; Pulumi creates fresh ones for {name} when its stack "
        f"is created (invoke deploy --env {name})"
    ) in err
    assert "left out encryptionsalt of projects/iam/Pulumi.staging.yaml" in err
    assert "projects/compute" not in err.split("left out", 1)[1]
    for layer in LAYERS:
        source = yaml.safe_load((projects_copy / layer / "Pulumi.staging.yaml").read_text())
        written = yaml.safe_load((projects_copy / layer / f"Pulumi.{name}.yaml").read_text())
        assert not set(written) & set(SECRETS_PROVIDER_KEYS), layer
        assert written["config"] == source["config"], layer
    assert "continuedonthenextline" not in stack_files(projects_copy, name)["storage"]


def test_only_top_level_secrets_settings_are_left_out() -> None:
    text = (
        "# staging's storage stack\n"
        "encryptionsalt: v1:abc\n"
        "config:\n"
        "  rawdata-storage:encryptionsalt: kept, a config value\n"
        "  aws:region: us-east-1\n"
        "encryptedkey:\n"
        "  folded\n"
        "\n"
        "secretsprovider: passphrase\n"
    )
    assert without_secrets_provider(text) == (
        "# staging's storage stack\n"
        "config:\n"
        "  rawdata-storage:encryptionsalt: kept, a config value\n"
        "  aws:region: us-east-1\n"
        "\n",
        ["encryptionsalt", "encryptedkey", "secretsprovider"],
    )


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
    name = unused_environment_name("sandbox", projects_copy)
    new_environment(name, "dev", projects_copy)
    written = (projects_copy / "compute" / f"Pulumi.{name}.yaml").read_text()
    assert f"arn:aws:sns:us-east-1:123456789012:{name}-alerts" in written
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
    name = unused_environment_name("qa", projects_copy)
    stray = projects_copy / "iam" / f"Pulumi.{name}.yaml"
    stray.write_text("config: {}\n")
    with pytest.raises(StackEnvironmentError, match=rf"refusing to overwrite .*iam/Pulumi\.{name}"):
        new_environment(name, "dev", projects_copy)
    assert stack_files(projects_copy, name) == {"iam": "config: {}\n"}


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
    unknown = unused_environment_name("uat", projects_copy)
    known = ", ".join(environments(projects_copy))
    with pytest.raises(StackEnvironmentError, match=rf"'{unknown}'.*: {known}$"):
        new_environment(unused_environment_name("qa", projects_copy), unknown, projects_copy)


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
