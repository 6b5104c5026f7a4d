"""What a run leaves behind for machines: the JSON report (``--report FILE``) and, inside
GitHub Actions, a Markdown table appended to the job summary (``$GITHUB_STEP_SUMMARY``).

Import-light: standard library and ``shared`` only.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.deploy.pulumi_json import format_changes
from shared.errors import EXIT_FAILURE, PipelineError

if TYPE_CHECKING:
    from shared.deploy.chain import Outcome, Run

REPORT_VERSION = 1
STEP_SUMMARY_VARIABLE = "GITHUB_STEP_SUMMARY"


class ReportError(PipelineError):
    exit_code = EXIT_FAILURE


def utc_now() -> datetime:
    return datetime.now(UTC)


def timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def check_report_path(value: str | None) -> Path | None:
    """The file ``--report`` names, checked before anything runs: a file in a folder that
    exists (it is written when the run ends, also when it fails or is interrupted)."""
    if value is None:
        return None
    if not value.strip():
        raise PipelineError(
            "--report is empty: give the file to write the JSON report to, e.g. "
            "--report report.json, or leave the flag out"
        )
    path = Path(value)
    if path.is_dir():
        raise PipelineError(f"--report {value!r} is a folder: give a file name inside it")
    folder = path.parent
    if not folder.is_dir():
        raise PipelineError(
            f"--report {value!r}: folder {str(folder)!r} does not exist; create it first or "
            "write the report somewhere else"
        )
    return path


def outcome_document(outcome: Outcome) -> dict[str, Any]:
    return {
        "layer": outcome.layer,
        "status": outcome.result,
        "duration_seconds": None if outcome.seconds is None else round(outcome.seconds, 3),
        "note": outcome.note,
        "changes": outcome.changes,
        "resources": [resource.as_dict() for resource in outcome.resources],
    }


def report_document(
    run: Run, outcomes: list[Outcome], *, finished: datetime, exit_code: int
) -> dict[str, Any]:
    return {
        "version": REPORT_VERSION,
        "environment": run.environment,
        "action": run.action,
        "started": timestamp(run.started),
        "finished": timestamp(finished),
        "exit_code": exit_code,
        "interrupted_by": run.interrupts.name or None,
        "policy_pack": run.policy_pack.as_dict() if run.policy_pack else None,
        "layers": [outcome_document(outcome) for outcome in outcomes],
    }


def write_report(path: Path, document: dict[str, Any]) -> None:
    """Write the whole report or nothing: a temporary file in the same folder, renamed."""
    text = json.dumps(document, indent=2) + "\n"
    temporary: str | None = None
    try:
        with tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.", delete=False
        ) as file:
            temporary = file.name
            file.write(text)
        os.replace(temporary, path)
    except OSError as error:
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)
        raise ReportError(f"could not write the report {str(path)!r}: {error.strerror}") from None


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ") or " "


def summary_markdown(run: Run, outcomes: list[Outcome], headline: str) -> str:
    """The job summary: one table of layers, and the resources each one would change."""
    structured = any(outcome.changes is not None for outcome in outcomes)
    headers = ["layer", "result", "duration", *(["changes"] if structured else []), "note"]
    lines = [f"### {run.action} {run.environment}: {headline}", ""]
    if run.policy_pack and run.policy_pack.skipped:
        lines += ["> **WARNING: policy pack skipped** (--skip-policy-pack)", ""]
    lines += ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for outcome in outcomes:
        duration = "-" if outcome.seconds is None else f"{outcome.seconds:.1f}s"
        changes = [format_changes(outcome.changes)] if structured else []
        cells = [outcome.layer, outcome.result, duration, *changes, outcome.note]
        lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    for outcome in outcomes:
        if outcome.resources:
            lines += ["", f"**{outcome.layer}**:", ""]
            lines += [f"- `{resource.describe()}`" for resource in outcome.resources]
    return "\n".join(lines) + "\n"


def append_step_summary(markdown: str) -> None:
    """Append to the file ``$GITHUB_STEP_SUMMARY`` names, when it is set (GitHub Actions)."""
    target = os.environ.get(STEP_SUMMARY_VARIABLE)
    if not target:
        return
    try:
        with open(target, "a", encoding="utf-8") as file:
            file.write(markdown + "\n")
    except OSError as error:
        print(
            f"warning: could not append the summary to ${STEP_SUMMARY_VARIABLE} "
            f"({target}): {error.strerror}",
            file=sys.stderr,
        )
