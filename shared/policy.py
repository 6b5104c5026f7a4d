"""Rules every rendered stack must satisfy, whatever its environment.

These are invariants, not per-environment values: tags and names, IAM least privilege and
environment isolation, the bucket's protections, tracing and log retention. The unit tests
and ``invoke check`` both run them over stacks rendered by ``shared.harness``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from shared.aws_resources import (
    XRAY_WRITE_ACTIONS,
    accepts_tags,
    aws_format,
    physical_name_input,
)
from shared.harness import RenderedResource, RenderedStack

REQUIRED_TAGS = ("Environment", "Project", "Layer", "ManagedBy")
BUCKET = "aws:s3/bucket:Bucket"
FUNCTION = "aws:lambda/function:Function"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"


@dataclass(frozen=True)
class Violation:
    layer: str
    environment: str
    resource: str
    input: str
    message: str

    def __str__(self) -> str:
        return f"{self.layer}/{self.environment} {self.resource} {self.input}: {self.message}"


def _statements(document: Any) -> list[dict[str, Any]]:
    parsed = json.loads(document) if isinstance(document, str) else document
    statements = parsed.get("Statement", [])
    return statements if isinstance(statements, list) else [statements]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _arn_names(arn: str) -> list[str]:
    """The resource part of an ARN, split into the names it contains."""
    resource = arn.split(":", 5)[5] if arn.count(":") >= 5 else arn
    return [part for part in re.split(r"[/:]", resource) if part]


class _Checker:
    def __init__(self, stack: RenderedStack, environments: Iterable[str]) -> None:
        self.stack = stack
        self.env = stack.environment
        self.other_envs = sorted(set(environments) - {self.env})
        self.found: list[Violation] = []

    def fail(self, resource: RenderedResource | str, input_path: str, message: str) -> None:
        name = resource if isinstance(resource, str) else resource.name
        self.found.append(Violation(self.stack.layer, self.env, name, input_path, message))

    def run(self) -> list[Violation]:
        for resource in self.stack:
            self.tags(resource)
            self.physical_name(resource)
            self.iam_documents(resource)
        self.bucket_protections()
        self.function_rules()
        self.exports()
        return self.found

    def tags(self, resource: RenderedResource) -> None:
        if not resource.custom or not accepts_tags(resource.type):
            return
        tags = resource.inputs.get("tags") or {}
        for key in REQUIRED_TAGS:
            if not tags.get(key):
                self.fail(resource, f"tags.{key}", f"required tag {key} is missing")
        if tags.get("Environment") not in (None, self.env):
            self.fail(
                resource, "tags.Environment", f"is {tags['Environment']!r}, expected {self.env!r}"
            )
        if tags.get("Layer") not in (None, self.stack.layer):
            self.fail(
                resource, "tags.Layer", f"is {tags['Layer']!r}, expected {self.stack.layer!r}"
            )

    def physical_name(self, resource: RenderedResource) -> None:
        """Every resource AWS knows by a name has one we chose, by the naming rule."""
        key = physical_name_input(resource.type) if resource.custom else None
        if key is None:
            return
        if not resource.inputs.get(key):
            self.fail(
                resource,
                key,
                "not set: AWS would get an auto-generated name; set it by "
                "{environment}-{service}-{resource}",
            )
            return
        value = str(resource.inputs[key])
        name = value
        for prefix in aws_format(resource.type).name_prefixes:
            name = name.removeprefix(prefix)
        if not re.fullmatch(rf"{re.escape(self.env)}-[a-z0-9]+-[a-z0-9-]+", name):
            self.fail(
                resource, key, f"{value!r} does not follow {{environment}}-{{service}}-{{resource}}"
            )

    def iam_documents(self, resource: RenderedResource) -> None:
        for key in ("policy", "assumeRolePolicy"):
            if key in resource.inputs and resource.type.startswith("aws:iam/"):
                self.iam_document(resource, key, resource.inputs[key])

    def iam_document(self, resource: RenderedResource, key: str, document: Any) -> None:
        for index, statement in enumerate(_statements(document)):
            where = f"{key}.Statement[{statement.get('Sid', index)}]"
            if statement.get("Effect") != "Allow":
                continue
            actions = _as_list(statement.get("Action", []))
            for action in actions:
                if "*" in action or "?" in action:
                    self.fail(resource, where, f"wildcard action {action!r}")
            if "NotAction" in statement or "NotResource" in statement:
                self.fail(resource, where, "NotAction/NotResource grant more than they name")
            if "Principal" in statement:
                continue  # a trust policy: it names who may assume the role, not resources
            for arn in _as_list(statement.get("Resource", [])):
                self.resource_scope(resource, where, actions, arn)

    def resource_scope(
        self, resource: RenderedResource, where: str, actions: list[str], arn: str
    ) -> None:
        if arn == "*":
            if not set(actions) <= set(XRAY_WRITE_ACTIONS):
                extra = sorted(set(actions) - set(XRAY_WRITE_ACTIONS))
                self.fail(
                    resource, where, f'Resource "*" for {extra}: only X-Ray writes may use it'
                )
            return
        names = _arn_names(arn)
        for other in self.other_envs:
            if any(name.startswith(f"{other}-") for name in names):
                self.fail(resource, where, f"{arn} belongs to environment {other!r}")
        if not any(name.startswith(f"{self.env}-") for name in names):
            self.fail(resource, where, f"{arn} is not a resource of environment {self.env!r}")

    def bucket_protections(self) -> None:
        buckets = self.stack.of_type(BUCKET)
        for bucket in buckets:
            guards = {
                res.type.split(":")[-1]: res
                for res in self.stack
                if res.parent == bucket.parent and res.inputs.get("bucket") == bucket["bucket"]
            }
            versioning = guards.get("BucketVersioning")
            if not versioning or versioning["versioningConfiguration"].get("status") != "Enabled":
                self.fail(bucket, "versioning", "bucket versioning must be Enabled")
            block = guards.get("BucketPublicAccessBlock")
            flags = (
                "blockPublicAcls",
                "blockPublicPolicy",
                "ignorePublicAcls",
                "restrictPublicBuckets",
            )
            if not block or not all(block.inputs.get(flag) is True for flag in flags):
                self.fail(bucket, "publicAccessBlock", f"all of {', '.join(flags)} must be true")
            if "BucketServerSideEncryptionConfiguration" not in guards:
                self.fail(bucket, "encryption", "default server-side encryption must be configured")
            ownership = guards.get("BucketOwnershipControls")
            if not ownership or ownership["rule"].get("objectOwnership") != "BucketOwnerEnforced":
                self.fail(
                    bucket, "ownershipControls", "ACLs must be disabled (BucketOwnerEnforced)"
                )
            policy = guards.get("BucketPolicy")
            denies_plain_http = policy is not None and any(
                statement.get("Effect") == "Deny"
                and statement.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport")
                == "false"
                for statement in _statements(policy["policy"])
            )
            if not denies_plain_http:
                self.fail(bucket, "policy", "a bucket policy must deny requests not made over TLS")

    def function_rules(self) -> None:
        log_groups = {group["name"]: group for group in self.stack.of_type(LOG_GROUP)}
        for function in self.stack.of_type(FUNCTION):
            group_name = (function.inputs.get("loggingConfig") or {}).get("logGroup")
            group = log_groups.get(group_name)
            if group is None:
                self.fail(
                    function,
                    "loggingConfig.logGroup",
                    f"{group_name!r} is not created by this stack",
                )
                continue
            if group.urn not in function.dependencies:
                self.fail(function, "dependsOn", f"must depend on its log group {group.name}")
            if not group.inputs.get("retentionInDays"):
                self.fail(
                    group, "retentionInDays", "log retention must be set (never keep logs forever)"
                )
            mode = (function.inputs.get("tracingConfig") or {}).get("mode")
            wanted = self.stack.config.get("pipeline:tracing") == "true"
            expected = "Active" if wanted else "PassThrough"
            if mode != expected:
                self.fail(
                    function,
                    "tracingConfig.mode",
                    f"is {mode!r}, pipeline:tracing says {expected!r}",
                )

    def exports(self) -> None:
        for key in self.stack.exports:
            if not key.startswith(f"{self.env}_"):
                self.fail("<stack>", f"exports.{key}", f"export keys must start with '{self.env}_'")


def policy_violations(stack: RenderedStack, environments: Iterable[str]) -> list[Violation]:
    """Every rule broken by one rendered stack; ``environments`` are all known environments."""
    return _Checker(stack, environments).run()


def iter_violations(
    stacks: Iterable[RenderedStack], environments: Iterable[str]
) -> Iterator[Violation]:
    known = list(environments)
    for stack in stacks:
        yield from policy_violations(stack, known)
