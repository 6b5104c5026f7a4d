"""``invoke check``: every layer in every environment, rendered offline and compared.

1. architecture: after taking the environment out of names, the same resources, parents,
   dependencies, ``protect`` flags, inputs and exports in every environment, except the
   knobs each layer declares in its ``layer.yaml``;
2. the difference matrix: one row per knob, one column per environment;
3. the rules of the policy pack (``policies/rules.py``, run offline by ``shared.policy``) on
   every rendered stack;
4. the settings several layers share agree across each environment's stack files;
plus the preconditions: every layer has a stack file per environment and the promotion order
names exactly those environments, every stack renders and exports what its layer declares,
no stack names another environment, every knob matches something.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.consistency.architecture import (
    ARCHITECTURE,
    STALE_KNOB,
    MatrixRow,
    compare_layer,
    difference_matrix,
)
from shared.consistency.normalise import (
    ABSENT,
    NormalisedStack,
    display,
    environment_token,
    leaf_paths,
    normalise_stack,
)
from shared.consistency.report import Finding, findings_table, json_values
from shared.consistency.stack_files import (
    SHARED_SETTINGS_CHECK,
    STACK_FILES,
    missing_stack_files,
    promotion_order_mismatches,
    shared_setting_disagreements,
    shared_settings,
)
from shared.environments import environments as environments_with_stack_files
from shared.environments import stack_file
from shared.layers import STACK_RESOURCE, Knob, LayerGraph, load_graph
from shared.text import BOLD, DIM, GREEN, RED, YELLOW, Painter, format_table, plural

if TYPE_CHECKING:
    from shared.harness import RenderedStack

RENDER = "render"
CONTRACT = "contract"
ISOLATION = "isolation"
POLICY = "policy"

# Report order, with what a passing check proved.
CHECK_TITLES: dict[str, tuple[str, str]] = {
    STACK_FILES: ("stack files", "every layer has a stack file for every environment, and "
                  "projects/environments.yaml orders exactly those environments"),
    SHARED_SETTINGS_CHECK: ("shared settings", "{settings} agree across each environment's "
                            "stack files"),
    RENDER: ("render", "{stacks} stacks rendered offline"),
    CONTRACT: ("contract", "every stack exports exactly what its layer.yaml declares"),
    ISOLATION: ("isolation", "no stack names another environment"),
    ARCHITECTURE: ("architecture", "identical across environments apart from the {knobs}"),
    STALE_KNOB: ("allowlist", "every knob matches an input the stacks declare"),
    POLICY: ("policy", "the policy pack's rules (policies/) hold in every stack: tags, names, "
             "IAM least privilege and isolation, bucket protections, Lambda logging and "
             "tracing, export keys"),
}  # fmt: skip

Rendered = dict[str, dict[str, "RenderedStack"]]  # environment -> layer -> stack


@dataclass
class CheckReport:
    graph: LayerGraph
    environments: list[str]
    rendered: Rendered
    matrix: list[MatrixRow]
    findings: list[Finding]
    knobs: Sequence[Knob]

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def stack_count(self) -> int:
        return sum(len(stacks) for stacks in self.rendered.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "environments": self.environments,
            "layers": self.graph.names,
            "stacks_rendered": self.stack_count,
            "matrix": [
                {
                    "layer": row.knob.layer,
                    "resource": row.knob.resource,
                    "input": row.knob.input,
                    "why": row.knob.why,
                    "values": json_values(row.values),
                }
                for row in self.matrix
            ],
            "findings": [finding.to_json() for finding in self.findings],
        }

    def format(self, paint: Painter) -> str:
        layers = self.graph.names
        lines = [
            paint(
                f"Checked {self.stack_count} stacks: {len(layers)} layers ({', '.join(layers)}) "
                f"x {len(self.environments)} environments ({', '.join(self.environments)})",
                BOLD,
            ),
            "",
            paint("Difference matrix: the environment knobs (projects/<layer>/layer.yaml)", BOLD),
            format_matrix(self.matrix, self.environments, paint),
            "",
        ]
        by_check: dict[str, list[Finding]] = {}
        for finding in self.findings:
            by_check.setdefault(finding.check, []).append(finding)
        settings = ", ".join(setting.key for setting in shared_settings())
        for check, (title, proved) in CHECK_TITLES.items():
            found = by_check.pop(check, [])
            if not found:
                summary = proved.format(
                    settings=settings,
                    stacks=self.stack_count,
                    knobs=plural(len(self.knobs), "knob"),
                )
                lines.append(f"{paint('ok  ', GREEN)}  {title}: {summary}")
                continue
            lines.append(f"{paint('FAIL', RED, BOLD)}  {title}: {plural(len(found), 'violation')}")
            lines += [findings_table(found, paint), ""]
        for check, found in by_check.items():  # a check added without a title
            lines += [f"{paint('FAIL', RED, BOLD)}  {check}", findings_table(found, paint)]
        lines.append("")
        if self.ok:
            lines.append(paint("check passed: 0 violations", GREEN, BOLD))
        else:
            counts = Counter(finding.check for finding in self.findings)
            detail = ", ".join(f"{check} {count}" for check, count in counts.items())
            lines.append(
                paint(f"check FAILED: {plural(len(self.findings), 'violation')} ({detail})", RED)
            )
        return "\n".join(lines)


def format_matrix(rows: Sequence[MatrixRow], environments: Sequence[str], paint: Painter) -> str:
    """One row per knob, one column per environment; values unlike the first column marked."""
    headers = ["layer", "resource", "input", *environments]
    cells = [
        [
            row.knob.layer,
            row.knob.resource,
            row.knob.input,
            *(display(row.values.get(env, ABSENT)) for env in environments),
        ]
        for row in rows
    ]

    def style(row: int, column: int, text: str) -> tuple[str, ...]:
        if column < 3:
            return (DIM,) if column == 0 else ()
        return (YELLOW,) if column > 3 and text != cells[row][3] else ()

    return format_table(headers, cells, paint, style)


def render_all(environments: Sequence[str], graph: LayerGraph) -> tuple[Rendered, list[Finding]]:
    """Every layer of every environment, chained by ``render_environment``: a layer that fails
    is a finding (a ``contract`` finding when it exports other keys than it declares), and only
    the layers depending on it are skipped. A layer without a stack file is left to the
    stack-files check (the layers depending on it are still reported)."""
    from shared.harness import LayerContractError, LayerFailure, render_environment

    rendered: Rendered = {}
    findings: list[Finding] = []
    for environment in environments:
        failures: list[LayerFailure] = []
        rendered[environment] = render_environment(environment, graph=graph, failures=failures)
        for failure in failures:
            layer = graph.get(failure.layer)
            if not failure.blocked_by and not stack_file(layer, environment).is_file():
                continue
            check = CONTRACT if isinstance(failure.error, LayerContractError) else RENDER
            findings.append(
                Finding(check, failure.layer, environment, STACK_RESOURCE, "-", failure.message)
            )
    return rendered, findings


def _texts(stack: NormalisedStack) -> Iterator[tuple[str, str, str]]:
    """(resource, path, text) of every name, input path and string value of a stack."""
    for resource in stack.resources.values():
        yield resource.name, "(name)", resource.name
        for path, value in leaf_paths(resource.inputs):
            yield resource.name, path, f"{path} = {value}" if isinstance(value, str) else path
    for path, value in leaf_paths({"exports": stack.exports}):
        yield STACK_RESOURCE, path, f"{path} = {value}"


def mentions_of(stack: NormalisedStack, word: str) -> list[tuple[str, str, str]]:
    """(resource, path, text) wherever ``word`` stands as a whole token in the stack."""
    token = environment_token(word)
    return [found for found in _texts(stack) if token.search(found[2])]


def environment_mentions(
    normalised: dict[str, list[NormalisedStack]], environments: Sequence[str]
) -> list[Finding]:
    """Stacks that still name another environment once their own was taken out.

    That is a reference across environments (dev's policy naming prod's table, an
    environment variable pointing at another environment's queue), or an environment named
    like an ordinary word the stacks use anyway ('east' in us-east-1), which cannot be taken
    out of names reliably (``invoke new-env`` refuses such names).
    """
    findings: list[Finding] = []
    for layer, stacks in normalised.items():
        for stack in stacks:
            for other in environments:
                places = mentions_of(stack, other) if other != stack.environment else []
                if not places:
                    continue
                resource, path, text = places[0]
                findings.append(
                    Finding(
                        ISOLATION,
                        layer,
                        stack.environment,
                        resource,
                        path,
                        f"names environment {other!r} in {len(places)} place(s), e.g. {text}: "
                        f"a stack may name only its own environment (or, if {other!r} is an "
                        "ordinary word here, rename that environment)",
                    )
                )
    return findings


def policy_findings(rendered: Rendered, environments: Sequence[str]) -> list[Finding]:
    # The same rules `pulumi up --policy-pack policies` runs; imports pulumi_aws and
    # pulumi_policy, so only when checking.
    from shared.policy import policy_violations

    return [
        Finding(
            POLICY,
            violation.layer,
            violation.environment,
            violation.resource,
            violation.input,
            violation.message,
        )
        for stacks in rendered.values()
        for stack in stacks.values()
        for violation in policy_violations(stack, environments)
    ]


def run_check(
    graph: LayerGraph | None = None, environments: Sequence[str] | None = None
) -> CheckReport:
    """Render and compare every layer in every environment of ``graph`` (default: this
    repository's layers)."""
    graph = graph or load_graph()
    environments = list(environments or environments_with_stack_files(graph))
    knobs = graph.knobs()
    findings = missing_stack_files(graph, environments)
    findings += promotion_order_mismatches(graph)
    findings += shared_setting_disagreements(graph, environments)
    rendered, render_findings = render_all(environments, graph)
    findings += render_findings

    normalised: dict[str, list[NormalisedStack]] = {
        layer.name: [
            normalise_stack(stacks[layer.name])
            for stacks in rendered.values()
            if layer.name in stacks
        ]
        for layer in graph
    }
    findings += environment_mentions(normalised, environments)
    for layer, stacks in normalised.items():
        if len(stacks) > 1:
            findings += compare_layer(layer, stacks, knobs)
    matrix, stale_knobs = difference_matrix(normalised, knobs)
    findings += stale_knobs
    findings += policy_findings(rendered, environments)
    return CheckReport(graph, environments, rendered, matrix, findings, knobs)
