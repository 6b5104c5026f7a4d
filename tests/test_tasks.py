"""deploy / preview / destroy / outputs, driven through the real tasks with invoke.MockContext.

Every test states the exact pulumi commands, in order. No Pulumi CLI, no cloud: the
``pulumi`` executable is reported present (except where its absence is the point) and
MockContext answers every command; an unexpected command raises NotImplementedError. The
stack outputs pulumi answers with are the offline render's real exports (``stack_outputs``),
never written by hand: a hand-written fixture once hid two layers exporting the same key.
The layers and their order are read from the graph; a test names a layer only where it is
the material of the test (the layer whose dependants must be gone, say).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from invoke import Exit, MockContext, Result

import shared.layers
import tasks
from shared import local_emulator, pulumi_cli
from shared.deploy import policy_pack
from shared.environments import environments
from shared.harness import RenderedStack
from shared.layers import PROJECTS_DIR, Layer, LayerGraph, load_graph
from shared.local_emulator import EmulatorInfo, LocalEmulator
from shared.testing import Rendered, copy_projects, unused_environment_name

P = PROJECTS_DIR  # projects/<layer> is where every program runs
GRAPH = load_graph()
LAYERS = GRAPH.layers
FIRST, LAST = LAYERS[0], LAYERS[-1]

Outputs = dict[str, dict[str, Any]]  # layer -> its stack outputs


def ok(stdout: str = "") -> Result:
    return Result(stdout=stdout, exited=0)


def failed(text: str = "error: boom") -> Result:
    return Result(stdout=text, stderr=text, exited=1)


NO_STACK = failed("error: no stack named 'dev' found")


@pytest.fixture(scope="session")
def stack_outputs(rendered: Rendered) -> dict[str, Outputs]:
    """environment -> layer -> what `pulumi stack output --json` prints once it is deployed:
    the offline render's exports."""
    return {
        environment: {layer: stack.exports for layer, stack in stacks.items()}
        for environment, stacks in rendered.items()
    }


@pytest.fixture
def outputs(stack_outputs: dict[str, Outputs]) -> Outputs:
    return stack_outputs["dev"]


def outputs_of(layer: str | Layer, stack: str = "dev") -> str:
    name = layer if isinstance(layer, str) else layer.name
    return f"pulumi stack output --json --stack {stack} --cwd {P}/{name}"


def state_of(layer: str | Layer, stack: str = "dev") -> str:
    name = layer if isinstance(layer, str) else layer.name
    return f"pulumi stack export --stack {stack} --cwd {P}/{name}"


def exported_state(stack: RenderedStack | None = None) -> Result:
    """What `pulumi stack export` prints (the documented deployment schema, version 3): with a
    rendered stack, its stack resource, provider and the render's resources under their real
    URNs and types; without, a state with no resources (never updated, or destroyed)."""
    deployment: dict[str, Any] = {"manifest": {"time": "2026-11-26T00:00:00Z", "version": ""}}
    if stack is not None:
        root = (
            f"urn:pulumi:{stack.environment}::{stack.project}::pulumi:pulumi:Stack::"
            f"{stack.project}-{stack.environment}"
        )
        provider = f"urn:pulumi:{stack.environment}::{stack.project}::pulumi:providers:aws::default"
        deployment["resources"] = [
            {"urn": root, "type": "pulumi:pulumi:Stack", "custom": False},
            {"urn": provider, "type": "pulumi:providers:aws", "custom": True},
            *({"urn": r.urn, "type": r.type, "custom": r.custom} for r in stack),
        ]
    return ok(json.dumps({"version": 3, "deployment": deployment}))


def deployed(outputs: Outputs, *layers: Layer, stack: str = "dev") -> dict[str, Result]:
    return {outputs_of(layer, stack): ok(json.dumps(outputs[layer.name])) for layer in layers}


def commands(c: MockContext) -> list[str]:
    return [call.args[0] for call in c.run.call_args_list]


def run_envs(c: MockContext) -> list[dict[str, str]]:
    """The environment each command got, without NO_COLOR (which the pty runs get off a
    terminal: test_pulumi_is_told_not_to_colour_off_a_terminal)."""
    return [
        {key: value for key, value in call.kwargs.get("env", {}).items() if key != "NO_COLOR"}
        for call in c.run.call_args_list
    ]


def pack() -> Path:
    """The policy pack folder every deploy and preview passes to pulumi (a stand-in, see the
    ``policy_pack`` fixture)."""
    return policy_pack.POLICY_PACK_DIR


def name_of(layer: str | Layer) -> str:
    return layer if isinstance(layer, str) else layer.name


def up_command(layer: str | Layer, stack: str = "dev", *, yes: bool = True) -> str:
    suffix = " --yes" if yes else ""
    return f"pulumi up --stack {stack} --cwd {P}/{name_of(layer)} --policy-pack {pack()}{suffix}"


def preview_command(layer: str | Layer, stack: str = "dev") -> str:
    return (
        f"pulumi preview --diff --stack {stack} --cwd {P}/{name_of(layer)} --policy-pack {pack()}"
    )


def deploy_commands(stack: str, *, yes: bool = True, cwd: Path = P) -> list[str]:
    suffix = " --yes" if yes else ""
    return [
        command
        for layer in LAYERS
        for command in (
            f"pulumi stack select --create {stack} --cwd {cwd}/{layer.name}",
            f"pulumi up --stack {stack} --cwd {P}/{layer.name} --policy-pack {pack()}{suffix}",
        )
    ]


@pytest.fixture(autouse=True)
def pulumi_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    real_which = shutil.which
    monkeypatch.setattr(
        pulumi_cli.shutil,
        "which",
        lambda name: "/usr/local/bin/pulumi" if name == "pulumi" else real_which(name),
    )


@pytest.fixture(scope="session")
def policy_pack_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("pack") / "policies"
    folder.mkdir()
    # A stand-in: the runner only checks that the pack's manifest exists (the pack itself is
    # policies/ at the repository root, written separately).
    (folder / policy_pack.MANIFEST).write_text("# stand-in policy pack manifest for the tests\n")
    return folder


