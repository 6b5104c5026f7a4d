"""`invoke new-env`: a replicated environment is valid and passes check; nothing is overwritten;
the source's secrets settings are not copied; bad names are refused with a message that says
what is allowed.

Each test works on a copy of ``projects/`` with every environment the repository has, and
names its new environment ``unused_environment_name(...)``: the README's own example may
already have added a ``qa``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from invoke import Exit, MockContext

import shared.layers
from shared import consistency_tasks
from shared.consistency.new_env import (
    NewEnvironmentRefused,
    new_environment,
    promotion_text,
    rename_in_values,
    without_secrets_provider,
)
from shared.consistency.snapshots import snapshot_path
from shared.environments import (
    SECRETS_PROVIDER_KEYS,
    environments,
    promotion_file,
    promotion_order,
)
from shared.errors import StackEnvironmentError
from shared.layers import LayerGraph, load_graph
from shared.testing import copy_projects, unused_environment_name


@pytest.fixture
def projects_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LayerGraph:
    """A copy of projects/ with every environment; the tasks read it too."""
    graph = copy_projects(tmp_path / "projects")
    monkeypatch.setattr(shared.layers, "PROJECTS_DIR", graph.projects_dir)
    return graph


def stack_files(graph: LayerGraph, environment: str) -> dict[str, str]:
    return {
        layer.name: path.read_text()
        for layer in graph
        if (path := layer.directory / f"Pulumi.{environment}.yaml").is_file()
    }


def files_of(graph: LayerGraph) -> dict[Path, bytes]:
    return {
        path: path.read_bytes()
        for path in sorted(graph.projects_dir.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


def test_a_new_environment_is_written_in_every_layer_placed_in_order_and_passes_check(
    projects_copy: LayerGraph,
) -> None:
    name = unused_environment_name("qa", projects_copy)
    before = environments(projects_copy)
    result = new_environment(name, "staging", "staging", projects_copy)
    graph = load_graph(projects_copy.projects_dir)
    stack_targets = [layer.directory / f"Pulumi.{name}.yaml" for layer in graph]
    snapshots = [snapshot_path(layer, name) for layer in graph]
    assert result.written == stack_targets + snapshots
    assert all(path.is_file() for path in snapshots)
    assert result.secrets_left_out == {}
    assert stack_files(graph, name) == stack_files(graph, "staging")
    order = promotion_order(graph)
    assert order[order.index("staging") + 1] == name
    assert result.promotion_order == order

    report = result.report
    assert report is not None and report.ok
    assert sorted(report.environments) == sorted([*before, name])
    assert report.stack_count == len(graph) * len(report.environments)
    for row in report.matrix:
        assert row.values[name] == row.values["staging"], row.knob
    bucket = report.rendered[name]["storage"].one("aws:s3/bucket:Bucket")
    assert bucket["bucket"] == f"{name}-rawdata-bucket"


def test_without_after_the_new_environment_is_promoted_last(projects_copy: LayerGraph) -> None:
    """With the promotion order written as a block list, which stays one."""
    order_file = promotion_file(projects_copy)
    order = promotion_order(projects_copy)
    order_file.write_text("# promoted in this order\npromotion_order:\n  - " + "\n  - ".join(order))
    name = unused_environment_name("sandbox", projects_copy)
    new_environment(name, "dev", graph=projects_copy)
    assert promotion_order(projects_copy)[-1] == name
    assert order_file.read_text() == (
        "# promoted in this order\npromotion_order:\n"
        + "".join(f"  - {environment}\n" for environment in [*order, name])
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (  # a flow list: rewritten on its line, its comment kept
            "# the order\npromotion_order: [dev, staging, prod]  # CI reads it\n",
            "# the order\npromotion_order: [dev, staging, qa, prod]  # CI reads it\n",
        ),
        (  # a block list: one line added after the environment it follows
            "promotion_order:\n  # first\n  - dev  # the first\n\n  - staging\n  - prod",
            "promotion_order:\n  # first\n  - dev  # the first\n\n  - staging\n  - qa\n  - prod",
        ),
        (  # a block list at the key's own indentation, an item quoted
            "promotion_order:\n- dev\n- 'staging'\n- prod\n",
            "promotion_order:\n- dev\n- 'staging'\n- qa\n- prod\n",
        ),
        (  # anything else is written anew from the list, the comments above it kept
            "# the order\n\npromotion_order: [dev,\n  staging, prod]  # CI reads it\n",
            "# the order\n\npromotion_order: [dev, staging, qa, prod]\n",
        ),
        (
            "promotion_order: !!seq [dev, staging, prod]\n",
            "promotion_order: [dev, staging, qa, prod]\n",
        ),
    ],
    ids=["flow", "block", "block-unindented", "flow-on-two-lines", "tagged"],
)
def test_the_promotion_file_is_edited_in_its_own_style(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "environments.yaml"
    path.write_text(text)
    assert promotion_text(path, ["dev", "staging", "qa", "prod"]) == expected


def test_after_an_environment_not_in_the_order_is_refused_before_writing(
    projects_copy: LayerGraph,
) -> None:
    before = files_of(projects_copy)
    with pytest.raises(StackEnvironmentError) as refused:
        new_environment("qa9", "dev", "uat", projects_copy)
    assert str(refused.value).startswith("--after 'uat' is not in the promotion order; it is: dev")
    assert files_of(projects_copy) == before


def test_the_new_env_task_writes_the_files_then_shows_the_check(
    projects_copy: LayerGraph, capsys: pytest.CaptureFixture[str]
) -> None:
    name = unused_environment_name("perf", projects_copy)
    consistency_tasks.new_env(MockContext(), name=name, from_="prod")
    output = capsys.readouterr()
    assert f"wrote projects/compute/Pulumi.{name}.yaml" in output.err
    assert f"wrote projects/compute/tests/snapshots/{name}.json" in output.err
    assert "promotion order (projects/environments.yaml): " in output.err
    assert "left out" not in output.err  # the committed stack files have no secrets settings
    assert "check passed: 0 violations" in output.out
    assert name in output.out.splitlines()[0]  # the matrix has a column for it


def test_a_word_of_another_environments_stacks_is_refused_before_anything_is_rendered(
    projects_copy: LayerGraph, capsys: pytest.CaptureFixture[str]
) -> None:
    """'xray' is a word of the stacks where tracing is on (xray:PutTelemetryRecords), not of
    dev's: the committed snapshots of every environment show it, before any render."""
    before = files_of(projects_copy)
    with pytest.raises(StackEnvironmentError) as refused:
        new_environment("xray", "dev", graph=projects_copy)
    assert not isinstance(refused.value, NewEnvironmentRefused)
    message = str(refused.value)
    assert message.startswith(
        "environment name 'xray' is not allowed: 'xray' already appears in the stacks, "
        "e.g. in xray:PutTelemetryRecords (iam/"
    )
    assert "so `invoke check` could not tell it from an environment's name" in message
    assert files_of(projects_copy) == before
    with pytest.raises(Exit) as stopped:
        consistency_tasks.new_env(MockContext(), name="xray", from_="dev")
    assert stopped.value.code == 2
    assert stopped.value.message.startswith("error: environment name 'xray' is not allowed")
    assert capsys.readouterr().out == ""
    assert files_of(projects_copy) == before


