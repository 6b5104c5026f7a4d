"""The policy pack Pulumi runs (policies/): its entry point builds one PolicyPack of every rule,
its project file is one the CLI reads, and through pulumi-policy's own argument types it reports
exactly what the offline runner reports, without tripping on values unknown until deploy.

Nothing here starts the pack's gRPC server: the entry point runs with PolicyPack replaced by a
recorder and grpc.server refused. Nothing here ran against the real Pulumi CLI.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import re
import runpy
from collections.abc import Sequence
from typing import Any

import grpc
import pulumi_policy
import pulumi_policy.policy
import pytest
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import (
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_STRING_VALUE,
    UnknownValueError,
    unknown_checking_proxy,
)

from policies.crossguard import (
    PACK_NAME,
    Repository,
    engine_config,
    known_props,
    pack_policies,
    stack_and_project,
)
from policies.rules import BUCKET, RULES, UNKNOWN, Resource, ResourceRule
from shared.environments import environments
from shared.harness import RenderedStack
from shared.layers import REPO_ROOT, LayerGraph, load_yaml
from shared.policy import policy_violations, stack_resources

Rendered = dict[str, dict[str, RenderedStack]]
PACK_DIR = REPO_ROOT / "policies"
# The attributes "Policy pack project file reference" documents for a Python pack.
DOCUMENTED_KEYS = {"runtime", "version", "main", "description", "author", "website", "license"}
DOCUMENTED_PYTHON_OPTIONS = {"virtualenv"}


# --------------------------------------------------------------------------- the entry point
def test_the_entry_point_builds_its_pack_only_through_the_name_the_tests_replace() -> None:
    """``from pulumi_policy import PolicyPack``, called once, and no other import of the SDK:
    that is the name ``built_pack`` replaces, so running the entry point here starts nothing."""
    tree = ast.parse((PACK_DIR / "__main__.py").read_text())
    pack_imports = [
        (node.module, alias.asname)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
        if alias.name == "PolicyPack"
    ]
    assert pack_imports == [("pulumi_policy", None)]
    assert not [node for node in ast.walk(tree) if isinstance(node, ast.Import)]
    calls = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "PolicyPack"
    ]
    assert len(calls) == 1


def refuse_server(*args: Any, **kwargs: Any) -> None:
    raise AssertionError("a test tried to start the policy pack's gRPC server")


@pytest.fixture
def built_pack(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """What policies/__main__.py passes to PolicyPack, run with PolicyPack recorded."""
    built: list[dict[str, Any]] = []

    class RecordedPack:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            assert not args, "PolicyPack is called with keywords"
            built.append(kwargs)

    monkeypatch.setattr(pulumi_policy, "PolicyPack", RecordedPack)
    monkeypatch.setattr(pulumi_policy.policy, "PolicyPack", RecordedPack)
    monkeypatch.setattr(grpc, "server", refuse_server)
    runpy.run_path(str(PACK_DIR), run_name="__main__")
    [kwargs] = built
    return kwargs


def test_the_pack_holds_every_rule_at_its_level(built_pack: dict[str, Any]) -> None:
    assert built_pack["name"] == PACK_NAME
    assert re.fullmatch(r"[a-zA-Z0-9._-]{1,100}", PACK_NAME)  # what PolicyPack accepts
    policies = built_pack["policies"]
    assert [policy.name for policy in policies] == [rule.name for rule in RULES]
    for policy, rule in zip(policies, RULES, strict=True):
        kind = ResourceValidationPolicy if isinstance(rule, ResourceRule) else StackValidationPolicy
        assert type(policy) is kind, rule.name
        assert policy.enforcement_level is rule.enforcement, rule.name
        assert policy.description == rule.description


def test_the_pack_reads_this_repositorys_environments_and_layers(
    built_pack: dict[str, Any], graph: LayerGraph
) -> None:
    reports: list[tuple[str, str | None]] = []
    tags_policy = built_pack["policies"][0]
    assert tags_policy.name == "required-tags"
    layer = graph.names[-1]
    project = graph.get(layer).project
    environment = environments(graph)[-1]
    tags = {"Environment": environment, "Project": "p", "Layer": layer, "ManagedBy": "pulumi"}
    queue = engine_args("aws:sqs/queue:Queue", "q", {"tags": tags}, environment, project)
    tags_policy.validate(queue, lambda message, urn=None: reports.append((message, urn)))
    assert reports == []
    wrong = engine_args("aws:sqs/queue:Queue", "q", {"tags": tags}, "someother", project)
    tags_policy.validate(wrong, lambda message, urn=None: reports.append((message, urn)))
    assert reports == [(f"tags.Environment: is '{environment}', expected 'someother'", None)]


# --------------------------------------------------------------------------- PulumiPolicy.yaml
def test_the_project_file_uses_only_documented_keys_and_the_repository_virtualenv(
    graph: LayerGraph,
) -> None:
    document = load_yaml(PACK_DIR / "PulumiPolicy.yaml")
    assert set(document) <= DOCUMENTED_KEYS
    runtime = document["runtime"]
    assert runtime["name"] == "python"
    assert set(runtime["options"]) <= DOCUMENTED_PYTHON_OPTIONS
    assert re.fullmatch(r"\d+\.\d+\.\d+", document["version"])
    assert "main" not in document  # the folder itself, with its __main__.py
    assert (PACK_DIR / "__main__.py").is_file()
    # The pack runs in the very virtualenv every layer's program runs in.
    pack_venv = (PACK_DIR / runtime["options"]["virtualenv"]).resolve()
    assert pack_venv == REPO_ROOT / ".venv"
    for layer in graph:
        program = load_yaml(layer.directory / "Pulumi.yaml")
        assert (
            layer.directory / program["runtime"]["options"]["virtualenv"]
        ).resolve() == pack_venv
    assert not (PACK_DIR / "requirements.txt").exists()  # requirements.lock installs the SDK


# --------------------------------------------------------------------------- engine-shaped input
def engine_options(parent: str | None = None) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=False,
        ignore_changes=[],
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
        parent=parent,
    )


def urn_of(type_token: str, name: str, stack: str = "dev", project: str = "demo-project") -> str:
    return f"urn:pulumi:{stack}::{project}::{type_token}::{name}"


def engine_args(
    type_token: str,
    name: str,
    props: dict[str, Any],
    stack: str = "dev",
    project: str = "demo-project",
    *,
    urn: str | None = None,
    parent: str | None = None,
) -> ResourceValidationArgs:
    """ResourceValidationArgs as the SDK builds them, props behind its unknown-checking proxy."""
    return ResourceValidationArgs(
        resource_type=type_token,
        props=unknown_checking_proxy(props),
        urn=urn or urn_of(type_token, name, stack, project),
        name=name,
        opts=engine_options(parent),
        provider=None,
    )


def engine_stack(resources: Sequence[Resource]) -> StackValidationArgs:
    """StackValidationArgs as the SDK builds them: PolicyResources linked to their parent and
    dependencies, props behind the unknown-checking proxy."""
    linked = {
        each.urn: PolicyResource(
            resource_type=each.type,
            props=unknown_checking_proxy(dict(each.props)),
            urn=each.urn,
            name=each.name,
            opts=engine_options(each.parent),
            provider=None,
            parent=None,
            dependencies=[],
            property_dependencies={},
        )
        for each in resources
    }
    for each in resources:
        linked[each.urn].parent = linked.get(each.parent) if each.parent else None
        linked[each.urn].dependencies = [linked[urn] for urn in each.dependencies if urn in linked]
    return StackValidationArgs(list(linked.values()))


def synthetic(type_token: str, name: str, props: dict[str, Any], *dependencies: str) -> Resource:
    return Resource(urn_of(type_token, name), type_token, name, props, None, dependencies)


def synthetic_repository() -> Repository:
    return Repository({"demo-project": "demo"}, ("dev", "staging", "prod"), {}.get)


def policy(name: str, repository: Repository | None = None) -> Any:
    policies = pack_policies(RULES, repository or synthetic_repository())
    [found] = [each for each in policies if each.name == name]
    return found


def reported(policy_: Any, args: Any) -> list[tuple[str, str | None]]:
    reports: list[tuple[str, str | None]] = []
    policy_.validate(args, lambda message, urn=None: reports.append((message, urn)))
    return reports


def test_the_sdk_proxy_raises_on_unknown_values_which_known_props_replaces() -> None:
    props = unknown_checking_proxy(
        {
            "name": UNKNOWN_STRING_VALUE,
            "tags": {"Environment": "dev", "Project": UNKNOWN_STRING_VALUE},
            "rules": [{"enabled": UNKNOWN_BOOLEAN_VALUE}, {"enabled": True}],
            "retentionInDays": 7.0,
        }
    )
    with pytest.raises(UnknownValueError):
        props["name"]
    assert known_props(props) == {
        "name": UNKNOWN,
        "tags": {"Environment": "dev", "Project": UNKNOWN},
        "rules": [{"enabled": UNKNOWN}, {"enabled": True}],
        "retentionInDays": 7,
    }


def test_a_resource_policy_reports_input_and_message_and_skips_unknowns() -> None:
    tags = {"Environment": "dev", "Project": UNKNOWN_STRING_VALUE, "Layer": "storage"}
    queue = engine_args("aws:sqs/queue:Queue", "dlq", {"tags": tags, "name": UNKNOWN_STRING_VALUE})
    assert reported(policy("required-tags"), queue) == [
        ("tags.ManagedBy: required tag ManagedBy is missing", None),
        ("tags.Layer: is 'storage', expected 'demo'", None),
    ]
    assert reported(policy("physical-names"), queue) == []
    unknown = engine_args("aws:iam/policy:Policy", "p", {"policy": UNKNOWN_STRING_VALUE})
    assert reported(policy("iam-least-privilege"), unknown) == []
    wildcard = json.dumps({"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})
    document = engine_args("aws:iam/policy:Policy", "p", {"policy": wildcard})
    assert reported(policy("iam-least-privilege"), document) == [
        ("policy.Statement[0]: wildcard action 's3:*'", None),
        ("policy.Statement[0]: Resource \"*\" for ['s3:*']: only X-Ray writes may use it", None),
    ]


def test_the_tracing_policy_reads_the_stack_config_the_cli_hands_the_pack(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps({"pipeline:tracing": "true"}))
    assert engine_config("pipeline:tracing") == "true"
    assert engine_config("pipeline:absent") is None
    repository = dataclasses.replace(synthetic_repository(), read_config=engine_config)
    function = engine_args(
        "aws:lambda/function:Function", "fn", {"tracingConfig": {"mode": "PassThrough"}}
    )
    assert reported(policy("lambda-tracing", repository), function) == [
        ("tracingConfig.mode: is 'PassThrough', pipeline:tracing says 'Active'", None)
    ]


def test_a_stack_policy_reports_against_the_resource_at_fault() -> None:
    group = synthetic("aws:cloudwatch/logGroup:LogGroup", "logs", {"name": "/aws/lambda/dev-fn"})
    logging = {"loggingConfig": {"logGroup": "/aws/lambda/dev-fn"}}
    exports = {"dev_fn": "x", "fn_arn": UNKNOWN_STRING_VALUE}
    args = engine_stack(
        [
            synthetic("pulumi:pulumi:Stack", "demo-project-dev", exports),
            group,
            synthetic("aws:lambda/function:Function", "fn", logging),
            synthetic("aws:lambda/function:Function", "ok", logging, group.urn),
        ]
    )
    assert reported(policy("lambda-log-group"), args) == [
        (
            "dependsOn: must depend on its log group logs",
            urn_of("aws:lambda/function:Function", "fn"),
        )
    ]
    assert reported(policy("export-keys"), args) == [
        (
            "exports.fn_arn: export keys must start with 'dev_'",
            urn_of("pulumi:pulumi:Stack", "demo-project-dev"),
        )
    ]


def test_a_stack_policy_cannot_tell_a_bucket_with_an_unknown_flag_yet() -> None:
    flags = {"blockPublicAcls": UNKNOWN_BOOLEAN_VALUE, "blockPublicPolicy": True}
    flags |= {"ignorePublicAcls": True, "restrictPublicBuckets": True}
    args = engine_stack(
        [
            synthetic("aws:s3/bucket:Bucket", "raw", {"bucket": "dev-raw-bucket"}),
            synthetic(
                "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
                "raw-pab",
                {"bucket": "dev-raw-bucket", **flags},
            ),
        ]
    )
    messages = [message for message, _ in reported(policy("s3-bucket-security"), args)]
    assert messages == [
        "versioning: bucket versioning must be Enabled",
        "encryption: default server-side encryption must be configured",
        "ownershipControls: ACLs must be disabled (BucketOwnerEnforced)",
        "policy: a bucket policy must deny requests not made over TLS",
    ]


# --------------------------------------------------------------------------- the environment
def test_the_environment_and_layer_come_from_the_urn_and_the_repository(
    graph: LayerGraph,
) -> None:
    repository = Repository.load(graph)
    assert repository.environments == tuple(environments(graph))
    for layer in graph:
        for environment in environments(graph):
            context = repository.context_for(
                urn_of("aws:sqs/queue:Queue", "q", environment, layer.project)
            )
            assert (context.environment, context.layer) == (environment, layer.name)
            assert environment not in context.other_environments
    assert (
        repository.context_for(urn_of("aws:sqs/queue:Queue", "q", "dev", "elsewhere")).layer is None
    )


def test_a_urn_is_read_as_stack_and_project_or_refused() -> None:
    urn = "urn:pulumi:prod::rawdata-iam::rawdata:layers:Iam$aws:iam/policy:Policy::a::b"
    assert stack_and_project(urn) == ("prod", "rawdata-iam")
    with pytest.raises(ValueError, match="is not a Pulumi URN"):
        stack_and_project("arn:aws:s3:::dev-rawdata-bucket")


# --------------------------------------------------------------------------- one rule set, two runners
def pack_reports(stack: RenderedStack, repository: Repository) -> list[tuple[str, str]]:
    """(policy, message) for everything the pack reports on a rendered stack, given what the
    engine would give it: each resource's inputs, then the whole stack, root included."""
    found: list[tuple[str, str]] = []
    for each in pack_policies(RULES, repository):

        def report(message: str, urn: str | None = None, name: str = each.name) -> None:
            found.append((name, message))

        if isinstance(each, ResourceValidationPolicy):
            for resource in stack:
                args = engine_args(
                    resource.type,
                    resource.name,
                    resource.inputs,
                    urn=resource.urn,
                    parent=resource.parent,
                )
                each.validate(args, report)
        else:
            each.validate(engine_stack(stack_resources(stack)), report)
    return found


