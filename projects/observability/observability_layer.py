"""The observability layer: alerts that reach someone, and a dashboard per environment.

Owned by the operations team, separately from the layers it watches: it reads the function,
queue and table from the storage and compute layers' exports and declares

- an encrypted SNS topic ``{env}-pipeline-alerts`` with the subscriptions the stack file lists
  (email addresses or HTTPS endpoints; none is allowed);
- CloudWatch alarms, each with alarm and OK actions on that topic: the function's errors,
  throttles and duration near its timeout, failed events waiting in the dead-letter queue,
  the metadata table's throttled writes and system errors;
- a dashboard ``{env}-rawdata-pipeline``: invocations, errors and throttles, duration p50/p99
  against the timeout, dead-letter depth, the table's consumed vs provisioned capacity, and
  the validator's own metrics (objects validated per status, bytes validated), which it
  writes as CloudWatch embedded-metric log lines (namespace ``RawDataPipeline``).
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, Literal, Self

import pulumi
import pulumi_aws as aws
from pydantic import Field, StringConstraints, model_validator

from shared.naming import NamePart
from shared.settings import StackSettings, read_settings
from shared.stack import StackContext

# The parts of each physical name: {environment}-{service}-{resource}.
ALERTS: NamePart = ("pipeline", "alerts")
DASHBOARD: NamePart = ("rawdata", "pipeline")
ALARMS: dict[str, NamePart] = {
    "errors": ("validator", "errors-alarm"),
    "throttles": ("validator", "throttles-alarm"),
    "duration": ("validator", "duration-alarm"),
    "dead_letters": ("validator", "dlq-alarm"),
    "table_throttles": ("metadata", "throttles-alarm"),
    "table_system_errors": ("metadata", "system-errors-alarm"),
}

# What the validator writes in its embedded-metric log lines (projects/compute/validator).
VALIDATOR_NAMESPACE = "RawDataPipeline"
# The only table operation the validator performs (a conditional PutItem per object version).
TABLE_OPERATION = "PutItem"

Subscription = Annotated[
    str, StringConstraints(pattern=r"^(https://[^\s]+|[^@\s]+@[^@\s]+\.[A-Za-z]{2,})$")
]
SUBSCRIPTION_RULE = 'a list of email addresses or https:// URLs, e.g. ["oncall@example.com"]'
Threshold = Annotated[int, Field(ge=0, le=1_000_000, description="a whole number, at least 0")]


class ObservabilitySettings(StackSettings):
    """``rawdata-observability:*`` keys. Every threshold defaults to the safe value: alarm on
    the first occurrence."""

    alert_subscriptions: list[Subscription] = Field(
        default_factory=list, description=SUBSCRIPTION_RULE
    )
    evaluation_periods: int = Field(
        1, ge=1, le=100, description="how many periods in a row must breach: 1 to 100"
    )
    period_seconds: Literal[60, 300, 900, 3600] = 300
    errors_threshold: Threshold = 0
    throttles_threshold: Threshold = 0
    dead_letter_threshold: Threshold = 0
    table_throttles_threshold: Threshold = 0
    table_system_errors_threshold: Threshold = 0
    duration_percent_of_timeout: int = Field(
        80, ge=1, le=100, description="a whole percentage of the function's timeout, 1 to 100"
    )

    @model_validator(mode="after")
    def subscriptions_are_unique(self) -> Self:
        repeated = sorted(
            {item for item in self.alert_subscriptions if self.alert_subscriptions.count(item) > 1}
        )
        if repeated:
            raise ValueError(f"alertSubscriptions lists {', '.join(repeated)} more than once")
        return self


def key_policy(account_id: str, partition: str) -> str:
    """The account administers the key; CloudWatch may use it to publish alarms to the topic
    (an encrypted topic needs this: the AWS-managed SNS key does not let CloudWatch in)."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AccountAdministers",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:{partition}:iam::{account_id}:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                },
                {
                    "Sid": "CloudWatchPublishesAlarms",
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudwatch.amazonaws.com"},
                    "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                    "Resource": "*",
                    "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
                },
            ],
        }
    )


def subscription_name(endpoint: str) -> tuple[str, str]:
    """(logical name, protocol): the name follows the endpoint, not its position in the list,
    so reordering the list replaces nothing."""
    protocol = "https" if endpoint.startswith("https://") else "email"
    digest = hashlib.sha256(endpoint.encode()).hexdigest()[:10]
    return f"alert-subscription-{protocol}-{digest}", protocol


