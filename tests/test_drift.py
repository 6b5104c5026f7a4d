"""`invoke drift` (issue #10.1): per layer a refresh preview that never writes state, then a
table: in sync / drifted (which resources, which properties) / not deployed / error. Exit 0 in
sync, 3 drifted, 1 a layer could not be checked, 2 bad input; never `pulumi refresh`.

Pulumi's JSON is built as in tests/test_run_reports.py (the documented PreviewDigest shape,
the real URNs of the offline render); the stack outputs are the render's exports.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from invoke import Exit, MockContext, Result

import tasks
from shared import local_emulator, pulumi_cli
from shared.deploy import policy_pack
from shared.harness import RenderedStack
from shared.local_emulator import LocalEmulator
from shared.testing import Rendered, unused_environment_name
from tests.test_run_reports import STDERR_NOISE, Changed, counts, preview_digest, urn_of
from tests.test_tasks import (
    LAYERS,
    NEVER_UPDATED,
    NO_STACK,
    P,
    commands,
    exported_state,
    failed,
    ok,
    outputs_of,
    state_of,
)

# What pulumi prints on stderr when --expect-no-changes finds changes (pulumi exits non-zero).
CHANGES_NOT_EXPECTED = "error: no changes were expected but changes were proposed"
GRAPH_NAMES = [layer.name for layer in LAYERS]


@pytest.fixture(autouse=True)
def pulumi_and_pack(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(pulumi_cli.shutil, "which", lambda name: "/usr/local/bin/pulumi")
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / policy_pack.MANIFEST).write_text("# stand-in\n")
    monkeypatch.setattr(policy_pack, "POLICY_PACK_DIR", tmp_path / "policies")
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)


@pytest.fixture
def dev(rendered: Rendered) -> dict[str, RenderedStack]:
    return rendered["dev"]


def drift_preview(layer: str, stack: str = "dev") -> str:
    return (
        f"pulumi preview --refresh --expect-no-changes --json --stack {stack} "
        f"--cwd {P}/{layer} --policy-pack {policy_pack.POLICY_PACK_DIR}"
    )


def in_sync(stack: RenderedStack) -> Result:
    return ok(preview_digest(stack, {}))


def drifted(stack: RenderedStack, changed: Changed) -> Result:
    return failed(preview_digest(stack, changed) + "\r\n" + CHANGES_NOT_EXPECTED + "\r\n")


def answers(dev: dict[str, RenderedStack], **previews: Result) -> dict[str, Result]:
    """Every layer deployed; each layer's refresh preview answers as given, else in sync."""
    return {
        **{outputs_of(name): ok(json.dumps(stack.exports)) for name, stack in dev.items()},
        **{drift_preview(name): previews.get(name, in_sync(stack)) for name, stack in dev.items()},
    }


def expected_commands(*layers: str) -> list[str]:
    return [
        command
        for layer in layers or [layer.name for layer in LAYERS]
        for command in (outputs_of(layer), drift_preview(layer))
    ]


def rows(out: str) -> dict[str, str]:
    table = out[out.index("drift summary for ") :].split("\n\n")[0]
    found = {}
    for line in table.splitlines()[2:]:
        name, _, rest = line.strip().partition(" ")
        found[name] = " ".join(rest.split())
    return found


def test_every_layer_in_sync_exits_0_and_says_so(
    dev: dict[str, RenderedStack], capsys: pytest.CaptureFixture[str]
) -> None:
    c = MockContext(run=answers(dev))
    tasks.drift(c, env="dev")
    assert commands(c) == expected_commands()
    found = rows(capsys.readouterr().out)
    for name, stack in dev.items():
        assert re.fullmatch(rf"in sync \d+\.\ds same {len(stack.resources) + 1}", found[name])


