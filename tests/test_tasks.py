"""deploy / preview / destroy / outputs, driven through the real tasks with invoke.MockContext.

Every test states the exact pulumi commands, in order. No Pulumi CLI, no cloud: the
``pulumi`` executable is reported present (except where its absence is the point) and
MockContext answers every command; an unexpected command raises NotImplementedError.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from invoke import Exit, MockContext, Result

import shared.layers
import tasks
from shared import local_emulator, pulumi_cli
from shared.environments import environments
from shared.layers import LAYERS, PROJECTS_DIR
from shared.local_emulator import EmulatorInfo, LocalEmulator
from tests.conftest import unused_environment_name

P = PROJECTS_DIR  # projects/<layer> is where every program runs


def ok(stdout: str = "") -> Result:
    return Result(stdout=stdout, exited=0)


def failed(text: str = "error: boom") -> Result:
    return Result(stdout=text, stderr=text, exited=1)


NO_STACK = failed("error: no stack named 'dev' found")
OUTPUTS = {
    "storage": {"dev_bucket_name": "dev-rawdata-bucket", "dev_table_name": "dev-metadata-table"},
    "iam": {"dev_role_arn": "arn:aws:iam::123456789012:role/dev-validator-role"},
    "compute": {"dev_function_name": "dev-validator-function"},
}


def outputs_of(layer: str, stack: str = "dev") -> str:
    return f"pulumi stack output --json --stack {stack} --cwd {P}/{layer}"


def commands(c: MockContext) -> list[str]:
    return [call.args[0] for call in c.run.call_args_list]


def run_envs(c: MockContext) -> list[dict[str, str]]:
    return [call.kwargs.get("env", {}) for call in c.run.call_args_list]


@pytest.fixture(autouse=True)
def pulumi_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    real_which = shutil.which
    monkeypatch.setattr(
        pulumi_cli.shutil,
        "which",
        lambda name: "/usr/local/bin/pulumi" if name == "pulumi" else real_which(name),
    )


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


# -- deploy -------------------------------------------------------------------------------


def test_deploy_all_layers_runs_select_then_up_per_layer_in_dependency_order(
    capsys: pytest.CaptureFixture[str],
) -> None:
    c = MockContext(run=ok())
    tasks.deploy(c, env="staging", yes=True)
    assert commands(c) == [
        f"pulumi stack select --create staging --cwd {P}/storage",
        f"pulumi up --stack staging --cwd {P}/storage --yes",
        f"pulumi stack select --create staging --cwd {P}/iam",
        f"pulumi up --stack staging --cwd {P}/iam --yes",
        f"pulumi stack select --create staging --cwd {P}/compute",
        f"pulumi up --stack staging --cwd {P}/compute --yes",
    ]
    out = capsys.readouterr().out
    assert "==> deploy storage [1/3] (stack staging)" in out
    assert re.search(r"storage\s+done\s+\d+\.\ds", out)
    assert re.search(r"compute\s+done\s+\d+\.\ds", out)


def test_deploy_one_layer_runs_only_that_layer() -> None:
    c = MockContext(run=ok())
    tasks.deploy(c, env="dev", layer="iam")
    assert commands(c) == [
        f"pulumi stack select --create dev --cwd {P}/iam",
        f"pulumi up --stack dev --cwd {P}/iam",
    ]


def test_deploy_without_yes_lets_pulumi_ask_and_streams_through_a_pty() -> None:
    c = MockContext(run=ok())
    tasks.deploy(c, env="dev", layer="storage")
    up_call = c.run.call_args_list[1]
    assert up_call.args[0] == f"pulumi up --stack dev --cwd {P}/storage"
    assert up_call.kwargs["pty"] is True
    assert up_call.kwargs["warn"] is True


def test_failure_in_the_middle_layer_stops_the_chain_and_reports_the_rest_not_run(
    capsys: pytest.CaptureFixture[str],
) -> None:
    c = MockContext(
        run={
            f"pulumi stack select --create dev --cwd {P}/storage": ok(),
            f"pulumi up --stack dev --cwd {P}/storage --yes": ok(),
            f"pulumi stack select --create dev --cwd {P}/iam": ok(),
            f"pulumi up --stack dev --cwd {P}/iam --yes": failed(),
        }
    )
    with pytest.raises(Exit) as raised:
        tasks.deploy(c, env="dev", yes=True)
    assert raised.value.code == 1
    assert raised.value.message == "deploy dev: layer 'iam' failed; not run: compute"
    assert commands(c)[-1] == f"pulumi up --stack dev --cwd {P}/iam --yes"
    assert not any("compute" in command for command in commands(c))
    out = capsys.readouterr().out
    assert re.search(r"storage\s+done", out)
    assert re.search(r"iam\s+failed", out)
    assert re.search(r"compute\s+not run\s+-", out)


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
            f"pulumi up --stack dev --cwd {P}/iam --yes": failed(engine_error),
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
    assert run_envs(c) == [{"PULUMI_BACKEND_URL": "s3://team-state"}] * 6


def test_without_backend_flag_pulumi_keeps_its_own_login() -> None:
    c = MockContext(run=ok())
    tasks.deploy(c, env="dev", yes=True)
    assert run_envs(c) == [{}] * 6


# -- preview ------------------------------------------------------------------------------


def test_preview_all_layers_checks_upstreams_then_previews_each_in_order() -> None:
    c = MockContext(
        run={
            outputs_of("storage"): ok(json.dumps(OUTPUTS["storage"])),
            outputs_of("iam"): ok(json.dumps(OUTPUTS["iam"])),
            re.compile(r"pulumi (stack select|preview) .*"): ok(),
        }
    )
    tasks.preview(c, env="dev")
    assert commands(c) == [
        f"pulumi stack select dev --cwd {P}/storage",
        f"pulumi preview --diff --stack dev --cwd {P}/storage",
        outputs_of("storage"),
        f"pulumi stack select dev --cwd {P}/iam",
        f"pulumi preview --diff --stack dev --cwd {P}/iam",
        outputs_of("iam"),  # storage's answer is remembered
        f"pulumi stack select dev --cwd {P}/compute",
        f"pulumi preview --diff --stack dev --cwd {P}/compute",
    ]


def test_preview_one_layer_checks_its_upstreams_first() -> None:
    c = MockContext(
        run={
            outputs_of("storage"): ok(json.dumps(OUTPUTS["storage"])),
            outputs_of("iam"): ok(json.dumps(OUTPUTS["iam"])),
            re.compile(r"pulumi (stack select|preview) .*"): ok(),
        }
    )
    tasks.preview(c, env="dev", layer="compute")
    assert commands(c) == [
        outputs_of("storage"),
        outputs_of("iam"),
        f"pulumi stack select dev --cwd {P}/compute",
        f"pulumi preview --diff --stack dev --cwd {P}/compute",
    ]


@pytest.mark.parametrize(
    "storage_answer",
    [NO_STACK, ok("{}")],
    ids=["stack-never-created", "stack-created-but-never-updated"],
)
def test_preview_says_in_one_line_which_layer_to_deploy_first(
    storage_answer: Result, capsys: pytest.CaptureFixture[str]
) -> None:
    c = MockContext(
        run={
            outputs_of("storage"): storage_answer,
            re.compile(r"pulumi (stack select|preview) .*"): ok(),
        }
    )
    tasks.preview(c, env="dev")  # blocked is reported, not a failure
    assert commands(c) == [
        f"pulumi stack select dev --cwd {P}/storage",
        f"pulumi preview --diff --stack dev --cwd {P}/storage",
        outputs_of("storage"),
    ]
    out = capsys.readouterr().out
    for layer in ("iam", "compute"):
        assert (
            f"{layer}: cannot preview dev yet: upstream layer storage has never been deployed "
            "there; deploy it first: invoke deploy --env dev --layer storage\n"
        ) in out
    assert re.search(r"iam\s+blocked\s+\S+\s+deploy storage first", out)


def test_preview_names_the_earliest_undeployed_upstream() -> None:
    c = MockContext(
        run={
            outputs_of("storage"): ok(json.dumps(OUTPUTS["storage"])),
            outputs_of("iam"): NO_STACK,
        }
    )
    tasks.preview(c, env="dev", layer="compute")
    assert commands(c) == [outputs_of("storage"), outputs_of("iam")]


def test_preview_failure_stops_the_chain() -> None:
    c = MockContext(
        run={
            f"pulumi stack select dev --cwd {P}/storage": ok(),
            f"pulumi preview --diff --stack dev --cwd {P}/storage": failed(),
        }
    )
    with pytest.raises(Exit, match="preview dev: layer 'storage' failed; not run: iam, compute"):
        tasks.preview(c, env="dev")


def test_preview_never_creates_a_stack() -> None:
    c = MockContext(run=ok(json.dumps(OUTPUTS["storage"])))
    tasks.preview(c, env="staging")
    selects = [command for command in commands(c) if " stack select " in command]
    assert selects == [f"pulumi stack select staging --cwd {P}/{layer.name}" for layer in LAYERS]
    assert not any("--create" in command or " init " in command for command in commands(c))


def test_preview_of_a_layer_whose_own_stack_does_not_exist_is_blocked_not_failed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    c = MockContext(
        run={
            outputs_of("storage"): ok(json.dumps(OUTPUTS["storage"])),
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
    c = MockContext(run={f"pulumi stack select dev --cwd {P}/storage": NO_STACK})
    tasks.preview(c, env="dev")
    # storage's missing stack is remembered: iam and compute run no command at all.
    assert commands(c) == [f"pulumi stack select dev --cwd {P}/storage"]
    out = capsys.readouterr().out
    assert re.search(r"storage\s+blocked\s+\S+\s+deploy storage first", out)
    assert re.search(r"compute\s+blocked\s+\S+\s+deploy storage first", out)


def test_preview_that_cannot_select_an_existing_stack_fails_and_shows_why(
    capsys: pytest.CaptureFixture[str],
) -> None:
    c = MockContext(
        run={f"pulumi stack select dev --cwd {P}/storage": failed("error: access denied")}
    )
    with pytest.raises(Exit, match="preview dev: layer 'storage' failed; not run: iam, compute"):
        tasks.preview(c, env="dev")
    out = capsys.readouterr().out
    assert "error: access denied" in out
    assert re.search(r"storage\s+failed\s+\S+\s+could not select the stack", out)


# -- destroy ------------------------------------------------------------------------------


def test_destroy_runs_in_reverse_order_and_never_unprotects() -> None:
    c = MockContext(run=ok())
    tasks.destroy(c, env="staging", yes=True)
    assert commands(c) == [
        f"pulumi stack select staging --cwd {P}/compute",
        f"pulumi destroy --stack staging --cwd {P}/compute --yes",
        f"pulumi stack select staging --cwd {P}/iam",
        f"pulumi destroy --stack staging --cwd {P}/iam --yes",
        f"pulumi stack select staging --cwd {P}/storage",
        f"pulumi destroy --stack staging --cwd {P}/storage --yes",
    ]
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


@pytest.fixture
def projects_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The projects folder copied to a temp folder, which the tasks then read."""
    for layer in LAYERS:
        shutil.copytree(layer.directory, tmp_path / layer.name)
    monkeypatch.setattr(shared.layers, "PROJECTS_DIR", tmp_path)
    return tmp_path