def test_a_stack_without_a_snapshot_is_judged_by_the_check_of_the_scratch_copy(
    projects_copy: LayerGraph, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without iam's snapshots of the traced environments the word 'xray' is not seen up
    front: the check of the scratch copy refuses it, and prints short (the failing checks,
    a few findings each, their count), naming the repository's files, never the scratch's."""
    iam = projects_copy.get("iam")
    for environment in environments(projects_copy):
        if environment != "dev":
            snapshot_path(iam, environment).unlink()
    before = files_of(projects_copy)
    with pytest.raises(NewEnvironmentRefused) as refused:
        new_environment("xray", "dev", graph=projects_copy)
    message = str(refused.value)
    assert message.startswith(
        "environment 'xray' was not created: `invoke check` fails with it (tried on a scratch "
        "copy; nothing was written): "
    )
    checks = {finding.check for finding in refused.value.report.findings}
    assert "isolation" in checks
    assert any(
        "names environment 'xray'" in finding.message for finding in refused.value.report.findings
    )
    assert files_of(projects_copy) == before
    with pytest.raises(Exit) as stopped:
        consistency_tasks.new_env(MockContext(), name="xray", from_="dev")
    assert stopped.value.code == 1
    out = capsys.readouterr().out
    assert "FAIL  isolation" in out
    assert "PASS" not in out  # the checks that passed say nothing about why
    assert "/tmp" not in out and "scratch-" not in out
    assert out.rstrip().splitlines()[-1].startswith("check FAILED: ")
    assert files_of(projects_copy) == before


def test_a_check_that_already_fails_without_the_new_environment_is_blamed_on_the_repository(
    projects_copy: LayerGraph,
) -> None:
    """Prod's layers disagreeing on the region fails the check with or without a new
    environment: the refusal says so, instead of blaming the new name."""
    path = projects_copy.get("storage").directory / "Pulumi.prod.yaml"
    path.write_text(path.read_text().replace("config:\n", "config:\n  aws:region: eu-west-1\n", 1))
    before = files_of(projects_copy)
    name = unused_environment_name("qa")
    with pytest.raises(NewEnvironmentRefused) as refused:
        new_environment(name, "dev", graph=projects_copy)
    message = str(refused.value)
    assert message.startswith(
        f"environment {name!r} was not created (nothing was written): `invoke check` already "
        "fails without it, so whether it would pass cannot be told; fix the repository first: "
    )
    assert "aws:region" in message and "prod" in message
    assert files_of(projects_copy) == before


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("true", "YAML reads true as the boolean true"),
        ("off", "YAML reads off as the boolean false"),
        ("null", "YAML reads null as no value (null)"),
        ("storage", "'storage' is a layer's name"),
        ("rawdata", "'rawdata' is a word of the Pulumi project names (e.g. rawdata-"),
        ("east", "'east' already appears in the stacks, e.g. in us-east-1 ("),
        ("validator", "'validator' already appears in the stacks"),
    ],
)
def test_a_name_the_stacks_could_not_tell_apart_is_refused_up_front(
    projects_copy: LayerGraph, name: str, why: str
) -> None:
    before = files_of(projects_copy)
    with pytest.raises(StackEnvironmentError) as refused:
        new_environment(name, "dev", graph=projects_copy)
    assert str(refused.value).startswith(f"environment name '{name}' is not allowed: {why}")
    assert str(refused.value).endswith("not a word the stacks already use)")
    assert files_of(projects_copy) == before


def test_a_file_where_a_snapshot_folder_belongs_is_named(projects_copy: LayerGraph) -> None:
    storage = projects_copy.get("storage")
    name = unused_environment_name("qa", projects_copy)
    folder = snapshot_path(storage, name).parent
    shutil.rmtree(folder)
    folder.write_text("not a folder\n")
    before = files_of(projects_copy)
    with pytest.raises(StackEnvironmentError) as refused:
        new_environment(name, "dev", graph=projects_copy)
    assert "is a file, not a folder" in str(refused.value)
    assert f"environment '{name}' cannot write" in str(refused.value)
    assert files_of(projects_copy) == before


def test_an_interrupt_while_moving_into_place_leaves_nothing_behind(
    projects_copy: LayerGraph, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.consistency import new_env as module

    before = files_of(projects_copy)

    def interrupted(path: Path, text: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(module, "_replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        new_environment(unused_environment_name("qa", projects_copy), "dev", graph=projects_copy)
    assert files_of(projects_copy) == before


SECRETS_SETTINGS = (
    "secretsprovider: awskms://alias/staging-stacks\n"
    "encryptedkey: >-\n"
    "  AQICAHhlongbase64ciphertext\n"
    "  continuedonthenextline==\n"
)


def test_the_source_stacks_secrets_settings_are_not_copied_and_the_task_says_so(
    projects_copy: LayerGraph, capsys: pytest.CaptureFixture[str]
) -> None:
    """After a deploy to a self-managed backend, Pulumi has written the stack's secrets
    settings into its stack file; a copy would share, or fail to read, staging's secrets."""
    storage = projects_copy.get("storage").directory / "Pulumi.staging.yaml"
    storage.write_text(SECRETS_SETTINGS + storage.read_text())
    iam = projects_copy.get("iam").directory / "Pulumi.staging.yaml"
    iam.write_text(iam.read_text() + "encryptionsalt: v1:c2FsdA==:v1:abc:def\n")
    name = unused_environment_name("qa", projects_copy)

    consistency_tasks.new_env(MockContext(), name=name, from_="staging")

    err = capsys.readouterr().err
    assert (
        "left out secretsprovider, encryptedkey of projects/storage/Pulumi.staging.yaml: "
        f"staging's own secrets settings; Pulumi creates fresh ones for {name} when its stack "
        f"is created (invoke deploy --env {name})"
    ) in err
    assert "left out encryptionsalt of projects/iam/Pulumi.staging.yaml" in err
    assert "projects/compute" not in err.split("left out", 1)[1]
    for layer in projects_copy:
        source = yaml.safe_load((layer.directory / "Pulumi.staging.yaml").read_text())
        written = yaml.safe_load((layer.directory / f"Pulumi.{name}.yaml").read_text())
        assert not set(written) & set(SECRETS_PROVIDER_KEYS), layer.name
        assert written["config"] == source["config"], layer.name
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


def test_the_source_name_in_a_value_becomes_the_new_name(projects_copy: LayerGraph) -> None:
    for environment in environments(projects_copy):
        path = projects_copy.get("observability").directory / f"Pulumi.{environment}.yaml"
        path.write_text(
            path.read_text().replace(
                "alertSubscriptions: []",
                f'alertSubscriptions: ["https://hooks.example.com/{environment}-alerts"]',
            )
        )
    name = unused_environment_name("sandbox", projects_copy)
    new_environment(name, "dev", graph=projects_copy)
    written = (projects_copy.get("observability").directory / f"Pulumi.{name}.yaml").read_text()
    assert f"https://hooks.example.com/{name}-alerts" in written
    assert "dev" not in written.replace("# ", "").split("config:", 1)[1].split("#")[0]


@pytest.mark.parametrize("existing", ["staging", "prod"])
def test_existing_stack_files_are_never_overwritten(
    projects_copy: LayerGraph, existing: str
) -> None:
    before = stack_files(projects_copy, existing)
    with pytest.raises(StackEnvironmentError, match="refusing to overwrite") as refused:
        new_environment(existing, "dev", graph=projects_copy)
    assert f"Pulumi.{existing}.yaml" in str(refused.value)
    assert stack_files(projects_copy, existing) == before


def test_one_existing_file_stops_the_whole_environment_before_anything_is_written(
    projects_copy: LayerGraph,
) -> None:
    name = unused_environment_name("qa", projects_copy)
    stray = projects_copy.get("iam").directory / f"Pulumi.{name}.yaml"
    stray.write_text("config: {}\n")
    with pytest.raises(StackEnvironmentError, match=rf"refusing to overwrite .*iam/Pulumi\.{name}"):
        new_environment(name, "dev", graph=projects_copy)
    assert stack_files(projects_copy, name) == {"iam": "config: {}\n"}


@pytest.mark.parametrize("name", ["QA", "q", "qa-1", "qa_1", "1qa", "", "averyveryverylongname"])
def test_an_invalid_name_is_rejected_saying_what_is_allowed(
    projects_copy: LayerGraph, name: str
) -> None:
    with pytest.raises(StackEnvironmentError) as rejected:
        new_environment(name, "dev", graph=projects_copy)
    message = str(rejected.value)
    assert repr(name) in message
    assert "2-16 characters, lowercase letters and digits, starting with a letter" in message
    if name:
        assert stack_files(projects_copy, name) == {}


def test_an_unknown_source_environment_is_rejected_listing_the_known_ones(
    projects_copy: LayerGraph,
) -> None:
    unknown = unused_environment_name("uat", projects_copy)
    known = ", ".join(environments(projects_copy))
    with pytest.raises(StackEnvironmentError, match=rf"'{unknown}'.*: {known}$"):
        new_environment(unused_environment_name("qa", projects_copy), unknown, graph=projects_copy)


def test_the_task_turns_a_refusal_into_a_clear_exit(projects_copy: LayerGraph) -> None:
    with pytest.raises(Exit) as stopped:
        consistency_tasks.new_env(MockContext(), name="Prod2", from_="prod")
    assert stopped.value.code == 2
    assert stopped.value.message.startswith("error: environment name 'Prod2' is not allowed")


def test_the_allowed_account_is_carried_and_the_task_says_so(
    projects_copy: LayerGraph, capsys: pytest.CaptureFixture[str]
) -> None:
    for layer in projects_copy:
        path = layer.directory / "Pulumi.staging.yaml"
        path.write_text(
            path.read_text().replace(
                "config:\n", 'config:\n  aws:allowedAccountIds: ["222222222222"]\n', 1
            )
        )
    name = unused_environment_name("qa", projects_copy)
    consistency_tasks.new_env(MockContext(), name=name, from_="staging")
    for layer in load_graph(projects_copy.projects_dir):
        written = yaml.safe_load((layer.directory / f"Pulumi.{name}.yaml").read_text())
        assert written["config"]["aws:allowedAccountIds"] == ["222222222222"], layer.name
    assert (
        f'copied aws:allowedAccountIds ["222222222222"] from staging: if {name} has its own AWS '
        f"account, set it in every layer's Pulumi.{name}.yaml"
    ) in capsys.readouterr().err