def dashboard_body(
    *,
    environment: str,
    region: str,
    function_name: str,
    timeout_seconds: int,
    queue_name: str,
    table_name: str,
    alarm_arns: list[str],
) -> str:
    """The dashboard's widgets, as CloudWatch's dashboard body JSON."""
    period = 300

    def metric_widget(
        title: str, metrics: list[list[Any]], y: int, x: int, **extra: Any
    ) -> dict[str, Any]:
        return {
            "type": "metric",
            "x": x,
            "y": y,
            "width": 12,
            "height": 6,
            "properties": {
                "title": title,
                "region": region,
                "view": "timeSeries",
                "period": period,
                "metrics": metrics,
                **extra,
            },
        }

    lambda_dims = ["FunctionName", function_name]

    def table(metric: str, stat: str) -> list[Any]:
        return ["AWS/DynamoDB", metric, "TableName", table_name, {"stat": stat}]

    def validator(metric: str, stat: str, expression_id: str) -> list[list[Any]]:
        """Every status's series of one of the validator's own metrics, found by SEARCH."""
        schema = f'{{{VALIDATOR_NAMESPACE},Environment,Status}} Environment="{environment}"'
        query = f"SEARCH('{schema} MetricName=\"{metric}\"', '{stat}', {period})"
        return [[{"expression": query, "id": expression_id}]]

    widgets = [
        {
            "type": "alarm",
            "x": 0,
            "y": 0,
            "width": 24,
            "height": 3,
            "properties": {"title": f"Alarms of {environment}", "alarms": sorted(alarm_arns)},
        },
        metric_widget(
            "Invocations", [["AWS/Lambda", "Invocations", *lambda_dims, {"stat": "Sum"}]], 3, 0
        ),
        metric_widget(
            "Errors and throttles",
            [
                ["AWS/Lambda", "Errors", *lambda_dims, {"stat": "Sum"}],
                ["AWS/Lambda", "Throttles", *lambda_dims, {"stat": "Sum"}],
            ],
            3,
            12,
        ),
        metric_widget(
            "Duration (ms): p50, p99, and the timeout",
            [
                ["AWS/Lambda", "Duration", *lambda_dims, {"stat": "p50"}],
                ["AWS/Lambda", "Duration", *lambda_dims, {"stat": "p99"}],
            ],
            9,
            0,
            annotations={"horizontal": [{"label": "timeout", "value": timeout_seconds * 1000}]},
        ),
        metric_widget(
            "Failed events in the dead-letter queue",
            [
                [
                    "AWS/SQS",
                    "ApproximateNumberOfMessagesVisible",
                    "QueueName",
                    queue_name,
                    {"stat": "Maximum"},
                ]
            ],
            9,
            12,
        ),
        metric_widget(
            "Metadata table: consumed vs provisioned capacity (provisioned only where the "
            "table is PROVISIONED)",
            [
                table("ConsumedWriteCapacityUnits", "Sum"),
                table("ProvisionedWriteCapacityUnits", "Average"),
                table("ConsumedReadCapacityUnits", "Sum"),
                table("ProvisionedReadCapacityUnits", "Average"),
            ],
            15,
            0,
        ),
        metric_widget(
            "Objects validated, per status", validator("ObjectsValidated", "Sum", "objects"), 15, 12
        ),
        metric_widget("Bytes validated", validator("BytesValidated", "Sum", "bytes"), 21, 0),
        metric_widget(
            "Validation duration (ms), p99 per status",
            validator("ValidationDuration", "p99", "duration"),
            21,
            12,
        ),
    ]
    return json.dumps({"widgets": widgets}, sort_keys=True)


