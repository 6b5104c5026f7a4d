"""The offline harness: any resource type renders without per-type code, StackReferences are
answered from the upstream's declared exports, and each layer is held to its contract.

The edits below are what a layer team does in its own folder; none touches shared/.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from shared.aws_resources import MOCK_ACCOUNT_ID, accepts_tags, mock_state, physical_name_input
from shared.consistency.check import run_check
from shared.errors import SettingsError
from shared.harness import contract_exports, contract_violations, render_stack
from shared.layers import REPO_ROOT, LayerGraph, load_graph
from shared.testing import copy_projects


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{path} no longer contains {old!r}; update this test"
    path.write_text(text.replace(old, new, 1))


@pytest.fixture
def copy(tmp_path: Path) -> LayerGraph:
    return copy_projects(tmp_path / "projects", ["dev", "staging", "prod"])


def add_events_topic_to_storage(graph: LayerGraph, *, named: bool = True) -> None:
    """A new resource with a new export in the storage layer: its program and its manifest."""
    storage = graph.get("storage").directory
    name = 'name=context.name(("events", "topic")), ' if named else ""
    edit(
        storage / "storage_layer.py",
        "        self.register_outputs(",
        f'        self.events_topic = aws.sns.Topic("events-topic", {name}tags=tags, opts=child)\n'
        "        self.register_outputs(",
    )
    edit(
        storage / "storage_layer.py",
        '    context.export("bucket_name", layer.bucket.bucket)\n',
        '    context.export("bucket_name", layer.bucket.bucket)\n'
        '    context.export("events_topic_arn", layer.events_topic.arn)\n',
    )
    edit(
        storage / "layer.yaml",
        "exports:\n",
        "exports:\n"
        "  events_topic_arn:\n"
        "    description: where storage announces new raw data\n"
        '    example: "arn:aws:sns:us-east-1:123456789012:{env}-events-topic"\n',
    )


def test_a_new_resource_and_export_in_storage_read_in_compute_renders_and_checks(
    copy: LayerGraph,
) -> None:
    add_events_topic_to_storage(copy)
    edit(
        copy.get("compute").directory / "compute_layer.py",
        '"ENVIRONMENT": context.environment,',
        '"ENVIRONMENT": context.environment,\n'
        '                    "EVENTS_TOPIC_ARN": storage.require("events_topic_arn"),',
    )
    graph = load_graph(copy.projects_dir)
    report = run_check(graph)
    assert report.ok, "\n".join(map(str, report.findings))
    for environment in ("dev", "prod"):
        topic = report.rendered[environment]["storage"].named("events-topic")
        assert topic["name"] == f"{environment}-events-topic"
        assert topic["tags"]["Layer"] == "storage"
        function = report.rendered[environment]["compute"].one("aws:lambda/function:Function")
        assert function["environment"]["variables"]["EVENTS_TOPIC_ARN"] == (
            f"arn:aws:sns:us-east-1:{MOCK_ACCOUNT_ID}:{environment}-events-topic"
        )


def test_a_new_resource_type_is_held_to_the_naming_rule_without_an_edit_in_shared(
    copy: LayerGraph,
) -> None:
    add_events_topic_to_storage(copy, named=False)
    report = run_check(load_graph(copy.projects_dir))
    unnamed = [f for f in report.findings if f.check == "policy" and f.resource == "events-topic"]
    assert {f.environment for f in unnamed} == {"dev", "staging", "prod"}
    assert all(
        f.input == "name" and f.message.startswith("not set: AWS would get") for f in unnamed
    )


def test_reading_an_export_the_upstream_does_not_declare_fails_offline_naming_both(
    copy: LayerGraph,
) -> None:
    edit(
        copy.get("compute").directory / "compute_layer.py",
        'storage.require("bucket_arn")',
        'storage.require("events_topic_arn")',
    )
    with pytest.raises(SettingsError) as raised:
        render_stack("compute", "dev", graph=load_graph(copy.projects_dir))
    assert str(raised.value).startswith(
        "layer 'compute' reads export 'events_topic_arn' of layer 'storage', which "
        "projects/storage/layer.yaml does not declare; it declares: bucket_name, bucket_arn,"
    )


def test_exporting_an_undeclared_key_fails_naming_the_manifest(copy: LayerGraph) -> None:
    edit(
        copy.get("storage").directory / "storage_layer.py",
        '    context.export("bucket_name", layer.bucket.bucket)\n',
        '    context.export("bucket_name", layer.bucket.bucket)\n'
        '    context.export("bucket_domain", layer.bucket.bucket_domain_name)\n',
    )
    with pytest.raises(SettingsError, match="layer 'storage' exports 'bucket_domain', which "):
        render_stack("storage", "dev", graph=load_graph(copy.projects_dir))


def test_a_declared_export_the_program_does_not_publish_fails_the_contract_check(
    copy: LayerGraph,
) -> None:
    edit(
        copy.get("storage").directory / "storage_layer.py",
        '    context.export("dead_letter_queue_url", layer.dead_letter_queue.url)\n',
        "",
    )
    report = run_check(load_graph(copy.projects_dir))
    contract = [f for f in report.findings if f.check == "contract"]
    assert {(f.layer, f.environment) for f in contract} == {
        ("storage", env) for env in ("dev", "staging", "prod")
    }
    assert "declares export 'dead_letter_queue_url', which the dev program does not export" in (
        next(f.message for f in contract if f.environment == "dev")
    )


def test_an_export_of_another_type_than_its_example_breaks_the_contract(graph: LayerGraph) -> None:
    stack = render_stack("iam", "dev", graph=graph)
    stack.exports["dev_tracing"] = "false"
    assert contract_violations(graph.get("iam"), stack) == [
        "export 'tracing' is a str ('false'), but projects/iam/layer.yaml gives a bool "
        "example (False)"
    ]


def test_a_layer_renders_alone_its_references_answered_from_the_upstream_contracts(
    graph: LayerGraph,
) -> None:
    stack = render_stack("compute", "dev", graph=graph)  # no upstream rendered
    iam_examples = contract_exports(graph.get("iam"), "dev")
    function = stack.one("aws:lambda/function:Function")
    assert function["name"] == iam_examples["dev_validator_function_name"]
    assert function["role"] == iam_examples["dev_role_arn"]
    assert stack.exports["dev_function_name"] == "dev-validator-function"


def test_every_contract_example_is_what_the_program_renders(rendered: dict) -> None:
    """The examples are not decoration: rendered offline, each export is its example, except
    an export the layer declares as a knob (its value differs per environment by design)."""
    graph = load_graph()
    for environment, stacks in rendered.items():
        for layer in graph:
            knobs = {knob.input.replace("{env}", environment) for knob in layer.knobs}
            expected = {
                key: value
                for key, value in contract_exports(layer, environment).items()
                if f"exports.{key}" not in knobs
            }
            actual = {
                key: value for key, value in stacks[layer.name].exports.items() if key in expected
            }
            assert actual == expected, (layer.name, environment)


@pytest.mark.parametrize(
    ("type_token", "name", "arn", "physical_id"),
    [
        ("aws:sns/topic:Topic", "dev-a-b", "arn:aws:sns:eu-west-1:123456789012:dev-a-b", "{arn}"),
        ("aws:s3/bucket:Bucket", "dev-a-b", "arn:aws:s3:::dev-a-b", "dev-a-b"),
        (
            "aws:kinesis/stream:Stream",  # in no table: the generic rule
            "dev-a-b",
            "arn:aws:kinesis:eu-west-1:123456789012:stream/dev-a-b",
            "dev-a-b",
        ),
    ],
)
def test_mock_answers_follow_one_rule_and_a_small_table(
    type_token: str, name: str, arn: str, physical_id: str
) -> None:
    key = physical_name_input(type_token)
    assert key is not None
    resource_id, state = mock_state(type_token, "logical", {key: name}, "eu-west-1")
    assert state["arn"] == arn
    assert resource_id == physical_id.replace("{arn}", arn)


def test_names_and_tags_are_read_from_the_provider_classes() -> None:
    assert physical_name_input("aws:s3/bucket:Bucket") == "bucket"
    assert physical_name_input("aws:cloudwatch/dashboard:Dashboard") == "dashboardName"
    assert physical_name_input("aws:lambda/permission:Permission") is None
    assert accepts_tags("aws:sns/topic:Topic") and not accepts_tags(
        "aws:s3/bucketPolicy:BucketPolicy"
    )


# -- only public Pulumi APIs -----------------------------------------------------------------

CODE = [
    path
    for folder in ("shared", "projects", "tests", "benchmarks", "policies")
    for path in (REPO_ROOT / folder).rglob("*.py")
    if ".venv" not in path.parts
] + [REPO_ROOT / "tasks.py"]


def private_pulumi_names(path: Path) -> list[str]:
    """Underscore-prefixed names imported from, or reached through, pulumi or pulumi_aws."""
    tree = ast.parse(path.read_text())
    found = []
    pulumi_aliases = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in (
            "pulumi",
            "pulumi_aws",
        ):
            parts = (node.module or "").split(".")
            found += [f"{node.module}" for part in parts if part.startswith("_")]
            found += [
                f"{node.module}.{alias.name}" for alias in node.names if alias.name.startswith("_")
            ]
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in ("pulumi", "pulumi_aws"):
                    pulumi_aliases.add(alias.asname or alias.name.split(".")[0])
                    found += [alias.name for part in alias.name.split(".") if part.startswith("_")]
    source = path.read_text()
    for alias in pulumi_aliases:
        found += re.findall(rf"\b{re.escape(alias)}(?:\.\w+)*\._\w+", source)
    return found


def test_no_private_pulumi_names_anywhere() -> None:
    assert CODE
    offenders = {
        str(path.relative_to(REPO_ROOT)): names
        for path in CODE
        if (names := private_pulumi_names(path))
    }
    assert offenders == {}


def test_the_private_name_finder_finds_them(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import pulumi\nfrom pulumi.runtime.sync_await import _sync_await\n"
        "pulumi.runtime.settings._get_rpc_manager()\n"
    )
    assert private_pulumi_names(sample) == [
        "pulumi.runtime.sync_await._sync_await",
        "pulumi.runtime.settings._get_rpc_manager",
    ]