def set_storage_setting(projects: Path, environment: str, key: str, value: str | None) -> None:
    """Set (or with None, remove) one rawdata-storage key in a storage stack file."""
    path = projects / "storage" / f"Pulumi.{environment}.yaml"
    lines = [
        line
        for line in path.read_text().splitlines()
        if not line.strip().startswith(f"rawdata-storage:{key}:")
    ]
    if value is not None:
        lines.append(f"  rawdata-storage:{key}: {value}")
    path.write_text("\n".join(lines) + "\n")


def test_an_environment_copied_from_prod_needs_the_confirmation_too(projects_copy: Path) -> None:
    from shared.consistency.new_env import new_environment

    new_environment("prod2", "prod", projects_copy)
    c = MockContext(run=ok())
    with pytest.raises(Exit) as raised:
        tasks.destroy(c, env="prod2", yes=True)
    assert "destroying environment 'prod2' needs --confirm-prod" in raised.value.message
    assert "Pulumi.prod2.yaml sets rawdata-storage:protectStatefulResources: true" in (
        raised.value.message
    )
    assert commands(c) == []
    tasks.destroy(c, env="prod2", yes=True, confirm_prod=True)
    assert len(commands(c)) == 6


def test_a_name_does_not_make_an_environment_production_grade(projects_copy: Path) -> None:
    """prod with both safety settings explicitly off is destroyed like dev."""
    set_storage_setting(projects_copy, "prod", "protectStatefulResources", "false")
    set_storage_setting(projects_copy, "prod", "deletionProtection", '"false"')  # as the CLI writes
    c = MockContext(run=ok())
    tasks.destroy(c, env="prod", yes=True)
    assert len(commands(c)) == 6


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
    projects_copy: Path, protect: str | None, deletion: str | None, reason: str
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


