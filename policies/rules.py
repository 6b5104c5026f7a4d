"""Every policy rule of the repository, written once for its two runners.

``pulumi up --policy-pack policies`` runs these rules through ``policies.crossguard``;
``invoke check`` and the tests run them on the stacks the offline harness renders, through
``shared.policy``. Nothing here knows which runner called it.

A rule reads resources as the Pulumi engine shows them to a policy pack (``Resource``): a type
token, a URN and properties under their camelCase wire names (``retentionInDays``,
``tracingConfig.mode``). A resource rule sees one resource's inputs; a stack rule sees every
resource of the stack (outputs, their parents and dependencies), including the root stack
resource, whose properties are the stack's exports. Which stack, and so which environment
and layer, arrives in a ``StackContext``.

Unknown values: during ``pulumi preview`` an input computed from another resource's output is
not known yet, and the engine sends a sentinel in its place (``UNKNOWN``, also what the
offline harness renders for an Output it cannot resolve). A rule never reports a violation
for an unknown value: it skips the check of that one property and still checks every other.
Nothing is lost by that: ``pulumi up`` runs the rules again on each resource's inputs, known
by then, before the resource is created or changed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi.runtime.rpc import UNKNOWN
from pulumi_policy import EnforcementLevel

from shared.aws_resources import (
    XRAY_WRITE_ACTIONS,
    accepts_tags,
    aws_format,
    physical_name_input,
)
from shared.naming import export_key

REQUIRED_TAGS = ("Environment", "Project", "Layer", "ManagedBy")
ROOT_STACK = "pulumi:pulumi:Stack"
BUCKET = "aws:s3/bucket:Bucket"
FUNCTION = "aws:lambda/function:Function"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
TRACING_SETTING = "pipeline:tracing"
IAM_DOCUMENT_INPUTS = ("policy", "assumeRolePolicy")

MANDATORY = EnforcementLevel.MANDATORY
ADVISORY = EnforcementLevel.ADVISORY


# --------------------------------------------------------------------------- what a rule reads
@dataclass(frozen=True)
class Resource:
    """One resource as the engine shows it to a policy."""

    urn: str
    type: str
    name: str
    props: Mapping[str, Any]  # camelCase wire names; an unknown value is UNKNOWN
    parent: str | None = None
    # Only stack rules get dependencies: the engine gives a resource policy none.
    dependencies: tuple[str, ...] = ()


@dataclass(frozen=True)
class StackContext:
    """The stack a rule runs on: its environment (the stack name), its layer (None when the
    Pulumi project is no layer of this repository), every environment there is, and its
    config (``pipeline:tracing`` -> its value as the CLI passes it, or None)."""

    environment: str
    layer: str | None
    environments: tuple[str, ...]
    config: Callable[[str], str | None]

    @property
    def other_environments(self) -> list[str]:
        return sorted(set(self.environments) - {self.environment})


@dataclass(frozen=True)
class RuleViolation:
    resource: Resource
    input: str  # where in the resource: a wire-name path (tags.Project), or what is missing
    message: str


ResourceCheck = Callable[[Resource, StackContext], Iterable[RuleViolation]]
StackCheck = Callable[[Sequence[Resource], StackContext], Iterable[RuleViolation]]


@dataclass(frozen=True)
class ResourceRule:
    """A rule on one resource at a time (a CrossGuard ``ResourceValidationPolicy``)."""

    name: str
    description: str
    enforcement: EnforcementLevel
    applies_to: Callable[[str], bool]  # which resource types it reads, by type token
    check: ResourceCheck

    def violations(self, resource: Resource, context: StackContext) -> list[RuleViolation]:
        return list(self.check(resource, context)) if self.applies_to(resource.type) else []


@dataclass(frozen=True)
class StackRule:
    """A rule that spans resources (a CrossGuard ``StackValidationPolicy``)."""

    name: str
    description: str
    enforcement: EnforcementLevel
    check: StackCheck

    def violations(
        self, resources: Sequence[Resource], context: StackContext
    ) -> list[RuleViolation]:
        return list(self.check(resources, context))


Rule = ResourceRule | StackRule


# --------------------------------------------------------------------------- reading values
def is_unknown(value: Any) -> bool:
    return isinstance(value, str) and value == UNKNOWN


def lookup(props: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted wire-name path: None when absent, UNKNOWN when it, or a value on
    the way to it, is unknown."""
    value: Any = props
    for key in path.split("."):
        if is_unknown(value):
            return UNKNOWN
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _statements(document: Any) -> list[Any]:
    """The statements of an IAM policy document (a JSON string or an object)."""
    parsed = json.loads(document) if isinstance(document, str) else document
    if not isinstance(parsed, Mapping):
        raise ValueError("not a JSON object")
    statements = parsed.get("Statement", [])
    return _as_list(statements)