class ObservabilityLayer(pulumi.ComponentResource):
    def __init__(self, context: StackContext, settings: ObservabilitySettings) -> None:
        super().__init__("rawdata:layers:Observability", "observability", None)
        self.context = context
        self.settings = settings
        child = pulumi.ResourceOptions(parent=self)
        tags = context.tags
        storage = context.upstream("storage", parent=self)
        compute = context.upstream("compute", parent=self)
        identity = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
        partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=self))

        self.key = aws.kms.Key(
            "alerts-key",
            description=f"Encrypts the {context.environment} pipeline alerts topic",
            enable_key_rotation=True,
            policy=pulumi.Output.all(identity.account_id, partition.partition).apply(
                lambda values: key_policy(*values)
            ),
            tags=tags,
            opts=child,
        )
        aws.kms.Alias(
            "alerts-key-alias",
            name=f"alias/{context.name(ALERTS)}",
            target_key_id=self.key.key_id,
            opts=child,
        )
        self.topic = aws.sns.Topic(
            "alerts-topic",
            name=context.name(ALERTS),
            kms_master_key_id=self.key.arn,
            tags=tags,
            opts=child,
        )
        for endpoint in settings.alert_subscriptions:
            logical, protocol = subscription_name(endpoint)
            aws.sns.TopicSubscription(
                logical, topic=self.topic.arn, protocol=protocol, endpoint=endpoint, opts=child
            )

        function = compute.require("function_name")
        timeout = compute.require("function_timeout_seconds")
        queue = storage.require("dead_letter_queue_name")
        table = storage.require("table_name")
        self.alarms = [
            self.alarm(
                "errors",
                "the validator function failed to process objects (its errors, retried then "
                "sent to the dead-letter queue)",
                "AWS/Lambda",
                "Errors",
                {"FunctionName": function},
                "Sum",
                settings.errors_threshold,
            ),
            self.alarm(
                "throttles",
                "the validator function was throttled (concurrency limit reached)",
                "AWS/Lambda",
                "Throttles",
                {"FunctionName": function},
                "Sum",
                settings.throttles_threshold,
            ),
            self.alarm(
                "duration",
                f"the validator function ran for more than {settings.duration_percent_of_timeout}% "
                "of its timeout: large objects are close to failing",
                "AWS/Lambda",
                "Duration",
                {"FunctionName": function},
                "Maximum",
                pulumi.Output.from_input(timeout).apply(
                    lambda seconds: int(seconds) * 10 * settings.duration_percent_of_timeout
                ),
            ),
            self.alarm(
                "dead_letters",
                "events the validator failed to process are waiting in its dead-letter queue "
                "(see docs/validator.md: replaying failed events)",
                "AWS/SQS",
                "ApproximateNumberOfMessagesVisible",
                {"QueueName": queue},
                "Maximum",
                settings.dead_letter_threshold,
            ),
            self.alarm(
                "table_throttles",
                "writes of metadata items were throttled: the table's capacity is too small",
                "AWS/DynamoDB",
                "ThrottledRequests",
                {"TableName": table, "Operation": TABLE_OPERATION},
                "Sum",
                settings.table_throttles_threshold,
            ),
            self.alarm(
                "table_system_errors",
                "DynamoDB answered metadata writes with internal errors",
                "AWS/DynamoDB",
                "SystemErrors",
                {"TableName": table, "Operation": TABLE_OPERATION},
                "Sum",
                settings.table_system_errors_threshold,
            ),
        ]
        body = pulumi.Output.all(
            function_name=function,
            timeout_seconds=timeout,
            queue_name=queue,
            table_name=table,
            alarm_arns=pulumi.Output.all(*(alarm.arn for alarm in self.alarms)),
        ).apply(
            lambda values: dashboard_body(
                environment=context.environment, region=context.region, **values
            )
        )
        self.dashboard = aws.cloudwatch.Dashboard(
            "pipeline-dashboard",
            dashboard_name=context.name(DASHBOARD),
            dashboard_body=body,
            opts=child,
        )
        self.register_outputs(
            {"alerts_topic_arn": self.topic.arn, "dashboard_name": self.dashboard.dashboard_name}
        )

    def alarm(
        self,
        key: str,
        meaning: str,
        namespace: str,
        metric: str,
        dimensions: dict[str, pulumi.Input[Any]],
        statistic: str,
        threshold: pulumi.Input[int],
    ) -> aws.cloudwatch.MetricAlarm:
        """One alarm on one metric, notifying the alerts topic when it fires and when it clears."""
        environment = self.context.environment
        service, resource = ALARMS[key]
        return aws.cloudwatch.MetricAlarm(
            f"{service}-{resource}",
            name=self.context.name(ALARMS[key]),
            alarm_description=f"{environment}: {meaning}",
            namespace=namespace,
            metric_name=metric,
            dimensions=dimensions,
            statistic=statistic,
            period=self.settings.period_seconds,
            evaluation_periods=self.settings.evaluation_periods,
            threshold=threshold,
            comparison_operator="GreaterThanThreshold",
            treat_missing_data="notBreaching",
            alarm_actions=[self.topic.arn],
            ok_actions=[self.topic.arn],
            tags=self.context.tags,
            opts=pulumi.ResourceOptions(parent=self),
        )


def define_stack(context: StackContext) -> ObservabilityLayer:
    layer = ObservabilityLayer(context, read_settings(ObservabilitySettings, context.layer.project))
    context.export("alerts_topic_arn", layer.topic.arn)
    context.export("alerts_topic_name", layer.topic.name)
    context.export("dashboard_name", layer.dashboard.dashboard_name)
    return layer