def test_destroy_prod_with_confirmation_runs() -> None:
    c = MockContext(run=ok())
    tasks.destroy(c, env="prod", yes=True, confirm_prod=True)
    assert commands(c)[1] == f"pulumi destroy --stack prod --cwd {P}/compute --yes"
    assert len(commands(c)) == 6


def test_destroy_skips_a_layer_that_has_no_stack(capsys: pytest.CaptureFixture[str]) -> None:
    c = MockContext(
        run={
            f"pulumi stack select dev --cwd {P}/compute": NO_STACK,
            re.compile(r"pulumi (stack select|destroy) .*"): ok(),
        }
    )
    tasks.destroy(c, env="dev", yes=True)
    assert f"pulumi destroy --stack dev --cwd {P}/compute --yes" not in commands(c)
    assert f"pulumi destroy --stack dev --cwd {P}/storage --yes" in commands(c)
    assert re.search(r"compute\s+skipped\s+\S+\s+no stack", capsys.readouterr().out)


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


def test_destroying_one_layer_is_refused_while_a_dependant_is_deployed() -> None:
    c = MockContext(
        run={
            outputs_of("compute"): ok(json.dumps(OUTPUTS["compute"])),
        }
    )
    with pytest.raises(Exit) as raised:
        tasks.destroy(c, env="dev", layer="storage", yes=True)
    assert raised.value.message == (
        "error: cannot destroy storage in dev while compute, which depends on it, is deployed; "
        "destroy it first: invoke destroy --env dev --layer compute"
    )
    assert commands(c) == [outputs_of("compute")]


