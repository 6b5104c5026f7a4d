"""The layers: one folder each under ``projects/``, described by the folder's ``layer.yaml``.

A layer is a folder with a ``Pulumi.yaml`` (the Pulumi project) and a ``layer.yaml`` (its
manifest): what it declares, which layers it reads (``depends_on``), the team that owns it,
the exports it publishes (its contract with the layers downstream), the inputs allowed to
differ between environments (knobs) and the settings that make an environment
production-grade. Adding a layer is adding a folder (``invoke new-layer``); nothing here
names one.

The graph is read from the manifests; deploy order is a topological sort of ``depends_on``
(ties in name order), destroy order its reverse.

Import-light: the standard library and PyYAML (which invoke already imports), so that
``tasks.py`` and ``invoke --list`` stay fast.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Any

from shared.errors import LayerError

REPO_ROOT = Path(__file__).resolve().parent.parent
PROJECTS_DIR = REPO_ROOT / "projects"
MANIFEST = "layer.yaml"
PROJECT_FILE = "Pulumi.yaml"
STACK_RESOURCE = "<stack>"  # the resource column of stack-level facts (exports) in knobs
LAYER_NAME_RULE = "2-20 lowercase letters and digits, starting with a letter"
_LAYER_NAME_CHARACTERS = set("abcdefghijklmnopqrstuvwxyz0123456789")


def shown_path(path: Path) -> str:
    """``path`` as a message names it: from the repository root (projects/iam/...) when it is
    inside the repository, else from the working folder, else in full."""
    try:
        bases = (REPO_ROOT, Path.cwd())
    except OSError:  # the working folder was removed
        bases = (REPO_ROOT,)
    for base in bases:
        if path.is_absolute() and path.is_relative_to(base):
            return str(path.relative_to(base))
    return str(path)


def load_yaml(path: Path) -> Any:
    """A YAML file's document; a syntax error names the file (``shown_path``) and the line."""
    import yaml  # imported by invoke already; local so that importing this module is free

    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_strict_loader())
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown place"
        # A constructor error is YAML that parses but is refused here (a repeated key, a
        # yes/no readers disagree on); anything else is a syntax error.
        what = (
            "refused" if isinstance(error, yaml.constructor.ConstructorError) else "not valid YAML"
        )
        raise LayerError(f"{shown_path(path)}: {what} at {where}: {error.problem}") from None
    except yaml.YAMLError as error:
        raise LayerError(f"{shown_path(path)}: not valid YAML: {error}") from None
    except (ValueError, TypeError, AttributeError) as error:  # a tag PyYAML cannot apply
        raise LayerError(
            f"{shown_path(path)}: refused: a value its tag cannot make ({error}); remove the "
            "tag (e.g. !!int) or fix the value"
        ) from None
    except OSError as error:
        raise LayerError(f"{shown_path(path)}: cannot be read: {error.strerror}") from None
    except UnicodeDecodeError as error:
        raise LayerError(
            f"{shown_path(path)}: not UTF-8 text (byte {error.start + 1}); save it as UTF-8"
        ) from None


_STRICT_LOADER: Any = None


# YAML 1.2 has two booleans; YAML 1.1 (PyYAML) also reads yes/no/on/off/y/n as booleans. A
# value that readers of the two versions (this repository, the Pulumi CLI) could read
# differently is refused.
YAML_BOOLEANS = ("true", "false")
YAML_1_1_ONLY_BOOLEANS = ("yes", "no", "on", "off", "y", "n")