@pytest.fixture(autouse=True)
def policy_pack_present(policy_pack_folder: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(policy_pack, "POLICY_PACK_DIR", policy_pack_folder)
    return policy_pack_folder


@pytest.fixture
def stack_file_digests() -> Iterator[dict[Path, str]]:
    """Digest of every committed stack file; the test fails if any changed."""

    def digest_all() -> dict[Path, str]:
        return {
            path: hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(P.glob("*/Pulumi*.yaml"))
        }

    before = digest_all()
    yield before
    assert digest_all() == before, "a committed Pulumi.yaml / Pulumi.<env>.yaml file changed"


@pytest.fixture
def projects_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LayerGraph:
    """The projects folder copied to a temp folder, which the tasks then read."""
    graph = copy_projects(tmp_path / "projects")
    monkeypatch.setattr(shared.layers, "PROJECTS_DIR", graph.projects_dir)
    return graph


# -- deploy -------------------------------------------------------------------------------


def test_deploy_all_layers_runs_select_then_up_per_layer_in_dependency_order(
    capsys: pytest.CaptureFixture[str],
) -> None:
    c = MockContext(run=ok())
    tasks.deploy(c, env="staging", yes=True)
    assert commands(c) == deploy_commands("staging")
    out = capsys.readouterr().out
    assert f"==> deploy {FIRST.name} [1/{len(LAYERS)}] (stack staging)" in out
    for layer in LAYERS:
        assert re.search(rf"{layer.name}\s+done\s+\d+\.\ds", out), layer.name


def test_deploy_one_layer_runs_only_that_layer() -> None:
    c = MockContext(run=ok())
    tasks.deploy(c, env="dev", layer=LAST.name)
    assert commands(c) == [
        f"pulumi stack select --create dev --cwd {P}/{LAST.name}",
        f"pulumi up --stack dev --cwd {P}/{LAST.name} --policy-pack {pack()}",
    ]


def test_deploy_without_yes_lets_pulumi_ask_and_streams_through_a_pty() -> None:
    c = MockContext(run=ok())
    tasks.deploy(c, env="dev", layer=FIRST.name)
    up_call = c.run.call_args_list[1]
    assert up_call.args[0] == f"pulumi up --stack dev --cwd {P}/{FIRST.name} --policy-pack {pack()}"
    assert up_call.kwargs["pty"] is True
    assert up_call.kwargs["warn"] is True


def test_failure_in_a_layer_stops_the_chain_and_reports_the_rest_not_run(
    capsys: pytest.CaptureFixture[str],
) -> None:
    failing = LAYERS[1]
    after = LAYERS[2:]
    answers: dict[str, Result] = {}
    for layer in LAYERS[:1]:
        answers[f"pulumi stack select --create dev --cwd {P}/{layer.name}"] = ok()
        answers[up_command(layer)] = ok()
    answers[f"pulumi stack select --create dev --cwd {P}/{failing.name}"] = ok()
    answers[up_command(failing)] = failed()
    c = MockContext(run=answers)
    with pytest.raises(Exit) as raised:
        tasks.deploy(c, env="dev", yes=True)
    assert raised.value.code == 1
    assert raised.value.message == (
        f"error: deploy dev: layer {failing.name!r} failed; not run: "
        + ", ".join(layer.name for layer in after)
    )
    assert commands(c)[-1] == up_command(failing)
    assert not any(f"{P}/{layer.name}" in command for command in commands(c) for layer in after)
    out = capsys.readouterr().out
    assert re.search(rf"{FIRST.name}\s+done", out)
    assert re.search(rf"{failing.name}\s+failed", out)
    for layer in after:
        assert re.search(rf"{layer.name}\s+not run\s+-", out)


def test_deploy_that_cannot_resolve_a_stack_reference_names_the_layer_to_deploy_first(
    capsys: pytest.CaptureFixture[str],
) -> None:
    engine_error = (
        "pulumi:pulumi:StackReference (organization/rawdata-storage/dev):\n"
        '    error: Preview failed: unknown stack "organization/rawdata-storage/dev"\n'
    )
    c = MockContext(
        run={
            f"pulumi stack select --create dev --cwd {P}/iam": ok(),
            up_command("iam"): failed(engine_error),
        }
    )
    with pytest.raises(Exit):
        tasks.deploy(c, env="dev", layer="iam", yes=True)
    out = capsys.readouterr().out
    assert (
        "iam: stack reference organization/rawdata-storage/dev does not exist: deploy storage "
        "first (invoke deploy --env dev --layer storage)"
    ) in out


def test_backend_flag_is_passed_to_every_pulumi_command_as_PULUMI_BACKEND_URL() -> None:
    c = MockContext(run=ok())
    tasks.deploy(c, env="dev", yes=True, backend="s3://team-state")
    assert run_envs(c) == [{"PULUMI_BACKEND_URL": "s3://team-state"}] * 2 * len(LAYERS)


def test_pulumi_is_told_not_to_colour_off_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a pty pulumi always sees a terminal: off one (a file, a CI log) or under NO_COLOR
    it gets NO_COLOR, which it honours; the quiet commands (select, outputs) need nothing."""
    from shared.deploy import steps

    for on_terminal in (False, True):
        monkeypatch.setattr(steps, "use_colour", lambda on_terminal=on_terminal: on_terminal)
        c = MockContext(run=ok())
        tasks.deploy(c, env="dev", yes=True, layer=FIRST.name)
        envs = {call.args[0].split()[1]: call.kwargs["env"] for call in c.run.call_args_list}
        assert envs["up"].get("NO_COLOR") == (None if on_terminal else "1")
        assert "NO_COLOR" not in envs["stack"]


def test_without_backend_flag_pulumi_keeps_its_own_login() -> None:
    c = MockContext(run=ok())
    tasks.deploy(c, env="dev", yes=True)
    assert run_envs(c) == [{}] * 2 * len(LAYERS)


@pytest.mark.parametrize("backend", ["", "   "])
def test_an_empty_backend_is_refused_not_treated_as_not_given(backend: str) -> None:
    c = MockContext(run=ok())
    with pytest.raises(Exit) as raised:
        tasks.deploy(c, env="dev", yes=True, backend=backend)
    assert raised.value.code == 2
    assert raised.value.message.startswith("error: --backend is empty: give a state backend URL")
    assert commands(c) == []


# -- preview ------------------------------------------------------------------------------


def expected_preview(stack: str = "dev", *, only: Layer | None = None) -> list[str]:
    """Each layer's upstreams are asked once whether they are deployed (in deploy order),
    then the layer's stack is selected (never created) and previewed."""
    expected: list[str] = []
    asked: set[str] = set()
    for layer in [only] if only else LAYERS:
        for upstream in GRAPH.upstreams(layer):
            if upstream.name not in asked:
                asked.add(upstream.name)
                expected.append(outputs_of(upstream, stack))
        expected += [
            f"pulumi stack select {stack} --cwd {P}/{layer.name}",
            preview_command(layer, stack),
        ]
    return expected


def test_preview_all_layers_checks_upstreams_then_previews_each_in_order(
    outputs: Outputs,
) -> None:
    c = MockContext(
        run={
            **deployed(outputs, *LAYERS),
            re.compile(r"pulumi (stack select|preview) .*"): ok(),
        }
    )
    tasks.preview(c, env="dev")
    assert commands(c) == expected_preview()


def test_preview_one_layer_checks_its_upstreams_first(outputs: Outputs) -> None:
    c = MockContext(
        run={
            **deployed(outputs, *LAYERS),
            re.compile(r"pulumi (stack select|preview) .*"): ok(),
        }
    )
    tasks.preview(c, env="dev", layer=LAST.name)
    assert commands(c) == expected_preview(only=LAST)


@pytest.mark.parametrize(
    "storage_answer",
    [NO_STACK, ok("{}")],
    ids=["stack-never-created", "stack-without-outputs"],
)
def test_preview_says_in_one_line_which_layer_to_deploy_first(
    storage_answer: Result, capsys: pytest.CaptureFixture[str]
) -> None:
    """No outputs is enough to block: a downstream preview reads them. The state is not asked
    (resources without exports, left by a failed update, do not do either)."""
    c = MockContext(
        run={
            outputs_of("storage"): storage_answer,
            re.compile(r"pulumi (stack select|preview) .*"): ok(),
        }
    )
    tasks.preview(c, env="dev")  # blocked is reported, not a failure
    assert commands(c) == [
        f"pulumi stack select dev --cwd {P}/storage",
        preview_command("storage"),
        outputs_of("storage"),
    ]
    out = capsys.readouterr().out
    for layer in GRAPH.downstreams(GRAPH.get("storage")):
        assert (
            f"{layer.name}: cannot preview dev yet: upstream layer storage has no outputs there "
            "(never deployed, or its last update failed before exporting); deploy it first: "
            "invoke deploy --env dev --layer storage\n"
        ) in out
        assert re.search(rf"{layer.name}\s+blocked\s+\S+\s+deploy storage first", out)


def test_preview_judges_an_upstream_without_exports_by_its_resources(
    projects_copy: LayerGraph, rendered: Rendered
) -> None:
    """A layer that declares no exports never has outputs: blocking on that would block for
    ever. Its state says whether it is deployed."""
    manifest = projects_copy.projects_dir / "storage" / "layer.yaml"
    document = yaml.safe_load(manifest.read_text())
    document["exports"] = {}
    manifest.write_text(yaml.safe_dump(document, sort_keys=False))
    readers = {layer.name for layer in GRAPH.downstreams(GRAPH.get("storage"))}
    c = MockContext(
        run={
            re.compile(r"pulumi stack output .*/storage$"): ok("{}"),
            re.compile(r"pulumi stack export .*/storage$"): exported_state(
                rendered["dev"]["storage"]
            ),
            re.compile(r"pulumi stack output .*"): ok('{"x": 1}'),
            re.compile(r"pulumi (stack select|preview) .*"): ok(),
        }
    )
    tasks.preview(c, env="dev")
    previewed = {
        Path(command.split(" --cwd ")[1].split()[0]).name
        for command in commands(c)
        if command.startswith("pulumi preview")
    }
    assert readers <= previewed


def test_preview_names_the_earliest_undeployed_upstream(outputs: Outputs) -> None:
    c = MockContext(run={**deployed(outputs, GRAPH.get("storage")), outputs_of("iam"): NO_STACK})
    tasks.preview(c, env="dev", layer="compute")
    assert commands(c) == [outputs_of("storage"), outputs_of("iam")]


def test_preview_failure_stops_the_chain() -> None:
    c = MockContext(
        run={
            f"pulumi stack select dev --cwd {P}/{FIRST.name}": ok(),
            preview_command(FIRST): failed(),
        }
    )
    rest = ", ".join(layer.name for layer in LAYERS[1:])
    with pytest.raises(Exit, match=f"preview dev: layer '{FIRST.name}' failed; not run: {rest}"):
        tasks.preview(c, env="dev")


def test_preview_never_creates_a_stack(stack_outputs: dict[str, Outputs]) -> None:
    c = MockContext(
        run={
            **deployed(stack_outputs["staging"], *LAYERS, stack="staging"),
            re.compile(r"pulumi (stack select|preview) .*"): ok(),
        }
    )
    tasks.preview(c, env="staging")
    selects = [command for command in commands(c) if " stack select " in command]
    assert selects == [f"pulumi stack select staging --cwd {P}/{layer.name}" for layer in LAYERS]
    assert not any("--create" in command or " init " in command for command in commands(c))


def test_preview_of_a_layer_whose_own_stack_does_not_exist_is_blocked_not_failed(
    outputs: Outputs, capsys: pytest.CaptureFixture[str]
) -> None:
    c = MockContext(
        run={
            **deployed(outputs, GRAPH.get("storage")),
            f"pulumi stack select dev --cwd {P}/iam": NO_STACK,
        }
    )
    tasks.preview(c, env="dev", layer="iam")  # blocked: no Exit
    assert commands(c) == [outputs_of("storage"), f"pulumi stack select dev --cwd {P}/iam"]
    out = capsys.readouterr().out
    assert (
        "iam: cannot preview dev yet: its stack dev does not exist (a preview never creates "
        "one); deploy it first: invoke deploy --env dev --layer iam\n"
    ) in out
    assert re.search(r"iam\s+blocked\s+\S+\s+deploy iam first", out)


def test_preview_of_all_layers_with_no_stacks_at_all_creates_none_and_is_blocked(
    capsys: pytest.CaptureFixture[str],
) -> None:
    c = MockContext(run={f"pulumi stack select dev --cwd {P}/{FIRST.name}": NO_STACK})
    tasks.preview(c, env="dev")
    # the first layer's missing stack is remembered: its readers run no command at all.
    assert commands(c) == [f"pulumi stack select dev --cwd {P}/{FIRST.name}"]
    out = capsys.readouterr().out
    for layer in LAYERS:
        assert re.search(rf"{layer.name}\s+blocked\s+\S+\s+deploy {FIRST.name} first", out)


def test_preview_that_cannot_select_an_existing_stack_fails_and_shows_why(
    capsys: pytest.CaptureFixture[str],
) -> None:
    c = MockContext(
        run={f"pulumi stack select dev --cwd {P}/{FIRST.name}": failed("error: access denied")}
    )
    with pytest.raises(Exit, match=f"preview dev: layer '{FIRST.name}' failed"):
        tasks.preview(c, env="dev")
    out = capsys.readouterr().out
    assert "error: access denied" in out
    assert re.search(rf"{FIRST.name}\s+failed\s+\S+\s+could not select the stack", out)


# -- destroy ------------------------------------------------------------------------------


def destroy_commands(stack: str) -> list[str]:
    return [
        command
        for layer in GRAPH.destroy_order()
        for command in (
            f"pulumi stack select {stack} --cwd {P}/{layer.name}",
            f"pulumi destroy --stack {stack} --cwd {P}/{layer.name} --yes",
        )
    ]


def test_destroy_runs_in_reverse_order_and_never_unprotects() -> None:
    c = MockContext(run=ok())
    tasks.destroy(c, env="staging", yes=True)
    assert commands(c) == destroy_commands("staging")
    assert not any("unprotect" in command or "--remove" in command for command in commands(c))


def test_destroy_prod_needs_the_extra_confirmation_flag_and_says_why() -> None:
    c = MockContext(run=ok())
    with pytest.raises(Exit) as raised:
        tasks.destroy(c, env="prod", yes=True)
    assert raised.value.message == (
        "error: destroying environment 'prod' needs --confirm-prod as well: it is "
        "production-grade (projects/storage/Pulumi.prod.yaml sets "
        "rawdata-storage:protectStatefulResources: true; projects/storage/Pulumi.prod.yaml "
        "sets rawdata-storage:deletionProtection: true); protected resources stay protected "
        "either way"
    )
    assert commands(c) == []


def set_storage_setting(graph: LayerGraph, environment: str, key: str, value: str | None) -> None:
    """Set (or with None, remove) one rawdata-storage key in a storage stack file."""
    path = graph.get("storage").directory / f"Pulumi.{environment}.yaml"
    lines = [
        line
        for line in path.read_text().splitlines()
        if not line.strip().startswith(f"rawdata-storage:{key}:")
    ]
    if value is not None:
        lines.append(f"  rawdata-storage:{key}: {value}")
    path.write_text("\n".join(lines) + "\n")


def test_an_environment_copied_from_prod_needs_the_confirmation_too(
    projects_copy: LayerGraph,
) -> None:
    from shared.consistency.new_env import new_environment

    new_environment("prod2", "prod", graph=projects_copy)
    c = MockContext(run=ok())
    with pytest.raises(Exit) as raised:
        tasks.destroy(c, env="prod2", yes=True)
    assert "destroying environment 'prod2' needs --confirm-prod" in raised.value.message
    assert "Pulumi.prod2.yaml sets rawdata-storage:protectStatefulResources: true" in (
        raised.value.message
    )
    assert commands(c) == []
    tasks.destroy(c, env="prod2", yes=True, confirm_prod=True)
    assert len(commands(c)) == 2 * len(LAYERS)


def test_a_name_does_not_make_an_environment_production_grade(projects_copy: LayerGraph) -> None:
    """prod with both safety settings explicitly off is destroyed like dev."""
    set_storage_setting(projects_copy, "prod", "protectStatefulResources", "false")
    set_storage_setting(projects_copy, "prod", "deletionProtection", '"false"')  # as the CLI writes
    c = MockContext(run=ok())
    tasks.destroy(c, env="prod", yes=True)
    assert len(commands(c)) == 2 * len(LAYERS)


@pytest.mark.parametrize(
    ("protect", "deletion", "reason"),
    [
        ("true", "false", "sets rawdata-storage:protectStatefulResources: true"),
        ("false", "true", "sets rawdata-storage:deletionProtection: true"),
        (
            None,
            "false",
            "does not set rawdata-storage:protectStatefulResources, which defaults to true",
        ),
        ("false", None, "does not set rawdata-storage:deletionProtection, which defaults to true"),
    ],
    ids=["protect-on", "deletion-protection-on", "protect-unset", "deletion-protection-unset"],
)
def test_either_safety_setting_on_or_unset_makes_an_environment_production_grade(
    projects_copy: LayerGraph, protect: str | None, deletion: str | None, reason: str
) -> None:
    set_storage_setting(projects_copy, "staging", "protectStatefulResources", protect)
    set_storage_setting(projects_copy, "staging", "deletionProtection", deletion)
    c = MockContext(run=ok())
    with pytest.raises(Exit) as raised:
        tasks.destroy(c, env="staging", yes=True)
    message = raised.value.message
    assert message.startswith(
        "error: destroying environment 'staging' needs --confirm-prod as well: it is "
        "production-grade (projects/storage/Pulumi.staging.yaml "
    )
    assert reason in message
    assert message.count("projects/storage/Pulumi.staging.yaml") == 1  # only the setting that is on
    assert commands(c) == []


def test_an_unreadable_stack_file_refuses_the_destroy_instead_of_guessing(
    projects_copy: LayerGraph,
) -> None:
    path = projects_copy.get("storage").directory / "Pulumi.staging.yaml"
    path.write_text("config:\n  rawdata-storage:deletionProtection: [\n")
    c = MockContext(run=ok())
    with pytest.raises(Exit) as raised:
        tasks.destroy(c, env="staging", yes=True)
    assert raised.value.code == 2
    assert "Pulumi.staging.yaml: not valid YAML at line 3" in raised.value.message
    assert commands(c) == []


def test_destroy_prod_with_confirmation_runs() -> None:
    c = MockContext(run=ok())
    tasks.destroy(c, env="prod", yes=True, confirm_prod=True)
    assert commands(c) == destroy_commands("prod")


def test_destroy_skips_a_layer_that_has_no_stack(capsys: pytest.CaptureFixture[str]) -> None:
    c = MockContext(
        run={
            f"pulumi stack select dev --cwd {P}/{LAST.name}": NO_STACK,
            re.compile(r"pulumi (stack select|destroy) .*"): ok(),
        }
    )
    tasks.destroy(c, env="dev", yes=True)
    assert f"pulumi destroy --stack dev --cwd {P}/{LAST.name} --yes" not in commands(c)
    assert f"pulumi destroy --stack dev --cwd {P}/{FIRST.name} --yes" in commands(c)
    assert re.search(rf"{LAST.name}\s+skipped\s+\S+\s+no stack", capsys.readouterr().out)


def test_destroy_stops_at_protected_resources_and_says_they_stay(
    capsys: pytest.CaptureFixture[str],
) -> None:
    protected = failed(
        'error: unable to delete resource "urn:pulumi:prod::rawdata-storage::aws:s3/bucket"\n'
        "as it is currently marked for protection."
    )
    c = MockContext(
        run={
            f"pulumi destroy --stack prod --cwd {P}/storage --yes": protected,
            re.compile(r"pulumi (stack select|destroy) .*"): ok(),
        }
    )
    with pytest.raises(Exit, match="destroy prod: layer 'storage' failed"):
        tasks.destroy(c, env="prod", yes=True, confirm_prod=True)
    assert "storage: protected resources stay" in capsys.readouterr().out


def orphaning_refusal(reader: Layer) -> str:
    return (
        f"error: cannot destroy storage in dev while {reader.name}, which depends on it, "
        f"is deployed; destroy it first: invoke destroy --env dev --layer {reader.name}"
    )


def test_destroying_one_layer_is_refused_while_a_dependant_is_deployed(outputs: Outputs) -> None:
    storage = GRAPH.get("storage")
    readers = GRAPH.downstreams(storage)
    first_reader = readers[0]
    c = MockContext(run=deployed(outputs, first_reader))
    with pytest.raises(Exit) as raised:
        tasks.destroy(c, env="dev", layer="storage", yes=True)
    assert raised.value.code == 2
    assert raised.value.message == orphaning_refusal(first_reader)
    assert commands(c) == [outputs_of(first_reader)]


def test_destroying_one_layer_whose_dependants_are_gone(outputs: Outputs) -> None:
    """Gone: no stack at all, or a stack whose state holds no resources (destroyed before)."""
    readers = GRAPH.downstreams(GRAPH.get("storage"))
    answers: dict[str, Result] = {}
    expected: list[str] = []
    for i, reader in enumerate(readers):
        if i % 2 == 0:
            answers[outputs_of(reader)] = NO_STACK
            expected.append(outputs_of(reader))
        else:
            answers[outputs_of(reader)] = ok("{}")
            answers[state_of(reader)] = exported_state()
            expected += [outputs_of(reader), state_of(reader)]
    c = MockContext(run={**answers, re.compile(r"pulumi (stack select|destroy) .*"): ok()})
    tasks.destroy(c, env="dev", layer="storage", yes=True)
    assert commands(c) == [
        *expected,
        f"pulumi stack select dev --cwd {P}/storage",
        f"pulumi destroy --stack dev --cwd {P}/storage --yes",
    ]


# What `pulumi stack export` prints, on the file:// and s3:// backends, for a stack that
# was created but never updated (the DIY backend marshals a nil latest checkpoint).
NEVER_UPDATED = ok('{"version": 3, "deployment": null}')


@pytest.mark.parametrize(
    "state",
    [NEVER_UPDATED, ok('{"version": 3}'), exported_state()],
    ids=["never-updated", "empty-deployment-left-out", "destroyed"],
)
def test_a_dependant_with_no_outputs_and_no_resources_is_gone(state: Result) -> None:
    readers = GRAPH.downstreams(GRAPH.get("storage"))
    answers = {outputs_of(reader): ok("{}") for reader in readers}
    answers |= {state_of(reader): state for reader in readers}
    c = MockContext(run={**answers, re.compile(r"pulumi (stack select|destroy) .*"): ok()})
    tasks.destroy(c, env="dev", layer="storage", yes=True)
    assert commands(c)[-1] == f"pulumi destroy --stack dev --cwd {P}/storage --yes"


def test_a_dependant_with_resources_but_no_outputs_still_counts_as_deployed(
    rendered: Rendered,
) -> None:
    """An update that failed before its exports were set leaves resources and no outputs:
    destroying the layer they read would orphan them, so it is refused."""
    first_reader = GRAPH.downstreams(GRAPH.get("storage"))[0]
    c = MockContext(
        run={
            outputs_of(first_reader): ok("{}"),
            state_of(first_reader): exported_state(rendered["dev"][first_reader.name]),
        }
    )
    with pytest.raises(Exit) as raised:
        tasks.destroy(c, env="dev", layer="storage", yes=True)
    assert raised.value.code == 2
    assert raised.value.message == orphaning_refusal(first_reader)
    assert commands(c) == [outputs_of(first_reader), state_of(first_reader)]


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (
            failed("error: [401] Unauthorized: No credentials provided or are invalid."),
            "`pulumi stack output` failed: error: [401] Unauthorized",
        ),
        (ok("<html>proxy login</html>"), "`pulumi stack output` printed no JSON"),
        (ok('["not", "an", "object"]'), "`pulumi stack output` printed list JSON"),
        (
            [ok("{}"), failed("error: [500] Internal Server Error")],
            "`pulumi stack export` failed: error: [500] Internal Server Error",
        ),
        ([ok("{}"), ok("<html>")], "`pulumi stack export` printed no JSON"),
        ([ok("{}"), ok('{"stack": "dev"}')], "`pulumi stack export` printed no deployment object"),
    ],
    ids=[
        "expired-login",
        "not-json",
        "not-an-object",
        "no-outputs-export-failed",
        "no-outputs-export-not-json",
        "no-outputs-export-no-deployment",
    ],
)
def test_a_dependant_whose_state_cannot_be_read_refuses_the_destroy(
    answer: Result | list[Result], reason: str
) -> None:
    """The orphan check fails closed: not knowing is not "not deployed"."""
    first_reader = GRAPH.downstreams(GRAPH.get("storage"))[0]
    answers = answer if isinstance(answer, list) else [answer]
    readers_commands = [outputs_of(first_reader), state_of(first_reader)][: len(answers)]
    c = MockContext(run=dict(zip(readers_commands, answers, strict=True)))
    with pytest.raises(Exit) as raised:
        tasks.destroy(c, env="dev", layer="storage", yes=True)
    assert raised.value.code == 2
    message = raised.value.message
    assert message.startswith(
        f"error: cannot destroy storage in dev: could not tell whether {first_reader.name}, "
        f"which depends on it, is still deployed ({reason}"
    )
    assert "nothing was destroyed" in message
    assert not any(" destroy " in f" {command} " for command in commands(c))


