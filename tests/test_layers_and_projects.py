"""The layer graph read from the layer folders, environment discovery, and what `pulumi up`
needs in each project. Nothing here names a layer: the graph is read from the manifests."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest
import yaml

from shared.environments import (
    environments,
    promotion_order,
    read_stack_config,
    require_environment,
    stack_file,
    validate_environment_name,
)
from shared.errors import LayerError, StackEnvironmentError
from shared.layers import REPO_ROOT, Layer, LayerGraph, load_graph
from shared.testing import copy_projects, unused_environment_name


def write_layer(projects: Path, name: str, manifest: str, project: str | None = None) -> Path:
    folder = projects / name
    folder.mkdir(parents=True)
    (folder / "layer.yaml").write_text(textwrap.dedent(manifest))
    (folder / "Pulumi.yaml").write_text(f"name: {project or 'p-' + name}\nruntime: python\n")
    return folder


def minimal(depends_on: str = "[]") -> str:
    return f"""\
        summary: a test layer
        owners: ["@org/team"]
        depends_on: {depends_on}
        """


# -- the graph -----------------------------------------------------------------------------


def test_every_layer_comes_after_the_layers_it_reads(graph: LayerGraph) -> None:
    order = graph.names
    assert len(order) == len(set(order)) >= 1
    for index, layer in enumerate(graph):
        assert set(layer.depends_on) <= set(order[:index]), (layer.name, order)
    assert [layer.name for layer in graph.destroy_order()] == list(reversed(order))


def test_the_graph_is_the_folders_with_a_manifest(graph: LayerGraph) -> None:
    folders = {path.parent.name for path in graph.projects_dir.glob("*/layer.yaml")}
    assert set(graph.names) == folders
    for layer in graph:
        assert layer.directory == graph.projects_dir / layer.name
        assert (
            layer.project == yaml.safe_load((layer.directory / "Pulumi.yaml").read_text())["name"]
        )


def test_order_is_topological_with_ties_by_name(tmp_path: Path) -> None:
    write_layer(tmp_path, "zeta", minimal())
    write_layer(tmp_path, "alpha", minimal("[zeta]"))
    write_layer(tmp_path, "beta", minimal())
    write_layer(tmp_path, "gamma", minimal("[alpha, beta]"))
    assert load_graph(tmp_path).names == ["beta", "zeta", "alpha", "gamma"]


def test_a_dependency_cycle_is_refused_naming_the_cycle(tmp_path: Path) -> None:
    write_layer(tmp_path, "aa", minimal("[cc]"))
    write_layer(tmp_path, "bb", minimal("[aa]"))
    write_layer(tmp_path, "cc", minimal("[bb]"))
    with pytest.raises(LayerError, match=r"layer dependencies form a cycle: (\w+ -> ){3}\w+"):
        load_graph(tmp_path)


def test_an_unknown_upstream_is_refused_naming_the_manifest(tmp_path: Path) -> None:
    write_layer(tmp_path, "aa", minimal())
    write_layer(tmp_path, "bb", minimal("[xx]"))
    with pytest.raises(LayerError) as raised:
        load_graph(tmp_path)
    assert str(raised.value) == (
        "layer 'bb' depends on unknown layer 'xx' (projects/bb/layer.yaml); known layers: aa, bb"
    )


def test_an_unknown_layer_lists_the_known_ones(graph: LayerGraph) -> None:
    with pytest.raises(LayerError) as raised:
        graph.get("network")
    assert str(raised.value) == f"unknown layer 'network'; known layers: {', '.join(graph.names)}"


def test_a_manifest_without_a_pulumi_project_is_named(tmp_path: Path) -> None:
    write_layer(tmp_path, "aa", minimal())
    (tmp_path / "aa" / "Pulumi.yaml").unlink()
    with pytest.raises(LayerError) as raised:
        load_graph(tmp_path)
    assert str(raised.value).startswith(
        f"layer 'aa' has no Pulumi.yaml: {tmp_path / 'aa' / 'Pulumi.yaml'} is missing"
    )


def test_two_layers_sharing_a_pulumi_project_are_refused(tmp_path: Path) -> None:
    """A copied folder would otherwise deploy into the original layer's stacks."""
    write_layer(tmp_path, "aa", minimal(), project="rawdata-aa")
    write_layer(tmp_path, "bb", minimal(), project="rawdata-aa")
    with pytest.raises(LayerError) as raised:
        load_graph(tmp_path)
    assert str(raised.value) == (
        "layers 'aa' and 'bb' both declare the Pulumi project 'rawdata-aa' "
        "(projects/aa/Pulumi.yaml, projects/bb/Pulumi.yaml); each must be unique to one layer: "
        "rename one of them"
    )


def test_two_layers_declaring_one_export_key_are_refused(tmp_path: Path) -> None:
    exports = "exports: {table_name: {description: d, example: '{env}-t'}}\n"
    write_layer(tmp_path, "aa", minimal() + exports)
    write_layer(tmp_path, "bb", minimal("[aa]") + exports)
    with pytest.raises(LayerError, match="layers 'aa' and 'bb' both declare the export key "):
        load_graph(tmp_path)