def _strict_loader() -> Any:
    """PyYAML's safe loader (the C one where built), refusing a mapping that repeats a key:
    YAML says keys are unique, and PyYAML would silently keep the last value; and refusing an
    unquoted yes/no/on/off, a boolean to PyYAML but text to YAML 1.2, so that render and
    check cannot read a value other than the Pulumi CLI does."""
    global _STRICT_LOADER
    if _STRICT_LOADER is None:
        import yaml

        base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

        class StrictLoader(base):  # type: ignore[misc,valid-type]
            def construct_mapping(self, node: Any, deep: bool = False) -> Any:
                seen = set()
                for key_node, _ in node.value:
                    if key_node.tag == "tag:yaml.org,2002:merge":
                        continue  # `<<:` merged keys may be overridden; PyYAML merges them
                    key = self.construct_object(key_node, deep=True)
                    if not isinstance(key, str | int | float | bool):
                        continue  # unhashable keys: PyYAML's own error names them
                    if key in seen:
                        raise yaml.constructor.ConstructorError(
                            None, None, f"the key {key!r} appears twice", key_node.start_mark
                        )
                    seen.add(key)
                return super().construct_mapping(node, deep)

            def construct_yaml_bool(self, node: Any) -> bool:
                text = self.construct_scalar(node)
                if text.lower() in YAML_BOOLEANS:
                    return text.lower() == "true"
                if text.lower() not in YAML_1_1_ONLY_BOOLEANS:  # e.g. `!!bool maybe`
                    raise yaml.constructor.ConstructorError(
                        None, None, f"{text!r} is not a boolean", node.start_mark
                    )
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"{text} is a boolean to YAML 1.1 readers (PyYAML, here) but the text "
                    f"{text!r} to YAML 1.2 ones (e.g. the Pulumi CLI's); write true or false "
                    f'for a boolean, or "{text}" in quotes for text',
                    node.start_mark,
                )

        StrictLoader.add_constructor("tag:yaml.org,2002:bool", StrictLoader.construct_yaml_bool)
        _STRICT_LOADER = StrictLoader
    return _STRICT_LOADER


@dataclass(frozen=True)
class Export:
    """One stack output a layer publishes: ``{env}_<key>`` in every environment."""

    key: str
    description: str
    example: str | bool | int

    def example_for(self, environment: str) -> str | bool | int:
        if isinstance(self.example, str):
            return self.example.replace("{env}", environment)
        return self.example


EXISTS = "(exists)"  # the knob input that lets a resource exist in some environments only


@dataclass(frozen=True)
class Knob:
    """An input of one resource that may differ between environments, and why.

    ``input`` is a wire (camelCase) input path: ``.`` into objects, ``[Sid]`` into IAM policy
    statements, ``[index]`` into other lists; a knob also allows everything beneath its path.
    ``(protect)`` is the resource's ``protect`` option; ``(exists)`` lets the resource exist
    in some environments only (e.g. one subscription per address a stack file lists);
    resource ``<stack>`` with input ``exports.{env}_<key>`` is a stack export. ``resource``
    may be a glob (``*-alarm``) naming several resources at once.
    """

    layer: str
    resource: str
    input: str
    why: str

    @property
    def is_pattern(self) -> bool:
        return any(character in self.resource for character in "*?[")

    def names(self, resource: str) -> bool:
        if self.is_pattern:
            return fnmatch.fnmatchcase(resource, self.resource)
        return resource == self.resource

    def covers(self, layer: str, resource: str, path: str) -> bool:
        """Whether a difference at ``path`` of ``resource`` is this knob (or beneath it)."""
        if layer != self.layer or not self.names(resource):
            return False
        return path == self.input or path.startswith((f"{self.input}.", f"{self.input}["))


@dataclass(frozen=True)
class Layer:
    name: str
    directory: Path
    project: str
    summary: str
    owners: tuple[str, ...]
    depends_on: tuple[str, ...] = ()
    exports: tuple[Export, ...] = ()
    knobs: tuple[Knob, ...] = ()
    # Settings of this layer's own namespace that, unless explicitly false, make an
    # environment production-grade (destroying it then needs --confirm-prod); the value is
    # the setting's default.
    production_grade_settings: Mapping[str, bool] = field(default_factory=dict)
    project_config: Mapping[str, Any] = field(default_factory=dict)

    @property
    def manifest(self) -> Path:
        return self.directory / MANIFEST

    def export(self, key: str) -> Export | None:
        return next((export for export in self.exports if export.key == key), None)

    def export_keys(self) -> list[str]:
        return [export.key for export in self.exports]

    def shown(self, path: Path) -> str:
        """``path`` as people see it in the repository: projects/<layer>/<file>."""
        return f"projects/{self.name}/{path.relative_to(self.directory)}"


# -- reading one manifest ----------------------------------------------------------------


SUMMARY_LIMIT = 200  # characters of a layer's one-line summary