# -- outputs ------------------------------------------------------------------------------


def outputs_context(outputs: Outputs, **answers: Result) -> MockContext:
    return MockContext(
        run={
            outputs_of(layer): answers.get(layer.name, ok(json.dumps(outputs[layer.name])))
            for layer in LAYERS
        }
    )


def test_outputs_reads_every_layer_in_order_and_merges_the_real_exports_as_json(
    outputs: Outputs, capsys: pytest.CaptureFixture[str]
) -> None:
    c = outputs_context(outputs)
    tasks.outputs(c, env="dev", json=True)
    assert commands(c) == [outputs_of(layer) for layer in LAYERS]
    merged = json.loads(capsys.readouterr().out)
    assert merged == {key: value for layer in LAYERS for key, value in outputs[layer.name].items()}


@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
def test_outputs_show_the_bucket_function_and_table_of_each_environment(
    stack_outputs: dict[str, Outputs], environment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    c = MockContext(
        run={
            outputs_of(layer, environment): ok(json.dumps(stack_outputs[environment][layer.name]))
            for layer in LAYERS
        }
    )
    tasks.outputs(c, env=environment, json=True)
    merged = json.loads(capsys.readouterr().out)
    assert merged[f"{environment}_bucket_name"] == f"{environment}-rawdata-bucket"
    assert merged[f"{environment}_table_name"] == f"{environment}-metadata-table"
    assert merged[f"{environment}_function_arn"] == (
        f"arn:aws:lambda:us-east-1:123456789012:function:{environment}-validator-function"
    )


def test_outputs_table_shows_layer_key_and_value_and_undeployed_layers(
    outputs: Outputs, capsys: pytest.CaptureFixture[str]
) -> None:
    tasks.outputs(outputs_context(outputs, **{LAST.name: NO_STACK}), env="dev")
    lines = capsys.readouterr().out.splitlines()
    assert re.fullmatch(r"layer\s+output\s+value", lines[0])
    assert any(
        re.fullmatch(r"storage\s+dev_bucket_name\s+dev-rawdata-bucket", line) for line in lines
    )
    assert re.fullmatch(rf"{LAST.name}\s+\(not deployed\)", lines[-1])


def test_outputs_refuses_a_key_exported_by_two_layers() -> None:
    c = MockContext(run=ok(json.dumps({"dev_bucket_name": "x"})))
    with pytest.raises(
        Exit, match=f"'dev_bucket_name' is exported by both {FIRST.name} and {LAYERS[1].name}"
    ):
        tasks.outputs(c, env="dev")


@pytest.mark.parametrize("printed", ['["a"]', '"text"', "42"])
def test_outputs_that_are_not_a_json_object_are_a_clear_failure(printed: str) -> None:
    c = MockContext(run=ok(printed))
    with pytest.raises(Exit) as raised:
        tasks.outputs(c, env="dev", layer=FIRST.name)
    assert raised.value.code == 1
    assert raised.value.message.startswith(f"error: layer {FIRST.name!r}: pulumi printed ")
    assert "JSON where a JSON object of outputs was expected" in raised.value.message


def test_outputs_of_one_layer(outputs: Outputs) -> None:
    c = outputs_context(outputs)
    tasks.outputs(c, env="dev", layer="iam", json=True)
    assert commands(c) == [outputs_of("iam")]


# -- validation before anything runs ---------------------------------------------------------


def test_unknown_environment_lists_the_known_ones() -> None:
    c = MockContext(run=ok())
    unknown = unused_environment_name("qa")
    with pytest.raises(Exit) as raised:
        tasks.deploy(c, env=unknown)
    assert raised.value.message == (
        f"error: unknown environment {unknown!r}; environments with stack files: "
        + ", ".join(environments())
    )
    assert commands(c) == []


def test_unknown_layer_lists_the_known_ones() -> None:
    c = MockContext(run=ok())
    with pytest.raises(Exit) as raised:
        tasks.preview(c, env="dev", layer="network")
    assert raised.value.message == (
        f"error: unknown layer 'network'; known layers: {', '.join(GRAPH.names)}"
    )
    assert commands(c) == []


def test_environment_missing_a_stack_file_in_one_layer_is_named(projects_copy: LayerGraph) -> None:
    (projects_copy.get("iam").directory / "Pulumi.staging.yaml").unlink()
    c = MockContext(run=ok())
    with pytest.raises(Exit) as raised:
        tasks.deploy(c, env="staging", yes=True)
    assert raised.value.message == (
        "error: environment 'staging' has no stack file in layer(s): "
        "iam (projects/iam/Pulumi.staging.yaml)"
    )
    assert commands(c) == []


def test_missing_pulumi_executable_is_one_clear_line_before_anything_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pulumi_cli.shutil, "which", lambda name: None)
    for run_task in (
        lambda c: tasks.deploy(c, env="dev", yes=True),
        lambda c: tasks.preview(c, env="dev"),
        lambda c: tasks.destroy(c, env="dev", yes=True),
        lambda c: tasks.drift(c, env="dev"),
        lambda c: tasks.outputs(c, env="dev"),
    ):
        c = MockContext(run=ok())
        with pytest.raises(Exit) as raised:
            run_task(c)
        message = raised.value.message
        assert "\n" not in message
        assert "Pulumi CLI ('pulumi') is not on PATH" in message
        assert "https://www.pulumi.com/docs/install/" in message
        assert message.endswith(
            "`invoke render` and `invoke check` show and check every stack offline"
        )
        assert commands(c) == []