def test_destroying_one_layer_whose_dependants_are_gone() -> None:
    c = MockContext(
        run={
            outputs_of("compute"): NO_STACK,
            outputs_of("iam"): ok("{}"),
            re.compile(r"pulumi (stack select|destroy) .*"): ok(),
        }
    )
    tasks.destroy(c, env="dev", layer="storage", yes=True)
    assert commands(c) == [
        outputs_of("compute"),
        outputs_of("iam"),
        f"pulumi stack select dev --cwd {P}/storage",
        f"pulumi destroy --stack dev --cwd {P}/storage --yes",
    ]


# -- outputs ------------------------------------------------------------------------------


def outputs_context(compute: Result | None = None) -> MockContext:
    return MockContext(
        run={
            outputs_of("storage"): ok(json.dumps(OUTPUTS["storage"])),
            outputs_of("iam"): ok(json.dumps(OUTPUTS["iam"])),
            outputs_of("compute"): ok(json.dumps(OUTPUTS["compute"]))
            if compute is None
            else compute,
        }
    )


def test_outputs_reads_every_layer_in_order_and_merges_them_as_json(
    capsys: pytest.CaptureFixture[str],
) -> None:
    c = outputs_context()
    tasks.outputs(c, env="dev", json=True)
    assert commands(c) == [outputs_of("storage"), outputs_of("iam"), outputs_of("compute")]
    assert json.loads(capsys.readouterr().out) == {
        **OUTPUTS["storage"],
        **OUTPUTS["iam"],
        **OUTPUTS["compute"],
    }


def test_outputs_table_shows_layer_key_and_value_and_undeployed_layers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    tasks.outputs(outputs_context(compute=NO_STACK), env="dev")
    lines = capsys.readouterr().out.splitlines()
    assert re.fullmatch(r"layer\s+output\s+value", lines[0])
    assert re.fullmatch(r"storage\s+dev_bucket_name\s+dev-rawdata-bucket", lines[1])
    assert re.fullmatch(r"compute\s+\(not deployed\)", lines[-1])


def test_outputs_refuses_a_key_exported_by_two_layers() -> None:
    c = MockContext(run=ok(json.dumps({"dev_bucket_name": "x"})))
    with pytest.raises(Exit, match="'dev_bucket_name' is exported by both storage and iam"):
        tasks.outputs(c, env="dev")


