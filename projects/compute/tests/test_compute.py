"""Compute layer: the log group, the validator Lambda, its S3 trigger and failure handling."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from shared.aws_resources import MOCK_ACCOUNT_ID as ACCOUNT_ID
from shared.errors import SettingsError
from shared.harness import RenderedStack, render_stack
from shared.testing import Rendered, stack_config_with

REGION = "us-east-1"
FUNCTION = "aws:lambda/function:Function"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
HANDLER_PACKAGE = Path(__file__).resolve().parents[1] / "validator"
# Per environment (the user's numbers, the seed task and issue 2).
EXPECTED = {
    "dev": {"memory_mb": 512, "tracing": "PassThrough", "log_retention_days": 7},
    "staging": {"memory_mb": 1024, "tracing": "Active", "log_retention_days": 7},
    "prod": {"memory_mb": 2048, "tracing": "Active", "log_retention_days": 30},
}


@pytest.fixture(params=EXPECTED)
def env(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def compute(rendered: Rendered, env: str) -> RenderedStack:
    return rendered[env]["compute"]


def function_arn(env: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{env}-validator-function"


def test_log_group_name_and_retention(compute: RenderedStack, env: str) -> None:
    group = compute.one(LOG_GROUP)
    assert group["name"] == f"/aws/lambda/{env}-validator-function"
    assert group["retentionInDays"] == EXPECTED[env]["log_retention_days"]


def test_function_depends_on_its_log_group(compute: RenderedStack) -> None:
    assert compute.one(LOG_GROUP).urn in compute.one(FUNCTION).dependencies


def test_function_memory_tracing_and_name(compute: RenderedStack, env: str) -> None:
    function = compute.one(FUNCTION)
    assert function["name"] == f"{env}-validator-function"
    assert function["memorySize"] == EXPECTED[env]["memory_mb"]
    assert function["tracingConfig"] == {"mode": EXPECTED[env]["tracing"]}


def test_function_runs_a_current_python_with_json_logs_into_its_group(
    compute: RenderedStack, env: str
) -> None:
    function = compute.one(FUNCTION)
    major, minor = (int(part) for part in function["runtime"].removeprefix("python").split("."))
    assert (major, minor) >= (3, 12)
    assert function["loggingConfig"] == {
        "logFormat": "JSON",
        "logGroup": f"/aws/lambda/{env}-validator-function",
    }


def test_function_assumes_the_iam_layers_role(compute: RenderedStack, env: str) -> None:
    assert compute.one(FUNCTION)["role"] == f"arn:aws:iam::{ACCOUNT_ID}:role/{env}-validator-role"


def test_function_environment_names_table_and_environment(compute: RenderedStack, env: str) -> None:
    variables = compute.one(FUNCTION)["environment"]["variables"]
    assert variables["METADATA_TABLE_NAME"] == f"{env}-metadata-table"
    assert variables["ENVIRONMENT"] == env
    assert int(variables["MAX_OBJECT_BYTES"]) > 0
    assert int(variables["MAX_JSON_DOCUMENT_BYTES"]) > 0


def test_code_is_inline_built_in_memory_from_the_handler_source(compute: RenderedStack) -> None:
    function = compute.one(FUNCTION)
    sources = sorted(HANDLER_PACKAGE.glob("*.py"))
    assert {"__init__.py", "handler.py", "settings.py"} <= {source.name for source in sources}
    assert function["code"] == {
        "assetArchive": {
            f"validator/{source.name}": {
                "stringAsset": {
                    "bytes": len(source.read_bytes()),
                    "sha256": hashlib.sha256(source.read_bytes()).hexdigest(),
                }
            }
            for source in sources
        }
    }
    assert function["handler"] == "validator.handler.handler"
    assert not {"s3Bucket", "s3Key", "imageUri"} & set(function.inputs)


def test_s3_may_invoke_only_from_this_bucket_and_account(compute: RenderedStack, env: str) -> None:
    permission = compute.one("aws:lambda/permission:Permission")
    assert {
        key: permission[key]
        for key in ("action", "function", "principal", "sourceArn", "sourceAccount")
    } == {
        "action": "lambda:InvokeFunction",
        "function": f"{env}-validator-function",
        "principal": "s3.amazonaws.com",
        "sourceArn": f"arn:aws:s3:::{env}-rawdata-bucket",
        "sourceAccount": ACCOUNT_ID,
    }


def test_uploads_trigger_the_function_after_the_permission_exists(
    compute: RenderedStack, env: str
) -> None:
    notification = compute.one("aws:s3/bucketNotification:BucketNotification")
    assert notification["bucket"] == f"{env}-rawdata-bucket"
    assert notification["lambdaFunctions"] == [
        {"lambdaFunctionArn": function_arn(env), "events": ["s3:ObjectCreated:*"]}
    ]
    assert compute.one("aws:lambda/permission:Permission").urn in notification.dependencies


def test_failed_asynchronous_events_go_to_the_dead_letter_queue(
    compute: RenderedStack, env: str
) -> None:
    config = compute.one("aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig")
    assert config["functionName"] == f"{env}-validator-function"
    assert config["maximumRetryAttempts"] == 2
    assert config["maximumEventAgeInSeconds"] == 6 * 3600
    assert config["destinationConfig"] == {
        "onFailure": {"destination": f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{env}-validator-dlq"}
    }


def test_no_alarm_here_the_observability_layer_owns_them(compute: RenderedStack) -> None:
    assert compute.of_type("aws:cloudwatch/metricAlarm:MetricAlarm") == []


def test_exports_the_function_and_its_log_group_and_nothing_of_other_layers(
    compute: RenderedStack, env: str
) -> None:
    assert compute.exports == {
        f"{env}_function_arn": function_arn(env),
        f"{env}_function_name": f"{env}-validator-function",
        f"{env}_log_group_name": f"/aws/lambda/{env}-validator-function",
        f"{env}_function_timeout_seconds": compute.one(FUNCTION)["timeout"],
    }


def test_storage_and_iam_are_read_through_fully_qualified_references(
    compute: RenderedStack, env: str
) -> None:
    names = sorted(ref["name"] for ref in compute.of_type("pulumi:pulumi:StackReference"))
    assert names == [f"organization/rawdata-iam/{env}", f"organization/rawdata-storage/{env}"]


def render_dev_compute(rendered: Rendered, **overrides: str | None) -> RenderedStack:
    config = stack_config_with("compute", "dev", **overrides)
    upstream = {
        f"organization/rawdata-{layer}/dev": rendered["dev"][layer].exports
        for layer in ("storage", "iam")
    }
    return render_stack("compute", "dev", config=config, upstream_exports=upstream)


def test_tracing_that_the_role_was_not_granted_is_refused(rendered: Rendered) -> None:
    with pytest.raises(
        SettingsError,
        match=r"pipeline:tracing is true in the compute stack file but false in organization/rawdata-iam/dev",
    ):
        render_dev_compute(rendered, **{"pipeline:tracing": "true"})


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"memorySize": "64"},
            "rawdata-compute:memorySize = 64 is not allowed: Input should be greater than or equal to 128",
        ),
        (
            {"memorySize": "20480"},
            "rawdata-compute:memorySize = 20480 is not allowed: Input should be less than or equal to 10240",
        ),
        (
            {"logRetentionDays": "10"},
            "rawdata-compute:logRetentionDays = 10 is not allowed: Input should be 1, 3, 5, 7, 14, 30",
        ),
        (
            {"memorySize": None},
            "rawdata-compute:memorySize is required but not set in the stack file (allowed: whole MB from 128 to 10240)",
        ),
        (
            {"alarmActions": '["arn:aws:sns:us-east-1:123456789012:alerts"]'},
            "rawdata-compute:alarmActions is not a known setting; allowed keys:",
        ),
        ({"maxRetryAttempts": "5"}, "rawdata-compute:maxRetryAttempts = 5 is not allowed"),
        (
            {"memorySize": "512.0"},
            "rawdata-compute:memorySize = 512.0 is not allowed: Input should be a valid integer",
        ),
        (
            {"timeoutSeconds": "[30]"},
            "rawdata-compute:timeoutSeconds = [30] is not allowed: Input should be a valid integer",
        ),
    ],
)
def test_bad_compute_settings_name_the_key_value_and_allowed(
    rendered: Rendered, overrides: dict, message: str
) -> None:
    with pytest.raises(SettingsError) as raised:
        render_dev_compute(rendered, **overrides)
    assert message in str(raised.value)