def _arn_names(arn: str) -> list[str]:
    """The resource part of an ARN, split into the names it contains."""
    resource = arn.split(":", 5)[5] if arn.count(":") >= 5 else arn
    return [part for part in re.split(r"[/:]", resource) if part]


# --------------------------------------------------------------------------- resource rules
def check_required_tags(resource: Resource, context: StackContext) -> Iterator[RuleViolation]:
    tags = resource.props.get("tags")
    if is_unknown(tags):
        return
    tags = tags if isinstance(tags, Mapping) else {}
    for key in REQUIRED_TAGS:
        if not tags.get(key):  # an unknown value is a tag that is there
            yield RuleViolation(resource, f"tags.{key}", f"required tag {key} is missing")
    for key, expected in (("Environment", context.environment), ("Layer", context.layer)):
        value = tags.get(key)
        if expected is not None and value and not is_unknown(value) and value != expected:
            yield RuleViolation(resource, f"tags.{key}", f"is {value!r}, expected {expected!r}")


def has_physical_name(type_token: str) -> bool:
    return physical_name_input(type_token) is not None


def check_physical_name(resource: Resource, context: StackContext) -> Iterator[RuleViolation]:
    """Every resource AWS knows by a name has one we chose, by the naming rule."""
    key = physical_name_input(resource.type) or "name"
    value = resource.props.get(key)
    if is_unknown(value):
        return
    if not value:
        yield RuleViolation(
            resource,
            key,
            "not set: AWS would get an auto-generated name; set it by "
            "{environment}-{service}-{resource}",
        )
        return
    name = str(value)
    for prefix in aws_format(resource.type).name_prefixes:
        name = name.removeprefix(prefix)
    if not re.fullmatch(rf"{re.escape(context.environment)}-[a-z0-9]+-[a-z0-9-]+", name):
        yield RuleViolation(
            resource, key, f"{value!r} does not follow {{environment}}-{{service}}-{{resource}}"
        )


def is_iam_type(type_token: str) -> bool:
    return type_token.startswith("aws:iam/")


def _allow_statements(resource: Resource) -> Iterator[tuple[str, Mapping[str, Any] | None]]:
    """(where, statement) for each Allow statement of the IAM documents a resource declares;
    (input, None) for a document that is not one. Unknown documents are skipped."""
    for key in IAM_DOCUMENT_INPUTS:
        document = resource.props.get(key)
        if document is None or is_unknown(document):
            continue
        try:
            statements = _statements(document)
        except ValueError:  # json.JSONDecodeError is one
            yield key, None
            continue
        for index, statement in enumerate(statements):
            if isinstance(statement, Mapping) and statement.get("Effect") == "Allow":
                yield f"{key}.Statement[{statement.get('Sid', index)}]", statement


def _known_strings(values: list[Any]) -> list[str]:
    return [value for value in values if isinstance(value, str) and not is_unknown(value)]


def check_least_privilege(resource: Resource, context: StackContext) -> Iterator[RuleViolation]:
    for where, statement in _allow_statements(resource):
        if statement is None:
            yield RuleViolation(resource, where, "is not an IAM policy document (a JSON object)")
            continue
        actions = _known_strings(_as_list(statement.get("Action", [])))
        for action in actions:
            if "*" in action or "?" in action:
                yield RuleViolation(resource, where, f"wildcard action {action!r}")
        if "NotAction" in statement or "NotResource" in statement:
            yield RuleViolation(resource, where, "NotAction/NotResource grant more than they name")
        if "Principal" in statement:
            continue  # a trust policy: it names who may assume the role, not resources
        if "*" in _as_list(statement.get("Resource", [])):
            extra = sorted(set(actions) - set(XRAY_WRITE_ACTIONS))
            if extra:
                yield RuleViolation(
                    resource, where, f'Resource "*" for {extra}: only X-Ray writes may use it'
                )


def check_environment_isolation(
    resource: Resource, context: StackContext
) -> Iterator[RuleViolation]:
    for where, statement in _allow_statements(resource):
        if statement is None or "Principal" in statement:
            continue
        for arn in _known_strings(_as_list(statement.get("Resource", []))):
            if arn == "*":
                continue  # the least-privilege rule's to judge
            names = _arn_names(arn)
            for other in context.other_environments:
                if any(name.startswith(f"{other}-") for name in names):
                    yield RuleViolation(resource, where, f"{arn} belongs to environment {other!r}")
            if not any(name.startswith(f"{context.environment}-") for name in names):
                yield RuleViolation(
                    resource,
                    where,
                    f"{arn} is not a resource of environment {context.environment!r}",
                )