class _Manifest:
    """Reads ``layer.yaml`` with errors that name the file, the key, the value and the rule."""

    KEYS = ("summary", "owners", "depends_on", "exports", "knobs", "production_grade_settings")

    def __init__(self, path: Path, document: Any) -> None:
        self.path = path
        if not isinstance(document, dict):
            self.fail("", document, "a mapping with the keys " + ", ".join(self.KEYS))
        unknown = sorted(set(document) - set(self.KEYS))
        if unknown:
            self.fail(unknown[0], document[unknown[0]], "one of the keys " + ", ".join(self.KEYS))
        self.document: dict[str, Any] = document

    def fail(self, key: str, value: Any, allowed: str) -> None:
        where = f"{shown_path(self.path)}: {key}" if key else shown_path(self.path)
        raise LayerError(f"{where} = {value!r} is not allowed; expected {allowed}")

    def text(self, key: str, value: Any = None, *, required: bool = True) -> str:
        value = self.document.get(key) if value is None else value
        if value is None and not required:
            return ""
        if not isinstance(value, str) or not value.strip():
            self.fail(key, value, "a non-empty text")
        return value.strip()

    def summary(self) -> str:
        """One line, short enough for the diagram's boxes, the task banners and CODEOWNERS."""
        value = self.text("summary")
        if len(value) > SUMMARY_LIMIT or "\n" in value:
            self.fail(
                "summary",
                value if len(value) <= 60 else value[:57] + "...",
                f"one line of 1-{SUMMARY_LIMIT} characters (this one has {len(value)}"
                f"{' and a line break' if chr(10) in value else ''})",
            )
        return value

    def _value(self, key: str, empty: Any) -> Any:
        """The key's value; ``empty`` when the key is absent or left blank (``key:``), never
        for a value of another type (``depends_on: false`` is an error, not "none")."""
        value = self.document.get(key)
        return empty if value is None else value

    def names(self, key: str, allowed: str) -> tuple[str, ...]:
        value = self._value(key, [])
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            self.fail(key, value, allowed)
        repeated = sorted({item for item in value if value.count(item) > 1})
        if repeated:
            self.fail(key, value, f"each name once ({', '.join(repeated)} is listed twice)")
        return tuple(value)

    def depends_on(self, layer: str) -> tuple[str, ...]:
        names = self.names("depends_on", "a list of the layers this one reads, e.g. [storage]")
        if layer in names:
            self.fail(
                "depends_on",
                list(names),
                "the names of other layers (a layer cannot depend on itself)",
            )
        return names

    def owners(self) -> tuple[str, ...]:
        allowed = 'a list of GitHub teams or users, e.g. ["@org/team"]'
        owners = self.names("owners", allowed)
        if not owners or not all(owner.startswith("@") and " " not in owner for owner in owners):
            self.fail("owners", list(owners), allowed)
        return owners

    def exports(self) -> tuple[Export, ...]:
        value = self._value("exports", {})
        if not isinstance(value, dict):
            self.fail("exports", value, "a mapping of export keys to {description, example}")
        exports = []
        for key, entry in value.items():
            where = f"exports.{key}"
            if not isinstance(key, str) or not key.isidentifier() or key != key.lower():
                self.fail(where, key, "a lowercase key of letters, digits and _")
            if not isinstance(entry, dict) or set(entry) != {"description", "example"}:
                self.fail(where, entry, "a mapping with exactly description and example")
            example = entry["example"]
            if not isinstance(example, str | bool | int):
                self.fail(f"{where}.example", example, "a text, number or true/false")
            description = self.text(f"{where}.description", entry["description"])
            exports.append(Export(key, description, example))
        return tuple(exports)

    def knobs(self, layer: str) -> tuple[Knob, ...]:
        value = self._value("knobs", [])
        if not isinstance(value, list):
            self.fail("knobs", value, "a list of {resource, input, why}")
        knobs = []
        for index, entry in enumerate(value):
            if not isinstance(entry, dict) or set(entry) != {"resource", "input", "why"}:
                self.fail(f"knobs[{index}]", entry, "a mapping with exactly resource, input, why")
            knobs.append(
                Knob(
                    layer,
                    self.text(f"knobs[{index}].resource", entry["resource"]),
                    self.text(f"knobs[{index}].input", entry["input"]),
                    self.text(f"knobs[{index}].why", entry["why"]),
                )
            )
            earlier = knobs[-1]
            if any(
                (knob.resource, knob.input) == (earlier.resource, earlier.input)
                for knob in knobs[:-1]
            ):
                self.fail(
                    f"knobs[{index}]",
                    entry,
                    f"one entry per resource and input ({earlier.resource} {earlier.input} is "
                    "declared twice)",
                )
        return tuple(knobs)

    def production_grade_settings(self) -> dict[str, bool]:
        value = self._value("production_grade_settings", {})
        if not isinstance(value, dict) or not all(
            isinstance(key, str) and isinstance(default, bool) for key, default in value.items()
        ):
            self.fail(
                "production_grade_settings",
                value,
                "a mapping of this layer's setting names to their default (true or false)",
            )
        return dict(value)


