"""Run a step per layer, Terragrunt ``run --all`` style: the first failure stops the chain,
the layers after it are reported "not run", and a summary table ends every run."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from shared.errors import EXIT_FAILURE, task_exit
from shared.layers import Layer
from shared.text import Painter, format_table, say, use_colour

DONE = "done"
FAILED = "failed"
NOT_RUN = "not run"
BLOCKED = "blocked"  # preview only: the stack, or an upstream one, has never been deployed
SKIPPED = "skipped"  # destroy only: the stack does not exist, so there is nothing to destroy

Step = Callable[[Layer], tuple[str, str]]


@dataclass(frozen=True)
class Outcome:
    layer: str
    result: str
    seconds: float | None = None
    note: str = ""


def run_chain(
    action: str,
    environment: str,
    layers: tuple[Layer, ...],
    step: Step,
    clock: Callable[[], float] = time.monotonic,
) -> list[Outcome]:
    """Run ``step`` per layer in order; after the first failure the rest are "not run"."""
    outcomes: list[Outcome] = []
    stopped = False
    total = len(layers)
    for index, layer in enumerate(layers, start=1):
        if stopped:
            outcomes.append(Outcome(layer.name, NOT_RUN))
            continue
        say()
        say(f"==> {action} {layer.name} [{index}/{total}] (stack {environment}): {layer.summary}")
        started = clock()
        result, note = step(layer)
        outcomes.append(Outcome(layer.name, result, clock() - started, note))
        stopped = result == FAILED
    return outcomes


def summary_table(action: str, environment: str, outcomes: list[Outcome]) -> str:
    rows = [
        [
            outcome.layer,
            outcome.result,
            "-" if outcome.seconds is None else f"{outcome.seconds:.1f}s",
            outcome.note,
        ]
        for outcome in outcomes
    ]
    table = format_table(["layer", "result", "duration", "note"], rows, Painter(use_colour()))
    return f"{action} summary for {environment}:\n{table}"


def finish(action: str, environment: str, outcomes: list[Outcome]) -> None:
    """Print the summary; exit non-zero naming the failed layer and those not run."""
    say()
    say(summary_table(action, environment, outcomes))
    failed = [outcome.layer for outcome in outcomes if outcome.result == FAILED]
    if failed:
        not_run = [outcome.layer for outcome in outcomes if outcome.result == NOT_RUN]
        message = f"{action} {environment}: layer {failed[0]!r} failed"
        if not_run:
            message += f"; not run: {', '.join(not_run)}"
        raise task_exit(message, EXIT_FAILURE)
