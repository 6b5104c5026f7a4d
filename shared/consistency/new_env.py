"""``invoke new-env``: replicate an environment under a new name, all or nothing.

Each layer's ``Pulumi.<source>.yaml`` is copied to ``Pulumi.<name>.yaml`` with the source
environment's name replaced where it stands as a whole token in a value (``dev-alerts`` ->
``qa-alerts``), never inside another word (``device``) and never in a key. The source stack's
secrets-provider keys (``encryptionsalt``...: ``SECRETS_PROVIDER_KEYS``) are left out: they
belong to the source's stack, and Pulumi writes fresh ones when the new stack is created. The
result is parsed back and compared with the source, so a substitution that changes a value's
YAML type (a new name like ``true``) or touches a key is refused instead of written. The new
environment is placed in the promotion order (after ``--after``, by default last).

Nothing is written until the result is proven: the new files are first written into a
scratch copy of ``projects/``, ``invoke check`` runs there over every environment, and only a
passing result is moved into place, with the new environment's snapshots. Existing files are
never overwritten (each new file is created with exclusive mode); a failure half-way removes
what was written.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml

from shared.consistency.check import CHECK_TITLES, CheckReport, mentions_of, run_check
from shared.consistency.normalise import (
    UNKNOWN_DISPLAY,
    UNKNOWN_SENTINEL,
    environment_token,
    normalise_stack,
)
from shared.consistency.report import findings_table
from shared.consistency.snapshots import snapshot_path, snapshot_text
from shared.environments import (
    ENVIRONMENT_NAME_RULE,
    SECRETS_PROVIDER_KEYS,
    environments,
    promotion_file,
    promotion_order,
    read_stack_config,
    stack_file,
    validate_environment_name,
)
from shared.errors import EXIT_FAILURE, PipelineError, StackEnvironmentError
from shared.layers import LayerGraph, load_graph, shown_path
from shared.text import BOLD, RED, Painter, plural

# A mapping key and its colon (``  aws:region:``), the rest of the line being the value. Keys
# may contain colons (``aws:region``); the key ends at the first colon followed by a blank.
_KEY = re.compile(r"^(\s*(?:-\s+)?[^\s#'\"-][^#]*?:)(?=\s|$)")
# A top-level secrets-provider key; its value may continue on the indented lines after it.
_SECRETS_KEY = re.compile(rf"^({'|'.join(SECRETS_PROVIDER_KEYS)})\s*:(?=\s|$)")


class NewEnvironmentRefused(StackEnvironmentError):
    """The new environment, as it would be written, fails ``invoke check``: nothing written."""

    exit_code = EXIT_FAILURE

    def __init__(self, message: str, report: CheckReport) -> None:
        super().__init__(message)
        self.report = report


# How many findings of each check a refused new environment shows (the rest are counted).
SHOWN_FINDINGS = 5


@dataclass
class RefusedCheckReport(CheckReport):
    """The check of the scratch copy that refused a new environment. It prints short: the
    failing findings (``SHOWN_FINDINGS`` of each check at most) and their count, not the
    matrix and the checks that passed, which say nothing about why; as JSON, in full."""

    def format(self, paint: Painter) -> str:
        by_check: dict[str, list[Any]] = {}
        for finding in self.findings:
            by_check.setdefault(finding.check, []).append(finding)
        lines = []
        for check, found in by_check.items():
            title = CHECK_TITLES.get(check, (check, ""))[0]
            lines.append(f"{paint('FAIL', RED, BOLD)}  {title}: {plural(len(found), 'violation')}")
            lines.append(findings_table(found[:SHOWN_FINDINGS], paint))
            if len(found) > SHOWN_FINDINGS:
                lines.append(f"  ... and {len(found) - SHOWN_FINDINGS} more")
        counts = Counter(finding.check for finding in self.findings)
        detail = ", ".join(f"{check} {count}" for check, count in counts.items())
        lines.append(
            paint(f"check FAILED: {plural(len(self.findings), 'violation')} ({detail})", RED)
        )
        return "\n".join(lines)


@dataclass
class NewEnvironment:
    """What ``new_environment`` did."""

    name: str
    promotion_order: list[str]
    written: list[Path] = field(default_factory=list)
    # Per source stack file, the secrets-provider keys that were not copied.
    secrets_left_out: dict[Path, list[str]] = field(default_factory=dict)
    report: CheckReport | None = None  # the check of the scratch copy, every environment
    # The source's aws:allowedAccountIds, copied with its stack files (None: not set).
    allowed_accounts: str | None = None


def without_secrets_provider(text: str) -> tuple[str, list[str]]:
    """``text`` (a stack file) without its top-level secrets-provider keys; the keys removed."""
    kept: list[str] = []
    removed: list[str] = []
    dropping = False
    for line in text.splitlines(keepends=True):
        if dropping and line[:1] in (" ", "\t"):
            continue  # the dropped key's value, continued
        key = _SECRETS_KEY.match(line)
        dropping = key is not None
        if key:
            removed.append(key.group(1))
        else:
            kept.append(line)
    return "".join(kept), removed


def rename_in_values(text: str, source: str, name: str) -> str:
    """``text`` (a stack file) with the ``source`` environment renamed in values only."""
    token = environment_token(source)
    renamed = []
    for line in text.splitlines(keepends=True):
        key = _KEY.match(line)
        head, tail = (line[: key.end()], line[key.end() :]) if key else ("", line)
        renamed.append(head + token.sub(name, tail))
    return "".join(renamed)


def _renamed_values(value: Any, source: str, name: str) -> Any:
    """What ``rename_in_values`` must produce once parsed: strings renamed, nothing else."""
    if isinstance(value, str):
        return environment_token(source).sub(name, value)
    if isinstance(value, dict):
        return {key: _renamed_values(item, source, name) for key, item in value.items()}
    if isinstance(value, list):
        return [_renamed_values(item, source, name) for item in value]
    return value


def _not_allowed(name: str, why: str) -> StackEnvironmentError:
    return StackEnvironmentError(
        f"environment name {name!r} is not allowed: {why}; choose another name "
        f"({ENVIRONMENT_NAME_RULE}, not a word the stacks already use)"
    )


def refuse_unusable_name(name: str, graph: LayerGraph) -> None:
    """Refuse, before anything is rendered or written, a name that is not a plain word YAML
    reads back as itself, or that ``invoke check`` could not tell apart from an environment
    name: a layer's name, a word of the Pulumi project names (``rawdata``), or a word of the
    existing stacks (``east``, as in us-east-1). A word is what the isolation check looks for
    (``environment_token``, ``mentions_of``); the stacks are the committed snapshots, so a
    stack without one is left to the check of the scratch copy, which still runs."""
    validate_environment_name(name)
    if yaml.safe_load(name) != name:
        read_as = yaml.safe_load(name)
        raise _not_allowed(
            name,
            f"YAML reads {name} as "
            f"{'no value (null)' if read_as is None else f'the boolean {json.dumps(read_as)}'}, "
            "not as a name (in the stack files and "
            "projects/environments.yaml)",
        )
    if name in graph.names:
        raise _not_allowed(name, f"{name!r} is a layer's name, a word of every stack of that layer")
    token = environment_token(name)
    project = next((layer.project for layer in graph if token.search(layer.project)), None)
    if project is not None:
        raise _not_allowed(
            name, f"{name!r} is a word of the Pulumi project names (e.g. {project}), in every stack"
        )
    found = _word_of_the_stacks(name, graph)
    if found is not None:
        where, text = found
        raise _not_allowed(
            name,
            f"{name!r} already appears in the stacks, e.g. in {_excerpt(text, name)} ({where}), "
            "so `invoke check` could not tell it from an environment's name",
        )


def _word_of_the_stacks(name: str, graph: LayerGraph) -> tuple[str, str] | None:
    """(where, text) of the first place a committed snapshot of an existing stack names
    ``name`` once the stack's own environment is taken out, as the isolation check sees it."""
    for environment in environments(graph):
        for layer in graph:
            try:
                document = json.loads(snapshot_path(layer, environment).read_text(encoding="utf-8"))
                stack = normalise_stack(_snapshot_stack(document))
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                continue  # no (readable) snapshot: the check of the scratch copy judges it
            places = mentions_of(stack, name)
            if places:
                resource, path, text = places[0]
                return f"{layer.name}/{environment}, {resource} {path}", text
    return None