def test_a_copied_layer_folder_is_refused(tmp_path: Path) -> None:
    graph = copy_projects(tmp_path / "projects")
    first = graph.deploy_order()[0]
    shutil.copytree(first.directory, graph.projects_dir / "copied")
    with pytest.raises(LayerError, match=f"both declare the Pulumi project '{first.project}'"):
        load_graph(graph.projects_dir)


def test_a_pulumi_project_without_a_manifest_is_an_error_not_skipped(tmp_path: Path) -> None:
    write_layer(tmp_path, "aa", minimal())
    (tmp_path / "stray").mkdir()
    (tmp_path / "stray" / "Pulumi.yaml").write_text("name: stray\nruntime: python\n")
    with pytest.raises(LayerError, match=r"stray has a Pulumi.yaml but no layer.yaml"):
        load_graph(tmp_path)


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        (
            'summary: x\nowners: ["@o/t"]\nowner: "@o/t"\n',
            "owner = '@o/t' is not allowed; expected one of the keys summary, owners",
        ),
        (
            "summary: x\nowners: [team]\n",
            "owners = ['team'] is not allowed; expected a list of GitHub teams",
        ),
        ("owners: ['@o/t']\n", "summary = None is not allowed; expected a non-empty text"),
        (
            f"summary: {'s' * 201}\nowners: ['@o/t']\n",
            f"summary = '{'s' * 57}...' is not allowed; expected one line of 1-200 characters "
            "(this one has 201)",
        ),
        (
            "summary: |\n  two\n  lines\nowners: ['@o/t']\n",
            "summary = 'two\\nlines' is not allowed; expected one line of 1-200 characters (this "
            "one has 9 and a line break)",
        ),
        (
            'summary: x\nowners: ["@o/t"]\nexports: {BucketName: {description: d, example: e}}\n',
            "exports.BucketName = 'BucketName' is not allowed; expected a lowercase key",
        ),
        (
            'summary: x\nowners: ["@o/t"]\nexports: {name: {description: d}}\n',
            "exports.name = {'description': 'd'} is not allowed; expected a mapping with exactly "
            "description and example",
        ),
        (
            'summary: x\nowners: ["@o/t"]\nknobs: [{resource: r, input: i}]\n',
            "knobs[0] = {'resource': 'r', 'input': 'i'} is not allowed; expected a mapping with "
            "exactly resource, input, why",
        ),
        ("summary: x\nowners: [\n", "not valid YAML at line 3, column 1"),
        # A value of the wrong type is an error, never read as "none".
        (
            'summary: x\nowners: ["@o/t"]\ndepends_on: false\n',
            "depends_on = False is not allowed; expected a list of the layers this one reads",
        ),
        (
            'summary: x\nowners: ["@o/t"]\nproduction_grade_settings: false\n',
            "production_grade_settings = False is not allowed; expected a mapping",
        ),
        (
            'summary: x\nowners: ["@o/t"]\nknobs: 0\n',
            "knobs = 0 is not allowed; expected a list of {resource, input, why}",
        ),
        (
            'summary: x\nowners: ["@o/t"]\nexports: ""\n',
            "exports = '' is not allowed; expected a mapping of export keys",
        ),
        (
            'summary: x\nowners: "@o/t"\n',
            "owners = '@o/t' is not allowed; expected a list of GitHub teams or users, "
            'e.g. ["@org/team"]',
        ),
        (
            'summary: x\nowners: ["@o/t"]\ndepends_on: [aa]\n',
            "depends_on = ['aa'] is not allowed; expected the names of other layers (a layer "
            "cannot depend on itself)",
        ),
        (
            'summary: x\nowners: ["@o/t", "@o/t"]\n',
            "owners = ['@o/t', '@o/t'] is not allowed; expected each name once (@o/t is listed "
            "twice)",
        ),
        (
            'summary: x\nowners: ["@o/t"]\nknobs:\n'
            "  - {resource: r, input: i, why: w}\n  - {resource: r, input: i, why: again}\n",
            "expected one entry per resource and input (r i is declared twice)",
        ),
        (
            'summary: x\nowners: ["@o/t"]\nsummary: y\n',
            "refused at line 3, column 1: the key 'summary' appears twice",
        ),
    ],
)
def test_a_bad_manifest_names_the_file_the_key_the_value_and_what_is_allowed(
    tmp_path: Path, manifest: str, message: str
) -> None:
    write_layer(tmp_path, "aa", manifest)
    with pytest.raises(LayerError) as raised:
        load_graph(tmp_path)
    assert str(tmp_path / "aa" / "layer.yaml") in str(raised.value)
    assert message in str(raised.value)


@pytest.mark.parametrize("name", ["a", "Audit", "audit-log", "1audit", "a" * 21])
def test_a_layer_folder_with_a_bad_name_is_refused_with_the_rule(tmp_path: Path, name: str) -> None:
    write_layer(tmp_path, name, minimal())
    with pytest.raises(LayerError, match="2-20 lowercase letters and digits"):
        load_graph(tmp_path)


