"""Observability layer: every alarm of an environment notifies that environment's topic and
watches that environment's function, queue and table; the dashboard shows them."""

from __future__ import annotations

import json

import pytest

from shared.aws_resources import MOCK_ACCOUNT_ID as ACCOUNT_ID
from shared.errors import SettingsError
from shared.harness import RenderedStack, render_stack
from shared.testing import Rendered, stack_config_with

REGION = "us-east-1"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
TOPIC = "aws:sns/topic:Topic"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
DASHBOARD = "aws:cloudwatch/dashboard:Dashboard"
# Per environment: how many bad periods in a row page someone, and how many function errors
# per period are tolerated (dev runs half-built test files on purpose).
EXPECTED = {
    "dev": {"evaluation_periods": 3, "errors_threshold": 5},
    "staging": {"evaluation_periods": 2, "errors_threshold": 1},
    "prod": {"evaluation_periods": 1, "errors_threshold": 0},
}


@pytest.fixture(params=EXPECTED)
def env(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def observability(rendered: Rendered, env: str) -> RenderedStack:
    return rendered[env]["observability"]


def alarms(stack: RenderedStack) -> dict[str, dict]:
    return {alarm["name"]: alarm.inputs for alarm in stack.of_type(ALARM)}


def topic_arn(env: str) -> str:
    return f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:{env}-pipeline-alerts"


def test_the_alerts_topic_is_named_encrypted_with_its_own_key_and_tagged(
    observability: RenderedStack, env: str
) -> None:
    topic = observability.one(TOPIC)
    assert topic["name"] == f"{env}-pipeline-alerts"
    key = observability.one("aws:kms/key:Key")
    assert topic["kmsMasterKeyId"].startswith(f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/")
    assert key["enableKeyRotation"] is True
    statements = {s["Sid"]: s for s in json.loads(key["policy"])["Statement"]}
    # CloudWatch must be able to use the key, or alarms cannot publish to an encrypted topic.
    assert statements["CloudWatchPublishesAlarms"]["Principal"] == {
        "Service": "cloudwatch.amazonaws.com"
    }
    assert statements["CloudWatchPublishesAlarms"]["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT_ID}
    }
    alias = observability.one("aws:kms/alias:Alias")
    assert alias["name"] == f"alias/{env}-pipeline-alerts"
    for resource in (topic, key):
        assert resource["tags"]["Layer"] == "observability"
        assert resource["tags"]["Environment"] == env


def test_every_alarm_notifies_this_environments_topic_when_it_fires_and_clears(
    observability: RenderedStack, env: str
) -> None:
    found = alarms(observability)
    assert set(found) == {
        f"{env}-validator-errors-alarm",
        f"{env}-validator-throttles-alarm",
        f"{env}-validator-duration-alarm",
        f"{env}-validator-dlq-alarm",
        f"{env}-metadata-throttles-alarm",
        f"{env}-metadata-system-errors-alarm",
    }
    for name, alarm in found.items():
        assert alarm["alarmActions"] == [topic_arn(env)], name
        assert alarm["okActions"] == [topic_arn(env)], name
        assert alarm["evaluationPeriods"] == EXPECTED[env]["evaluation_periods"], name
        assert alarm["treatMissingData"] == "notBreaching", name
        assert alarm["tags"]["Environment"] == env, name


def test_the_alarms_watch_this_environments_function_queue_and_table(
    observability: RenderedStack, env: str
) -> None:
    watched = {
        name.removeprefix(f"{env}-"): (
            a["namespace"],
            a["metricName"],
            a["dimensions"],
            a["statistic"],
        )
        for name, a in alarms(observability).items()
    }
    function = {"FunctionName": f"{env}-validator-function"}
    table = {"TableName": f"{env}-metadata-table", "Operation": "PutItem"}
    assert watched == {
        "validator-errors-alarm": ("AWS/Lambda", "Errors", function, "Sum"),
        "validator-throttles-alarm": ("AWS/Lambda", "Throttles", function, "Sum"),
        "validator-duration-alarm": ("AWS/Lambda", "Duration", function, "Maximum"),
        "validator-dlq-alarm": (
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            {"QueueName": f"{env}-validator-dlq"},
            "Maximum",
        ),
        "metadata-throttles-alarm": ("AWS/DynamoDB", "ThrottledRequests", table, "Sum"),
        "metadata-system-errors-alarm": ("AWS/DynamoDB", "SystemErrors", table, "Sum"),
    }


def test_thresholds_are_the_environments_and_safe_by_default(
    observability: RenderedStack, env: str, rendered: Rendered
) -> None:
    found = alarms(observability)
    assert found[f"{env}-validator-errors-alarm"]["threshold"] == EXPECTED[env]["errors_threshold"]
    for name in ("validator-throttles-alarm", "validator-dlq-alarm", "metadata-throttles-alarm"):
        assert found[f"{env}-{name}"]["threshold"] == 0, name
    timeout = rendered[env]["compute"].one("aws:lambda/function:Function")["timeout"]
    assert found[f"{env}-validator-duration-alarm"]["threshold"] == timeout * 1000 * 80 // 100


def test_the_dashboard_names_this_environments_function_queue_table_and_alarms(
    observability: RenderedStack, env: str
) -> None:
    dashboard = observability.one(DASHBOARD)
    assert dashboard["dashboardName"] == f"{env}-rawdata-pipeline"
    body = json.loads(dashboard["dashboardBody"])
    titles = [widget["properties"]["title"] for widget in body["widgets"]]
    assert titles[0] == f"Alarms of {env}"
    assert body["widgets"][0]["properties"]["alarms"] == sorted(
        f"arn:aws:cloudwatch:{REGION}:{ACCOUNT_ID}:alarm:{name}" for name in alarms(observability)
    )
    text = json.dumps(body)
    for name in (f"{env}-validator-function", f"{env}-validator-dlq", f"{env}-metadata-table"):
        assert f'"{name}"' in text, name
    metrics = {
        tuple(metric[:2])
        for widget in body["widgets"][1:]
        for metric in widget["properties"]["metrics"]
        if isinstance(metric[0], str)
    }
    assert {
        ("AWS/Lambda", "Invocations"),
        ("AWS/Lambda", "Errors"),
        ("AWS/Lambda", "Throttles"),
        ("AWS/Lambda", "Duration"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
        ("AWS/DynamoDB", "ConsumedWriteCapacityUnits"),
        ("AWS/DynamoDB", "ProvisionedWriteCapacityUnits"),
    } <= metrics
    durations = [
        metric[-1]["stat"]
        for widget in body["widgets"]
        for metric in widget["properties"].get("metrics", [])
        if metric[:2] == ["AWS/Lambda", "Duration"]
    ]
    assert durations == ["p50", "p99"]
    searches = [
        metric[0]["expression"]
        for widget in body["widgets"][1:]
        for metric in widget["properties"]["metrics"]
        if isinstance(metric[0], dict)
    ]
    for metric in ("ObjectsValidated", "BytesValidated", "ValidationDuration"):
        assert any(
            f'{{RawDataPipeline,Environment,Status}} Environment="{env}" MetricName="{metric}"'
            in search
            for search in searches
        ), metric


def test_storage_and_compute_are_read_through_fully_qualified_references(
    observability: RenderedStack, env: str
) -> None:
    names = sorted(ref["name"] for ref in observability.of_type("pulumi:pulumi:StackReference"))
    assert names == [f"organization/rawdata-compute/{env}", f"organization/rawdata-storage/{env}"]


def test_exports(observability: RenderedStack, env: str) -> None:
    assert observability.exports == {
        f"{env}_alerts_topic_arn": topic_arn(env),
        f"{env}_alerts_topic_name": f"{env}-pipeline-alerts",
        f"{env}_dashboard_name": f"{env}-rawdata-pipeline",
    }


def render_prod(rendered: Rendered, **overrides: str | None) -> RenderedStack:
    config = stack_config_with("observability", "prod", **overrides)
    upstream = {
        f"organization/rawdata-{layer}/prod": rendered["prod"][layer].exports
        for layer in ("storage", "compute")
    }
    return render_stack("observability", "prod", config=config, upstream_exports=upstream)


def test_subscriptions_come_from_the_stack_file_one_per_address(rendered: Rendered) -> None:
    stack = render_prod(
        rendered,
        alertSubscriptions='["oncall@example.com", "https://hooks.example.com/alerts"]',
    )
    subscriptions = {
        sub["protocol"]: (sub.name, sub["endpoint"], sub["topic"])
        for sub in stack.of_type(SUBSCRIPTION)
    }
    assert set(subscriptions) == {"email", "https"}
    assert subscriptions["email"][1:] == ("oncall@example.com", topic_arn("prod"))
    assert subscriptions["https"][1:] == ("https://hooks.example.com/alerts", topic_arn("prod"))
    # Named by the address, not its position: reordering the list replaces nothing.
    swapped = render_prod(
        rendered,
        alertSubscriptions='["https://hooks.example.com/alerts", "oncall@example.com"]',
    )
    assert {sub.name for sub in swapped.of_type(SUBSCRIPTION)} == {
        name for name, _, _ in subscriptions.values()
    }


def test_no_subscription_is_allowed(observability: RenderedStack) -> None:
    assert observability.of_type(SUBSCRIPTION) == []


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"alertSubscriptions": '["http://hooks.example.com"]'},
            "rawdata-observability:alertSubscriptions.0 = 'http://hooks.example.com' is not "
            'allowed; allowed: a list of email addresses or https:// URLs, e.g. ["oncall@example.com"]',
        ),
        (
            {"alertSubscriptions": '["a@example.com", "a@example.com"]'},
            "alertSubscriptions lists a@example.com more than once",
        ),
        (
            {"evaluationPeriods": "0"},
            "rawdata-observability:evaluationPeriods = 0 is not allowed: Input should be greater "
            "than or equal to 1; allowed: how many periods in a row must breach: 1 to 100",
        ),
        (
            {"periodSeconds": "120"},
            "rawdata-observability:periodSeconds = 120 is not allowed: Input should be 60, 300, 900 or 3600",
        ),
        (
            {"errorsThreshold": "-1"},
            "rawdata-observability:errorsThreshold = -1 is not allowed",
        ),
    ],
)
def test_bad_settings_name_the_key_value_and_allowed(
    rendered: Rendered, overrides: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError) as raised:
        render_prod(rendered, **overrides)
    assert message in str(raised.value)