def _snapshot_stack(document: dict[str, Any]) -> Any:
    """A snapshot (``plan_document``) as the stack ``normalise_stack`` reads, with the value
    of an unresolved Output as the render has it."""

    def rendered(value: Any) -> Any:
        if value == UNKNOWN_DISPLAY:
            return UNKNOWN_SENTINEL
        if isinstance(value, dict):
            return {key: rendered(item) for key, item in value.items()}
        if isinstance(value, list):
            return [rendered(item) for item in value]
        return value

    resources = [
        SimpleNamespace(**{**resource, "inputs": rendered(resource["inputs"])})
        for resource in document["resources"]
    ]
    return SimpleNamespace(
        layer=document["layer"],
        environment=document["environment"],
        resources=resources,
        exports=rendered(document["exports"]),
    )


_SEPARATORS = (r"\s\"'=,;()\[\]", r"\s\"'=,;()\[\]:/.")


def _excerpt(text: str, name: str) -> str:
    """The piece of ``text`` around ``name``: the word it is in (``us-east-1``), or a
    short stretch of a longer one."""
    match = environment_token(name).search(text)
    if match is None:
        return text[:40]
    for separators in _SEPARATORS:
        start = re.search(rf"[^{separators}]*$", text[: match.start()])
        end = re.match(rf"[^{separators}]*", text[match.end() :])
        piece = text[
            start.start() if start else match.start() : match.end() + (end.end() if end else 0)
        ]
        if len(piece) <= 32:
            return piece
    return f"...{text[max(0, match.start() - 12) : match.end() + 12]}..."


