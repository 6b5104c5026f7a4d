"""The policy pack at deploy time (issue #10.2, the runner's part): deploy, preview and drift
pass `--policy-pack <repo>/policies` to pulumi (documented for `pulumi up` and `pulumi
preview`: "Run one or more policy packs as part of this update"); destroy passes none (pulumi
destroy has no such flag). Without policies/PulumiPolicy.yaml they refuse with exit 2 naming
the file, unless --skip-policy-pack: one WARNING line, recorded in the report and the job
summary. The pack is a temporary folder here (the real one is policies/, written separately).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from invoke import Exit, MockContext

import tasks
from shared import pulumi_cli
from shared.deploy import policy_pack
from shared.layers import REPO_ROOT
from tests.test_tasks import LAYERS, P, commands, ok


@pytest.fixture(autouse=True)
def pulumi_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pulumi_cli.shutil, "which", lambda name: "/usr/local/bin/pulumi")
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)


@pytest.fixture
def pack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "PulumiPolicy.yaml").write_text("# stand-in\n")
    monkeypatch.setattr(policy_pack, "POLICY_PACK_DIR", folder)
    return folder


@pytest.fixture
def no_pack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "policies"  # not created
    monkeypatch.setattr(policy_pack, "POLICY_PACK_DIR", folder)
    return folder


RUNS: dict[str, Callable[..., None]] = {
    "deploy": lambda c, **options: tasks.deploy(c, env="dev", layer="storage", yes=True, **options),
    "preview": lambda c, **options: tasks.preview(c, env="dev", layer="storage", **options),
    "drift": lambda c, **options: tasks.drift(c, env="dev", layer="storage", **options),
}
PROGRAM = {
    "deploy": "pulumi up --stack dev --cwd {P}/storage{pack} --yes",
    "preview": "pulumi preview --diff --stack dev --cwd {P}/storage{pack}",
    "drift": "pulumi preview --refresh --expect-no-changes --json --stack dev --cwd {P}/storage{pack}",
}


def program_command(task_name: str, folder: Path | None) -> str:
    pack = f" --policy-pack {folder}" if folder else ""
    return PROGRAM[task_name].format(P=P, pack=pack)


def answers() -> MockContext:
    """Every stack deployed; a preview's JSON (drift reads it) says nothing would change."""
    in_sync = json.dumps({"changeSummary": {"same": 1}}, indent=4)  # PreviewDigest's counts
    return MockContext(
        run={
            re.compile(r"pulumi stack output .*"): ok('{"dev_bucket_name": "x"}'),
            re.compile(r"pulumi preview .*"): ok(in_sync),
            re.compile(r"pulumi (stack select|up) .*"): ok(),
        }
    )


def program_run(c: MockContext) -> str:
    (found,) = [
        command for command in commands(c) if command.startswith(("pulumi up", "pulumi preview"))
    ]
    return found


@pytest.mark.parametrize("task_name", RUNS)
def test_deploy_preview_and_drift_pass_the_policy_pack_folder(task_name: str, pack: Path) -> None:
    c = answers()
    RUNS[task_name](c)
    assert program_run(c) == program_command(task_name, pack)


def test_destroy_passes_no_policy_pack(pack: Path) -> None:
    c = MockContext(run=ok())
    tasks.destroy(c, env="dev", yes=True)
    assert commands(c)
    assert not any("--policy-pack" in command for command in commands(c))


@pytest.mark.parametrize("task_name", RUNS)
def test_a_missing_pack_is_refused_with_exit_2_naming_the_file(
    task_name: str, no_pack: Path
) -> None:
    c = MockContext(run=ok())
    with pytest.raises(Exit) as raised:
        RUNS[task_name](c)
    assert raised.value.code == 2
    assert raised.value.message == (
        f"error: policy pack missing: {no_pack / 'PulumiPolicy.yaml'} does not exist; "
        f"{task_name} runs the CrossGuard pack in {no_pack}/ (pulumi --policy-pack) and does "
        f"not run without it. Add the pack, or pass --skip-policy-pack to {task_name} without "
        "it (a warning is printed and the report records it)"
    )
    assert commands(c) == []


def test_the_default_pack_is_the_policies_folder_at_the_repository_root() -> None:
    assert policy_pack.POLICY_PACK_DIR == REPO_ROOT / "policies"
    assert policy_pack.MANIFEST == "PulumiPolicy.yaml"


@pytest.mark.parametrize("task_name", RUNS)
def test_skipping_the_pack_warns_once_loudly_and_passes_no_flag(
    task_name: str, no_pack: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    c = answers()
    RUNS[task_name](c, skip_policy_pack=True)
    assert program_run(c) == program_command(task_name, None)
    warnings = [line for line in capsys.readouterr().err.splitlines() if "WARNING" in line]
    assert warnings == [
        f"WARNING: policy pack skipped: --skip-policy-pack was given, so this {task_name} of "
        f"dev runs without the CrossGuard rules in {no_pack}/ (recorded in the report)"
    ]


def test_a_skipped_pack_is_recorded_in_the_report_and_the_job_summary(
    no_pack: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    report = tmp_path / "report.json"
    tasks.deploy(
        MockContext(run=ok()), env="dev", yes=True, report=str(report), skip_policy_pack=True
    )
    assert json.loads(report.read_text())["policy_pack"] == {"path": None, "skipped": True}
    assert "> **WARNING: policy pack skipped** (--skip-policy-pack)\n" in summary.read_text()


def test_the_pack_is_recorded_in_the_report_when_it_runs(pack: Path, tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    tasks.deploy(MockContext(run=ok()), env="dev", yes=True, report=str(report))
    assert json.loads(report.read_text())["policy_pack"] == {"path": str(pack), "skipped": False}
    assert len(json.loads(report.read_text())["layers"]) == len(LAYERS)