def validate_layer_name(name: str) -> str:
    if not (2 <= len(name) <= 20 and name[0].isalpha() and set(name) <= _LAYER_NAME_CHARACTERS):
        raise LayerError(f"layer name {name!r} is not allowed: use {LAYER_NAME_RULE}")
    return name


def read_layer(directory: Path) -> Layer:
    """The layer in ``directory``, from its ``layer.yaml`` and ``Pulumi.yaml``."""
    name = directory.name
    manifest = _Manifest(directory / MANIFEST, load_yaml(directory / MANIFEST))
    project_file = directory / PROJECT_FILE
    if not project_file.is_file():
        raise LayerError(
            f"layer {name!r} has no {PROJECT_FILE}: {shown_path(project_file)} is missing; "
            "every layer is a Pulumi project (see `invoke new-layer`)"
        )
    project = load_yaml(project_file)
    if not isinstance(project, dict):
        raise LayerError(
            f"{shown_path(project_file)}: expected a mapping with at least name and runtime"
        )
    if not isinstance(project.get("name"), str) or not project["name"].strip():
        raise LayerError(
            f"{shown_path(project_file)}: name = {project.get('name')!r} is not allowed; "
            "expected the Pulumi project name, e.g. rawdata-storage"
        )
    project_config = project.get("config") or {}
    if not isinstance(project_config, dict):
        raise LayerError(
            f"{shown_path(project_file)}: config = {project_config!r} is not allowed; "
            "expected a mapping of config keys"
        )
    return Layer(
        name=name,
        directory=directory,
        project=project["name"],
        summary=manifest.summary(),
        owners=manifest.owners(),
        depends_on=manifest.depends_on(name),
        exports=manifest.exports(),
        knobs=manifest.knobs(name),
        production_grade_settings=manifest.production_grade_settings(),
        project_config=project_config,
    )