@pytest.mark.parametrize(
    ("run_task", "named"),
    [
        (lambda c: tasks.deploy(c, env="nowhere"), "unknown environment 'nowhere'"),
        (lambda c: tasks.preview(c, env="dev", layer="nope"), "unknown layer 'nope'"),
        (lambda c: tasks.destroy(c, env="prod", yes=True), "needs --confirm-prod as well"),
        (lambda c: tasks.drift(c, env="dev", report="/nonexistent/r.json"), "--report"),
        (lambda c: tasks.deploy(c, env="dev", report="r.json"), "--report needs --yes"),
        (lambda c: tasks.outputs(c, env="dev", backend=" "), "--backend is empty"),
    ],
    ids=["environment", "layer", "confirm-prod", "report-folder", "report-without-yes", "backend"],
)
def test_bad_input_is_named_before_the_missing_pulumi_cli(
    monkeypatch: pytest.MonkeyPatch, run_task: Callable[[MockContext], object], named: str
) -> None:
    """On a machine without the CLI, the first thing to fix is the command line, not an
    install: the CLI is asked for last."""
    monkeypatch.setattr(pulumi_cli.shutil, "which", lambda name: None)
    c = MockContext(run=ok())
    with pytest.raises(Exit) as raised:
        run_task(c)
    assert raised.value.code == 2
    assert named in raised.value.message
    assert "not on PATH" not in raised.value.message
    assert commands(c) == []


