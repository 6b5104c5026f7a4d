"""Reading what ``pulumi ... --json`` prints: change counts, changed resources, errors.

The shapes, from Pulumi's own sources (the CLI documents ``-j, --json`` as "Serialize the
preview diffs, operations, and overall output as JSON" without a schema):

- ``pulumi preview --json`` prints one JSON document when the preview ends, a
  ``PreviewDigest`` (pulumi/pulumi ``pkg/display/json.go``; rendered by ``ShowPreviewDigest``
  in ``pkg/backend/display/json.go``): ``config``, ``steps`` (``op``, ``urn``, ``provider``,
  ``oldState``, ``newState``, ``diffReasons``, ``replaceReasons``, ``detailedDiff`` keyed by
  property path), ``diagnostics`` (``urn``, ``prefix``, ``message``, ``severity``),
  ``duration``, ``changeSummary`` (operation -> count) and ``maybeCorrupt``.
- ``pulumi up --json`` and ``pulumi destroy --json`` (Pulumi CLI v3.17.0 and later) stream
  one engine event per line, ``apitype.EngineEvent`` (``sdk/go/common/apitype/events.go``):
  ``sequence``, ``timestamp`` and exactly one ``<kind>Event`` object; the ``summaryEvent``
  at the end carries ``resourceChanges`` (operation -> count).

The tasks run pulumi on a pty (so that an interrupt reaches it), which merges its stderr into
stdout: the readers below pick the JSON out of whatever else was printed, and never raise on
what they cannot read; they say what was missing instead.

Import-light: standard library only.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from shared.pulumi_cli import first_error_line

# Operations that change nothing: a resource left as it is, one read from the provider (a
# `get`), the refresh of a resource's state.
NO_CHANGE_OPS = frozenset({"same", "read", "refresh"})
ROOT_STACK_TYPE = "pulumi:pulumi:Stack"
# Colour in a message: terminal escapes, and Pulumi's own markup (`<{%fg 1%}>`).
_COLOUR = re.compile(r"\x1b\[[0-9;]*[A-Za-z]|<\{%[^%]*%\}>")
_EVENT_KINDS = (
    "cancelEvent",
    "stdoutEvent",
    "diagnosticEvent",
    "preludeEvent",
    "summaryEvent",
    "resourcePreEvent",
    "resOutputsEvent",
    "resOpFailedEvent",
    "policyEvent",
)


def plain(text: str) -> str:
    return _COLOUR.sub("", text)


@dataclass(frozen=True)
class ResourceChange:
    """One resource a preview would change: its URN, the operation, the properties that
    differ (the keys of ``detailedDiff``, else ``diffReasons``, else ``replaceReasons``)."""

    urn: str
    op: str
    properties: tuple[str, ...] = ()

    @property
    def type(self) -> str:
        # urn:pulumi:<stack>::<project>::<parent type>$<type>::<name>
        parts = self.urn.split("::")
        return parts[2].split("$")[-1] if len(parts) >= 4 else ""

    @property
    def name(self) -> str:
        parts = self.urn.split("::")
        return parts[-1] if len(parts) >= 4 else self.urn

    def describe(self) -> str:
        properties = f": {', '.join(self.properties)}" if self.properties else ""
        return f"{self.op} {self.type} {self.name}{properties}".replace("  ", " ")

    def as_dict(self) -> dict[str, Any]:
        return {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "op": self.op,
            "properties": list(self.properties),
        }


@dataclass(frozen=True)
class PulumiJson:
    """What one run's JSON said. ``changes`` is None when no change counts could be read, and
    ``problem`` then says why."""

    changes: dict[str, int] | None = None
    resources: tuple[ResourceChange, ...] = ()
    errors: tuple[str, ...] = ()
    problem: str = ""
    messages: tuple[str, ...] = field(default=(), repr=False)

    @property
    def has_changes(self) -> bool | None:
        """True when a resource would change (or did), False when none, None when unknown."""
        if self.resources:
            return True
        if self.changes is None:
            return None
        return any(count for op, count in self.changes.items() if op not in NO_CHANGE_OPS)

    def text(self) -> str:
        """Every diagnostic message, uncoloured: for the hints that search pulumi's words."""
        return "\n".join(self.messages)


