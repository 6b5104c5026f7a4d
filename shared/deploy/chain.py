"""Run a step per layer, Terragrunt ``run --all`` style: the first failure stops the chain,
the layers after it are reported "not run", and a summary table ends every run (also a failed
or interrupted one), with the JSON report and the job summary when asked for.

An interrupt (Ctrl-C, SIGINT, SIGTERM) stops the chain too: the layer it arrived in is
"interrupted" once its pulumi command has finished or cancelled, no later layer starts, and
the run exits 128 + the signal number (``shared.deploy.interrupts``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from time import monotonic

from shared.deploy.interrupts import Interrupted, Interrupts
from shared.deploy.policy_pack import PolicyPackUse
from shared.deploy.pulumi_json import ResourceChange, format_changes
from shared.deploy.report import (
    append_step_summary,
    report_document,
    summary_markdown,
    utc_now,
    write_report,
)
from shared.errors import EXIT_FAILURE, PipelineError, task_exit
from shared.layers import Layer
from shared.text import Painter, format_table, say, use_colour

DONE = "done"
FAILED = "failed"
NOT_RUN = "not run"
INTERRUPTED = "interrupted"
BLOCKED = "blocked"  # preview only: the stack, or an upstream one, has never been deployed
SKIPPED = "skipped"  # destroy only: the stack does not exist, so there is nothing to destroy
# preview, when its JSON is read (--report, --expect-no-changes):
CHANGES = "changes"
NO_CHANGES = "no changes"
# drift:
IN_SYNC = "in sync"
DRIFTED = "drifted"
NOT_DEPLOYED = "not deployed"
ERROR = "error"

FAILURES = frozenset({FAILED, ERROR})
# A run that found changes it was told to expect none of (preview --expect-no-changes), or
# drift: the task ran and the answer is "not as declared".
EXIT_CHANGES = 3


@dataclass(frozen=True)
class StepResult:
    result: str
    note: str = ""
    changes: dict[str, int] | None = None  # pulumi's counts per operation, when read
    resources: tuple[ResourceChange, ...] = ()  # the resources that would change (or did)


Step = Callable[[Layer], StepResult]


@dataclass(frozen=True)
class Outcome:
    layer: str
    result: str
    seconds: float | None = None
    note: str = ""
    changes: dict[str, int] | None = None
    resources: tuple[ResourceChange, ...] = ()


@dataclass
class Run:
    """One task's run over the layers: what it is, what it was asked to leave behind."""

    action: str
    environment: str
    interrupts: Interrupts = field(default_factory=Interrupts)
    report: Path | None = None
    policy_pack: PolicyPackUse | None = None  # None: the action runs no pack (destroy)
    reads_json: bool = False  # pulumi prints JSON, read for the counts and the resources
    expect_no_changes: bool = False
    stop_on_failure: bool = True
    started: datetime = field(default_factory=lambda: utc_now())


def run_chain(run: Run, layers: tuple[Layer, ...], step: Step) -> list[Outcome]:
    """Run ``step`` per layer in order; after the first failure (or any interrupt) the rest
    are "not run"."""
    outcomes: list[Outcome] = []
    stopped = False
    total = len(layers)
    interrupts = run.interrupts
    for index, layer in enumerate(layers, start=1):
        if stopped or interrupts.received:
            outcomes.append(Outcome(layer.name, NOT_RUN))
            continue
        say()
        say(
            f"==> {run.action} {layer.name} [{index}/{total}] (stack {run.environment}): "
            f"{layer.summary}"
        )
        started = monotonic()
        try:
            done = step(layer)
        except (Interrupted, KeyboardInterrupt):
            interrupts.note()
            done = StepResult(INTERRUPTED)
        if interrupts.received:
            note = f"{interrupts.name} received" + (f"; {done.note}" if done.note else "")
            done = replace(done, result=INTERRUPTED, note=note)
            say(
                f"{layer.name}: {interrupts.name} received; pulumi has finished or cancelled "
                "its operation, and no further layer is started"
            )
        outcomes.append(Outcome(layer.name, seconds=monotonic() - started, **vars(done)))
        stopped = run.stop_on_failure and done.result in FAILURES
    return outcomes