def _refuse_existing(paths: list[Path], name: str, what: str) -> None:
    """Refuse a file about to be written that exists, or whose folder is not a folder."""
    existing = [shown_path(path) for path in paths if path.exists() or path.is_symlink()]
    if existing:
        raise StackEnvironmentError(
            f"environment {name!r} already has {what}; refusing to overwrite "
            f"{', '.join(existing)} (choose another name, or delete them first)"
        )
    for path in paths:
        blocking = next((folder for folder in path.parents if folder.is_file()), None)
        if blocking is not None:
            raise StackEnvironmentError(
                f"{shown_path(blocking)} is a file, not a folder: environment {name!r} cannot "
                f"write {shown_path(path)} in it; move it away, then run new-env again"
            )


def planned_files(name: str, source: str, graph: LayerGraph) -> dict[Path, tuple[Path, str]]:
    """New stack file -> (its source file, its text), after every refusal that needs no
    writing: the name's rules (``refuse_unusable_name``), an unknown or incomplete source, an
    existing file, a renaming that would change more than the name."""
    refuse_unusable_name(name, graph)
    known = environments(graph)
    if source not in known:
        raise StackEnvironmentError(
            f"unknown source environment {source!r}; environments with stack files: "
            f"{', '.join(known) or 'none'}"
        )
    pairs = [(stack_file(layer, source), stack_file(layer, name)) for layer in graph]
    missing = [shown_path(source_file) for source_file, _ in pairs if not source_file.is_file()]
    if missing:
        raise StackEnvironmentError(
            f"source environment {source!r} is incomplete, missing: {', '.join(missing)}"
        )
    _refuse_existing([target for _, target in pairs], name, "stack files")
    _refuse_existing([snapshot_path(layer, name) for layer in graph], name, "snapshots")
    planned = {}
    for source_file, target in pairs:
        original = source_file.read_text(encoding="utf-8")
        kept, _ = without_secrets_provider(original)
        renamed = rename_in_values(kept, source, name)
        document = yaml.safe_load(original)
        if isinstance(document, dict):
            document = {k: v for k, v in document.items() if k not in SECRETS_PROVIDER_KEYS}
        if not _reads_as(renamed, _renamed_values(document, source, name)):
            raise StackEnvironmentError(
                f"renaming {source!r} to {name!r} in {shown_path(source_file)} would change "
                f"more than the environment name (YAML reads {name!r} as another type, or a "
                "key contains it); choose another name"
            )
        planned[target] = (source_file, renamed)
    return planned


def _reads_as(text: str, expected: Any) -> bool:
    try:
        return yaml.safe_load(text) == expected
    except yaml.YAMLError:
        return False


def placed_in_order(order: list[str], name: str, after: str | None) -> list[str]:
    """``order`` with ``name`` after ``after`` (default: at the end)."""
    if after is None:
        return [*order, name]
    if after not in order:
        raise StackEnvironmentError(
            f"--after {after!r} is not in the promotion order; it is: {', '.join(order)}"
        )
    position = order.index(after) + 1
    return [*order[:position], name, *order[position:]]


