"""The offline runner of the policy pack's rules (``policies/rules.py``).

``pulumi up --policy-pack policies`` runs the rules through CrossGuard; this runs the very same
rule functions on the stacks ``shared.harness`` renders, for ``invoke check`` and the tests.
A rendered stack is shown to the rules as the engine would show it to the pack: every
registered resource with its inputs, parent and dependencies, plus the root stack resource
whose properties are the stack's exports.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from policies.rules import (
    ROOT_STACK,
    RULES,
    Resource,
    ResourceRule,
    Rule,
    RuleViolation,
    StackContext,
)
from shared.harness import RenderedStack
from shared.layers import STACK_RESOURCE


@dataclass(frozen=True)
class Violation:
    layer: str
    environment: str
    resource: str  # the logical name; STACK_RESOURCE for the stack's exports
    input: str
    message: str
    rule: str  # the policy's name in the pack

    def __str__(self) -> str:
        return f"{self.layer}/{self.environment} {self.resource} {self.input}: {self.message}"


def root_stack_urn(stack: RenderedStack) -> str:
    """The URN Pulumi gives a stack's root resource (its name is ``<project>-<stack>``)."""
    env, project = stack.environment, stack.project
    return f"urn:pulumi:{env}::{project}::{ROOT_STACK}::{project}-{env}"


def stack_resources(stack: RenderedStack) -> list[Resource]:
    """A rendered stack as the engine shows it to a stack policy."""
    root = Resource(
        urn=root_stack_urn(stack),
        type=ROOT_STACK,
        name=f"{stack.project}-{stack.environment}",
        props=dict(stack.exports),
    )
    return [
        root,
        *(
            Resource(
                urn=resource.urn,
                type=resource.type,
                name=resource.name,
                props=resource.inputs,
                parent=resource.parent,
                dependencies=resource.dependencies,
            )
            for resource in stack
        ),
    ]


def stack_context(stack: RenderedStack, environments: Iterable[str]) -> StackContext:
    return StackContext(
        environment=stack.environment,
        layer=stack.layer,
        environments=tuple(environments),
        config=stack.config.get,
    )


def rule_violations(
    stack: RenderedStack, environments: Iterable[str], rules: Iterable[Rule] = RULES
) -> list[tuple[Rule, RuleViolation]]:
    """Every (rule, violation) of one rendered stack, in the order of ``rules``."""
    context = stack_context(stack, environments)
    resources = stack_resources(stack)
    found: list[tuple[Rule, RuleViolation]] = []
    for rule in rules:
        if isinstance(rule, ResourceRule):
            for resource in resources:
                found += [(rule, violation) for violation in rule.violations(resource, context)]
        else:
            found += [(rule, violation) for violation in rule.violations(resources, context)]
    return found


def policy_violations(
    stack: RenderedStack, environments: Iterable[str], rules: Iterable[Rule] = RULES
) -> list[Violation]:
    """Every rule of the pack broken by one rendered stack; ``environments`` are all known
    environments."""
    return [
        Violation(
            layer=stack.layer,
            environment=stack.environment,
            resource=STACK_RESOURCE
            if violation.resource.type == ROOT_STACK
            else (violation.resource.name),
            input=violation.input,
            message=violation.message,
            rule=rule.name,
        )
        for rule, violation in rule_violations(stack, environments, rules)
    ]
