"""The iam layer: the validator Lambda's execution role and its least-privilege policy."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_aws as aws

from shared.aws_resources import LAMBDA_LOG_GROUP_PREFIX, XRAY_WRITE_ACTIONS
from shared.naming import NamePart
from shared.settings import StackSettings, read_settings
from shared.stack import StackContext

# The parts of each physical name: {environment}-{service}-{resource}. The function's name is
# decided here, with the role that runs it: the role may write logs only to its log group.
ROLE: NamePart = ("validator", "role")
POLICY: NamePart = ("validator", "policy")
FUNCTION: NamePart = ("validator", "function")


class IamSettings(StackSettings):
    """``rawdata-iam:*`` keys. The layer has no knobs of its own yet; unknown keys are errors."""


def assume_role_policy(account_id: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "lambda.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                    "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
                }
            ],
        }
    )


def validator_policy(
    *,
    bucket_arn: str,
    table_arn: str,
    dead_letter_queue_arn: str,
    log_group_arn: str,
    tracing: bool,
) -> dict[str, Any]:
    """Exactly what the validator calls, on this environment's resources only."""
    statements: list[dict[str, Any]] = [
        {
            "Sid": "ReadRawObjects",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:GetObjectVersion"],
            "Resource": f"{bucket_arn}/*",
        },
        {
            # Without it S3 answers 403 for an object deleted before the validator reads it,
            # indistinguishable from a real permission problem; with it, 404.
            "Sid": "TellMissingObjects",
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": bucket_arn,
        },
        {
            "Sid": "RecordMetadata",
            "Effect": "Allow",
            "Action": ["dynamodb:PutItem"],
            "Resource": table_arn,
        },
        {
            "Sid": "KeepFailedEvents",
            "Effect": "Allow",
            "Action": ["sqs:SendMessage"],
            "Resource": dead_letter_queue_arn,
        },
        {
            "Sid": "WriteOwnLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            # The group and its streams; the group itself is created by the compute layer.
            "Resource": f"{log_group_arn}:*",
        },
    ]
    if tracing:
        statements.append(
            {
                "Sid": "WriteTraces",
                "Effect": "Allow",
                "Action": list(XRAY_WRITE_ACTIONS),
                "Resource": "*",
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


class IamLayer(pulumi.ComponentResource):
    def __init__(self, context: StackContext, settings: IamSettings) -> None:
        super().__init__("rawdata:layers:Iam", "iam", None)
        child = pulumi.ResourceOptions(parent=self)
        tracing = context.tracing
        storage = context.upstream("storage", parent=self)
        identity = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
        partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=self))

        self.function_name = context.name(FUNCTION)
        self.log_group_name = f"{LAMBDA_LOG_GROUP_PREFIX}{self.function_name}"
        log_group_arn = pulumi.Output.concat(
            "arn:",
            partition.partition,
            ":logs:",
            context.region,
            ":",
            identity.account_id,
            ":log-group:",
            self.log_group_name,
        )

        self.role = aws.iam.Role(
            "validator-role",
            name=context.name(ROLE),
            description=f"Execution role of {self.function_name}",
            assume_role_policy=identity.account_id.apply(assume_role_policy),
            tags=context.tags,
            opts=child,
        )
        document = pulumi.Output.all(
            bucket_arn=storage.require("bucket_arn"),
            table_arn=storage.require("table_arn"),
            dead_letter_queue_arn=storage.require("dead_letter_queue_arn"),
            log_group_arn=log_group_arn,
        ).apply(lambda arns: json.dumps(validator_policy(**arns, tracing=tracing)))
        self.policy = aws.iam.Policy(
            "validator-policy",
            name=context.name(POLICY),
            description=(
                f"What {self.function_name} may do in {context.environment}, and nothing else"
            ),
            policy=document,
            tags=context.tags,
            opts=child,
        )
        aws.iam.RolePolicyAttachment(
            "validator-policy-attachment",
            role=self.role.name,
            policy_arn=self.policy.arn,
            opts=child,
        )
        self.register_outputs({"role_arn": self.role.arn, "policy_arn": self.policy.arn})


def define_stack(context: StackContext) -> IamLayer:
    layer = IamLayer(context, read_settings(IamSettings, context.layer.project))
    context.export("role_arn", layer.role.arn)
    context.export("role_name", layer.role.name)
    context.export("policy_arn", layer.policy.arn)
    context.export("validator_function_name", layer.function_name)
    context.export("validator_log_group_name", layer.log_group_name)
    context.export("tracing", context.tracing)
    return layer