def offline_reports(stack: RenderedStack, environments_: Sequence[str]) -> list[tuple[str, str]]:
    return [
        (violation.rule, f"{violation.input}: {violation.message}")
        for violation in policy_violations(stack, environments_)
    ]


def test_the_pack_passes_every_rendered_stack_as_check_does(
    rendered: Rendered, graph: LayerGraph
) -> None:
    for stacks in rendered.values():
        for stack in stacks.values():
            repository = Repository.load(graph, read_config=stack.config.get)
            assert pack_reports(stack, repository) == []


def test_the_pack_and_check_report_the_same_violations_of_a_broken_stack(
    rendered: Rendered, graph: LayerGraph
) -> None:
    environment = list(rendered)[-1]
    stack = next(each for each in rendered[environment].values() if each.of_type(BUCKET))
    [bucket] = stack.of_type(BUCKET)
    [versioning] = stack.of_type("aws:s3/bucketVersioning:BucketVersioning")
    tags = {key: value for key, value in bucket["tags"].items() if key != "Project"}
    edits = {
        bucket.name: {"tags": tags, "bucket": "rawdata"},
        versioning.name: {"versioningConfiguration": {"status": "Suspended"}},
    }
    resources = [
        dataclasses.replace(each, inputs={**each.inputs, **edits.get(each.name, {})})
        for each in stack
    ]
    broken = dataclasses.replace(
        stack, resources=resources, exports={**stack.exports, "bucket": "rawdata"}
    )
    repository = Repository.load(graph, read_config=broken.config.get)
    offline = offline_reports(broken, environments(graph))
    assert sorted(pack_reports(broken, repository)) == sorted(offline)
    assert {rule for rule, _ in offline} == {
        "required-tags",
        "physical-names",
        "s3-bucket-security",
        "export-keys",
    }


# --------------------------------------------------------------------------- public API only
def test_the_pack_uses_no_underscore_name_of_pulumi_policy() -> None:
    files = [*PACK_DIR.rglob("*.py"), REPO_ROOT / "shared" / "policy.py"]
    offenders = []
    for path in files:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pulumi_policy"):
                parts = [*(node.module or "").split("."), *(alias.name for alias in node.names)]
                offenders += [f"{path.name}: {part}" for part in parts if part.startswith("_")]
            if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
                offenders.append(f"{path.name}: .{node.attr}")
    assert offenders == []
