"""The policy pack's rules (policies/rules.py): each passes a sound resource and names the exact
fault of a broken one; none reports a value that is unknown until deploy; every rendered stack
of every environment passes every rule, and the rules bite on those same stacks once broken.

The synthetic resources are engine-shaped (camelCase wire names), as the pack receives them.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Sequence
from typing import Any

import pytest

from policies.rules import (
    BUCKET,
    FUNCTION,
    LOG_GROUP,
    RULES,
    UNKNOWN,
    Resource,
    ResourceRule,
    StackContext,
)
from shared.aws_resources import accepts_tags, aws_format, physical_name_input
from shared.consistency.check import POLICY, CheckReport
from shared.harness import RenderedStack
from shared.layers import LayerGraph
from shared.policy import policy_violations, stack_resources
from shared.text import Painter

Rendered = dict[str, dict[str, RenderedStack]]
RULE = {rule.name: rule for rule in RULES}
# Synthetic stacks: a layer "demo" of project "demo-project", three environments.
ENVIRONMENTS = ("dev", "staging", "prod")
QUEUE = "aws:sqs/queue:Queue"
TABLE = "aws:dynamodb/table:Table"
IAM_POLICY = "aws:iam/policy:Policy"
ROLE = "aws:iam/role:Role"
TAGS = {"Environment": "dev", "Project": "rawdata-pipeline", "Layer": "demo", "ManagedBy": "pulumi"}


def context(environment: str = "dev", layer: str | None = "demo", **config: str) -> StackContext:
    return StackContext(
        environment, layer, ENVIRONMENTS, {f"pipeline:{k}": v for k, v in config.items()}.get
    )


def resource(
    type_token: str, logical_name: str, /, dependencies: Sequence[str] = (), **props: Any
) -> Resource:
    """A synthetic resource of the stack dev of project demo-project; ``props`` as the engine
    names them (``name`` included)."""
    return Resource(
        urn=f"urn:pulumi:dev::demo-project::{type_token}::{logical_name}",
        type=type_token,
        name=logical_name,
        props=props,
        dependencies=tuple(dependencies),
    )


def found(
    rule_name: str, subject: Resource | list[Resource], ctx: StackContext | None = None
) -> list[str]:
    """What one rule reports, as "<resource> <input>: <message>"."""
    rule = RULE[rule_name]
    ctx = ctx or context()
    if isinstance(rule, ResourceRule):
        assert isinstance(subject, Resource)
        violations = rule.violations(subject, ctx)
    else:
        assert isinstance(subject, list)
        violations = rule.violations(subject, ctx)
    return [f"{v.resource.name} {v.input}: {v.message}" for v in violations]


def test_every_rule_has_a_unique_name_a_level_and_a_reason() -> None:
    assert len(RULE) == len(RULES)
    for rule in RULES:
        assert rule.enforcement.value in ("mandatory", "advisory"), rule.name
        assert f"{rule.enforcement.value.capitalize()}:" in rule.description, rule.name


def test_the_dangerous_rules_are_mandatory_and_the_smells_advisory() -> None:
    levels = {rule.name: rule.enforcement.value for rule in RULES}
    assert levels == {
        "required-tags": "mandatory",
        "physical-names": "advisory",
        "iam-least-privilege": "mandatory",
        "iam-environment-isolation": "mandatory",
        "s3-bucket-security": "mandatory",
        "lambda-log-group": "advisory",
        "log-retention": "advisory",
        "lambda-tracing": "advisory",
        "export-keys": "advisory",
    }


# --------------------------------------------------------------------------- required-tags
def test_required_tags_pass_when_all_four_are_right() -> None:
    assert found("required-tags", resource(QUEUE, "dlq", tags=TAGS)) == []


def test_required_tags_name_each_missing_and_each_wrong_tag() -> None:
    queue = resource(QUEUE, "dlq", tags={"Environment": "prod", "Layer": "other"})
    assert found("required-tags", queue) == [
        "dlq tags.Project: required tag Project is missing",
        "dlq tags.ManagedBy: required tag ManagedBy is missing",
        "dlq tags.Environment: is 'prod', expected 'dev'",
        "dlq tags.Layer: is 'other', expected 'demo'",
    ]
    assert found("required-tags", resource(QUEUE, "dlq")) == [
        f"dlq tags.{key}: required tag {key} is missing"
        for key in ("Environment", "Project", "Layer", "ManagedBy")
    ]


def test_required_tags_compare_the_layer_only_for_a_project_that_is_a_layer() -> None:
    queue = resource(QUEUE, "dlq", tags={**TAGS, "Layer": "anything"})
    assert found("required-tags", queue, context(layer=None)) == []


def test_required_tags_apply_to_the_types_that_take_tags_read_from_the_provider() -> None:
    rule = RULE["required-tags"]
    assert isinstance(rule, ResourceRule)
    assert rule.applies_to(BUCKET) and rule.applies_to(FUNCTION)
    assert not rule.applies_to("aws:s3/bucketVersioning:BucketVersioning")
    assert not rule.applies_to("aws:lambda/permission:Permission")
    assert not rule.applies_to("rawdata:layers:Storage")  # a component: Pulumi's, untagged
    assert found("required-tags", resource("aws:lambda/permission:Permission", "allow")) == []


def test_required_tags_skip_what_is_unknown_and_judge_the_rest() -> None:
    assert found("required-tags", resource(QUEUE, "dlq", tags=UNKNOWN)) == []
    tags = {**TAGS, "Project": UNKNOWN, "Environment": UNKNOWN, "Layer": "storage"}
    assert found("required-tags", resource(QUEUE, "dlq", tags=tags)) == [
        "dlq tags.Layer: is 'storage', expected 'demo'"
    ]


# --------------------------------------------------------------------------- physical-names
def test_physical_names_pass_on_the_convention_and_after_an_aws_prefix() -> None:
    assert found("physical-names", resource(BUCKET, "raw", bucket="dev-rawdata-bucket")) == []
    group = resource(LOG_GROUP, "logs", name="/aws/lambda/dev-validator-function")
    assert found("physical-names", group) == []


def test_physical_names_name_a_name_off_the_convention() -> None:
    assert found("physical-names", resource(TABLE, "table", name="metadata")) == [
        "table name: 'metadata' does not follow {environment}-{service}-{resource}"
    ]
    assert found("physical-names", resource(TABLE, "table", name="prod-metadata-table")) == [
        "table name: 'prod-metadata-table' does not follow {environment}-{service}-{resource}"
    ]
    # A prefix is allowed only where AWS imposes it.
    queue = resource(QUEUE, "dlq", name="/aws/lambda/dev-validator-dlq")
    assert found("physical-names", queue) == [
        "dlq name: '/aws/lambda/dev-validator-dlq' does not follow "
        "{environment}-{service}-{resource}"
    ]


def test_physical_names_name_a_resource_left_to_auto_naming() -> None:
    assert found("physical-names", resource(BUCKET, "raw")) == [
        "raw bucket: not set: AWS would get an auto-generated name; set it by "
        "{environment}-{service}-{resource}"
    ]


def test_physical_names_skip_an_unknown_name() -> None:
    assert found("physical-names", resource(TABLE, "table", name=UNKNOWN)) == []


# --------------------------------------------------------------------------- IAM documents
def iam_policy(*statements: dict[str, Any], as_json: bool = True) -> Resource:
    document = {"Version": "2012-10-17", "Statement": list(statements)}
    return resource(IAM_POLICY, "policy", policy=json.dumps(document) if as_json else document)


READ = {
    "Sid": "Read",
    "Effect": "Allow",
    "Action": ["s3:GetObject"],
    "Resource": "arn:aws:s3:::dev-rawdata-bucket/*",
}
TRACES = {
    "Sid": "Traces",
    "Effect": "Allow",
    "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
    "Resource": "*",
}
TRUST = {
    "Effect": "Allow",
    "Principal": {"Service": "lambda.amazonaws.com"},
    "Action": "sts:AssumeRole",
}


def test_least_privilege_passes_named_actions_on_named_resources_and_xray_on_star() -> None:
    assert found("iam-least-privilege", iam_policy(READ, TRACES)) == []
    role = resource(ROLE, "role", assumeRolePolicy=json.dumps({"Statement": [TRUST]}))
    assert found("iam-least-privilege", role) == []


def test_least_privilege_names_wildcards_not_action_and_star_resources() -> None:
    document = iam_policy(
        {**READ, "Action": ["s3:GetObject", "s3:*", "s3:Get?bject"]},
        {"Sid": "Everything", "Effect": "Allow", "NotAction": "iam:*", "Resource": "*"},
        {**TRACES, "Action": ["xray:PutTraceSegments", "dynamodb:PutItem"]},
        {"Effect": "Deny", "Action": "*", "Resource": "*"},  # a deny grants nothing
    )
    assert found("iam-least-privilege", document) == [
        "policy policy.Statement[Read]: wildcard action 's3:*'",
        "policy policy.Statement[Read]: wildcard action 's3:Get?bject'",
        "policy policy.Statement[Everything]: NotAction/NotResource grant more than they name",
        "policy policy.Statement[Traces]: Resource \"*\" for ['dynamodb:PutItem']: only X-Ray "
        "writes may use it",
    ]


def test_least_privilege_names_a_document_that_is_not_one() -> None:
    broken = resource(IAM_POLICY, "policy", policy="{not json")
    assert found("iam-least-privilege", broken) == [
        "policy policy: is not an IAM policy document (a JSON object)"
    ]


def test_least_privilege_judges_only_iam_documents() -> None:
    bucket_policy = resource(
        "aws:s3/bucketPolicy:BucketPolicy",
        "tls-only",
        policy=json.dumps({"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}),
    )
    assert found("iam-least-privilege", bucket_policy) == []


def test_least_privilege_skips_unknown_documents_and_unknown_actions() -> None:
    assert found("iam-least-privilege", resource(IAM_POLICY, "policy", policy=UNKNOWN)) == []
    document = iam_policy({**READ, "Action": [UNKNOWN, "s3:*"], "Resource": "*"}, as_json=False)
    assert found("iam-least-privilege", document) == [
        "policy policy.Statement[Read]: wildcard action 's3:*'",
        "policy policy.Statement[Read]: Resource \"*\" for ['s3:*']: only X-Ray writes may use it",
    ]


def test_environment_isolation_passes_own_environment_arns() -> None:
    assert found("iam-environment-isolation", iam_policy(READ, TRACES)) == []


def test_environment_isolation_names_another_environments_arn_and_one_of_no_environment() -> None:
    prod_table = "arn:aws:dynamodb:us-east-1:123456789012:table/prod-metadata-table"
    shared = "arn:aws:s3:::shared-artifacts"
    document = iam_policy({**READ, "Resource": [READ["Resource"], prod_table, shared]})
    assert found("iam-environment-isolation", document) == [
        f"policy policy.Statement[Read]: {prod_table} belongs to environment 'prod'",
        f"policy policy.Statement[Read]: {prod_table} is not a resource of environment 'dev'",
        f"policy policy.Statement[Read]: {shared} is not a resource of environment 'dev'",
    ]


def test_environment_isolation_leaves_trust_policies_and_unknown_arns_alone() -> None:
    role = resource(ROLE, "role", assumeRolePolicy=json.dumps({"Statement": [TRUST]}))
    assert found("iam-environment-isolation", role) == []
    document = iam_policy({**READ, "Resource": [UNKNOWN, READ["Resource"]]}, as_json=False)
    assert found("iam-environment-isolation", document) == []


# --------------------------------------------------------------------------- s3-bucket-security
def protected_bucket(name: str = "dev-rawdata-bucket") -> list[Resource]:
    tls_only = {
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [f"arn:aws:s3:::{name}"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ]
    }
    return [
        resource(BUCKET, "raw", bucket=name),
        resource(
            "aws:s3/bucketVersioning:BucketVersioning",
            "raw-versioning",
            bucket=name,
            versioningConfiguration={"status": "Enabled"},
        ),
        resource(
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
            "raw-public-access-block",
            bucket=name,
            blockPublicAcls=True,
            blockPublicPolicy=True,
            ignorePublicAcls=True,
            restrictPublicBuckets=True,
        ),
        resource(
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            "raw-encryption",
            bucket=name,
            rules=[{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}],
        ),
        resource(
            "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
            "raw-ownership",
            bucket=name,
            rule={"objectOwnership": "BucketOwnerEnforced"},
        ),
        resource(
            "aws:s3/bucketPolicy:BucketPolicy",
            "raw-tls-only",
            bucket=name,
            policy=json.dumps(tls_only),
        ),
    ]


def edited(resources: list[Resource], name: str, **props: Any) -> list[Resource]:
    return [
        dataclasses.replace(each, props={**each.props, **props}) if each.name == name else each
        for each in resources
    ]


def without(resources: list[Resource], name: str) -> list[Resource]:
    return [each for each in resources if each.name != name]


MISSING_GUARD = {
    "raw-versioning": "raw versioning: bucket versioning must be Enabled",
    "raw-public-access-block": "raw publicAccessBlock: all of blockPublicAcls, blockPublicPolicy, "
    "ignorePublicAcls, restrictPublicBuckets must be true",
    "raw-encryption": "raw encryption: default server-side encryption must be configured",
    "raw-ownership": "raw ownershipControls: ACLs must be disabled (BucketOwnerEnforced)",
    "raw-tls-only": "raw policy: a bucket policy must deny requests not made over TLS",
}


def test_bucket_security_passes_a_fully_protected_bucket() -> None:
    assert found("s3-bucket-security", protected_bucket()) == []


@pytest.mark.parametrize("guard", MISSING_GUARD)
def test_bucket_security_names_each_missing_protection(guard: str) -> None:
    assert found("s3-bucket-security", without(protected_bucket(), guard)) == [MISSING_GUARD[guard]]


def test_bucket_security_names_each_weakened_protection() -> None:
    resources = edited(
        protected_bucket(), "raw-versioning", versioningConfiguration={"status": "Suspended"}
    )
    resources = edited(resources, "raw-public-access-block", restrictPublicBuckets=False)
    resources = edited(resources, "raw-ownership", rule={"objectOwnership": "ObjectWriter"})
    resources = edited(resources, "raw-tls-only", policy=json.dumps({"Statement": []}))
    assert found("s3-bucket-security", resources) == [
        MISSING_GUARD["raw-versioning"],
        MISSING_GUARD["raw-public-access-block"],
        MISSING_GUARD["raw-ownership"],
        MISSING_GUARD["raw-tls-only"],
    ]


def test_bucket_security_matches_protections_to_their_bucket_by_name() -> None:
    other = without(protected_bucket("dev-other-bucket"), "raw")
    assert found("s3-bucket-security", [protected_bucket()[0], *other]) == list(
        MISSING_GUARD.values()
    )


def test_bucket_security_skips_what_is_unknown_and_judges_the_rest() -> None:
    assert found("s3-bucket-security", edited(protected_bucket(), "raw", bucket=UNKNOWN)) == []
    resources = edited(protected_bucket(), "raw-versioning", versioningConfiguration=UNKNOWN)
    resources = edited(resources, "raw-ownership", rule={"objectOwnership": UNKNOWN})
    resources = edited(resources, "raw-tls-only", policy=UNKNOWN)
    assert found("s3-bucket-security", resources) == []
    # A guard whose bucket is unknown may be this bucket's: its absence cannot be told yet.
    resources = edited(protected_bucket(), "raw-encryption", bucket=UNKNOWN)
    assert found("s3-bucket-security", resources) == []
    # An unknown flag does not hide a known one that is false.
    resources = edited(
        protected_bucket(),
        "raw-public-access-block",
        restrictPublicBuckets=UNKNOWN,
        blockPublicAcls=False,
    )
    assert found("s3-bucket-security", resources) == [MISSING_GUARD["raw-public-access-block"]]
    resources = edited(protected_bucket(), "raw-public-access-block", restrictPublicBuckets=UNKNOWN)
    assert found("s3-bucket-security", resources) == []


# --------------------------------------------------------------------------- Lambda and logs
def function_and_group(
    *, depends: bool = True, group_name: str = "/aws/lambda/dev-validator-function"
) -> list[Resource]:
    group = resource(LOG_GROUP, "validator-log-group", name=group_name, retentionInDays=7)
    function = resource(
        FUNCTION,
        "validator-function",
        dependencies=[group.urn] if depends else [],
        loggingConfig={"logFormat": "JSON", "logGroup": "/aws/lambda/dev-validator-function"},
    )
    return [group, function]


def test_lambda_log_group_passes_a_function_depending_on_its_own_group() -> None:
    assert found("lambda-log-group", function_and_group()) == []


def test_lambda_log_group_names_a_missing_dependency_and_a_group_of_another_stack() -> None:
    assert found("lambda-log-group", function_and_group(depends=False)) == [
        "validator-function dependsOn: must depend on its log group validator-log-group"
    ]
    assert found("lambda-log-group", function_and_group(group_name="/aws/lambda/dev-other")) == [
        "validator-function loggingConfig.logGroup: '/aws/lambda/dev-validator-function' is not "
        "created by this stack"
    ]


def test_lambda_log_group_skips_unknown_names() -> None:
    group, function = function_and_group(depends=False)
    unknown_target = dataclasses.replace(function, props={"loggingConfig": {"logGroup": UNKNOWN}})
    assert found("lambda-log-group", [group, unknown_target]) == []
    unknown_group = dataclasses.replace(group, props={"name": UNKNOWN})
    assert found("lambda-log-group", [unknown_group, function]) == []


def test_log_retention_passes_a_set_retention_and_names_a_missing_one() -> None:
    assert found("log-retention", resource(LOG_GROUP, "logs", retentionInDays=7)) == []
    message = "logs retentionInDays: log retention must be set (never keep logs forever)"
    assert found("log-retention", resource(LOG_GROUP, "logs")) == [message]
    assert found("log-retention", resource(LOG_GROUP, "logs", retentionInDays=0)) == [message]
    assert found("log-retention", resource(LOG_GROUP, "logs", retentionInDays=UNKNOWN)) == []


@pytest.mark.parametrize(
    ("setting", "mode"), [("true", "Active"), ("false", "PassThrough"), (None, "PassThrough")]
)
def test_lambda_tracing_follows_the_tracing_setting(setting: str | None, mode: str) -> None:
    ctx = context(**({} if setting is None else {"tracing": setting}))
    function = resource(FUNCTION, "fn", tracingConfig={"mode": mode})
    assert found("lambda-tracing", function, ctx) == []
    other = "PassThrough" if mode == "Active" else "Active"
    wrong = resource(FUNCTION, "fn", tracingConfig={"mode": other})
    assert found("lambda-tracing", wrong, ctx) == [
        f"fn tracingConfig.mode: is '{other}', pipeline:tracing says '{mode}'"
    ]


def test_lambda_tracing_skips_an_unknown_mode() -> None:
    assert found("lambda-tracing", resource(FUNCTION, "fn", tracingConfig=UNKNOWN)) == []
    assert found("lambda-tracing", resource(FUNCTION, "fn", tracingConfig={"mode": UNKNOWN})) == []


# --------------------------------------------------------------------------- export-keys
def root_stack(**exports: Any) -> Resource:
    return resource("pulumi:pulumi:Stack", "demo-project-dev", **exports)


def test_export_keys_pass_environment_prefixed_keys_whatever_their_values() -> None:
    assert found("export-keys", [root_stack(dev_bucket_name="x", dev_table_arn=UNKNOWN)]) == []


def test_export_keys_name_a_key_without_the_prefix() -> None:
    assert found("export-keys", [root_stack(dev_bucket_name="x", bucket_arn="y")]) == [
        "demo-project-dev exports.bucket_arn: export keys must start with 'dev_'"
    ]
    assert found("export-keys", [root_stack(prod_bucket_arn="y")], context("staging")) == [
        "demo-project-dev exports.prod_bucket_arn: export keys must start with 'staging_'"
    ]


# --------------------------------------------------------------------------- the rendered stacks
def test_every_rendered_stack_of_every_environment_passes_every_rule(
    rendered: Rendered, graph: LayerGraph
) -> None:
    environments = list(rendered)
    assert environments
    for stacks in rendered.values():
        assert set(stacks) == set(graph.names)
    violations = [
        str(violation)
        for stacks in rendered.values()
        for stack in stacks.values()
        for violation in policy_violations(stack, environments)
    ]
    assert violations == []


def test_every_resource_rule_judges_rendered_resources(rendered: Rendered) -> None:
    """A rule that applies to nothing would pass the sweep above without meaning anything."""
    resources = [
        each for stacks in rendered.values() for stack in stacks.values() for each in stack
    ]
    for rule in RULES:
        if isinstance(rule, ResourceRule):
            assert any(rule.applies_to(each.type) for each in resources), rule.name


def test_every_taggable_rendered_resource_carries_its_environment_and_layer(
    rendered: Rendered,
) -> None:
    for environment, stacks in rendered.items():
        for layer, stack in stacks.items():
            taggable = [each for each in stack if accepts_tags(each.type)]
            assert taggable, f"{layer} has taggable resources"
            for each in taggable:
                assert each["tags"] == {
                    "Environment": environment,
                    "Project": "rawdata-pipeline",
                    "Layer": layer,
                    "ManagedBy": "pulumi",
                }, each.name


def test_every_rendered_physical_name_follows_environment_service_resource(
    rendered: Rendered,
) -> None:
    for environment, stacks in rendered.items():
        for layer, stack in stacks.items():
            physical = []
            for each in stack:
                key = physical_name_input(each.type) if each.custom else None
                if key is None:
                    continue
                name = str(each.inputs[key])
                for prefix in aws_format(each.type).name_prefixes:
                    name = name.removeprefix(prefix)
                physical.append(name)
            assert physical, f"{layer} names resources"
            for name in physical:
                assert re.fullmatch(rf"{environment}-[a-z]+-[a-z-]+", name), name


def test_the_offline_runner_shows_the_stack_as_the_engine_does(rendered: Rendered) -> None:
    for environment, stacks in rendered.items():
        for stack in stacks.values():
            root, *others = stack_resources(stack)
            project = stack.project
            assert root.type == "pulumi:pulumi:Stack"
            assert root.props == stack.exports
            assert root.urn == (
                f"urn:pulumi:{environment}::{project}::pulumi:pulumi:Stack::{project}-{environment}"
            )
            assert [each.urn for each in others] == [each.urn for each in stack]
            # The root is the one resource with no parent; every other hangs from the tree.
            urns = {root.urn, *(each.urn for each in others)}
            assert root.parent is None
            assert all(each.parent in urns for each in others)
            assert any(each.parent == root.urn for each in others)


# Breaking real renders: each stack rule and a few resource rules, on the stacks that hold
# what they guard (found by type, not by layer name).
def holding(rendered: Rendered, environment: str, type_token: str) -> RenderedStack:
    return next(stack for stack in rendered[environment].values() if stack.of_type(type_token))


def replaced(stack: RenderedStack, logical_name: str, **inputs: Any) -> RenderedStack:
    resources = [
        dataclasses.replace(each, inputs={**each.inputs, **inputs})
        if each.name == logical_name
        else each
        for each in stack.resources
    ]
    return dataclasses.replace(stack, resources=resources)


def broken(stack: RenderedStack, environments: Sequence[str]) -> list[tuple[str, str]]:
    return [
        (violation.rule, str(violation)) for violation in policy_violations(stack, environments)
    ]


def test_rules_bite_on_a_rendered_bucket_function_and_exports(rendered: Rendered) -> None:
    environments = list(rendered)
    environment = environments[0]
    storage = holding(rendered, environment, BUCKET)
    [versioning] = storage.of_type("aws:s3/bucketVersioning:BucketVersioning")
    [bucket] = storage.of_type(BUCKET)
    suspended = replaced(storage, versioning.name, versioningConfiguration={"status": "Suspended"})
    assert broken(suspended, environments) == [
        (
            "s3-bucket-security",
            f"{storage.layer}/{environment} {bucket.name} versioning: bucket versioning must be Enabled",
        )
    ]

    compute = holding(rendered, environment, FUNCTION)
    [function] = compute.of_type(FUNCTION)
    [group] = compute.of_type(LOG_GROUP)
    resources = [
        dataclasses.replace(each, dependencies=()) if each is function else each for each in compute
    ]
    assert broken(dataclasses.replace(compute, resources=resources), environments) == [
        (
            "lambda-log-group",
            f"{compute.layer}/{environment} {function.name} dependsOn: must depend on its log group {group.name}",
        )
    ]
    untraced = "PassThrough" if compute.config.get("pipeline:tracing") == "true" else "Active"
    assert [
        rule
        for rule, _ in broken(
            replaced(compute, function.name, tracingConfig={"mode": untraced}), environments
        )
    ] == ["lambda-tracing"]

    renamed = dataclasses.replace(compute, exports={**compute.exports, "function_arn": "x"})
    assert broken(renamed, environments) == [
        (
            "export-keys",
            f"{compute.layer}/{environment} <stack> exports.function_arn: export keys must start with '{environment}_'",
        )
    ]


def test_rules_bite_on_a_rendered_iam_policy_reaching_another_environment(
    rendered: Rendered,
) -> None:
    environments = list(rendered)
    environment, other = environments[0], environments[-1]
    iam = holding(rendered, environment, IAM_POLICY)
    [policy] = iam.of_type(IAM_POLICY)
    document = json.loads(policy["policy"])
    statement = document["Statement"][0]
    foreign = statement["Resource"].replace(f"{environment}-", f"{other}-")
    statement["Resource"] = foreign
    statement["Action"] = [*statement["Action"], "s3:*"]
    where = f"{iam.layer}/{environment} {policy.name} policy.Statement[{statement['Sid']}]"
    assert broken(replaced(iam, policy.name, policy=json.dumps(document)), environments) == [
        ("iam-least-privilege", f"{where}: wildcard action 's3:*'"),
        ("iam-environment-isolation", f"{where}: {foreign} belongs to environment '{other}'"),
        (
            "iam-environment-isolation",
            f"{where}: {foreign} is not a resource of environment '{environment}'",
        ),
    ]


def test_check_says_the_policy_rules_come_from_the_pack(
    rendered: Rendered, graph: LayerGraph
) -> None:
    report = CheckReport(graph, list(rendered), rendered, [], [], graph.knobs())
    lines = report.format(Painter(False)).splitlines()
    [policy_line] = [line for line in lines if line.startswith(f"ok    {POLICY}:")]
    assert policy_line.startswith(
        "ok    policy: the policy pack's rules (policies/) hold in every stack"
    )
