"""Findings of ``invoke check``, shown side by side, and their JSON form."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.consistency.normalise import ABSENT, display
from shared.text import BOLD, RED, YELLOW, Painter, format_table


@dataclass(frozen=True)
class Finding:
    """One violation: which check, where (layer, environment, resource, input), what, values.

    ``values`` maps the compared thing (an environment, or a layer for shared settings) to
    its value there, so a report shows them side by side; ``values_by`` says which.
    """

    check: str
    layer: str
    environment: str
    resource: str
    input: str
    message: str
    values: dict[str, Any] = field(default_factory=dict)
    values_by: str = "environment"

    @property
    def deviating(self) -> list[str]:
        """The keys of ``values`` that are the odd ones out (named in layer or environment)."""
        named = self.layer if self.values_by == "layer" else self.environment
        return named.split(", ")

    def to_json(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "layer": self.layer,
            "environment": self.environment,
            "resource": self.resource,
            "input": self.input,
            "message": self.message,
            "values": json_values(self.values),
            "values_by": self.values_by,
        }

    def __str__(self) -> str:
        side_by_side = ", ".join(f"{key}={display(value)}" for key, value in self.values.items())
        where = f"{self.check}: {self.layer}/{self.environment} {self.resource} {self.input}"
        return f"{where}: {self.message}" + (f" [{side_by_side}]" if side_by_side else "")


def json_values(values: dict[str, Any]) -> dict[str, Any]:
    """Values for ``--json``: an absent value is ``null``."""
    return {key: None if value is ABSENT else value for key, value in values.items()}


def _common_start(texts: list[str]) -> int:
    """How many leading characters all ``texts`` share."""
    shortest = min(map(len, texts))
    for index in range(shortest):
        if len({text[index] for text in texts}) > 1:
            return index
    return shortest


def _differing_parts(values: dict[str, Any], width: int = 48) -> dict[str, str]:
    """Cells for values side by side: long strings cut to where they differ, so the
    difference stays visible (``...us-west-2:123...`` rather than the ARN's common start)."""
    texts = {key: display(value, width=10_000) for key, value in values.items()}
    if len(texts) < 2 or max(map(len, texts.values())) <= width:
        return {key: display(value, width) for key, value in values.items()}
    prefix = _common_start(list(texts.values()))
    suffix = _common_start([text[::-1] for text in texts.values()])
    cells = {}
    for key, text in texts.items():
        start = max(0, min(prefix, len(text) - suffix) - 12)
        end = min(len(text), max(len(text) - suffix, prefix) + 12)
        cut = ("..." if start else "") + text[start:end] + ("..." if end < len(text) else "")
        cells[key] = cut if len(cut) <= width else display(cut, width)
    return cells


def findings_table(findings: Sequence[Finding], paint: Painter) -> str:
    """One check's findings: where, the values side by side, and what is wrong."""
    value_columns: list[str] = []
    for finding in findings:
        value_columns += [key for key in finding.values if key not in value_columns]
    headers = ["layer", "env", "resource", "input", *value_columns, "problem"]
    rows = []
    for finding in findings:
        cells = _differing_parts(finding.values)
        rows.append(
            [
                finding.layer,
                finding.environment,
                finding.resource,
                finding.input,
                *(cells.get(column, "") for column in value_columns),
                finding.message,
            ]
        )
    first_value, last_value = 4, 4 + len(value_columns)

    def style(row: int, column: int, text: str) -> tuple[str, ...]:
        if column == len(headers) - 1:
            return (RED,)
        if first_value <= column < last_value:
            odd = value_columns[column - first_value] in findings[row].deviating
            return (YELLOW, BOLD) if odd else ()
        return ()

    return format_table(headers, rows, paint, style)