def test_drift_names_the_resources_and_properties_and_exits_3(
    dev: dict[str, RenderedStack], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    changed: Changed = {
        "rawdata-bucket": ("update", ["tags", "tags.Owner"]),
        "metadata-table": ("update", ["pointInTimeRecovery"]),
    }
    c = MockContext(run=answers(dev, storage=drifted(dev["storage"], changed)))
    report = tmp_path / "drift.json"
    with pytest.raises(Exit) as raised:
        tasks.drift(c, env="dev", report=str(report))
    assert raised.value.code == 3
    assert raised.value.message == "error: drift dev: drifted: storage (see the table)"
    assert commands(c) == expected_commands()  # the other layers are checked too
    out = capsys.readouterr().out
    found = rows(out)
    assert found["storage"].startswith("drifted ")
    assert found["storage"].endswith("2 resources: rawdata-bucket, metadata-table")
    assert found["iam"].startswith("in sync ")
    details = out[out.index("drifted resources") :].splitlines()
    assert details[0] == "drifted resources (what a deploy would change back):"
    assert re.fullmatch(r"\s*layer\s+change\s+type\s+resource\s+properties", details[1])
    assert re.fullmatch(
        r"\s*storage\s+update\s+aws:s3/bucket:Bucket\s+rawdata-bucket\s+tags, tags\.Owner",
        details[2],
    )
    assert re.fullmatch(
        r"\s*storage\s+update\s+aws:dynamodb/table:Table\s+metadata-table\s+pointInTimeRecovery",
        details[3],
    )
    storage = json.loads(report.read_text())["layers"][0]
    assert storage["status"] == "drifted"
    assert storage["changes"] == counts(dev["storage"], changed)
    assert storage["resources"] == [
        {
            "urn": urn_of(dev["storage"], "rawdata-bucket"),
            "type": "aws:s3/bucket:Bucket",
            "name": "rawdata-bucket",
            "op": "update",
            "properties": ["tags", "tags.Owner"],
        },
        {
            "urn": urn_of(dev["storage"], "metadata-table"),
            "type": "aws:dynamodb/table:Table",
            "name": "metadata-table",
            "op": "update",
            "properties": ["pointInTimeRecovery"],
        },
    ]


def test_a_resource_deleted_out_of_band_is_drift_that_a_deploy_would_create(
    dev: dict[str, RenderedStack], capsys: pytest.CaptureFixture[str]
) -> None:
    changed: Changed = {"validator-dlq": ("create", [])}
    c = MockContext(run=answers(dev, storage=drifted(dev["storage"], changed)))
    with pytest.raises(Exit) as raised:
        tasks.drift(c, env="dev", layer="storage")
    assert raised.value.code == 3
    assert re.search(
        r"storage\s+create\s+aws:sqs/queue:Queue\s+validator-dlq", capsys.readouterr().out
    )


@pytest.mark.parametrize(
    "layer_answers",
    [[NO_STACK], [ok("{}"), exported_state()], [ok("{}"), NEVER_UPDATED]],
    ids=["no-stack", "stack-with-no-outputs-and-no-resources", "stack-never-updated"],
)
def test_a_layer_not_deployed_is_reported_and_not_previewed(
    dev: dict[str, RenderedStack], layer_answers: list[Result], capsys: pytest.CaptureFixture[str]
) -> None:
    last = LAYERS[-1].name
    asked = [outputs_of(last), state_of(last)][: len(layer_answers)]
    c = MockContext(run={**answers(dev), **dict(zip(asked, layer_answers, strict=True))})
    tasks.drift(c, env="dev")
    assert commands(c) == [*expected_commands(*GRAPH_NAMES[:-1]), *asked]
    assert re.fullmatch(r"not deployed \d+\.\ds -", rows(capsys.readouterr().out)[last])


def test_a_layer_that_cannot_be_checked_is_an_error_exit_1_and_the_rest_are_checked(
    dev: dict[str, RenderedStack], capsys: pytest.CaptureFixture[str]
) -> None:
    denied = failed("error: failed to refresh: AccessDenied: not authorized to s3:GetBucketTagging")
    c = MockContext(run=answers(dev, iam=denied))
    with pytest.raises(Exit) as raised:
        tasks.drift(c, env="dev")
    assert raised.value.code == 1
    assert raised.value.message == "error: drift dev: could not check iam"
    assert commands(c) == expected_commands()
    assert rows(capsys.readouterr().out)["iam"].endswith(
        "pulumi printed no preview JSON: error: failed to refresh: AccessDenied: not "
        "authorized to s3:GetBucketTagging"
    )


def test_an_error_outranks_drift_and_the_message_names_both(
    dev: dict[str, RenderedStack],
) -> None:
    digest = preview_digest(dev["compute"], {}, errors=("error: program failed",))
    c = MockContext(
        run=answers(
            dev,
            storage=drifted(dev["storage"], {"rawdata-bucket": ("update", ["tags"])}),
            compute=failed(digest),
        )
    )
    with pytest.raises(Exit) as raised:
        tasks.drift(c, env="dev")
    assert raised.value.code == 1
    assert raised.value.message == "error: drift dev: could not check compute; drifted: storage"


def test_unreadable_outputs_are_an_error_not_not_deployed(dev: dict[str, RenderedStack]) -> None:
    first = LAYERS[0].name
    c = MockContext(run={**answers(dev), outputs_of(first): failed("error: [401] Unauthorized")})
    with pytest.raises(Exit) as raised:
        tasks.drift(c, env="dev", layer=first)
    assert raised.value.code == 1
    assert commands(c) == [outputs_of(first)]


def test_drift_never_refreshes_state_creates_stacks_or_changes_anything(
    dev: dict[str, RenderedStack],
) -> None:
    c = MockContext(
        run=answers(dev, storage=drifted(dev["storage"], {"rawdata-bucket": ("update", ["tags"])}))
    )
    with pytest.raises(Exit):
        tasks.drift(c, env="dev")
    for command in commands(c):
        argv = command.split()
        assert argv[:2] in (["pulumi", "preview"], ["pulumi", "stack"]), command
        assert not {"refresh", "up", "destroy", "--create", "select", "import"} & set(argv)


def test_drift_job_summary_lists_the_drifted_resources(
    dev: dict[str, RenderedStack], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    c = MockContext(
        run=answers(dev, storage=drifted(dev["storage"], {"rawdata-bucket": ("update", ["tags"])}))
    )
    with pytest.raises(Exit):
        tasks.drift(c, env="dev")
    text = summary.read_text()
    assert text.startswith("### drift dev: drifted\n")
    assert "| storage | drifted |" in text
    assert "| iam | in sync |" in text
    assert "**storage**:\n\n- `update aws:s3/bucket:Bucket rawdata-bucket: tags`\n" in text


def test_a_preview_that_drifted_but_exited_0_is_still_drift(
    dev: dict[str, RenderedStack],
) -> None:
    """Trust the JSON: pulumi's own verdict only confirms it."""
    stack = dev["iam"]
    c = MockContext(
        run=answers(
            dev,
            iam=ok(
                STDERR_NOISE
                + "\r\n"
                + preview_digest(stack, {"validator-role": ("update", ["tags"])})
            ),
        )
    )
    with pytest.raises(Exit) as raised:
        tasks.drift(c, env="dev", layer="iam")
    assert raised.value.code == 3


# -- bad input ---------------------------------------------------------------------------------

BAD_INPUT: dict[str, dict[str, Any]] = {
    "unknown environment": {"env": unused_environment_name("qa")},
    "unknown layer": {"env": "dev", "layer": "network"},
    "empty report": {"env": "dev", "report": " "},
    "local and backend": {"env": "dev", "local": True, "backend": "s3://x"},
}


@pytest.mark.parametrize("options", BAD_INPUT.values(), ids=BAD_INPUT.keys())
def test_bad_input_exits_2_before_anything_runs(options: dict[str, Any]) -> None:
    c = MockContext(run=ok())
    with pytest.raises(Exit) as raised:
        tasks.drift(c, **options)
    assert raised.value.code == 2
    assert raised.value.message.startswith("error: ")
    assert commands(c) == []


def test_local_drift_with_no_emulator_running_says_how_to_deploy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(local_emulator.LOCAL_DIR_VARIABLE, str(tmp_path))
    monkeypatch.setattr(LocalEmulator, "running", lambda self: None)
    c = MockContext(run=ok())
    with pytest.raises(Exit) as raised:
        tasks.drift(c, env="dev", local=True)
    assert raised.value.code == 2
    assert "deploy first: invoke deploy --env dev --local" in raised.value.message
    assert commands(c) == []