def format_changes(changes: dict[str, int] | None) -> str:
    """``create 2, same 3``; ``-`` when unknown."""
    if changes is None:
        return "-"
    return ", ".join(f"{op} {count}" for op, count in sorted(changes.items()) if count) or "none"


def _counts(value: Any) -> dict[str, int] | None:
    if not isinstance(value, dict):
        return None
    if not all(
        isinstance(op, str) and isinstance(count, int) and not isinstance(count, bool)
        for op, count in value.items()
    ):
        return None
    return dict(value)


def _objects(text: str) -> Iterator[dict[str, Any]]:
    """Every JSON object that starts a line, in order (pulumi's other lines are skipped)."""
    decoder = json.JSONDecoder()
    position = 0
    while position < len(text):
        start = text.find("{", position)
        if start < 0:
            return
        line_start = text.rfind("\n", 0, start) + 1
        if text[line_start:start].strip("\r"):  # not at the start of a line: inside something
            position = start + 1
            continue
        try:
            value, end = decoder.raw_decode(text, start)
        except ValueError:
            position = start + 1
            continue
        if isinstance(value, dict):
            yield value
        position = end


def _properties(step: dict[str, Any]) -> tuple[str, ...]:
    for key in ("detailedDiff", "diffReasons", "replaceReasons", "diffs", "keys"):
        value = step.get(key)
        if isinstance(value, dict) and value:
            return tuple(sorted(str(name) for name in value))
        if isinstance(value, list) and value:
            return tuple(str(name) for name in value)
    return ()


def _change(step: Any) -> ResourceChange | None:
    if not isinstance(step, dict):
        return None
    op, urn = step.get("op"), step.get("urn")
    if not isinstance(op, str) or not isinstance(urn, str) or op in NO_CHANGE_OPS:
        return None
    change = ResourceChange(urn, op, _properties(step))
    return None if change.type == ROOT_STACK_TYPE else change


def _diagnostic(value: Any) -> tuple[str, str] | None:
    if not isinstance(value, dict):
        return None
    message = plain(f"{value.get('prefix') or ''}{value.get('message') or ''}").strip()
    severity = value.get("severity")
    return (severity if isinstance(severity, str) else "", message) if message else None


def _no_json(text: str, what: str) -> PulumiJson:
    shown = first_error_line(plain(text)) if text.strip() else "(no output)"
    return PulumiJson(problem=f"pulumi printed no {what}: {shown}", messages=(plain(text),))


def read_preview(text: str) -> PulumiJson:
    """The ``PreviewDigest`` in what ``pulumi preview --json`` printed (the last JSON object
    that starts a line; pulumi prints it when the preview ends)."""
    documents = [value for value in _objects(text) if not any(k in value for k in _EVENT_KINDS)]
    if not documents:
        return _no_json(text, "preview JSON")
    digest = documents[-1]
    diagnostics = [
        found for found in map(_diagnostic, digest.get("diagnostics") or []) if found is not None
    ]
    steps = digest.get("steps")
    resources = tuple(
        found
        for found in map(_change, steps if isinstance(steps, list) else [])
        if found is not None
    )
    changes = _counts(digest.get("changeSummary"))
    problem = "" if changes is not None else "pulumi's preview JSON has no changeSummary counts"
    return PulumiJson(
        changes=changes,
        resources=resources,
        errors=tuple(message for severity, message in diagnostics if severity == "error"),
        problem=problem,
        messages=(*(message for _, message in diagnostics), plain(text)),
    )