def check_log_retention(resource: Resource, context: StackContext) -> Iterator[RuleViolation]:
    days = resource.props.get("retentionInDays")
    if not days and not is_unknown(days):
        yield RuleViolation(
            resource, "retentionInDays", "log retention must be set (never keep logs forever)"
        )


def check_tracing(resource: Resource, context: StackContext) -> Iterator[RuleViolation]:
    mode = lookup(resource.props, "tracingConfig.mode")
    if is_unknown(mode):
        return
    wanted = str(context.config(TRACING_SETTING)).lower() == "true"
    expected = "Active" if wanted else "PassThrough"
    if mode != expected:
        yield RuleViolation(
            resource, "tracingConfig.mode", f"is {mode!r}, {TRACING_SETTING} says {expected!r}"
        )


# --------------------------------------------------------------------------- stack rules
PUBLIC_ACCESS_FLAGS = (
    "blockPublicAcls",
    "blockPublicPolicy",
    "ignorePublicAcls",
    "restrictPublicBuckets",
)


class _Undecided(Exception):
    """A value the check needs is unknown: the check says nothing."""


def _guard(resources: Sequence[Resource], type_token: str, bucket: str) -> Resource | None:
    """The resource of ``type_token`` that names ``bucket``; raises _Undecided when there is
    none but one whose bucket is unknown could be it."""
    candidates = [resource for resource in resources if resource.type == type_token]
    for resource in candidates:
        if resource.props.get("bucket") == bucket:
            return resource
    if any(is_unknown(resource.props.get("bucket")) for resource in candidates):
        raise _Undecided
    return None


def _known(guard: Resource | None, path: str) -> Any:
    value = lookup(guard.props, path) if guard else None
    if is_unknown(value):
        raise _Undecided
    return value


def _versioning_problem(guard: Resource | None) -> str | None:
    if _known(guard, "versioningConfiguration.status") == "Enabled":
        return None
    return "bucket versioning must be Enabled"


def _public_access_problem(guard: Resource | None) -> str | None:
    flags = [guard.props.get(flag) for flag in PUBLIC_ACCESS_FLAGS] if guard else [None]
    if all(flag is True for flag in flags):
        return None
    if all(flag is True or is_unknown(flag) for flag in flags):
        raise _Undecided
    return f"all of {', '.join(PUBLIC_ACCESS_FLAGS)} must be true"


def _encryption_problem(guard: Resource | None) -> str | None:
    return None if guard else "default server-side encryption must be configured"


def _ownership_problem(guard: Resource | None) -> str | None:
    if _known(guard, "rule.objectOwnership") == "BucketOwnerEnforced":
        return None
    return "ACLs must be disabled (BucketOwnerEnforced)"


def _tls_problem(guard: Resource | None) -> str | None:
    statements = _statements_or_none(_known(guard, "policy")) if guard else None
    if statements and any(
        isinstance(statement, Mapping)
        and statement.get("Effect") == "Deny"
        and lookup(statement, "Condition.Bool.aws:SecureTransport") == "false"
        for statement in statements
    ):
        return None
    return "a bucket policy must deny requests not made over TLS"


def _statements_or_none(document: Any) -> list[Any] | None:
    try:
        return _statements(document)
    except ValueError:
        return None


# input -> (the type of the resource that protects a bucket by naming it, what is wrong with it)
BUCKET_GUARDS: dict[str, tuple[str, Callable[[Resource | None], str | None]]] = {
    "versioning": ("aws:s3/bucketVersioning:BucketVersioning", _versioning_problem),
    "publicAccessBlock": (
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        _public_access_problem,
    ),
    "encryption": (
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        _encryption_problem,
    ),
    "ownershipControls": (
        "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
        _ownership_problem,
    ),
    "policy": ("aws:s3/bucketPolicy:BucketPolicy", _tls_problem),
}


def check_bucket_security(
    resources: Sequence[Resource], context: StackContext
) -> Iterator[RuleViolation]:
    for bucket in (resource for resource in resources if resource.type == BUCKET):
        name = bucket.props.get("bucket")
        if is_unknown(name):
            continue  # which protections are its cannot be told yet
        for guard, (type_token, problem_of) in BUCKET_GUARDS.items():
            try:
                problem = problem_of(_guard(resources, type_token, name))
            except _Undecided:
                continue
            if problem:
                yield RuleViolation(bucket, guard, problem)