def test_outputs_of_one_layer() -> None:
    c = outputs_context()
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
    with pytest.raises(Exit, match="unknown layer 'network'; known layers: storage, iam, compute"):
        tasks.preview(c, env="dev", layer="network")
    assert commands(c) == []


def test_environment_missing_a_stack_file_in_one_layer_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for layer in LAYERS:
        shutil.copytree(layer.directory, tmp_path / layer.name)
    (tmp_path / "iam" / "Pulumi.staging.yaml").unlink()
    monkeypatch.setattr(shared.layers, "PROJECTS_DIR", tmp_path)
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
        lambda c: tasks.outputs(c, env="dev"),
    ):
        c = MockContext(run=ok())
        with pytest.raises(Exit) as raised:
            run_task(c)
        message = raised.value.message
        assert "\n" not in message
        assert "Pulumi CLI ('pulumi') is not on PATH" in message
        assert "https://www.pulumi.com/docs/install/" in message
        assert commands(c) == []


def test_local_and_backend_cannot_be_combined() -> None:
    c = MockContext(run=ok())
    with pytest.raises(Exit, match="--backend 's3://x' and --local cannot be combined"):
        tasks.deploy(c, env="dev", local=True, backend="s3://x")
    assert commands(c) == []


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
        f"pulumi stack select --create dev --cwd {L}/storage",
        f"pulumi up --stack dev --cwd {P}/storage --config-file {L}/storage/Pulumi.dev.yaml --yes",
        f"pulumi stack select --create dev --cwd {L}/iam",
        f"pulumi up --stack dev --cwd {P}/iam --config-file {L}/iam/Pulumi.dev.yaml --yes",
        f"pulumi stack select --create dev --cwd {L}/compute",
        f"pulumi up --stack dev --cwd {P}/compute --config-file {L}/compute/Pulumi.dev.yaml --yes",
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
    tasks.destroy(c, env="dev", layer="compute", yes=True, local=True)
    assert commands(c) == [
        f"pulumi stack select dev --cwd {L}/compute",
        f"pulumi destroy --stack dev --cwd {P}/compute --config-file {L}/compute/Pulumi.dev.yaml"
        " --yes",
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
    assert "nothing to destroy" in capsys.readouterr().out


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


def test_a_cycle_in_the_layer_declaration_is_an_error_before_anything_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from shared import deploy as chain
    from shared.layers import Layer, deploy_order

    cyclic = (
        Layer("storage", "s", depends_on=("compute",)),
        Layer("iam", "i", depends_on=("storage",)),
        Layer("compute", "c", depends_on=("iam",)),
    )
    monkeypatch.setattr(chain, "deploy_order", lambda: deploy_order(cyclic))
    c = MockContext(run=ok())
    with pytest.raises(Exit, match="error: layer dependencies form a cycle: "):
        tasks.deploy(c, env="dev", yes=True)
    assert commands(c) == []


@pytest.mark.parametrize("task_name", ["deploy", "preview", "destroy", "outputs"])
def test_every_task_sends_the_backend_override_to_every_pulumi_command(task_name: str) -> None:
    c = MockContext(run=ok("{}"))
    getattr(tasks, task_name)(c, env="dev", backend="file:///srv/pulumi-state")
    assert commands(c)
    assert run_envs(c) == [{"PULUMI_BACKEND_URL": "file:///srv/pulumi-state"}] * len(commands(c))


# -- exit codes: 2 for bad input, 1 for a failure (tasks.py docstring) -------------------------

USER_ERRORS = {
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
    run_task: Callable[[MockContext], None],
) -> None:
    c = MockContext(run=ok(json.dumps(OUTPUTS["compute"])))
    with pytest.raises(Exit) as raised:
        run_task(c)
    assert raised.value.code == 2
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
    "a preview fails": lambda: tasks.preview(MockContext(run=failed()), env="dev", layer="storage"),
    "a destroy fails": lambda: tasks.destroy(
        MockContext(
            run={
                f"pulumi stack select dev --cwd {P}/compute": ok(),
                f"pulumi destroy --stack dev --cwd {P}/compute --yes": failed(),
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