# The promotion file's key, alone on its line (a block list follows) or with a flow list.
_ORDER_KEY = re.compile(r"^promotion_order[ \t]*:[ \t]*(?:#.*)?$")
_FLOW_LIST = re.compile(r"^promotion_order[ \t]*:[ \t]*\[[^\]\n#]*\][ \t]*(?P<comment>#.*)?$")
# One item of a block list: ``  - staging  # a comment``.
_ITEM = re.compile(r"^(?P<indent>[ \t]*)-[ \t]+(?P<name>[^\s#]+)[ \t]*(?:#.*)?$")
_COMMENT_OR_BLANK = re.compile(r"^[ \t]*(?:#.*)?$")


def promotion_text(path: Path, order: list[str]) -> str:
    """The promotion file listing ``order`` (the file's list with one name added), edited in
    place where it can be, comments and all: a flow list (``[dev, prod]``) is rewritten on its
    line, a block list (``- dev`` lines) gets the new name's line next to its neighbour's.
    Otherwise the file is written anew from the list, keeping the comments above it. Each
    candidate is read back, and only one that lists exactly ``order`` is used."""
    text = path.read_text(encoding="utf-8")
    for candidate in (_flow_list_edited(text, order), _block_list_edited(text, order)):
        if candidate is not None and _reads_as(candidate, {"promotion_order": order}):
            return candidate
    lines = text.splitlines(keepends=True)
    header = []
    for line in lines:
        if not _COMMENT_OR_BLANK.match(line):
            break
        header.append(line if line.endswith("\n") else line + "\n")
    return "".join(header) + f"promotion_order: [{', '.join(order)}]\n"


def _flow_list_edited(text: str, order: list[str]) -> str | None:
    lines = text.splitlines(keepends=True)
    found = [index for index, line in enumerate(lines) if _FLOW_LIST.match(line.rstrip("\r\n"))]
    if len(found) != 1:
        return None
    line = lines[found[0]]
    comment = _FLOW_LIST.match(line.rstrip("\r\n")).group("comment")  # type: ignore[union-attr]
    ending = line[len(line.rstrip("\r\n")) :]
    lines[found[0]] = (
        f"promotion_order: [{', '.join(order)}]" + (f"  {comment}" if comment else "") + ending
    )
    return "".join(lines)


def _block_list_edited(text: str, order: list[str]) -> str | None:
    """``text`` with the one name of ``order`` that its block list lacks inserted after the
    item of the name before it (before the first item when it comes first)."""
    lines = text.splitlines(keepends=True)
    keys = [index for index, line in enumerate(lines) if _ORDER_KEY.match(line.rstrip("\r\n"))]
    if len(keys) != 1:
        return None
    items: dict[str, int] = {}  # name -> line index
    indent = ""
    for index in range(keys[0] + 1, len(lines)):
        line = lines[index].rstrip("\r\n")
        item = _ITEM.match(line)
        if item:
            items[item.group("name").strip("'\"")] = index
            indent = indent or item.group("indent")
        elif not _COMMENT_OR_BLANK.match(line):
            break
    added = [name for name in order if name not in items]
    if not items or len(added) != 1:
        return None
    position = order.index(added[0])
    if position == 0:
        at = min(items.values())
    elif order[position - 1] in items:
        at = items[order[position - 1]] + 1
    else:
        return None
    ending = "\r\n" if lines[at - 1].endswith("\r\n") else "\n"
    if not lines[at - 1].endswith("\n"):
        lines[at - 1] += ending  # the file's last line had no line break
    lines.insert(at, f"{indent}- {added[0]}{ending}")
    return "".join(lines)


@contextmanager
def scratch_copy(graph: LayerGraph) -> Iterator[LayerGraph]:
    """A throw-away copy of the projects folder (without caches), as a graph."""
    with tempfile.TemporaryDirectory(prefix="new-env-") as folder:
        copy = Path(folder) / graph.projects_dir.name
        shutil.copytree(
            graph.projects_dir, copy, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache")
        )
        yield load_graph(copy)


def _moved(path: Path, graph: LayerGraph, into: LayerGraph) -> Path:
    return into.projects_dir / path.relative_to(graph.projects_dir)


def unscratched(text: str, scratch: LayerGraph, graph: LayerGraph) -> str:
    """``text`` naming the files of ``scratch`` as their counterparts in ``graph``
    (projects/...): a message never names a temporary folder."""
    return text.replace(str(scratch.projects_dir), shown_path(graph.projects_dir))


