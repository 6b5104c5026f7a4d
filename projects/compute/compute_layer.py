"""The compute layer: log group, validator Lambda, S3 trigger and failed-event destination.

The function and its log group are named by the iam layer, whose role may log only there;
the alarms that watch them belong to the observability layer."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pulumi
import pulumi_aws as aws
from pydantic import Field
from validator.settings import DEFAULT_MAX_JSON_DOCUMENT_BYTES, DEFAULT_MAX_OBJECT_BYTES

from shared.errors import SettingsError
from shared.settings import StackSettings, read_settings
from shared.stack import StackContext, UpstreamStack

# The validator package's folder; its modules become the Lambda package, under the same name.
HANDLER_SOURCE = Path(__file__).with_name("validator")
HANDLER_MODULE = f"{HANDLER_SOURCE.name}.handler"
RUNTIME = "python3.13"

# The values CloudWatch Logs accepts for retentionInDays.
LogRetentionDays = Literal[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
    2922, 3288, 3653,
]  # fmt: skip


class ComputeSettings(StackSettings):
    """``rawdata-compute:*`` keys."""

    memory_size: int = Field(ge=128, le=10240, description="whole MB from 128 to 10240")
    log_retention_days: LogRetentionDays
    timeout_seconds: int = Field(60, ge=1, le=900, description="whole seconds from 1 to 900")
    max_object_bytes: int = Field(
        DEFAULT_MAX_OBJECT_BYTES, ge=1, description="a whole number of bytes, at least 1"
    )
    max_json_document_bytes: int = Field(
        DEFAULT_MAX_JSON_DOCUMENT_BYTES, ge=1, description="a whole number of bytes, at least 1"
    )
    # Lambda's own bounds for asynchronous invocations.
    max_retry_attempts: int = Field(2, ge=0, le=2, description="0, 1 or 2")
    max_event_age_seconds: int = Field(
        6 * 60 * 60, ge=60, le=6 * 60 * 60, description="whole seconds from 60 to 21600"
    )


def inline_package() -> pulumi.AssetArchive:
    """The deployment package, built in memory from the validator package's source files.

    Every ``.py`` file of the package folder, under ``validator/``, in name order so the archive
    (and the snapshot recording it) does not depend on the file system's listing order.
    """
    return pulumi.AssetArchive(
        {
            f"{HANDLER_SOURCE.name}/{source.name}": pulumi.StringAsset(source.read_text())
            for source in sorted(HANDLER_SOURCE.glob("*.py"))
        }
    )


def tracing_mode(context: StackContext, iam: UpstreamStack) -> pulumi.Output[str]:
    """Active or PassThrough, refusing to deploy when the role was not granted X-Ray writes."""
    wanted = context.tracing

    def agreed_mode(granted: object) -> str:
        if granted is not wanted:
            raise SettingsError(
                f"pipeline:tracing is {str(wanted).lower()} in the compute stack file but "
                f"{str(granted).lower()} in {iam.stack_name}: set it the same in both stack "
                "files (tracing needs the role's X-Ray permission), then deploy iam first"
            )
        return "Active" if wanted else "PassThrough"

    return iam.require("tracing").apply(agreed_mode)


class ComputeLayer(pulumi.ComponentResource):
    def __init__(self, context: StackContext, settings: ComputeSettings) -> None:
        super().__init__("rawdata:layers:Compute", "compute", None)
        child = pulumi.ResourceOptions(parent=self)
        storage = context.upstream("storage", parent=self)
        iam = context.upstream("iam", parent=self)
        identity = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
        tags = context.tags

        self.log_group = aws.cloudwatch.LogGroup(
            "validator-log-group",
            name=iam.require("validator_log_group_name"),
            retention_in_days=settings.log_retention_days,
            tags=tags,
            opts=child,
        )
        self.function = aws.lambda_.Function(
            "validator-function",
            name=iam.require("validator_function_name"),
            description=f"Validates raw data uploaded to the {context.environment} bucket",
            role=iam.require("role_arn"),
            runtime=RUNTIME,
            handler=f"{HANDLER_MODULE}.handler",
            code=inline_package(),
            memory_size=settings.memory_size,
            timeout=settings.timeout_seconds,
            tracing_config={"mode": tracing_mode(context, iam)},
            logging_config={"log_format": "JSON", "log_group": self.log_group.name},
            environment={
                "variables": {
                    "METADATA_TABLE_NAME": storage.require("table_name"),
                    "ENVIRONMENT": context.environment,
                    "MAX_OBJECT_BYTES": str(settings.max_object_bytes),
                    "MAX_JSON_DOCUMENT_BYTES": str(settings.max_json_document_bytes),
                }
            },
            tags=tags,
            # Created first, so Lambda never auto-creates the group without retention.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.log_group]),
        )
        aws.lambda_.FunctionEventInvokeConfig(
            "validator-async-config",
            function_name=self.function.name,
            maximum_retry_attempts=settings.max_retry_attempts,
            maximum_event_age_in_seconds=settings.max_event_age_seconds,
            destination_config={
                "on_failure": {"destination": storage.require("dead_letter_queue_arn")}
            },
            opts=child,
        )
        invoke_permission = aws.lambda_.Permission(
            "allow-rawdata-bucket-invoke",
            action="lambda:InvokeFunction",
            function=self.function.name,
            principal="s3.amazonaws.com",
            source_arn=storage.require("bucket_arn"),
            source_account=identity.account_id,
            opts=child,
        )
        aws.s3.BucketNotification(
            "rawdata-bucket-notification",
            bucket=storage.require("bucket_name"),
            lambda_functions=[
                {"lambda_function_arn": self.function.arn, "events": ["s3:ObjectCreated:*"]}
            ],
            # S3 checks it may invoke the function when the notification is saved.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[invoke_permission]),
        )
        self.register_outputs({"function_arn": self.function.arn})


def define_stack(context: StackContext) -> ComputeLayer:
    layer = ComputeLayer(context, read_settings(ComputeSettings, context.layer.project))
    context.export("function_name", layer.function.name)
    context.export("function_arn", layer.function.arn)
    context.export("log_group_name", layer.log_group.name)
    context.export("function_timeout_seconds", layer.function.timeout)
    return layer