def test_every_layer_declares_an_owner_exports_and_why_each_knob_differs(
    graph: LayerGraph,
) -> None:
    for layer in graph:
        assert layer.owners and all(owner.startswith("@") for owner in layer.owners)
        assert layer.summary
        for export in layer.exports:
            assert export.description and export.example is not None, (layer.name, export)
        for knob in layer.knobs:
            assert len(knob.why) > 20, (layer.name, knob)


# -- environments ----------------------------------------------------------------------------


def test_environments_are_the_stack_files_present_in_promotion_order(graph: LayerGraph) -> None:
    present = {
        path.name.removeprefix("Pulumi.").removesuffix(".yaml")
        for layer in graph
        for path in layer.directory.glob("Pulumi.*.yaml")
    }
    order = promotion_order(graph)
    assert environments(graph) == [env for env in order if env in present] + sorted(
        present - set(order)
    )
    assert set(environments(graph)) == present


def test_a_layers_settings_are_its_project_config_overlaid_by_the_stack_file(
    tmp_path: Path,
) -> None:
    graph = copy_projects(tmp_path / "projects", ["dev"])
    layer = graph.layers[0]
    project_config = yaml.safe_load((layer.directory / "Pulumi.yaml").read_text())["config"]
    assert read_stack_config(layer, "dev")["aws:region"] == project_config["aws:region"]
    path = stack_file(layer, "dev")
    path.write_text(path.read_text().rstrip("\n") + "\n  aws:region: eu-west-1\n")
    assert read_stack_config(load_graph(graph.projects_dir).layers[0], "dev")["aws:region"] == (
        "eu-west-1"
    )


def test_a_near_miss_environment_or_layer_gets_a_hint(graph: LayerGraph) -> None:
    known = environments(graph)
    with pytest.raises(StackEnvironmentError) as raised:
        require_environment(known[-1][:-1], graph.deploy_order(), graph)
    assert str(raised.value).endswith(f"; did you mean {known[-1]}?")
    with pytest.raises(LayerError) as raised:
        graph.get(graph.names[0].upper())
    assert str(raised.value).endswith(f"; did you mean {graph.names[0]}?")


def test_a_stack_file_that_names_no_environment_is_refused(tmp_path: Path) -> None:
    graph = copy_projects(tmp_path / "projects")
    layer = graph.deploy_order()[0]
    (layer.directory / "Pulumi..yaml").write_text("config: {}\n")
    with pytest.raises(StackEnvironmentError) as raised:
        environments(graph)
    assert str(raised.value) == (
        f"projects/{layer.name}/Pulumi..yaml: '' is not an environment name (2-16 characters, "
        "lowercase letters and digits, starting with a letter); rename the stack file or remove it"
    )


def test_unknown_environment_lists_the_known_ones(graph: LayerGraph) -> None:
    unknown = unused_environment_name("qa")
    with pytest.raises(StackEnvironmentError) as raised:
        require_environment(unknown, graph.deploy_order(), graph)
    assert str(raised.value) == (
        f"unknown environment {unknown!r}; environments with stack files: "
        + ", ".join(environments(graph))
    )


@pytest.mark.parametrize("bad", ["Prod", "p", "dev-1", "1dev", "a" * 17, ""])
def test_bad_environment_names_are_refused_with_the_rule(bad: str) -> None:
    with pytest.raises(
        StackEnvironmentError, match="2-16 characters, lowercase letters and digits"
    ):
        validate_environment_name(bad)


# -- each project on its own ---------------------------------------------------------------


def test_each_project_works_alone_with_the_pulumi_cli(graph: LayerGraph) -> None:
    """`cd projects/<layer> && pulumi up -s <env>` finds the project, the program, the venv,
    and the settings every environment shares."""
    for layer in graph:
        project = yaml.safe_load((layer.directory / "Pulumi.yaml").read_text())
        assert project["runtime"]["name"] == "python", layer.name
        virtualenv = (layer.directory / project["runtime"]["options"]["virtualenv"]).resolve()
        assert virtualenv == (REPO_ROOT / ".venv").resolve(), layer.name
        assert "main" not in project  # the folder itself is the program: __main__.py
        assert (layer.directory / "__main__.py").is_file()
        assert {"aws:region", "pipeline:project"} <= set(project["config"]), layer.name
        for environment in environments(graph):
            assert stack_file(layer, environment).is_file(), (layer.name, environment)


def test_main_programs_stay_tiny(graph: LayerGraph) -> None:
    for layer in graph:
        code_lines = [
            line
            for line in Path(layer.directory / "__main__.py").read_text().splitlines()
            if line.strip() and not line.lstrip().startswith(("#", '"""'))
        ]
        assert len(code_lines) <= 6, (layer.name, code_lines)


def test_a_layer_object_knows_its_files(graph: LayerGraph) -> None:
    layer: Layer = graph.layers[0]
    assert layer.manifest == layer.directory / "layer.yaml"
    assert layer.shown(layer.manifest) == f"projects/{layer.name}/layer.yaml"
