"""The stack files themselves: which environments exist, their promotion order, and the
settings layers share.

Read straight from ``projects/<layer>/Pulumi.yaml`` and ``Pulumi.<env>.yaml`` (no Pulumi
import), so these checks run, and name the file at fault, even when a stack cannot be
rendered.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from shared.consistency.architecture import odd_ones_out
from shared.consistency.report import Finding
from shared.environments import (
    PROMOTION_FILE,
    promotion_order,
    read_stack_config,
    stack_file,
    stack_file_environments,
)
from shared.errors import PipelineError
from shared.layers import LayerGraph

STACK_FILES = "stack-files"
SHARED_SETTINGS_CHECK = "shared-settings"


NOT_SET = "(not set)"


@dataclass(frozen=True)
class SharedSetting:
    key: str
    default: str | None  # what a layer without the key uses; None: compared where present
    why: str


def shared_settings() -> tuple[SharedSetting, ...]:
    """Settings several layers read that must agree within an environment."""
    from shared.stack import SELF_MANAGED_BACKEND_ORG  # imports pulumi; only when checking

    return (
        SharedSetting("aws:region", None, "upstream ARNs and names are read across layers"),
        SharedSetting("pipeline:project", None, "the Project tag on every resource"),
        SharedSetting(
            "pipeline:org",
            SELF_MANAGED_BACKEND_ORG,
            "StackReferences name upstream stacks as {org}/{project}/{env}",
        ),
        SharedSetting(
            "pipeline:tracing", None, "X-Ray tracing: a role's grant and a function's mode agree"
        ),
        SharedSetting(
            "aws:allowedAccountIds",
            NOT_SET,
            "the one AWS account this environment may be deployed to: every layer refuses "
            "other credentials, or none does",
        ),
    )


def missing_stack_files(graph: LayerGraph, environments: Sequence[str]) -> list[Finding]:
    """An environment is deployable only when every layer has a stack file for it."""
    findings = []
    for environment in environments:
        for layer in graph:
            path = stack_file(layer, environment)
            if not path.is_file():
                findings.append(
                    Finding(
                        check=STACK_FILES,
                        layer=layer.name,
                        environment=environment,
                        resource=path.name,
                        input="-",
                        message=f"missing: {layer.shown(path)} (every layer needs one; "
                        f"`invoke new-env --name {environment} --from ENV` writes them all)",
                    )
                )
    return findings


def promotion_order_mismatches(graph: LayerGraph) -> list[Finding]:
    """``projects/environments.yaml`` orders exactly the environments that have stack files."""
    where = f"projects/{PROMOTION_FILE}"
    try:
        order = promotion_order(graph)
    except PipelineError as error:
        return [Finding(STACK_FILES, "-", "-", where, "promotion_order", str(error))]
    present = stack_file_environments(graph)
    findings = [
        Finding(
            STACK_FILES,
            "-",
            environment,
            where,
            "promotion_order",
            f"{environment!r} has stack files but no place in the promotion order: add it "
            f"where CI should deploy it (`invoke new-env --after ENV` does this)",
        )
        for environment in sorted(present - set(order))
    ]
    findings += [
        Finding(
            STACK_FILES,
            "-",
            environment,
            where,
            "promotion_order",
            f"{environment!r} is in the promotion order but no layer has a stack file for it",
        )
        for environment in order
        if environment not in present
    ]
    return findings


def shared_setting_disagreements(graph: LayerGraph, environments: Sequence[str]) -> list[Finding]:
    """Within each environment, every shared setting the same for every layer (its project's
    config overlaid with its stack file)."""
    findings = []
    settings = shared_settings()
    for environment in environments:
        configs = {
            layer.name: read_stack_config(layer, environment)
            for layer in graph
            if stack_file(layer, environment).is_file()
        }
        for setting in settings:
            values = {
                layer: config.get(setting.key, setting.default)
                for layer, config in configs.items()
                if setting.key in config or setting.default is not None
            }
            if len(set(values.values())) <= 1:
                continue
            odd_layers = odd_ones_out(values)
            findings.append(
                Finding(
                    check=SHARED_SETTINGS_CHECK,
                    layer=", ".join(odd_layers),
                    environment=environment,
                    resource=f"Pulumi.{environment}.yaml",
                    input=setting.key,
                    message=f"must be the same in every layer's stack file ({setting.why})",
                    values=values,
                    values_by="layer",
                )
            )
    return findings