def summary_table(action: str, environment: str, outcomes: list[Outcome]) -> str:
    with_changes = any(outcome.changes is not None for outcome in outcomes)
    rows = [
        [
            outcome.layer,
            outcome.result,
            "-" if outcome.seconds is None else f"{outcome.seconds:.1f}s",
            *([format_changes(outcome.changes)] if with_changes else []),
            outcome.note,
        ]
        for outcome in outcomes
    ]
    headers = ["layer", "result", "duration", *(["changes"] if with_changes else []), "note"]
    table = format_table(headers, rows, Painter(use_colour()))
    return f"{action} summary for {environment}:\n{table}"


def resources_table(outcomes: list[Outcome]) -> str:
    rows = [
        [outcome.layer, resource.op, resource.type, resource.name, ", ".join(resource.properties)]
        for outcome in outcomes
        for resource in outcome.resources
    ]
    headers = ["layer", "change", "type", "resource", "properties"]
    return format_table(headers, rows, Painter(use_colour()))


def _names(outcomes: list[Outcome], *results: str) -> list[str]:
    return [outcome.layer for outcome in outcomes if outcome.result in results]


def verdict(run: Run, outcomes: list[Outcome]) -> tuple[int, str, str]:
    """The exit code, the message that goes with it, and a one-word headline. An interrupt
    outranks a failure, which outranks changes (drift, or --expect-no-changes)."""
    head = f"{run.action} {run.environment}"
    not_run = _names(outcomes, NOT_RUN)
    rest = f"; not run: {', '.join(not_run)}" if not_run else ""
    if run.interrupts.received:
        interrupted = _names(outcomes, INTERRUPTED)
        where = f"during layer {interrupted[0]!r}" if interrupted else "before any layer ran"
        return (
            run.interrupts.exit_code,
            f"{head}: interrupted by {run.interrupts.name} {where}{rest}",
            f"interrupted ({run.interrupts.name})",
        )
    changed = _names(outcomes, DRIFTED, CHANGES)
    if run.action == "drift":
        errors = _names(outcomes, ERROR)
        drifted = f"drifted: {', '.join(changed)}" if changed else ""
        if errors:
            also = f"; {drifted}" if drifted else ""
            return EXIT_FAILURE, f"{head}: could not check {', '.join(errors)}{also}", "error"
        if changed:
            return EXIT_CHANGES, f"{head}: {drifted} (see the table)", "drifted"
        return 0, "", "in sync"
    failed = _names(outcomes, FAILED)
    if failed:
        return EXIT_FAILURE, f"{head}: layer {failed[0]!r} failed{rest}", "failed"
    if run.expect_no_changes:
        unknown = [o.layer for o in outcomes if o.result == DONE and o.changes is None]
        if unknown:
            return (
                EXIT_FAILURE,
                f"{head}: could not tell whether {', '.join(unknown)} would change anything "
                "(see the note); --expect-no-changes cannot be confirmed",
                "unknown",
            )
        pending = changed + _names(outcomes, BLOCKED)
        if pending:
            return (
                EXIT_CHANGES,
                f"{head}: changes in {', '.join(pending)} (--expect-no-changes)",
                "changes",
            )
    if run.action == "preview" and run.reads_json:
        return 0, "", "changes" if changed else "no changes"
    return 0, "", "done"


def finish(run: Run, outcomes: list[Outcome]) -> None:
    """Print the summary (and the resources that changed, for drift); write the report and
    the job summary; exit with the verdict."""
    say()
    say(summary_table(run.action, run.environment, outcomes))
    if run.action == "drift" and any(outcome.resources for outcome in outcomes):
        say()
        say("drifted resources (what a deploy would change back):")
        say(resources_table(outcomes))
    code, message, headline = verdict(run, outcomes)
    append_step_summary(summary_markdown(run, outcomes, headline))
    if run.report is not None:
        document = report_document(run, outcomes, finished=utc_now(), exit_code=code)
        try:
            write_report(run.report, document)
        except PipelineError as error:
            if code == 0:
                raise task_exit(str(error), error.exit_code) from None
            print(f"error: {error}", file=sys.stderr)
        else:
            say(f"report written to {run.report}")
    if code:
        raise task_exit(message, code)
