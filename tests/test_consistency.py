"""`invoke check`: the environments are one architecture, and each kind of drift fails it.

The drift tests copy ``projects/`` to a temporary folder, inject one drift there (a layer
module, a manifest or a stack file), and run the same check on the copy. The copy holds the
stack files of dev, staging and prod only, so each drift's expected findings can be written
out in full whatever other environments the repository has; the tests of the repository as
committed take its environments from the stack files and its layers from the graph. A drift
is injected into a concrete layer's file (the material of the test), but what the test
expects of the other layers is read from the graph.
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

import shared.layers
from shared import consistency_tasks
from shared.consistency.architecture import PathDifference, differing_paths, odd_ones_out
from shared.consistency.check import CheckReport, run_check
from shared.consistency.normalise import ABSENT, UNKNOWN_SENTINEL, display, without_environment
from shared.consistency.report import Finding, findings_table
from shared.consistency.snapshots import snapshot_path
from shared.environments import environments, read_stack_config
from shared.errors import SettingsError
from shared.layers import LayerGraph, load_graph
from shared.testing import copy_projects, unused_environment_name
from shared.text import Painter, use_colour

# The environments of the copy the drift tests edit: their expected findings name these three.
DRIFT_ENVIRONMENTS = ("dev", "staging", "prod")


@pytest.fixture(scope="module")
def committed() -> CheckReport:
    return run_check()


@pytest.fixture
def projects_copy(tmp_path: Path) -> LayerGraph:
    return copy_projects(tmp_path / "projects", DRIFT_ENVIRONMENTS)


def file_of(graph: LayerGraph, layer: str, name: str) -> Path:
    return graph.get(layer).directory / name


def edit(path: Path, old: str, new: str) -> None:
    """Replace ``old`` (which must be there: the drift must really be injected) by ``new``."""
    text = path.read_text()
    assert old in text, f"{path} no longer contains {old!r}; update this test's drift"
    path.write_text(text.replace(old, new, 1))


def change_retries(path: Path, attempts: int) -> int:
    """Set ``maxRetryAttempts`` in a compute stack file (a setting nothing downstream reads);
    the value it had before (the default, 2, when it was not set)."""
    text = path.read_text()
    found = re.search(r"maxRetryAttempts: (\d+)", text)
    if found:
        path.write_text(text.replace(found.group(0), f"maxRetryAttempts: {attempts}"))
        return int(found.group(1))
    path.write_text(text.rstrip("\n") + f"\n  rawdata-compute:maxRetryAttempts: {attempts}\n")
    return 2


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
    graph = load_graph()
    assert committed.environments == environments(graph)
    assert {"dev", "staging", "prod"} <= set(committed.environments)
    assert committed.stack_count == len(graph) * len(committed.environments)


def test_the_matrix_has_one_row_per_knob_and_one_column_per_environment(
    committed: CheckReport,
) -> None:
    assert [row.knob for row in committed.matrix] == list(load_graph().knobs())
    for row in committed.matrix:
        assert list(row.values) == committed.environments, row.knob


# The user's numbers (seed task, issue 2), as the matrix must show them.
REQUIRED_ROWS = {
    ("validator-function", "memorySize"): {"dev": 512, "staging": 1024, "prod": 2048},
    ("validator-function", "tracingConfig.mode"): {
        "dev": "PassThrough", "staging": "Active", "prod": "Active",
    },
    ("metadata-table", "billingMode"): {
        "dev": "PROVISIONED", "staging": "PROVISIONED", "prod": "PAY_PER_REQUEST",
    },
    ("metadata-table", "readCapacity"): {"dev": 1, "staging": 5, "prod": ABSENT},
    ("metadata-table", "writeCapacity"): {"dev": 1, "staging": 5, "prod": ABSENT},
    ("validator-log-group", "retentionInDays"): {"dev": 7, "staging": 7, "prod": 30},
    ("rawdata-bucket", "(protect)"): {"dev": False, "staging": False, "prod": True},
    ("metadata-table", "(protect)"): {"dev": False, "staging": False, "prod": True},
    ("validator-dlq", "(protect)"): {"dev": False, "staging": False, "prod": True},
}  # fmt: skip


def test_the_matrix_shows_the_required_per_environment_values(committed: CheckReport) -> None:
    by_input = {(row.knob.resource, row.knob.input): row.values for row in committed.matrix}
    for key, expected in REQUIRED_ROWS.items():
        assert {env: by_input[key][env] for env in expected} == expected, key
    assert by_input[("validator-policy", "policy.Statement[WriteTraces]")]["dev"] is ABSENT


def test_every_knob_says_why_it_may_differ() -> None:
    knobs = load_graph().knobs()
    assert len({(knob.layer, knob.resource, knob.input) for knob in knobs}) == len(knobs)
    for knob in knobs:
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
    assert {env: memory["values"][env] for env in ("dev", "staging", "prod")} == {
        "dev": 512, "staging": 1024, "prod": 2048,
    }  # fmt: skip
    assert memory["why"]
    read = next(row for row in document["matrix"] if row["input"] == "readCapacity")
    assert read["values"]["prod"] is None  # absent: on-demand billing takes no capacity


def test_importing_the_tasks_module_does_not_import_pulumi() -> None:
    code = (
        "import sys, shared.consistency_tasks, shared.layers\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('pulumi', 'pulumi_aws', 'shared.harness'))\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=shared.layers.REPO_ROOT)


# --------------------------------------------------------------------------- drifts
def test_a_resource_present_only_in_dev_fails_and_is_named(projects_copy: LayerGraph) -> None:
    edit(
        projects_copy.projects_dir / "storage" / "storage_layer.py",
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


def test_an_input_changed_in_one_environment_off_the_allowlist_fails(
    projects_copy: LayerGraph,
) -> None:
    before = change_retries(projects_copy.projects_dir / "compute" / "Pulumi.staging.yaml", 0)
    report = run_check(projects_copy)
    finding = only(report.findings, "architecture", input="maximumRetryAttempts")
    assert (finding.layer, finding.environment, finding.resource) == (
        "compute",
        "staging",
        "validator-async-config",
    )
    assert finding.values == {"dev": before, "staging": 0, "prod": before}
    assert [finding.check for finding in report.findings] == ["architecture"]

    text = report.format(Painter(False))
    row = next(line for line in text.splitlines() if " maximumRetryAttempts " in line)
    assert row.split()[:8] == [
        "compute", "staging", "validator-async-config", "maximumRetryAttempts", str(before),
        "0", str(before), "differs",
    ]  # fmt: skip
    assert "check FAILED: 1 violation (architecture 1)" in text


def test_the_allowlist_is_what_lets_a_knob_differ(projects_copy: LayerGraph) -> None:
    manifest = file_of(projects_copy, "compute", "layer.yaml")
    edit(manifest, "    input: memorySize\n", "    input: memorySizeNoLonger\n")
    report = run_check(load_graph(projects_copy.projects_dir))
    finding = only(report.findings, "architecture", input="memorySize")
    assert finding.values == {"dev": 512, "staging": 1024, "prod": 2048}


def subscribe(graph: LayerGraph, environment: str, address: str) -> None:
    path = file_of(graph, "observability", f"Pulumi.{environment}.yaml")
    edit(path, "alertSubscriptions: []", f'alertSubscriptions: ["{address}"]')


def test_an_exists_knob_lets_a_resource_exist_in_some_environments_only(
    projects_copy: LayerGraph,
) -> None:
    subscribe(projects_copy, "prod", "oncall@example.com")
    report = run_check(projects_copy)
    assert report.ok, "\n".join(map(str, report.findings))
    row = next(row for row in report.matrix if row.knob.input == "(exists)")
    assert row.values["dev"] is ABSENT and row.values["staging"] is ABSENT
    [name] = row.values["prod"]
    assert name.startswith("alert-subscription-email-")

    manifest = file_of(projects_copy, "observability", "layer.yaml")
    edit(manifest, "    input: (exists)\n", "    input: endpoint\n")
    report = run_check(load_graph(projects_copy.projects_dir))
    finding = only(report.findings, "architecture", resource=name)
    assert (finding.environment, finding.input) == ("prod", "(exists)")
    assert "is declared only in prod" in finding.message


def test_a_glob_knob_covers_every_resource_it_names(projects_copy: LayerGraph) -> None:
    manifest = file_of(projects_copy, "observability", "layer.yaml")
    edit(manifest, '  - resource: "*-alarm"\n', '  - resource: "validator-dlq-alarm"\n')
    report = run_check(load_graph(projects_copy.projects_dir))
    drifting = {f.resource for f in report.findings if f.input == "evaluationPeriods"}
    alarms = {
        resource.name
        for resource in report.rendered["dev"]["observability"]
        if resource.type == "aws:cloudwatch/metricAlarm:MetricAlarm"
    }
    assert len(alarms) > 1 and drifting == alarms - {"validator-dlq-alarm"}


def test_a_knob_that_matches_nothing_is_reported(projects_copy: LayerGraph) -> None:
    manifest = file_of(projects_copy, "compute", "layer.yaml")
    edit(manifest, "    input: memorySize\n", "    input: memorySise\n")
    report = run_check(load_graph(projects_copy.projects_dir))
    finding = only(report.findings, "allowlist")
    assert (finding.resource, finding.input) == ("validator-function", "memorySise")
    assert finding.message.startswith("this knob in projects/compute/layer.yaml matches nothing")


@pytest.mark.parametrize(
    ("layer", "environment", "old", "new", "setting", "values"),
    [
        ("iam", "prod", "config:\n", "config:\n  aws:region: us-west-2\n", "aws:region",
         {"iam": "us-west-2"}),
        ("compute", "staging", "pipeline:tracing: true", "pipeline:tracing: false",
         "pipeline:tracing", {"compute": "false"}),
        ("storage", "dev", "config:\n", "config:\n  pipeline:project: rawdata-pipe\n",
         "pipeline:project", {"storage": "rawdata-pipe"}),
    ],
)  # fmt: skip
def test_a_shared_setting_that_disagrees_with_another_layer_fails(
    projects_copy: LayerGraph,
    layer: str,
    environment: str,
    old: str,
    new: str,
    setting: str,
    values: dict[str, str],
) -> None:
    edit(file_of(projects_copy, layer, f"Pulumi.{environment}.yaml"), old, new)
    report = run_check(projects_copy)
    finding = only(report.findings, "shared-settings")
    assert (finding.layer, finding.environment, finding.input) == (layer, environment, setting)
    setting_everywhere = {
        each.name: config[setting]
        for each in projects_copy
        if setting in (config := read_stack_config(each, environment))
    }
    assert finding.values == {**setting_everywhere, **values}
    assert finding.resource == f"Pulumi.{environment}.yaml"
    other_environments = set(DRIFT_ENVIRONMENTS) - {environment}
    assert not [f for f in report.findings if f.environment in other_environments]


def test_a_stack_that_does_not_render_is_reported_and_the_others_still_checked(
    projects_copy: LayerGraph,
) -> None:
    edit(
        projects_copy.projects_dir / "compute" / "Pulumi.staging.yaml",
        "pipeline:tracing: true",
        "pipeline:tracing: false",
    )
    report = run_check(projects_copy)
    failed = only(report.findings, "render", layer="compute")
    assert failed.environment == "staging"
    assert "pipeline:tracing is false in the compute stack file" in failed.message
    assert set(report.rendered["prod"]) == set(projects_copy.names)


def test_a_layer_that_does_not_render_skips_only_the_layers_reading_its_exports(
    projects_copy: LayerGraph,
) -> None:
    edit(
        projects_copy.projects_dir / "storage" / "Pulumi.staging.yaml",
        "tableBillingMode: PROVISIONED",
        "tableBillingMode: SOMETIMES",
    )
    report = run_check(projects_copy)
    rendering = [
        (f.layer, f.environment, f.message) for f in report.findings if f.check == "render"
    ]
    failed = {"storage"}
    expected = []
    for layer in projects_copy.downstreams(projects_copy.get("storage"))[::-1]:
        blocked_by = [name for name in layer.depends_on if name in failed]
        failed.add(layer.name)
        expected.append(
            (
                layer.name,
                "staging",
                f"not rendered: it reads the exports of {', '.join(blocked_by)}",
            )
        )
    assert expected and rendering[1:] == expected
    assert rendering[0][:2] == ("storage", "staging")
    assert rendering[0][2].startswith("does not render: invalid stack configuration")
    assert set(report.rendered["staging"]) == set(projects_copy.names) - failed
    assert set(report.rendered["dev"]) == set(projects_copy.names)


def test_render_environment_raises_unless_asked_to_record_failures(
    projects_copy: LayerGraph,
) -> None:
    from shared.harness import LayerFailure, render_environment

    file_of(projects_copy, "iam", "Pulumi.dev.yaml").unlink()
    with pytest.raises(SettingsError, match=r"no stack file projects/iam/Pulumi\.dev\.yaml"):
        render_environment("dev", graph=projects_copy)
    failures: list[LayerFailure] = []
    rendered = render_environment("dev", graph=projects_copy, failures=failures)
    readers = [layer.name for layer in projects_copy.downstreams(projects_copy.get("iam"))]
    assert set(rendered) == set(projects_copy.names) - {"iam", *readers}
    assert failures[0].layer == "iam" and failures[0].blocked_by == ()
    assert isinstance(failures[0].error, SettingsError)
    assert sorted(f.layer for f in failures[1:]) == sorted(readers)
    report = run_check(projects_copy)  # the missing file is the stack-files check's to report
    assert sorted((f.check, f.layer) for f in report.findings if f.environment == "dev") == sorted(
        [("stack-files", "iam"), *(("render", reader) for reader in readers)]
    )


def test_an_iam_statement_reaching_another_environments_table_fails(
    projects_copy: LayerGraph,
) -> None:
    edit(
        projects_copy.projects_dir / "iam" / "iam_layer.py",
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


def test_an_environment_missing_a_layers_stack_file_fails(projects_copy: LayerGraph) -> None:
    storage = projects_copy.get("storage").directory
    shutil.copy(storage / "Pulumi.dev.yaml", storage / "Pulumi.qa.yaml")
    report = run_check(projects_copy)
    missing = [f for f in report.findings if f.check == "stack-files" and f.layer != "-"]
    assert {(f.layer, f.environment) for f in missing} == {
        (name, "qa") for name in projects_copy.names if name != "storage"
    }
    unordered = only(report.findings, "stack-files", input="promotion_order")
    assert unordered.environment == "qa"
    assert "'qa' has stack files but no place in the promotion order" in unordered.message


def test_the_promotion_order_must_name_exactly_the_environments(projects_copy: LayerGraph) -> None:
    order = projects_copy.projects_dir / "environments.yaml"
    order.write_text("promotion_order: [dev, staging, uat, prod]\n")
    report = run_check(projects_copy)
    finding = only(report.findings, "stack-files", input="promotion_order")
    assert finding.environment == "uat"
    assert finding.message == "'uat' is in the promotion order but no layer has a stack file for it"


def test_an_environment_named_like_a_word_of_the_stacks_is_named(
    projects_copy: LayerGraph,
) -> None:
    for layer in projects_copy:
        source = layer.directory / "Pulumi.dev.yaml"
        shutil.copy(source, source.with_name("Pulumi.east.yaml"))
    report = run_check(projects_copy)
    clashes = [f for f in report.findings if f.check == "isolation"]
    assert clashes
    assert {f.environment for f in clashes} == {"dev", "staging", "prod"}
    assert all("names environment 'east'" in f.message for f in clashes)
    assert "us-east-1" in clashes[0].message


def test_the_check_task_exits_non_zero_on_a_drift(
    projects_copy: LayerGraph, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    before = change_retries(projects_copy.projects_dir / "compute" / "Pulumi.prod.yaml", 1)
    monkeypatch.setattr(shared.layers, "PROJECTS_DIR", projects_copy.projects_dir)
    with pytest.raises(Exit) as stopped:
        consistency_tasks.check(MockContext(), json_=True)
    assert stopped.value.code == 1
    findings = json.loads(capsys.readouterr().out)["findings"]
    assert [(f["layer"], f["environment"], f["resource"], f["input"]) for f in findings] == [
        ("compute", "prod", "validator-async-config", "maximumRetryAttempts")
    ]
    assert findings[0]["values"] == {"dev": before, "staging": before, "prod": 1}


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


def test_a_problem_of_several_lines_stays_in_its_column() -> None:
    finding = Finding(
        "render", "observability", "dev", "<stack>", "-", "does not render:\nfirst\nsecond"
    )
    lines = findings_table([finding], Painter(False)).splitlines()
    column = lines[0].index("problem")
    assert [line[column:] for line in lines[1:]] == ["does not render:", "first", "second"]
    assert [line[:column].strip() for line in lines[2:]] == ["", ""]


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
    assert re.search(r"^    dev_tracing +false$", text, re.MULTILINE)
    assert "storage/dev:" not in text  # rendered for the chain, printed only when asked


def test_render_json_is_the_snapshot_format(capsys: pytest.CaptureFixture[str]) -> None:
    consistency_tasks.render(MockContext(), env="prod", layer="compute", json_=True)
    (plan,) = json.loads(capsys.readouterr().out)
    assert plan == json.loads(snapshot_path(load_graph().get("compute"), "prod").read_text())


def unknown_environment_message(given: str) -> str:
    return f"error: unknown environment {given!r}; environments with stack files: " + ", ".join(
        environments()
    )


def test_render_rejects_an_unknown_environment_listing_the_known_ones() -> None:
    unknown = unused_environment_name("uat")
    with pytest.raises(Exit) as stopped:
        consistency_tasks.render(MockContext(), env=unknown)
    assert stopped.value.code == 2
    assert stopped.value.message == unknown_environment_message(unknown)


@pytest.mark.parametrize("given", ["dev,staging", "dev staging"])
def test_several_environments_in_one_value_are_told_to_run_once_for_each(given: str) -> None:
    with pytest.raises(Exit) as stopped:
        consistency_tasks.render(MockContext(), env=given)
    assert stopped.value.code == 2
    assert stopped.value.message == (
        unknown_environment_message(given) + "; one environment per run: run the task once for each"
    )


def test_a_stray_space_gets_the_closest_environment_not_the_one_per_run_advice() -> None:
    with pytest.raises(Exit) as stopped:
        consistency_tasks.render(MockContext(), env="dev ")
    assert stopped.value.message.endswith("; did you mean dev?")


def test_several_layers_in_one_value_are_told_one_layer_per_run() -> None:
    with pytest.raises(Exit) as stopped:
        consistency_tasks.render(MockContext(), env="dev", layer="storage,iam")
    assert stopped.value.code == 2
    assert stopped.value.message.endswith(
        "; one layer per run (leave --layer out for every layer, in order)"
    )


# --------------------------------------------------------------------------- account guard
def allow_accounts(graph: LayerGraph, layer: str, environment: str, accounts: str) -> None:
    path = file_of(graph, layer, f"Pulumi.{environment}.yaml")
    text = path.read_text()
    path.write_text(text.replace("config:\n", f"config:\n  aws:allowedAccountIds: {accounts}\n", 1))


def test_one_allowed_account_per_environment_in_every_layer_passes(
    projects_copy: LayerGraph,
) -> None:
    for environment, account in (("dev", "111111111111"), ("prod", "333333333333")):
        for layer in projects_copy:
            allow_accounts(projects_copy, layer.name, environment, f'["{account}"]')
    report = run_check(projects_copy)
    assert report.ok, "\n".join(map(str, report.findings))


def test_layers_of_one_environment_disagreeing_on_the_allowed_account_fail(
    projects_copy: LayerGraph,
) -> None:
    for layer in projects_copy:
        account = "999999999999" if layer.name == "iam" else "333333333333"
        allow_accounts(projects_copy, layer.name, "prod", f'["{account}"]')
    report = run_check(projects_copy)
    finding = only(report.findings, "shared-settings")
    assert (finding.layer, finding.environment, finding.input) == (
        "iam",
        "prod",
        "aws:allowedAccountIds",
    )
    assert finding.values["iam"] == '["999999999999"]'
    assert finding.values["storage"] == '["333333333333"]'


def test_an_allowed_account_set_in_some_layers_only_fails(projects_copy: LayerGraph) -> None:
    allow_accounts(projects_copy, "storage", "staging", '["222222222222"]')
    report = run_check(projects_copy)
    finding = only(report.findings, "shared-settings")
    assert finding.input == "aws:allowedAccountIds"
    assert finding.values["storage"] == '["222222222222"]'
    assert {value for layer, value in finding.values.items() if layer != "storage"} == {"(not set)"}


@pytest.mark.parametrize("accounts", ['"111111111111"', "[111111111111]", '["1234"]', "[]"])
def test_a_malformed_allowed_account_list_is_refused_naming_the_rule(
    projects_copy: LayerGraph, accounts: str
) -> None:
    from shared.harness import render_stack

    allow_accounts(projects_copy, "storage", "dev", accounts)
    with pytest.raises(SettingsError) as raised:
        render_stack("storage", "dev", graph=load_graph(projects_copy.projects_dir))
    assert "aws:allowedAccountIds = " in str(raised.value)
    assert 'a list of 12-digit AWS account IDs, e.g. ["111111111111"]' in str(raised.value)
