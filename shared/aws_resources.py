"""The few AWS facts the offline tools need, for any pulumi-aws resource type.

- What AWS would answer for a new resource: its id, its ARN and a few computed attributes.
  One generic rule covers every type (``arn:{partition}:{service}:{region}:{account}:
  {resource}/{name}``, id = the name); ``FORMATS`` lists the types whose ARN, id or
  attributes AWS forms differently.
- Which input holds a resource's physical name (``name``, or ``FORMATS``' ``name_input``),
  and whether a type takes ``tags``: read from the pulumi-aws ``<Type>Args`` class, so a type
  no one has listed anywhere is still covered.

Nothing here names a layer's resources: a new resource type in any layer renders offline and
is held to the naming and tagging rules without an edit here.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

MOCK_ACCOUNT_ID = "123456789012"
# AWS defines these X-Ray actions without resource-level permissions: "*" is the only resource
# they accept, so they are the one place a least-privilege policy may name "*".
XRAY_WRITE_ACTIONS = ("xray:PutTelemetryRecords", "xray:PutTraceSegments")
LAMBDA_LOG_GROUP_PREFIX = "/aws/lambda/"
MOCK_PARTITION = "aws"


@dataclass(frozen=True)
class AwsFormat:
    """How AWS forms one type's identifiers; templates take {partition} {region} {account}
    {name} and, for ``id`` and ``attributes``, {arn}."""

    arn: str
    id: str = "{name}"
    name_input: str = "name"
    attributes: Mapping[str, str] = field(default_factory=dict)
    # What AWS itself puts in front of the environment in a valid name of this type.
    name_prefixes: tuple[str, ...] = ()


_REGIONAL = "arn:{partition}:{service}:{region}:{account}"
FORMATS: dict[str, AwsFormat] = {
    "aws:s3/bucket:Bucket": AwsFormat(
        "arn:{partition}:s3:::{name}",
        name_input="bucket",
        attributes={
            "bucketDomainName": "{name}.s3.amazonaws.com",
            "bucketRegionalDomainName": "{name}.s3.{region}.amazonaws.com",
        },
    ),
    "aws:dynamodb/table:Table": AwsFormat(
        "arn:{partition}:dynamodb:{region}:{account}:table/{name}"
    ),
    "aws:sqs/queue:Queue": AwsFormat(
        "arn:{partition}:sqs:{region}:{account}:{name}",
        id="https://sqs.{region}.amazonaws.com/{account}/{name}",
        attributes={"url": "https://sqs.{region}.amazonaws.com/{account}/{name}"},
    ),
    "aws:sns/topic:Topic": AwsFormat("arn:{partition}:sns:{region}:{account}:{name}", id="{arn}"),
    "aws:sns/topicSubscription:TopicSubscription": AwsFormat(
        "arn:{partition}:sns:{region}:{account}:{name}", id="{arn}"
    ),
    "aws:iam/role:Role": AwsFormat(
        "arn:{partition}:iam::{account}:role/{name}", attributes={"uniqueId": "AROA{digest}"}
    ),
    "aws:iam/policy:Policy": AwsFormat("arn:{partition}:iam::{account}:policy/{name}", id="{arn}"),
    "aws:lambda/function:Function": AwsFormat(
        "arn:{partition}:lambda:{region}:{account}:function:{name}",
        attributes={
            "qualifiedArn": "{arn}:$LATEST",
            "invokeArn": "arn:{partition}:apigateway:{region}:lambda:path/2015-03-31/"
            "functions/{arn}/invocations",
            "version": "$LATEST",
        },
    ),
    "aws:cloudwatch/logGroup:LogGroup": AwsFormat(
        "arn:{partition}:logs:{region}:{account}:log-group:{name}",
        name_prefixes=(LAMBDA_LOG_GROUP_PREFIX,),
    ),
    "aws:cloudwatch/metricAlarm:MetricAlarm": AwsFormat(
        "arn:{partition}:cloudwatch:{region}:{account}:alarm:{name}"
    ),
    "aws:cloudwatch/dashboard:Dashboard": AwsFormat(
        "arn:{partition}:cloudwatch::{account}:dashboard/{name}",
        name_input="dashboardName",
        attributes={"dashboardArn": "{arn}"},
    ),
    "aws:kms/key:Key": AwsFormat(
        "arn:{partition}:kms:{region}:{account}:key/{digest}",
        id="{digest}",
        attributes={"keyId": "{digest}"},
    ),
    "aws:kms/alias:Alias": AwsFormat(
        "arn:{partition}:kms:{region}:{account}:{name}", name_prefixes=("alias/",)
    ),
    "aws:ssm/parameter:Parameter": AwsFormat(
        "arn:{partition}:ssm:{region}:{account}:parameter/{name}", name_prefixes=("/",)
    ),
}


def _kebab(class_name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", class_name).lower()


def _snake(wire_name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", wire_name).lower()


def split_type(type_token: str) -> tuple[str, str, str]:
    """``aws:s3/bucket:Bucket`` -> (``aws``, ``s3``, ``Bucket``)."""
    package, module_path, class_name = type_token.split(":")
    return package, module_path.split("/")[0], class_name


def aws_format(type_token: str) -> AwsFormat:
    known = FORMATS.get(type_token)
    if known is not None:
        return known
    _, module, class_name = split_type(type_token)
    return AwsFormat(f"{_REGIONAL}:{_kebab(class_name)}/{{name}}".replace("{service}", module))


@cache
def args_parameters(type_token: str) -> frozenset[str]:
    """The input names (snake_case) the pulumi-aws ``<Type>Args`` class takes; empty for a type
    that is not an AWS resource."""
    package, module, class_name = split_type(type_token)
    if package != "aws":
        return frozenset()
    python_module = {"lambda": "lambda_"}.get(module, module)
    try:
        args_class = getattr(
            importlib.import_module(f"pulumi_aws.{python_module}"), f"{class_name}Args"
        )
    except (ImportError, AttributeError):
        return frozenset()
    return frozenset(inspect.signature(args_class.__init__).parameters) - {"self"}


def accepts_tags(type_token: str) -> bool:
    return "tags" in args_parameters(type_token)


def physical_name_input(type_token: str) -> str | None:
    """The (wire, camelCase) input that names the resource in AWS, if the type has one."""
    name_input = aws_format(type_token).name_input
    return name_input if _snake(name_input) in args_parameters(type_token) else None


def mock_state(
    type_token: str, logical_name: str, inputs: Mapping[str, Any], region: str
) -> tuple[str, dict[str, Any]]:
    """The id and output state AWS would give a new resource: its inputs, plus the physical
    name (Pulumi's auto-name when none is set), the ARN and the type's computed attributes."""
    aws = aws_format(type_token)
    name_input = physical_name_input(type_token)
    state = dict(inputs)
    if name_input is None:
        name = logical_name
    else:
        digest = hashlib.sha256(logical_name.encode()).hexdigest()[:7]
        name = str(inputs.get(name_input) or f"{logical_name}-{digest}")
        state[name_input] = name
    values = {
        "partition": MOCK_PARTITION,
        "region": region,
        "account": MOCK_ACCOUNT_ID,
        "name": name,
        "digest": hashlib.sha256(name.encode()).hexdigest()[:17].upper(),
    }
    values["arn"] = aws.arn.format(**values)
    state["arn"] = values["arn"]
    for attribute, template in aws.attributes.items():
        state[attribute] = template.format(**values)
    return aws.id.format(**values), state


@cache
def _partitions() -> list[dict[str, Any]]:
    """botocore's table of AWS partitions and their regions (``botocore/data/partitions.json``,
    the data boto3 resolves regions with), read without importing botocore."""
    import importlib.util
    import json
    from pathlib import Path

    spec = importlib.util.find_spec("botocore")
    if spec is None or spec.origin is None:
        return []
    path = Path(spec.origin).parent / "data" / "partitions.json"
    try:
        return list(json.loads(path.read_text(encoding="utf-8"))["partitions"])
    except (OSError, ValueError, KeyError, TypeError):
        return []


def region_problem(region: str) -> str | None:
    """Why ``region`` is not an AWS region botocore knows ("is not ..."), or None when it is
    (or when no botocore table is installed to tell: the AWS provider checks it at deploy)."""
    import difflib
    from importlib.metadata import PackageNotFoundError, version

    partitions = _partitions()
    if not partitions:
        return None
    known = [
        name
        for partition in partitions
        for name in partition.get("regions", {})
        if not name.endswith("-global")
    ]
    if region in known:
        return None
    close = difflib.get_close_matches(region, known, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    try:
        botocore_version = f"botocore {version('botocore')}"
    except PackageNotFoundError:
        botocore_version = "the installed botocore"
    return (
        f"is not an AWS region{hint}: none of the {len(known)} that "
        f"{botocore_version} knows; a region launched after that release needs newer "
        "boto3/botocore pins (`invoke lock`)"
    )
