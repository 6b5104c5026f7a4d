"""The invariants of shared/policy.py: they hold on every rendered stack, and they catch breakage.

The sweep covers every registered resource of all nine stacks; the mutation tests show each
rule fails when the thing it guards is broken, so a green sweep means something.
"""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

from shared.harness import RenderedStack
from shared.layers import load_graph
from shared.policy import accepts_tags, policy_violations

LAYERS = load_graph().names
ENVIRONMENTS = ("dev", "staging", "prod")


@pytest.fixture(params=ENVIRONMENTS)
def env(request: pytest.FixtureRequest) -> str:
    return request.param


def test_every_stack_satisfies_every_rule(rendered: dict[str, dict[str, RenderedStack]]) -> None:
    violations = [
        str(violation)
        for env in ENVIRONMENTS
        for layer in LAYERS
        for violation in policy_violations(rendered[env][layer], ENVIRONMENTS)
    ]
    assert violations == []


@pytest.mark.parametrize("layer", LAYERS)
def test_every_taggable_resource_carries_environment_and_project_tags(
    rendered: dict[str, dict[str, RenderedStack]], env: str, layer: str
) -> None:
    taggable = [res for res in rendered[env][layer] if res.custom and accepts_tags(res.type)]
    assert taggable, "each layer has taggable resources"
    for resource in taggable:
        assert resource["tags"] == {
            "Environment": env,
            "Project": "rawdata-pipeline",
            "Layer": layer,
            "ManagedBy": "pulumi",
        }, resource.name


def test_taggability_comes_from_the_provider_classes() -> None:
    assert accepts_tags("aws:s3/bucket:Bucket")
    assert accepts_tags("aws:lambda/function:Function")
    assert not accepts_tags("aws:s3/bucketVersioning:BucketVersioning")
    assert not accepts_tags("aws:lambda/permission:Permission")


@pytest.mark.parametrize("layer", LAYERS)
def test_every_physical_name_follows_environment_service_resource(
    rendered: dict[str, dict[str, RenderedStack]], env: str, layer: str
) -> None:
    from shared.aws_resources import aws_format, physical_name_input

    physical = []
    for res in rendered[env][layer]:
        key = physical_name_input(res.type) if res.custom else None
        if key is None:
            continue
        name = str(res.inputs[key])
        for prefix in aws_format(res.type).name_prefixes:
            name = name.removeprefix(prefix)
        physical.append(name)
    assert physical
    for name in physical:
        assert re.fullmatch(rf"{env}-[a-z]+-[a-z-]+", name), name


# --------------------------------------------------------------------------- mutations
def replace_resource(stack: RenderedStack, logical_name: str, **inputs: object) -> RenderedStack:
    resources = [
        dataclasses.replace(res, inputs={**res.inputs, **inputs})
        if res.name == logical_name
        else res
        for res in stack.resources
    ]
    return dataclasses.replace(stack, resources=resources)


def messages(stack: RenderedStack) -> list[str]:
    return [str(violation) for violation in policy_violations(stack, ENVIRONMENTS)]


def test_a_missing_tag_is_named(rendered: dict) -> None:
    stack = rendered["dev"]["storage"]
    broken = replace_resource(stack, "metadata-table", tags={"Environment": "dev"})
    assert "storage/dev metadata-table tags.Project: required tag Project is missing" in messages(
        broken
    )


def test_a_wrong_environment_tag_is_named(rendered: dict) -> None:
    stack = rendered["prod"]["compute"]
    tags = {"Environment": "dev", "Project": "p", "Layer": "compute", "ManagedBy": "pulumi"}
    broken = replace_resource(stack, "validator-function", tags=tags)
    assert (
        "compute/prod validator-function tags.Environment: is 'dev', expected 'prod'"
        in messages(broken)
    )


def test_a_name_off_the_convention_is_named(rendered: dict) -> None:
    broken = replace_resource(rendered["dev"]["storage"], "metadata-table", name="metadata")
    assert any(
        "metadata-table name: 'metadata' does not follow" in text for text in messages(broken)
    )


def statement_by_sid(statements: list[dict], sid: str) -> dict:
    return next(statement for statement in statements if statement["Sid"] == sid)


def edit_policy(stack: RenderedStack, edit) -> RenderedStack:
    policy = stack.one("aws:iam/policy:Policy")
    document = json.loads(policy["policy"])
    edit(document["Statement"])
    return replace_resource(stack, policy.name, policy=json.dumps(document))


def test_a_wildcard_action_is_named(rendered: dict) -> None:
    broken = edit_policy(
        rendered["staging"]["iam"], lambda statements: statements[0]["Action"].append("s3:*")
    )
    assert (
        "iam/staging validator-policy policy.Statement[ReadRawObjects]: wildcard action 's3:*'"
        in messages(broken)
    )


def test_a_star_resource_outside_xray_is_named(rendered: dict) -> None:
    def widen(statements: list[dict]) -> None:
        statement_by_sid(statements, "RecordMetadata")["Resource"] = "*"

    assert any(
        "only X-Ray writes may use it" in text
        for text in messages(edit_policy(rendered["dev"]["iam"], widen))
    )


def test_reaching_another_environments_table_is_named(rendered: dict) -> None:
    prod_table = rendered["prod"]["storage"].exports["prod_table_arn"]

    def reach(statements: list[dict]) -> None:
        statement_by_sid(statements, "RecordMetadata")["Resource"] = prod_table

    found = messages(edit_policy(rendered["dev"]["iam"], reach))
    assert (
        f"iam/dev validator-policy policy.Statement[RecordMetadata]: {prod_table} belongs to environment 'prod'"
        in found
    )


def test_unversioned_or_public_bucket_is_named(rendered: dict) -> None:
    stack = rendered["dev"]["storage"]
    broken = replace_resource(
        stack, "rawdata-bucket-versioning", versioningConfiguration={"status": "Suspended"}
    )
    broken = replace_resource(
        broken, "rawdata-bucket-public-access-block", restrictPublicBuckets=False
    )
    found = messages(broken)
    assert "storage/dev rawdata-bucket versioning: bucket versioning must be Enabled" in found
    assert any("rawdata-bucket publicAccessBlock" in text for text in found)


def test_a_function_created_before_its_log_group_is_named(rendered: dict) -> None:
    stack = rendered["dev"]["compute"]
    function = stack.one("aws:lambda/function:Function")
    without_dependency = dataclasses.replace(function, dependencies=())
    broken = dataclasses.replace(
        stack, resources=[without_dependency if res is function else res for res in stack.resources]
    )
    assert any("must depend on its log group" in text for text in messages(broken))


def test_tracing_off_where_config_says_on_is_named(rendered: dict) -> None:
    broken = replace_resource(
        rendered["prod"]["compute"], "validator-function", tracingConfig={"mode": "PassThrough"}
    )
    assert any(
        "tracingConfig.mode: is 'PassThrough', pipeline:tracing says 'Active'" in text
        for text in messages(broken)
    )


def test_logs_kept_forever_are_named(rendered: dict) -> None:
    broken = replace_resource(rendered["dev"]["compute"], "validator-log-group", retentionInDays=0)
    assert any("log retention must be set" in text for text in messages(broken))


def test_an_export_without_the_environment_prefix_is_named(rendered: dict) -> None:
    stack = rendered["dev"]["compute"]
    broken = dataclasses.replace(stack, exports={**stack.exports, "function_arn": "x"})
    assert (
        "compute/dev <stack> exports.function_arn: export keys must start with 'dev_'"
        in messages(broken)
    )