def read_events(text: str) -> PulumiJson:
    """The engine events ``pulumi up --json`` / ``pulumi destroy --json`` streamed: the change
    counts of the last ``summaryEvent``, the resources that changed, the error diagnostics."""
    events = [value for value in _objects(text) if any(k in value for k in _EVENT_KINDS)]
    if not events:
        return _no_json(text, "JSON engine events")
    changes: dict[str, int] | None = None
    summary_seen = False
    resources: dict[str, ResourceChange] = {}
    diagnostics: list[tuple[str, str]] = []
    for event in events:
        if isinstance(event.get("summaryEvent"), dict):
            summary_seen = True
            changes = _counts(event["summaryEvent"].get("resourceChanges"))
        for kind in ("resourcePreEvent", "resOutputsEvent"):
            payload = event.get(kind)
            if isinstance(payload, dict):
                change = _change(payload.get("metadata"))
                if change is not None:
                    resources[change.urn] = change
        found = _diagnostic(event.get("diagnosticEvent"))
        if found is not None and not (event["diagnosticEvent"].get("ephemeral")):
            diagnostics.append(found)
    problem = ""
    if changes is None:
        problem = (
            "pulumi's summaryEvent has no resourceChanges counts"
            if summary_seen
            else "pulumi's JSON events end without a summaryEvent"
        )
    return PulumiJson(
        changes=changes,
        resources=tuple(resources.values()),
        errors=tuple(message for severity, message in diagnostics if severity == "error"),
        problem=problem,
        messages=(*(message for _, message in diagnostics), plain(text)),
    )


def describe_event(event: dict[str, Any]) -> str | None:
    """One line for a person about an engine event, or None for the ones not worth one."""
    payload = event.get("resOutputsEvent")
    if isinstance(payload, dict):
        change = _change(payload.get("metadata"))
        return f"  done: {change.describe()}" if change else None
    payload = event.get("resOpFailedEvent")
    if isinstance(payload, dict):
        metadata = payload.get("metadata") or {}
        urn = metadata.get("urn") if isinstance(metadata, dict) else None
        op = metadata.get("op") if isinstance(metadata, dict) else None
        return f"  failed: {ResourceChange(str(urn), str(op)).describe()}"
    payload = event.get("diagnosticEvent")
    if isinstance(payload, dict) and not payload.get("ephemeral"):
        found = _diagnostic(payload)
        if found and found[0] in ("error", "warning"):
            return f"  {found[0]}: {found[1]}"
        return None
    payload = event.get("policyEvent")
    if isinstance(payload, dict):
        return (
            f"  policy {payload.get('policyPackName')}/{payload.get('policyName')} "
            f"({payload.get('enforcementLevel')}): {plain(str(payload.get('message', ''))).strip()}"
        )
    payload = event.get("summaryEvent")
    if isinstance(payload, dict):
        return f"  resources: {format_changes(_counts(payload.get('resourceChanges')))}"
    return None


class JsonEcho:
    """Stands in for the terminal while pulumi prints JSON (invoke's ``out_stream``): one
    readable line per engine event worth it, every line that is not JSON as it is (pulumi's
    own error lines), and a preview's JSON document held back (it is summarised after)."""

    def __init__(self, write: Callable[[str], None] | None = None) -> None:
        self._write = write or self._stdout
        self._pending = ""
        self._in_document = False

    @staticmethod
    def _stdout(line: str) -> None:
        print(line, flush=True)

    def write(self, data: str) -> int:
        self._pending += data
        while "\n" in self._pending:
            line, self._pending = self._pending.split("\n", 1)
            self._line(line.rstrip("\r"))
        return len(data)

    def flush(self) -> None:
        sys.stdout.flush()

    def close(self) -> None:
        if self._pending.strip():
            self._line(self._pending.rstrip("\r"))
        self._pending = ""

    def _line(self, line: str) -> None:
        if self._in_document:
            self._in_document = line != "}"
            return
        if line == "{":
            self._in_document = True
            return
        if line.startswith("{"):
            try:
                event = json.loads(line)
            except ValueError:
                event = None
            if isinstance(event, dict):
                described = describe_event(event)
                if described:
                    self._write(described)
                return
        if line.strip():
            self._write(line)
