"""`invoke check`: the environments are one architecture, and each kind of drift fails it.

The drift tests copy ``projects/`` to a temporary folder, inject one drift there (a layer
module or a stack file), and run the same check on the copy (``projects_dir=``). The copy holds
the stack files of dev, staging and prod only, so each drift's expected findings can be written
out in full whatever other environments the repository has; the tests of the repository as
committed take its environments from the stack files.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from invoke import Exit, MockContext

from shared import consistency_tasks
from shared.consistency.architecture import PathDifference, differing_paths, odd_ones_out
from shared.consistency.check import CheckReport, run_check
from shared.consistency.normalise import ABSENT, UNKNOWN_SENTINEL, display, without_environment
from shared.consistency.report import Finding, Painter, findings_table, use_colour
from shared.environments import environments
from shared.errors import SettingsError
from shared.knobs import KNOBS, Knob
from shared.layers import REPO_ROOT, layer_names
from tests.conftest import ENVIRONMENTS, copy_projects, unused_environment_name
from tests.requirements import EXPECTED

# The environments of the copy the drift tests edit: their expected findings name these three.
DRIFT_ENVIRONMENTS = ("dev", "staging", "prod")


@pytest.fixture(scope="module")
def committed() -> CheckReport:
    return run_check()


@pytest.fixture
def projects_copy(tmp_path: Path) -> Path:
    return copy_projects(tmp_path / "projects", DRIFT_ENVIRONMENTS)


def edit(path: Path, old: str, new: str) -> None:
    """Replace ``old`` (which must be there: the drift must really be injected) by ``new``."""
    text = path.read_text()
    assert old in text, f"{path} no longer contains {old!r}; update this test's drift"
    path.write_text(text.replace(old, new, 1))


def change_timeout(path: Path, seconds: int) -> int:
    """Set ``timeoutSeconds`` in a compute stack file; the value it had before."""
    text = path.read_text()
    found = re.search(r"timeoutSeconds: (\d+)", text)
    assert found, f"{path} sets no timeoutSeconds; update this test's drift"
    path.write_text(text.replace(found.group(0), f"timeoutSeconds: {seconds}"))
    return int(found.group(1))


def only(findings: list[Finding], check: str, **where: str) -> Finding:
    matching = [
        finding
        for finding in findings
        if finding.check == check
        and all(getattr(finding, key) == value for key, value in where.items())
    ]
    listed = "\n".join(str(finding) for finding in findings)
    assert len(matching) == 1, f"expected one {check} finding {where}, got:\n{listed}"
    return matching[0]


# --------------------------------------------------------------------------- as committed
def test_check_passes_on_the_repository_as_committed(committed: CheckReport) -> None:
    assert committed.ok, "\n".join(str(finding) for finding in committed.findings)
    assert committed.environments == environments()
    assert set(ENVIRONMENTS) <= set(committed.environments)
    assert committed.stack_count == len(layer_names()) * len(committed.environments)


def test_the_matrix_has_one_row_per_knob_and_one_column_per_environment(
    committed: CheckReport,
) -> None:
    assert [row.knob for row in committed.matrix] == list(KNOBS)
    for row in committed.matrix:
        assert list(row.values) == committed.environments, row.knob


def test_the_matrix_shows_the_required_per_environment_values(committed: CheckReport) -> None:
    by_input = {(row.knob.resource, row.knob.input): row.values for row in committed.matrix}

    def row(resource: str, path: str) -> dict[str, object]:
        return {env: by_input[(resource, path)][env] for env in EXPECTED}

    capacity = {env: values["capacity"] or ABSENT for env, values in EXPECTED.items()}
    assert row("validator-function", "memorySize") == {
        env: values["memory_mb"] for env, values in EXPECTED.items()
    }
    assert row("validator-function", "tracingConfig.mode") == {
        env: values["tracing"] for env, values in EXPECTED.items()
    }
    assert row("metadata-table", "readCapacity") == capacity
    assert row("metadata-table", "writeCapacity") == capacity
    assert row("metadata-table", "billingMode") == {
        env: values["billing_mode"] for env, values in EXPECTED.items()
    }
    assert row("validator-log-group", "retentionInDays") == {
        env: values["log_retention_days"] for env, values in EXPECTED.items()
    }
    for resource in ("rawdata-bucket", "metadata-table", "validator-dlq"):
        assert row(resource, "(protect)") == {
            env: values["protected"] for env, values in EXPECTED.items()
        }
    assert row("validator-policy", "policy.Statement[WriteTraces]")["dev"] is ABSENT


def test_every_knob_says_why_it_may_differ() -> None:
    assert len({(knob.layer, knob.resource, knob.input) for knob in KNOBS}) == len(KNOBS)
    for knob in KNOBS:
        assert len(knob.why.split()) >= 5, f"{knob}: say why this input may differ"


def test_the_printed_report_is_an_aligned_matrix_without_colour_off_a_terminal(
    committed: CheckReport,
) -> None:
    text = committed.format(Painter(use_colour(io.StringIO())))
    assert "\x1b[" not in text
    lines = text.splitlines()
    header = next(line for line in lines if line.split()[:3] == ["layer", "resource", "input"])
    memory = next(line for line in lines if " memorySize " in line)
    assert memory.index("512") == header.index("dev")
    assert memory.index("1024") == header.index("staging")
    assert memory.index("2048") == header.index("prod")
    assert "check passed: 0 violations" in text


def test_colour_is_used_on_a_terminal(committed: CheckReport) -> None:
    assert "\x1b[" in committed.format(Painter(True))


def test_the_check_task_prints_the_matrix_and_json_for_machines(
    capsys: pytest.CaptureFixture[str],
) -> None:
    consistency_tasks.check(MockContext())
    assert "Difference matrix" in capsys.readouterr().out
    consistency_tasks.check(MockContext(), json_=True)
    document = json.loads(capsys.readouterr().out)
    assert document["ok"] is True
    assert document["findings"] == []
    memory = next(row for row in document["matrix"] if row["input"] == "memorySize")
    assert document["environments"] == environments()
    assert set(memory["values"]) == set(environments())
    assert {env: memory["values"][env] for env in EXPECTED} == {
        env: values["memory_mb"] for env, values in EXPECTED.items()
    }
    assert memory["why"]
    read = next(row for row in document["matrix"] if row["input"] == "readCapacity")
    assert read["values"]["prod"] is None  # absent: on-demand billing takes no capacity


def test_importing_the_tasks_module_does_not_import_pulumi() -> None:
    code = (
        "import sys, shared.consistency_tasks, shared.knobs\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('pulumi', 'pulumi_aws', 'shared.harness'))\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO_ROOT)


# --------------------------------------------------------------------------- drifts
def test_a_resource_present_only_in_dev_fails_and_is_named(projects_copy: Path) -> None:
    edit(
        projects_copy / "storage" / "storage_layer.py",
        "        self.register_outputs(",
        '        if context.environment == "dev":\n'
        '            aws.sqs.Queue("debug-queue", name=context.name(("debug", "queue")),'
        " tags=tags, opts=child)\n"
        "        self.register_outputs(",
    )
    report = run_check(projects_copy)
    assert not report.ok
    finding = only(report.findings, "architecture", resource="debug-queue")
    assert (finding.layer, finding.environment, finding.input) == ("storage", "dev", "(exists)")
    assert finding.values == {"dev": "present", "staging": ABSENT, "prod": ABSENT}
    assert "aws:sqs/queue:Queue is declared only in dev" in finding.message


def test_an_input_changed_in_one_environment_off_the_allowlist_fails(projects_copy: Path) -> None:
    before = change_timeout(projects_copy / "compute" / "Pulumi.staging.yaml", 30)
    report = run_check(projects_copy)
    finding = only(report.findings, "architecture", input="timeout")
    assert (finding.layer, finding.environment, finding.resource) == (
        "compute",
        "staging",
        "validator-function",
    )
    assert finding.values == {"dev": before, "staging": 30, "prod": before}
    assert [finding.check for finding in report.findings] == ["architecture"]

    text = report.format(Painter(False))
    row = next(line for line in text.splitlines() if " timeout " in line)
    assert row.split()[:8] == [
        "compute", "staging", "validator-function", "timeout", str(before), "30", str(before),
        "differs",
    ]  # fmt: skip
    assert "check FAILED: 1 violations (architecture 1)" in text


def test_the_allowlist_is_what_lets_a_knob_differ(projects_copy: Path) -> None:
    without_memory = [knob for knob in KNOBS if knob.input != "memorySize"]
    report = run_check(projects_copy, knobs=without_memory)
    finding = only(report.findings, "architecture", input="memorySize")
    assert finding.values == {"dev": 512, "staging": 1024, "prod": 2048}


def test_a_knob_that_matches_nothing_is_reported(projects_copy: Path) -> None:
    typo = Knob("compute", "validator-function", "memorySise", "a typo in the allowlist")
    report = run_check(projects_copy, knobs=[*KNOBS, typo])
    finding = only(report.findings, "allowlist")
    assert (finding.resource, finding.input) == ("validator-function", "memorySise")


@pytest.mark.parametrize(
    ("layer", "environment", "old", "new", "setting", "values"),
    [
        (
            "iam",
            "prod",
            "aws:region: us-east-1",
            "aws:region: us-west-2",
            "aws:region",
            {"storage": "us-east-1", "iam": "us-west-2", "compute": "us-east-1"},
        ),
        (
            "compute",
            "staging",
            "pipeline:tracing: true",
            "pipeline:tracing: false",
            "pipeline:tracing",
            {"iam": "true", "compute": "false"},
        ),
        (
            "storage",
            "dev",
            "pipeline:project: rawdata-pipeline",
            "pipeline:project: rawdata-pipe",
            "pipeline:project",
            {"storage": "rawdata-pipe", "iam": "rawdata-pipeline", "compute": "rawdata-pipeline"},
        ),
    ],
)
def test_a_shared_setting_that_disagrees_with_another_layer_fails(
    projects_copy: Path,
    layer: str,
    environment: str,
    old: str,
    new: str,
    setting: str,
    values: dict[str, str],
) -> None:
    edit(projects_copy / layer / f"Pulumi.{environment}.yaml", old, new)
    report = run_check(projects_copy)
    finding = only(report.findings, "shared-settings")
    assert (finding.layer, finding.environment, finding.input) == (layer, environment, setting)
    assert finding.values == values
    assert finding.resource == f"Pulumi.{environment}.yaml"
    other_environments = set(DRIFT_ENVIRONMENTS) - {environment}
    assert not [f for f in report.findings if f.environment in other_environments]


def test_a_stack_that_does_not_render_is_reported_and_the_others_still_checked(
    projects_copy: Path,
) -> None:
    edit(
        projects_copy / "compute" / "Pulumi.staging.yaml",
        "pipeline:tracing: true",
        "pipeline:tracing: false",
    )
    report = run_check(projects_copy)
    failed = only(report.findings, "render")
    assert (failed.layer, failed.environment) == ("compute", "staging")
    assert "pipeline:tracing is false in the compute stack file" in failed.message
    assert set(report.rendered["prod"]) == {"storage", "iam", "compute"}


def test_a_layer_that_does_not_render_skips_only_the_layers_reading_its_exports(
    projects_copy: Path,
) -> None:
    edit(
        projects_copy / "storage" / "Pulumi.staging.yaml",
        "tableBillingMode: PROVISIONED",
        "tableBillingMode: SOMETIMES",
    )
    report = run_check(projects_copy)
    rendering = [
        (f.layer, f.environment, f.message) for f in report.findings if f.check == "render"
    ]
    assert rendering[1:] == [
        ("iam", "staging", "not rendered: it reads the exports of storage"),
        ("compute", "staging", "not rendered: it reads the exports of storage, iam"),
    ]
    assert rendering[0][:2] == ("storage", "staging")
    assert rendering[0][2].startswith("does not render: invalid stack configuration")
    assert report.rendered["staging"] == {}
    assert set(report.rendered["dev"]) == {"storage", "iam", "compute"}


def test_render_environment_raises_unless_asked_to_record_failures(projects_copy: Path) -> None:
    from shared.harness import LayerFailure, render_environment

    (projects_copy / "iam" / "Pulumi.dev.yaml").unlink()
    with pytest.raises(SettingsError, match="layer 'iam' has no stack file for 'dev'"):
        render_environment("dev", projects_dir=projects_copy)
    failures: list[LayerFailure] = []
    rendered = render_environment("dev", projects_dir=projects_copy, failures=failures)
    assert list(rendered) == ["storage"]
    assert [(f.layer, f.blocked_by) for f in failures] == [("iam", ()), ("compute", ("iam",))]
    assert isinstance(failures[0].error, SettingsError)
    report = run_check(projects_copy)  # the missing file is the stack-files check's to report
    assert [(f.check, f.layer) for f in report.findings if f.environment == "dev"] == [
        ("stack-files", "iam"),
        ("render", "compute"),
    ]


def test_an_iam_statement_reaching_another_environments_table_fails(projects_copy: Path) -> None:
    edit(
        projects_copy / "iam" / "iam_layer.py",
        '"Resource": table_arn,',
        '"Resource": [table_arn, table_arn.replace(table_arn.split("/")[-1], '
        '"prod-metadata-table")],',
    )
    report = run_check(projects_copy)
    reaching = [f for f in report.findings if f.check == "policy"]
    assert {(f.layer, f.environment, f.resource) for f in reaching} == {
        ("iam", "dev", "validator-policy"),
        ("iam", "staging", "validator-policy"),
    }
    for environment in ("dev", "staging"):
        messages = [f.message for f in reaching if f.environment == environment]
        assert {f.input for f in reaching} == {"policy.Statement[RecordMetadata]"}
        assert any(
            message.endswith("table/prod-metadata-table belongs to environment 'prod'")
            for message in messages
        ), messages
    # The architecture comparison sees it too: prod's statement differs from the others'.
    drift = only(
        report.findings, "architecture", input="policy.Statement[RecordMetadata].Resource[1]"
    )
    assert (
        drift.values["dev"] == "arn:aws:dynamodb:us-east-1:123456789012:table/prod-metadata-table"
    )


def test_an_environment_missing_a_layers_stack_file_fails(projects_copy: Path) -> None:
    shutil.copy(
        projects_copy / "storage" / "Pulumi.dev.yaml", projects_copy / "storage" / "Pulumi.qa.yaml"
    )
    report = run_check(projects_copy)
    missing = [f for f in report.findings if f.check == "stack-files"]
    assert {(f.layer, f.environment) for f in missing} == {("iam", "qa"), ("compute", "qa")}


def test_an_environment_named_like_a_word_of_the_stacks_is_named(
    projects_copy: Path,
) -> None:
    for layer in ("storage", "iam", "compute"):
        source = projects_copy / layer / "Pulumi.dev.yaml"
        shutil.copy(source, source.with_name("Pulumi.east.yaml"))
    report = run_check(projects_copy)
    clashes = [f for f in report.findings if f.check == "isolation"]
    assert clashes
    assert {f.environment for f in clashes} == {"dev", "staging", "prod"}
    assert all("names environment 'east'" in f.message for f in clashes)
    assert "us-east-1" in clashes[0].message


def test_the_check_task_exits_non_zero_on_a_drift(
    projects_copy: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    before = change_timeout(projects_copy / "compute" / "Pulumi.prod.yaml", 90)
    monkeypatch.setattr(consistency_tasks, "PROJECTS_DIR", projects_copy)
    with pytest.raises(Exit) as stopped:
        consistency_tasks.check(MockContext(), json_=True)
    assert stopped.value.code == 1
    findings = json.loads(capsys.readouterr().out)["findings"]
    assert [(f["layer"], f["environment"], f["resource"], f["input"]) for f in findings] == [
        ("compute", "prod", "validator-function", "timeout")
    ]
    assert findings[0]["values"] == {"dev": before, "staging": before, "prod": 90}


# --------------------------------------------------------------------------- building blocks
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("dev-rawdata-bucket", "{env}-rawdata-bucket"),
        ("dev_bucket_name", "{env}_bucket_name"),
        ("organization/rawdata-iam/dev", "organization/rawdata-iam/{env}"),
        ("arn:aws:logs:us-east-1:1:log-group:/aws/lambda/dev-validator-function:*",
         "arn:aws:logs:us-east-1:1:log-group:/aws/lambda/{env}-validator-function:*"),
        ("Validates raw data uploaded to the dev bucket", "Validates raw data uploaded to the {env} bucket"),
        ("device devops predev dev2", "device devops predev dev2"),
    ],
)  # fmt: skip
def test_the_environment_is_taken_out_of_whole_tokens_only(text: str, expected: str) -> None:
    assert without_environment(text, "dev") == expected


def test_an_unresolved_output_is_shown_as_such() -> None:
    from pulumi.runtime import rpc

    assert UNKNOWN_SENTINEL == rpc.UNKNOWN
    assert display(rpc.UNKNOWN) == "<unknown until deploy>"


def test_a_statement_present_in_some_environments_is_one_difference() -> None:
    statement = {"Sid": "WriteTraces", "Effect": "Allow", "Action": ["xray:PutTraceSegments"]}
    base = {"Sid": "Read", "Effect": "Allow", "Action": ["s3:GetObject"]}
    policies: dict[str, object] = {
        "dev": {"Statement": [base]},
        "prod": {"Statement": [base, statement]},
    }
    assert list(differing_paths(policies)) == [
        PathDifference("Statement[WriteTraces]", {"dev": ABSENT, "prod": statement})
    ]


@pytest.mark.parametrize(
    ("values", "odd"),
    [
        ({"dev": 1, "staging": 1, "prod": 2}, ["prod"]),
        ({"dev": 2, "staging": 1, "prod": 1}, ["dev"]),
        ({"dev": 1, "staging": 2, "prod": 3}, ["staging", "prod"]),
        ({"dev": 1, "prod": 2}, ["prod"]),
    ],
)
def test_the_odd_ones_out_are_named(values: dict[str, int], odd: list[str]) -> None:
    assert odd_ones_out(values) == odd


def test_long_values_side_by_side_are_cut_to_where_they_differ() -> None:
    arn = "arn:aws:logs:{region}:123456789012:log-group:/aws/lambda/{{env}}-validator-function:*"
    finding = Finding(
        "architecture",
        "iam",
        "prod",
        "validator-policy",
        "policy.Statement[WriteOwnLogs].Resource",
        "differs and is not an environment knob",
        {
            env: arn.format(region=region)
            for env, region in [("dev", "us-east-1"), ("prod", "us-west-2")]
        },
    )
    row = findings_table([finding], Painter(False)).splitlines()[1]
    assert "us-east-1" in row
    assert "us-west-2" in row


# --------------------------------------------------------------------------- render task
def test_render_prints_every_resource_with_parent_dependencies_inputs_and_exports(
    capsys: pytest.CaptureFixture[str],
) -> None:
    consistency_tasks.render(MockContext(), env="dev", layer="iam")
    text = capsys.readouterr().out
    assert text.startswith("iam/dev: project rawdata-iam, stack dev, ")
    assert (
        "  validator-policy-attachment  aws:iam/rolePolicyAttachment:RolePolicyAttachment" in text
    )
    assert "depends on  validator-policy, validator-role" in text
    assert "policy.Statement[RecordMetadata].Resource" in text
    assert "dev_tracing     false" in text
    assert "storage/dev:" not in text  # rendered for the chain, printed only when asked


def test_render_json_is_the_snapshot_format(capsys: pytest.CaptureFixture[str]) -> None:
    consistency_tasks.render(MockContext(), env="prod", layer="compute", json_=True)
    (plan,) = json.loads(capsys.readouterr().out)
    assert plan == json.loads((REPO_ROOT / "tests/snapshots/compute.prod.json").read_text())


def test_render_rejects_an_unknown_environment_listing_the_known_ones() -> None:
    unknown = unused_environment_name("uat")
    with pytest.raises(Exit) as stopped:
        consistency_tasks.render(MockContext(), env=unknown)
    assert stopped.value.code == 2
    assert stopped.value.message == (
        f"unknown environment {unknown!r}; environments with stack files: "
        + ", ".join(environments())
    )
