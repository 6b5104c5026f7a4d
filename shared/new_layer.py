"""``invoke new-layer``: a working layer folder from the templates in ``shared/templates/layer``.

The new folder ``projects/<name>/`` holds everything about the layer: ``Pulumi.yaml`` (the
project, the repository's virtualenv, the settings every environment of the pipeline shares),
``layer.yaml`` (owner, ``depends_on``, its export contract, no knobs yet), a stack file per
existing environment with the shared settings, a three-line ``__main__.py``, a component with
one tagged example resource reading an export of the first layer it depends on, a test, and
its snapshots. The only line outside the folder is its owner in ``.github/CODEOWNERS``.

All or nothing, like ``new-env``: the folder is made in a scratch copy of ``projects/``,
``invoke check`` runs there over every environment, and only a passing result is moved into
place.
"""

from __future__ import annotations

import ast
import json
import keyword
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

import yaml

from shared.consistency.new_env import (
    check_scratch_copy,
    scratch_copy,
    unscratched,
    why_refused,
)
from shared.environments import config_value, environments, read_stack_document
from shared.errors import EXIT_FAILURE, LayerError, PipelineError
from shared.layers import (
    PROJECT_FILE,
    REPO_ROOT,
    SUMMARY_LIMIT,
    LayerGraph,
    shown_path,
    validate_layer_name,
)

TEMPLATES = Path(__file__).parent / "templates" / "layer"
CODEOWNERS = REPO_ROOT / ".github" / "CODEOWNERS"
SHARED_NAMESPACES = ("pipeline:", "aws:")
PROJECT_PREFIX = "rawdata"


class NewLayerRefused(PipelineError):
    exit_code = EXIT_FAILURE


@dataclass
class NewLayer:
    name: str
    directory: Path
    written: list[Path] = field(default_factory=list)
    codeowners_line: str = ""


def _title(name: str) -> str:
    return name[:1].upper() + name[1:]


def _shared_settings(graph: LayerGraph, environment: str) -> dict[str, str]:
    """The ``pipeline:``/``aws:`` values the existing layers' stack files for ``environment``
    set (e.g. ``pipeline:tracing``), which a new layer's stack file starts with; where they
    disagree, the most common value (``invoke check`` reports the disagreement)."""
    seen: dict[str, Counter[str]] = {}
    for layer in graph:
        config = read_stack_document(layer, environment).get("config") or {}
        for key, value in config.items():
            if str(key).startswith(SHARED_NAMESPACES):
                seen.setdefault(str(key), Counter())[config_value(value)] += 1
    return {key: values.most_common(1)[0][0] for key, values in seen.items()}


def _yaml_scalar(value: str) -> str:
    """``value`` as the stack file would write it: true/false and numbers bare."""
    parsed = yaml.safe_load(value)
    return (
        value
        if isinstance(parsed, bool | int | float)
        else yaml.safe_dump(value).strip().removesuffix("...").strip()
    )


def _project_config(graph: LayerGraph) -> str:
    """The shared part of every layer's Pulumi.yaml config: what they all set alike."""
    common: dict[str, object] | None = None
    for layer in graph:
        config = {str(key): value for key, value in layer.project_config.items()}
        common = (
            config if common is None else {k: v for k, v in common.items() if config.get(k) == v}
        )
    shared = {key: value for key, value in (common or {}).items() if ":" in key}
    if not shared:
        return "  {}"
    text = yaml.safe_dump(shared, default_flow_style=False, sort_keys=False, allow_unicode=True)
    return "\n".join(f"  {line}" for line in text.splitlines())


def _yaml_text(value: str) -> str:
    """``value`` as one YAML scalar that reads back as exactly that text (JSON's quoting is
    YAML's): a summary with a colon or a quote stays a summary."""
    return json.dumps(value, ensure_ascii=False)