# -- the graph -----------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerGraph:
    """Every layer of a projects folder, in deploy order."""

    projects_dir: Path
    layers: tuple[Layer, ...]

    def __iter__(self) -> Iterator[Layer]:
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    @property
    def names(self) -> list[str]:
        return [layer.name for layer in self.layers]

    def get(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        from shared.text import closest_hint

        known = ", ".join(self.names) or "none"
        hint = closest_hint(
            name, self.names, "; one layer per run (leave --layer out for every layer, in order)"
        )
        raise LayerError(f"unknown layer {name!r}; known layers: {known}{hint}")

    def by_project(self, project: str) -> Layer | None:
        return next((layer for layer in self.layers if layer.project == project), None)

    def deploy_order(self) -> list[Layer]:
        return list(self.layers)

    def destroy_order(self) -> list[Layer]:
        return list(reversed(self.layers))

    def select(self, name: str | None, order: list[Layer]) -> list[Layer]:
        """All of ``order``, or just the named layer (validated)."""
        if name is None:
            return order
        wanted = self.get(name)
        return [layer for layer in order if layer.name == wanted.name]

    def upstreams(self, layer: Layer) -> list[Layer]:
        """Every layer ``layer`` reads, directly or not, in deploy order."""
        wanted: set[str] = set()
        pending = list(layer.depends_on)
        while pending:
            name = pending.pop()
            if name not in wanted:
                wanted.add(name)
                pending.extend(self.get(name).depends_on)
        return [each for each in self.layers if each.name in wanted]

    def downstreams(self, layer: Layer) -> list[Layer]:
        """Every layer that reads ``layer``, directly or not, in destroy order."""
        return [each for each in self.destroy_order() if layer in self.upstreams(each)]

    def knobs(self) -> tuple[Knob, ...]:
        return tuple(knob for layer in self.layers for knob in layer.knobs)


def _refuse_shared_facts(layers: list[Layer]) -> None:
    """Two layers must not share a Pulumi project (their stacks would be the same stacks: one
    layer's deploy would replace the other's resources) nor an export key (each output key
    has one owner)."""
    for fact, of_layer in (
        ("Pulumi project", lambda layer: [layer.project]),
        ("export key", Layer.export_keys),
    ):
        owners: dict[str, Layer] = {}
        for layer in layers:
            for value in of_layer(layer):
                first = owners.setdefault(value, layer)
                if first is not layer:
                    where = PROJECT_FILE if fact == "Pulumi project" else MANIFEST
                    raise LayerError(
                        f"layers {first.name!r} and {layer.name!r} both declare the {fact} "
                        f"{value!r} (projects/{first.name}/{where}, projects/{layer.name}/"
                        f"{where}); each must be unique to one layer: rename one of them"
                    )


def ordered(layers: list[Layer]) -> tuple[Layer, ...]:
    """``layers`` in an order where each comes after the layers it depends on (ties by name)."""
    _refuse_shared_facts(layers)
    by_name = {layer.name: layer for layer in layers}
    for layer in layers:
        for upstream in layer.depends_on:
            if upstream not in by_name:
                raise LayerError(
                    f"layer {layer.name!r} depends on unknown layer {upstream!r} "
                    f"({layer.shown(layer.manifest)}); known layers: {', '.join(sorted(by_name))}"
                )
    sorter = TopologicalSorter({layer.name: layer.depends_on for layer in layers})
    try:
        sorter.prepare()
    except CycleError as error:
        cycle = " -> ".join(error.args[1])
        raise LayerError(f"layer dependencies form a cycle: {cycle}") from None
    result: list[Layer] = []
    while sorter.is_active():
        for name in sorted(sorter.get_ready()):
            result.append(by_name[name])
            sorter.done(name)
    return tuple(result)


def layer_directories(projects_dir: Path) -> list[Path]:
    """Folders of ``projects_dir`` that are layers; a Pulumi project without a manifest is an
    error, not silently skipped."""
    if not projects_dir.is_dir():
        raise LayerError(f"no projects folder at {shown_path(projects_dir)}")
    found = []
    for directory in sorted(path for path in projects_dir.iterdir() if path.is_dir()):
        if (directory / MANIFEST).is_file():
            found.append(directory)
        elif (directory / PROJECT_FILE).is_file():
            raise LayerError(
                f"{shown_path(directory)} has a {PROJECT_FILE} but no {MANIFEST}: every layer "
                "declares its owners, dependencies and exports there (see `invoke new-layer`)"
            )
    return found


_graphs: dict[Path, tuple[tuple[tuple[str, int, int], ...], LayerGraph]] = {}


def _signature(directories: list[Path]) -> tuple[tuple[str, int, int], ...]:
    stamps = []
    for directory in directories:
        for path in (directory / MANIFEST, directory / PROJECT_FILE):
            try:
                status = os.stat(path)
            except OSError:  # read_layer names what is missing
                stamps.append((str(path), -1, -1))
            else:
                stamps.append((str(path), status.st_mtime_ns, status.st_size))
    return tuple(stamps)


def load_graph(projects_dir: Path | None = None) -> LayerGraph:
    """The layers of ``projects_dir`` (default: this repository's), read again only when a
    manifest or project file changed."""
    directory = (projects_dir or PROJECTS_DIR).resolve()
    directories = layer_directories(directory)
    signature = _signature(directories)
    cached = _graphs.get(directory)
    if cached is not None and cached[0] == signature:
        return cached[1]
    for path in directories:
        validate_layer_name(path.name)
    graph = LayerGraph(directory, ordered([read_layer(path) for path in directories]))
    _graphs[directory] = (signature, graph)
    return graph