def check_function_log_group(
    resources: Sequence[Resource], context: StackContext
) -> Iterator[RuleViolation]:
    groups = [resource for resource in resources if resource.type == LOG_GROUP]
    for function in (resource for resource in resources if resource.type == FUNCTION):
        group_name = lookup(function.props, "loggingConfig.logGroup")
        if is_unknown(group_name):
            continue
        named = [group for group in groups if group.props.get("name") == group_name]
        if not named:
            if not any(is_unknown(group.props.get("name")) for group in groups):
                yield RuleViolation(
                    function,
                    "loggingConfig.logGroup",
                    f"{group_name!r} is not created by this stack",
                )
            continue
        if not any(group.urn in function.dependencies for group in named):
            yield RuleViolation(
                function, "dependsOn", f"must depend on its log group {named[0].name}"
            )


def check_export_keys(
    resources: Sequence[Resource], context: StackContext
) -> Iterator[RuleViolation]:
    prefix = export_key(context.environment, "")
    for stack in (resource for resource in resources if resource.type == ROOT_STACK):
        for key in stack.props:
            if not key.startswith(prefix):
                yield RuleViolation(
                    stack, f"exports.{key}", f"export keys must start with {prefix!r}"
                )


# --------------------------------------------------------------------------- the rule set
RULES: tuple[Rule, ...] = (
    ResourceRule(
        name="required-tags",
        description=(
            "Every AWS resource that takes tags carries Environment, Project, Layer and "
            "ManagedBy, with its own environment and layer. Mandatory: cost, ownership and "
            "tag-scoped access and clean-up find resources by these tags; an untagged or "
            "mistagged resource escapes all of them."
        ),
        enforcement=MANDATORY,
        applies_to=accepts_tags,
        check=check_required_tags,
    ),
    ResourceRule(
        name="physical-names",
        description=(
            "Every resource AWS knows by a name is named {environment}-{service}-{resource} "
            "(after a prefix AWS imposes, such as /aws/lambda/). Advisory: a name off the rule "
            "is a smell (harder to find and to scope in IAM), not a grant; invoke check fails "
            "on it before merge."
        ),
        enforcement=ADVISORY,
        applies_to=has_physical_name,
        check=check_physical_name,
    ),
    ResourceRule(
        name="iam-least-privilege",
        description=(
            "IAM documents allow no wildcard action, no NotAction or NotResource, and "
            'Resource "*" only for the X-Ray write actions (which accept no other). '
            "Mandatory: each of these grants more than the code needs."
        ),
        enforcement=MANDATORY,
        applies_to=is_iam_type,
        check=check_least_privilege,
    ),
    ResourceRule(
        name="iam-environment-isolation",
        description=(
            "Every ARN an IAM document grants names a resource of the stack's own environment. "
            "Mandatory: an ARN of another environment (or of none) lets one environment reach "
            "another's data."
        ),
        enforcement=MANDATORY,
        applies_to=is_iam_type,
        check=check_environment_isolation,
    ),
    StackRule(
        name="s3-bucket-security",
        description=(
            "Every bucket has versioning Enabled, a public-access block with all four flags, "
            "default encryption, ACLs disabled (BucketOwnerEnforced) and a policy denying "
            "requests not made over TLS. A stack policy: these are separate resources. "
            "Mandatory: without any one the data can go public, travel in clear, or be lost "
            "to an overwrite."
        ),
        enforcement=MANDATORY,
        check=check_bucket_security,
    ),
    StackRule(
        name="lambda-log-group",
        description=(
            "Every function logs to a log group this stack creates, and depends on it. "
            "A stack policy: only the stack shows dependencies. Advisory: a function created "
            "first gets a log group from Lambda, without retention, and the stack's own "
            "create then fails; an ordering smell, no exposure."
        ),
        enforcement=ADVISORY,
        check=check_function_log_group,
    ),
    ResourceRule(
        name="log-retention",
        description=(
            "Every log group sets retentionInDays. Advisory: logs kept forever cost money "
            "and keep data longer than needed, but expose nothing."
        ),
        enforcement=ADVISORY,
        applies_to=lambda type_token: type_token == LOG_GROUP,
        check=check_log_retention,
    ),
    ResourceRule(
        name="lambda-tracing",
        description=(
            "Every function's tracingConfig.mode is Active where pipeline:tracing is true, "
            "PassThrough elsewhere. Advisory: a mismatch loses traces or pays for unwanted "
            "ones; it grants nothing."
        ),
        enforcement=ADVISORY,
        applies_to=lambda type_token: type_token == FUNCTION,
        check=check_tracing,
    ),
    StackRule(
        name="export-keys",
        description=(
            "Every stack export starts with the environment name ({environment}_key). A stack "
            "policy: exports are the root stack resource's outputs. Advisory: a key off the "
            "rule is one the layers downstream do not read; invoke check's contract check "
            "fails on it before merge."
        ),
        enforcement=ADVISORY,
        check=check_export_keys,
    ),
)