def _docstring_text(value: str) -> str:
    """``value`` inside a triple-quoted docstring, its backslashes and quotes escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"')


def plan_files(
    graph: LayerGraph, name: str, depends_on: list[str], owner: str, summary: str
) -> dict[Path, str]:
    """Relative path (inside the layer folder) -> text, for every file of the new layer."""
    first_upstream = graph.get(depends_on[0]) if depends_on else None
    source = first_upstream.exports[0] if first_upstream and first_upstream.exports else None
    if first_upstream is not None and source is not None:
        reader = first_upstream.name
        upstream_lines = f'        {reader} = context.upstream("{reader}", parent=self)'
        value = f'{reader}.require("{source.key}").apply(str)'
        expected = str(source.example)
        value_test = f'    assert parameter["value"] == f{expected!r}'
    else:
        upstream_lines = ""
        value = f'"the {name} layer of " + context.environment'
        value_test = f'    assert parameter["value"] == f"the {name} layer of {{env}}"'
    values = {
        "name": name,
        "title": _title(name),
        "project": f"{PROJECT_PREFIX}-{name}",
        "summary": _docstring_text(summary),
        "summary_yaml": _yaml_text(summary),
        "owner_yaml": _yaml_text(owner),
        "depends_on": ", ".join(depends_on),
        "project_config": _project_config(graph),
        "upstream_lines": upstream_lines,
        "value": value,
        "value_test": value_test + "\n",
        "environments": "".join(f'"{env}", ' for env in environments(graph)).rstrip(" "),
    }
    files = {
        Path(PROJECT_FILE): "Pulumi.yaml.tmpl",
        Path("layer.yaml"): "layer.yaml.tmpl",
        Path("__main__.py"): "__main__.py.tmpl",
        Path(f"{name}_layer.py"): "layer.py.tmpl",
        Path("tests") / f"test_{name}.py": "tests/test_layer.py.tmpl",
    }
    planned = {
        target: Template((TEMPLATES / template).read_text()).substitute(values)
        for target, template in files.items()
    }
    for environment in environments(graph):
        settings = _shared_settings(graph, environment)
        body = "".join(
            f"  {key}: {_yaml_scalar(value)}\n" for key, value in sorted(settings.items())
        )
        planned[Path(f"Pulumi.{environment}.yaml")] = "config:\n" + (body or "  {}\n")
    return planned


PLACEHOLDER = "zzplaceholder"


def names_the_code_uses(graph: LayerGraph, depends_on: list[str]) -> set[str]:
    """The Python names the generated files use besides the layer's own (``env``,
    ``rendered``, ``request``, ``context``...): a layer named like one of them would be a
    fixture or variable of the same name, and its test would not run."""
    used: set[str] = set()
    for relative, text in plan_files(graph, PLACEHOLDER, depends_on, "@org/team", "x").items():
        if relative.suffix != ".py":
            continue
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Name):
                used.add(node.id)
            elif isinstance(node, ast.arg):
                used.add(node.arg)
            elif isinstance(node, ast.FunctionDef | ast.ClassDef):
                used.add(node.name)
            elif isinstance(node, ast.alias):
                used.add((node.asname or node.name).split(".")[0])
    return {name for name in used if PLACEHOLDER not in name.lower()}


def _refuse_unusable_request(graph: LayerGraph, name: str, depends_on: list[str]) -> None:
    """Refuse, before anything is planned, a name or dependency list that cannot work."""
    validate_layer_name(name)
    if name in graph.names or (graph.projects_dir / name).exists():
        raise LayerError(f"layer {name!r} exists already: {shown_path(graph.projects_dir / name)}")
    if name in environments(graph):
        raise LayerError(f"{name!r} is an environment name; choose another layer name")
    if keyword.iskeyword(name):
        raise LayerError(
            f"layer name {name!r} is not allowed: it is a Python keyword, and the layer's "
            f"test names a fixture after the layer; choose another name"
        )
    if name in depends_on:
        raise LayerError(f"layer {name!r} cannot depend on itself (--depends-on {name})")
    repeated = sorted({upstream for upstream in depends_on if depends_on.count(upstream) > 1})
    if repeated:
        raise LayerError(
            f"--depends-on lists {', '.join(repeated)} more than once; name each layer once"
        )
    for upstream in depends_on:
        graph.get(upstream)
    clashes = names_the_code_uses(graph, depends_on)
    if name in clashes:
        taken = sorted(used for used in clashes if used.isalnum() and used.islower())
        raise LayerError(
            f"layer name {name!r} is not allowed: the generated code already uses {name!r} as "
            f"a Python name, and the layer's test names a fixture after the layer; choose "
            f"another name (not one of {', '.join(taken)})"
        )


def _read_codeowners(codeowners: Path) -> str | None:
    """CODEOWNERS' text (``None`` when there is none), read before anything is written."""
    if not codeowners.exists():
        return None
    try:
        return codeowners.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        reason = f"it is not UTF-8 text (byte {error.start})"
    except OSError as error:
        reason = error.strerror or str(error)
    raise LayerError(
        f"cannot read {shown_path(codeowners)}: {reason}; fix it (or move it away), then run "
        "new-layer again; nothing was written"
    )