def test_local_and_backend_cannot_be_combined() -> None:
    c = MockContext(run=ok())
    with pytest.raises(Exit, match="--backend 's3://x' and --local cannot be combined"):
        tasks.deploy(c, env="dev", local=True, backend="s3://x")
    assert commands(c) == []


def test_a_cycle_in_the_layer_manifests_is_an_error_before_anything_runs(
    projects_copy: LayerGraph,
) -> None:
    manifest = FIRST.shown(FIRST.manifest).removeprefix("projects/")
    path = projects_copy.projects_dir / manifest
    path.write_text(path.read_text().replace("depends_on: []", f"depends_on: [{LAST.name}]"))
    c = MockContext(run=ok())
    with pytest.raises(Exit, match="error: layer dependencies form a cycle: "):
        tasks.deploy(c, env="dev", yes=True)
    assert commands(c) == []


@pytest.mark.parametrize("task_name", ["deploy", "preview", "destroy", "drift", "outputs"])
def test_every_task_sends_the_backend_override_to_every_pulumi_command(task_name: str) -> None:
    c = MockContext(
        run={re.compile(r"pulumi stack export .*"): exported_state(), re.compile(".*"): ok("{}")}
    )
    getattr(tasks, task_name)(c, env="dev", backend="file:///srv/pulumi-state")
    assert commands(c)
    assert run_envs(c) == [{"PULUMI_BACKEND_URL": "file:///srv/pulumi-state"}] * len(commands(c))