def new_environment(
    name: str, source: str, after: str | None = None, graph: LayerGraph | None = None
) -> NewEnvironment:
    """Write ``Pulumi.<name>.yaml`` in every layer from ``source``'s, place ``name`` in the
    promotion order and write its snapshots, if and only if ``invoke check`` then passes."""
    graph = graph or load_graph()
    planned = planned_files(name, source, graph)
    order = placed_in_order(promotion_order(graph), name, after)
    order_file = promotion_file(graph)
    order_text = promotion_text(order_file, order)
    result = NewEnvironment(name, order)
    for source_file, _ in planned.values():
        _, removed = without_secrets_provider(source_file.read_text(encoding="utf-8"))
        if removed:
            result.secrets_left_out[source_file] = removed
    result.allowed_accounts = next(
        (
            accounts
            for layer in graph
            if (accounts := read_stack_config(layer, source).get("aws:allowedAccountIds"))
        ),
        None,
    )

    with scratch_copy(graph) as scratch:
        for target, (_, text) in planned.items():
            _moved(target, graph, scratch).write_text(text)
        _moved(order_file, graph, scratch).write_text(order_text)
        report = check_scratch_copy(scratch, scratch, graph, f"environment {name!r}")
        if not report.ok:
            findings = [
                dataclasses.replace(finding, message=unscratched(finding.message, scratch, graph))
                for finding in report.findings
            ]
            more = len(findings) - 1
            blame = why_refused(
                f"environment {name!r}",
                graph,
                f"{findings[0]}" + (f"; and {plural(more, 'more violation')}" if more else ""),
            )
            raise NewEnvironmentRefused(
                blame,
                RefusedCheckReport(
                    **{
                        **{
                            each.name: getattr(report, each.name)
                            for each in dataclasses.fields(report)
                        },
                        "findings": findings,
                    }
                ),
            )
        result.report = report
        snapshots = {
            snapshot_path(layer, name): snapshot_text(report.rendered[name][layer.name])
            for layer in graph
        }
    new_files = {target: text for target, (_, text) in planned.items()}
    _move_into_place({**new_files, **snapshots}, order_file, order_text, result)
    return result


def check_scratch_copy(
    trial: LayerGraph,
    scratch: LayerGraph,
    graph: LayerGraph,
    what: str,
    refusal: type[PipelineError] = StackEnvironmentError,
) -> CheckReport:
    """``invoke check`` on the scratch copy holding the new ``what`` (e.g. "layer 'audit'");
    an error that stops the check is refused naming the repository's files, not the copy's."""
    try:
        return run_check(trial)
    except PipelineError as error:
        refused = refusal(
            f"{what} was not created (nothing was written): "
            + unscratched(str(error), scratch, graph)
        )
        refused.exit_code = error.exit_code
        raise refused from None


def why_refused(what: str, graph: LayerGraph, violations: str) -> str:
    """The refusal of a new ``what`` whose scratch check failed with ``violations``: blamed on
    it, unless the repository's own check already fails without it (asked only now)."""
    try:
        already: list[Any] = list(run_check(graph).findings)
    except PipelineError as error:
        already = [error]
    if already:
        more = len(already) - 1
        return (
            f"{what} was not created (nothing was written): `invoke check` already fails "
            f"without it, so whether it would pass cannot be told; fix the repository first: "
            f"{already[0]}" + (f"; and {plural(more, 'more violation')}" if more else "")
        )
    return (
        f"{what} was not created: `invoke check` fails with it (tried on a scratch copy; "
        f"nothing was written): {violations}"
    )


def _move_into_place(
    files: dict[Path, str], order_file: Path, order_text: str, result: NewEnvironment
) -> None:
    """Create every file, never overwriting one, then the new promotion order; on any failure
    (an interrupt included) remove the files created, so nothing is half-applied."""
    path = order_file
    try:
        for path, text in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("x", encoding="utf-8") as file:  # "x": never overwrite, even in a race
                file.write(text)
            result.written.append(path)
        path = order_file
        _replace(order_file, order_text)
    except BaseException as error:
        for written in result.written:
            written.unlink(missing_ok=True)
        result.written.clear()
        if isinstance(error, OSError):
            failed = StackEnvironmentError(
                f"environment {result.name!r} was not created: cannot write "
                f"{shown_path(path)}: {error.strerror or error}; nothing was written"
            )
            failed.exit_code = EXIT_FAILURE
            raise failed from None
        raise


def _replace(path: Path, text: str) -> None:
    """Replace ``path`` atomically (a reader sees the old or the new file, never half)."""
    temporary = path.with_name(f".{path.name}.new")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