def codeowners_line(name: str, owner: str) -> str:
    return f"/projects/{name}/  {owner}"


def with_codeowner(text: str, line: str) -> str:
    """CODEOWNERS with ``line`` after the last layer line (or at the end)."""
    lines = text.splitlines()
    layer_lines = [
        index
        for index, each in enumerate(lines)
        if each.startswith("/projects/") and "/projects/environments" not in each
    ]
    position = (layer_lines[-1] + 1) if layer_lines else len(lines)
    return "\n".join([*lines[:position], line, *lines[position:]]) + "\n"


def new_layer(
    graph: LayerGraph,
    name: str,
    depends_on: list[str],
    owner: str | None = None,
    summary: str | None = None,
    codeowners: Path = CODEOWNERS,
) -> NewLayer:
    """Create ``projects/<name>/`` if, with it, ``invoke check`` passes; add its owner line."""
    from shared.consistency.snapshots import snapshot_path, snapshot_text
    from shared.layers import load_graph

    _refuse_unusable_request(graph, name, depends_on)
    owner = f"@your-org/{name}-owners" if owner is None else owner  # "" is not "not given"
    if not owner.startswith("@") or any(char.isspace() for char in owner):
        raise LayerError(
            f"--owner {owner!r} is not allowed; expected a GitHub team, e.g. @org/team"
        )
    if summary is None:
        summary = f"the {name} layer (made by invoke new-layer; describe it here)"
    if not summary.strip() or len(summary) > SUMMARY_LIMIT or "\n" in summary:
        raise LayerError(
            f"--summary {summary!r} is not allowed; expected one line of 1-{SUMMARY_LIMIT} "
            "characters saying what the layer declares"
        )
    codeowners_text = _read_codeowners(codeowners)
    files = plan_files(graph, name, depends_on, owner, summary)

    with scratch_copy(graph) as scratch:
        folder = scratch.projects_dir / name
        for relative, text in files.items():
            (folder / relative).parent.mkdir(parents=True, exist_ok=True)
            (folder / relative).write_text(text, encoding="utf-8")
        trial = load_graph(scratch.projects_dir)
        report = check_scratch_copy(trial, scratch, graph, f"layer {name!r}", NewLayerRefused)
        if not report.ok:
            problems = "; ".join(
                unscratched(str(finding), scratch, graph) for finding in report.findings[:3]
            )
            more = len(report.findings) - 3
            raise NewLayerRefused(
                why_refused(
                    f"layer {name!r}", graph, problems + (f"; and {more} more" if more > 0 else "")
                )
            )
        layer = trial.get(name)
        for environment in report.environments:
            path = snapshot_path(layer, environment)
            files[path.relative_to(folder)] = snapshot_text(report.rendered[environment][name])

    result = NewLayer(name, graph.projects_dir / name)
    line = codeowners_line(name, owner)
    try:
        for relative, text in files.items():
            target = result.directory / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("x", encoding="utf-8") as file:
                file.write(text)
            result.written.append(target)
        if codeowners_text is not None and line not in codeowners_text.splitlines():
            codeowners.write_text(with_codeowner(codeowners_text, line), encoding="utf-8")
            result.codeowners_line = line
    except BaseException:
        shutil.rmtree(result.directory, ignore_errors=True)
        result.written.clear()
        raise
    return result