# -- local mode ---------------------------------------------------------------------------

EMULATOR = EmulatorInfo(pid=4242, port=4599)


@pytest.fixture
def local_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Local mode under a temp folder, with an emulator that is 'running' on port 4599."""
    monkeypatch.setenv(local_emulator.LOCAL_DIR_VARIABLE, str(tmp_path))
    monkeypatch.setattr(LocalEmulator, "running", lambda self: EMULATOR)
    monkeypatch.setattr(LocalEmulator, "ensure_running", lambda self, port=0: (EMULATOR, False))
    return tmp_path


def test_local_deploy_points_pulumi_at_the_emulator_and_the_local_backend(
    local_dir: Path, stack_file_digests: dict[Path, str]
) -> None:
    c = MockContext(run=ok())
    tasks.deploy(c, env="dev", yes=True, local=True)
    L = local_dir / "projects"
    assert commands(c) == [
        command
        for layer in LAYERS
        for command in (
            f"pulumi stack select --create dev --cwd {L}/{layer.name}",
            f"pulumi up --stack dev --cwd {P}/{layer.name} --config-file "
            f"{L}/{layer.name}/Pulumi.dev.yaml --policy-pack {pack()} --yes",
        )
    ]
    for env in run_envs(c):
        assert env["PULUMI_BACKEND_URL"] == f"file://{local_dir}/state"
        assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4599"
        assert env["AWS_ACCESS_KEY_ID"] == "testing"
        assert env["PULUMI_CONFIG_PASSPHRASE"]


def test_local_stack_file_is_the_committed_one_plus_the_emulator_settings(
    local_dir: Path, stack_file_digests: dict[Path, str]
) -> None:
    import yaml

    tasks.deploy(MockContext(run=ok()), env="dev", layer="storage", yes=True, local=True)
    committed = yaml.safe_load((P / "storage" / "Pulumi.dev.yaml").read_text())["config"]
    generated = yaml.safe_load((local_dir / "projects/storage/Pulumi.dev.yaml").read_text())
    config = generated["config"]
    assert {key: config[key] for key in committed} == committed
    endpoints = config["aws:endpoints"]
    assert endpoints == [dict.fromkeys(local_emulator.EMULATED_SERVICES, "http://127.0.0.1:4599")]
    assert {"s3", "dynamodb", "iam", "lambda", "logs", "sqs", "sts", "cloudwatch"} <= set(
        endpoints[0]
    )
    for flag in (
        "aws:skipCredentialsValidation",
        "aws:skipRequestingAccountId",
        "aws:skipMetadataApiCheck",
        "aws:s3UsePathStyle",
    ):
        assert config[flag] is True
    assert config["aws:accessKey"] == "testing"
    manifest = yaml.safe_load((local_dir / "projects/storage/Pulumi.yaml").read_text())
    assert manifest == {"name": "rawdata-storage", "runtime": "python"}


def test_local_destroy_and_outputs_use_the_same_local_stacks(
    local_dir: Path, stack_file_digests: dict[Path, str]
) -> None:
    L = local_dir / "projects"
    c = MockContext(run=ok())
    tasks.destroy(c, env="dev", layer=LAST.name, yes=True, local=True)
    assert commands(c) == [
        f"pulumi stack select dev --cwd {L}/{LAST.name}",
        f"pulumi destroy --stack dev --cwd {P}/{LAST.name} --config-file "
        f"{L}/{LAST.name}/Pulumi.dev.yaml --yes",
    ]
    c = MockContext(run=ok("{}"))
    tasks.outputs(c, env="dev", local=True)
    assert commands(c) == [
        f"pulumi stack output --json --stack dev --cwd {L}/{layer.name}" for layer in LAYERS
    ]
    assert run_envs(c)[0]["PULUMI_BACKEND_URL"] == f"file://{local_dir}/state"


def test_local_destroy_with_no_emulator_running_has_nothing_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(local_emulator.LOCAL_DIR_VARIABLE, str(tmp_path))
    monkeypatch.setattr(LocalEmulator, "running", lambda self: None)
    c = MockContext(run=ok())
    tasks.destroy(c, env="dev", yes=True, local=True)
    assert commands(c) == []
    assert "nothing is deployed locally: nothing to do" in capsys.readouterr().out


def test_local_outputs_with_no_emulator_running_says_how_to_deploy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(local_emulator.LOCAL_DIR_VARIABLE, str(tmp_path))
    monkeypatch.setattr(LocalEmulator, "running", lambda self: None)
    with pytest.raises(Exit, match="deploy first: invoke deploy --env dev --local"):
        tasks.outputs(MockContext(run=ok()), env="dev", local=True)


def test_local_preview_hint_keeps_the_local_flag(
    local_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    c = MockContext(
        run={
            f"pulumi stack output --json --stack dev --cwd {local_dir}/projects/storage": NO_STACK,
        }
    )
    tasks.preview(c, env="dev", layer="iam", local=True)
    assert "deploy it first: invoke deploy --env dev --layer storage --local" in (
        capsys.readouterr().out
    )


# -- exit codes: 2 for bad input, 1 for a failure (tasks.py docstring) -------------------------

USER_ERRORS: dict[str, Callable[[MockContext], None]] = {
    "unknown environment": lambda c: tasks.deploy(c, env=unused_environment_name("qa")),
    "unknown layer": lambda c: tasks.preview(c, env="dev", layer="network"),
    "flags that cannot be combined": lambda c: tasks.deploy(
        c, env="dev", local=True, backend="s3://x"
    ),
    "missing --confirm-prod": lambda c: tasks.destroy(c, env="prod", yes=True),
    "a dependant is still deployed": lambda c: tasks.destroy(
        c, env="dev", layer="storage", yes=True
    ),
}


@pytest.mark.parametrize("run_task", USER_ERRORS.values(), ids=USER_ERRORS.keys())
def test_bad_input_exits_2_before_changing_anything(
    run_task: Callable[[MockContext], None], outputs: Outputs
) -> None:
    c = MockContext(run=ok(json.dumps(outputs[LAST.name])))
    with pytest.raises(Exit) as raised:
        run_task(c)
    assert raised.value.code == 2
    assert raised.value.message.startswith("error: ")
    assert not any(
        f" {verb} " in f" {command} " for command in commands(c) for verb in ("up", "destroy")
    )


def test_missing_pulumi_executable_is_bad_set_up_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pulumi_cli.shutil, "which", lambda name: None)
    with pytest.raises(Exit) as raised:
        tasks.deploy(MockContext(run=ok()), env="dev", yes=True)
    assert raised.value.code == 2


FAILURES = {
    "a layer fails": lambda: tasks.deploy(MockContext(run=failed()), env="dev", yes=True),
    "a preview fails": lambda: tasks.preview(
        MockContext(run=failed()), env="dev", layer=FIRST.name
    ),
    "a destroy fails": lambda: tasks.destroy(
        MockContext(
            run={
                f"pulumi stack select dev --cwd {P}/{LAST.name}": ok(),
                f"pulumi destroy --stack dev --cwd {P}/{LAST.name} --yes": failed(),
            }
        ),
        env="dev",
        yes=True,
    ),
    "outputs are not JSON": lambda: tasks.outputs(MockContext(run=ok("not json")), env="dev"),
}


@pytest.mark.parametrize("run_task", FAILURES.values(), ids=FAILURES.keys())
def test_a_failure_exits_1(run_task: Callable[[], None]) -> None:
    with pytest.raises(Exit) as raised:
        run_task()
    assert raised.value.code == 1
    assert raised.value.message.startswith("error: ")


def test_the_emulator_not_answering_is_a_failure_exit_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(local_emulator.LOCAL_DIR_VARIABLE, str(tmp_path))

    def never_answers(self: LocalEmulator, port: int = 0) -> tuple[EmulatorInfo, bool]:
        raise local_emulator.EmulatorFailed("the local emulator did not answer")

    monkeypatch.setattr(LocalEmulator, "ensure_running", never_answers)
    for run_task in (
        lambda: tasks.local_start(MockContext()),
        lambda: tasks.deploy(MockContext(run=ok()), env="dev", local=True, yes=True),
    ):
        with pytest.raises(Exit) as raised:
            run_task()
        assert raised.value.code == 1


@pytest.mark.parametrize("local", [False, True], ids=["backend", "local"])
def test_a_broken_stack_file_stops_the_run_before_the_first_layer(
    projects_copy: LayerGraph, local: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before, storage was deployed and only then iam's broken file was found."""
    monkeypatch.setenv(local_emulator.LOCAL_DIR_VARIABLE, str(tmp_path / "local"))
    path = projects_copy.get("iam").directory / "Pulumi.staging.yaml"
    path.write_text("config:\n  pipeline:tracing: [true\n")
    c = MockContext(run=ok())
    with pytest.raises(Exit) as raised:
        tasks.deploy(c, env="staging", yes=True, local=local)
    assert raised.value.code == 2
    assert raised.value.message.startswith("error: ")
    assert "projects/iam/Pulumi.staging.yaml: not valid YAML at line 3" in raised.value.message
    assert commands(c) == []
