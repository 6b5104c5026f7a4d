"""IAM layer: a role only Lambda can assume, and a policy that reaches only its own environment."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import pytest
from parliament import analyze_policy_string

from shared.aws_resources import MOCK_ACCOUNT_ID as ACCOUNT_ID
from shared.errors import SettingsError
from shared.harness import RenderedStack, render_stack
from shared.testing import Rendered, copy_projects, stack_config_with

REGION = "us-east-1"
ROLE = "aws:iam/role:Role"
POLICY = "aws:iam/policy:Policy"
# Per environment (the user's numbers): whether the role may write X-Ray traces.
EXPECTED = {"dev": {"tracing": False}, "staging": {"tracing": True}, "prod": {"tracing": True}}
ENVIRONMENTS = tuple(EXPECTED)


@pytest.fixture(params=EXPECTED)
def env(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def iam(rendered: Rendered, env: str) -> RenderedStack:
    return rendered[env]["iam"]


def policy_document(iam: RenderedStack) -> dict:
    return json.loads(iam.one(POLICY)["policy"])


def statements_by_sid(iam: RenderedStack) -> dict[str, dict]:
    return {statement["Sid"]: statement for statement in policy_document(iam)["Statement"]}


def test_role_is_named_and_trusted_only_by_lambda_in_this_account(
    iam: RenderedStack, env: str
) -> None:
    role = iam.one(ROLE)
    assert role["name"] == f"{env}-validator-role"
    assert json.loads(role["assumeRolePolicy"]) == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT_ID}},
            }
        ],
    }


def test_policy_is_named_and_attached_to_the_role(iam: RenderedStack, env: str) -> None:
    policy = iam.one(POLICY)
    attachment = iam.one("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert policy["name"] == f"{env}-validator-policy"
    assert attachment["role"] == f"{env}-validator-role"
    assert attachment["policyArn"] == f"arn:aws:iam::{ACCOUNT_ID}:policy/{env}-validator-policy"


def test_policy_grants_exactly_what_the_validator_calls(iam: RenderedStack, env: str) -> None:
    log_group = f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:/aws/lambda/{env}-validator-function"
    expected = {
        "ReadRawObjects": (
            ["s3:GetObject", "s3:GetObjectVersion"],
            f"arn:aws:s3:::{env}-rawdata-bucket/*",
        ),
        "TellMissingObjects": (["s3:ListBucket"], f"arn:aws:s3:::{env}-rawdata-bucket"),
        "RecordMetadata": (
            ["dynamodb:PutItem"],
            f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{env}-metadata-table",
        ),
        "KeepFailedEvents": (
            ["sqs:SendMessage"],
            f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{env}-validator-dlq",
        ),
        "WriteOwnLogs": (["logs:CreateLogStream", "logs:PutLogEvents"], f"{log_group}:*"),
    }
    if EXPECTED[env]["tracing"]:
        expected["WriteTraces"] = (["xray:PutTelemetryRecords", "xray:PutTraceSegments"], "*")
    actual = {
        sid: (statement["Action"], statement["Resource"])
        for sid, statement in statements_by_sid(iam).items()
        if statement["Effect"] == "Allow"
    }
    assert actual == expected


def test_no_log_group_creation_rights(iam: RenderedStack) -> None:
    actions = {
        action for statement in policy_document(iam)["Statement"] for action in statement["Action"]
    }
    assert "logs:CreateLogGroup" not in actions


def test_no_wildcard_actions_and_star_resource_only_for_xray(iam: RenderedStack) -> None:
    for statement in policy_document(iam)["Statement"]:
        assert all("*" not in action for action in statement["Action"]), statement
        if statement["Resource"] == "*":
            assert all(action.startswith("xray:") for action in statement["Action"]), statement


@pytest.mark.parametrize(("own", "other"), list(itertools.permutations(ENVIRONMENTS, 2)))
def test_a_role_never_reaches_another_environment(rendered: Rendered, own: str, other: str) -> None:
    document = rendered[own]["iam"].one(POLICY)["policy"]
    other_arns = [
        value for key, value in rendered[other]["storage"].exports.items() if key.endswith("_arn")
    ] + [f"log-group:/aws/lambda/{other}-validator-function"]
    assert other_arns, "the other environment exports ARNs to compare against"
    for arn in other_arns:
        assert arn not in document
    resources = [statement["Resource"] for statement in json.loads(document)["Statement"]]
    assert all(resource == "*" or f"{own}-" in resource for resource in resources)


def test_a_real_iam_linter_finds_nothing(iam: RenderedStack) -> None:
    # parliament lints identity policies; the trust policy is asserted whole above.
    document = iam.one(POLICY)["policy"]
    findings = analyze_policy_string(document, include_community_auditors=True).findings
    assert [(finding.issue, finding.detail) for finding in findings] == []


def test_storage_is_read_through_a_fully_qualified_stack_reference(
    iam: RenderedStack, env: str
) -> None:
    [reference] = iam.of_type("pulumi:pulumi:StackReference")
    assert reference["name"] == f"organization/rawdata-storage/{env}"


def test_exports(iam: RenderedStack, env: str) -> None:
    assert iam.exports == {
        f"{env}_role_arn": f"arn:aws:iam::{ACCOUNT_ID}:role/{env}-validator-role",
        f"{env}_role_name": f"{env}-validator-role",
        f"{env}_policy_arn": f"arn:aws:iam::{ACCOUNT_ID}:policy/{env}-validator-policy",
        f"{env}_tracing": EXPECTED[env]["tracing"],
        f"{env}_validator_function_name": f"{env}-validator-function",
        f"{env}_validator_log_group_name": f"/aws/lambda/{env}-validator-function",
    }


def iam_config(**overrides: str | None) -> dict[str, str]:
    return stack_config_with("iam", "dev", **overrides)


def test_org_from_config_names_the_upstream_stack(
    rendered: Rendered,
) -> None:
    upstream = {"acme/rawdata-storage/dev": rendered["dev"]["storage"].exports}
    stack = render_stack(
        "iam", "dev", config=iam_config(**{"pipeline:org": "acme"}), upstream_exports=upstream
    )
    assert [ref["name"] for ref in stack.of_type("pulumi:pulumi:StackReference")] == [
        "acme/rawdata-storage/dev"
    ]


def test_missing_upstream_output_fails_the_deploy_naming_it(
    rendered: Rendered,
) -> None:
    exports = dict(rendered["dev"]["storage"].exports)
    del exports["dev_table_arn"]
    with pytest.raises(Exception, match="dev_table_arn"):
        render_stack("iam", "dev", upstream_exports={"organization/rawdata-storage/dev": exports})


def test_reading_an_export_storage_does_not_declare_fails_naming_both(tmp_path: Path) -> None:
    graph = copy_projects(tmp_path / "projects", ["dev"])
    program = graph.get("iam").directory / "iam_layer.py"
    program.write_text(
        program.read_text().replace('storage.require("table_arn")', 'storage.require("table_id")')
    )
    with pytest.raises(SettingsError) as raised:
        render_stack("iam", "dev", graph=graph)
    assert str(raised.value) == (
        "layer 'iam' reads export 'table_id' of layer 'storage', which "
        "projects/storage/layer.yaml does not declare; it declares: bucket_name, bucket_arn, "
        "table_name, table_arn, dead_letter_queue_name, dead_letter_queue_arn, "
        "dead_letter_queue_url"
    )


def test_tracing_must_be_stated_for_the_iam_layer() -> None:
    with pytest.raises(SettingsError, match="pipeline:tracing is required by layer 'iam'"):
        render_stack("iam", "dev", config=iam_config(**{"pipeline:tracing": None}))


def test_region_must_be_stated() -> None:
    with pytest.raises(SettingsError, match="aws:region is required but not set"):
        render_stack("iam", "dev", config=iam_config(**{"aws:region": None}))


@pytest.mark.parametrize(
    ("region", "hint"),
    [("us-east1", " (did you mean us-east-1?)"), ("mars-north-9", " (did you mean eu-north-1?)")],
)
def test_a_region_aws_does_not_have_is_refused_with_the_closest_one(region: str, hint: str) -> None:
    """Offline, ARNs would be built with any region; the typo would surface only at deploy."""
    with pytest.raises(SettingsError) as refused:
        render_stack("iam", "dev", config=iam_config(**{"aws:region": region}))
    assert str(refused.value).startswith(
        f"aws:region = {region!r} (layer 'iam') is not an AWS region{hint}: none of the "
    )
    assert str(refused.value).endswith(
        "a region launched after that release needs newer boto3/botocore pins (`invoke lock`)"
    )


@pytest.mark.parametrize("region", ["eu-west-1", "ap-southeast-2", "us-gov-west-1", "cn-north-1"])
def test_every_partition_s_regions_are_accepted(region: str) -> None:
    stack = render_stack("iam", "dev", config=iam_config(**{"aws:region": region}))
    assert stack.config["aws:region"] == region


def test_an_unknown_key_in_a_namespace_without_settings_says_so() -> None:
    with pytest.raises(
        SettingsError,
        match=r"rawdata-iam:roleName is not a known setting; allowed keys: none \(this namespace has no settings yet\)",
    ):
        render_stack("iam", "dev", config=iam_config(**{"rawdata-iam:roleName": "x"}))


def test_a_bad_boolean_names_true_and_false() -> None:
    with pytest.raises(
        SettingsError,
        match=r"pipeline:tracing = 'maybe' is not allowed: .*; allowed: true or false",
    ):
        render_stack("iam", "dev", config=iam_config(**{"pipeline:tracing": "maybe"}))
    # lax parsers would take these for booleans; "yes" as a quoted YAML string gets here
    for loose, shown in (("1", "1"), ("0", "0"), ("yes", "'yes'"), ("off", "'off'")):
        with pytest.raises(
            SettingsError,
            match=rf"pipeline:tracing = {re.escape(shown)} is not allowed: Input should be a "
            "valid boolean; allowed: true or false",
        ):
            render_stack("iam", "dev", config=iam_config(**{"pipeline:tracing": loose}))
