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

import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

from shared.consistency.new_env import scratch_copy
from shared.environments import config_value, environments, read_stack_document
from shared.errors import EXIT_FAILURE, LayerError, PipelineError
from shared.layers import PROJECT_FILE, REPO_ROOT, LayerGraph, validate_layer_name

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
    import yaml

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
    lines = [f"  {key}: {value}" for key, value in (common or {}).items() if ":" in key]
    return "\n".join(lines) or "  {}"


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
        value_test = f'    assert parameter["value"] == f"{expected}"'
    else:
        upstream_lines = ""
        value = f'"the {name} layer of " + context.environment'
        value_test = f'    assert parameter["value"] == f"the {name} layer of {{env}}"'
    values = {
        "name": name,
        "title": _title(name),
        "project": f"{PROJECT_PREFIX}-{name}",
        "summary": summary,
        "owner": owner,
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
    from shared.consistency.check import run_check
    from shared.consistency.snapshots import snapshot_path, snapshot_text
    from shared.layers import load_graph

    validate_layer_name(name)
    if name in graph.names or (graph.projects_dir / name).exists():
        raise LayerError(f"layer {name!r} exists already: {graph.projects_dir / name}")
    if name in environments(graph):
        raise LayerError(f"{name!r} is an environment name; choose another layer name")
    for upstream in depends_on:
        graph.get(upstream)
    owner = owner or f"@your-org/{name}-owners"
    if not owner.startswith("@") or " " in owner:
        raise LayerError(
            f"--owner {owner!r} is not allowed; expected a GitHub team, e.g. @org/team"
        )
    summary = summary or f"the {name} layer (made by invoke new-layer; describe it here)"
    files = plan_files(graph, name, depends_on, owner, summary)

    with scratch_copy(graph) as scratch:
        folder = scratch.projects_dir / name
        for relative, text in files.items():
            (folder / relative).parent.mkdir(parents=True, exist_ok=True)
            (folder / relative).write_text(text)
        trial = load_graph(scratch.projects_dir)
        report = run_check(trial)
        if not report.ok:
            problems = "; ".join(str(finding) for finding in report.findings[:3])
            raise NewLayerRefused(
                f"layer {name!r} was not created: `invoke check` fails with it (tried on a "
                f"scratch copy; nothing was written): {problems}"
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
            with target.open("x") as file:
                file.write(text)
            result.written.append(target)
        if codeowners.is_file() and line not in codeowners.read_text():
            codeowners.write_text(with_codeowner(codeowners.read_text(), line))
            result.codeowners_line = line
    except BaseException:
        shutil.rmtree(result.directory, ignore_errors=True)
        result.written.clear()
        raise
    return result
