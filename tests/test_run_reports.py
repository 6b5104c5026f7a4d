"""Run reports (issue #10.3): `--report FILE` writes JSON (environment, action, timestamps, per
layer: status, duration, note, pulumi's change counts), `$GITHUB_STEP_SUMMARY` gets a Markdown
table, previews tell "changes" from "no changes" (and --expect-no-changes exits 3), and
whatever pulumi prints is read without a traceback.

What pulumi prints is built here from Pulumi's own types, with the real URNs of the offline
render; no field is invented:

- `pulumi preview --json`: a ``PreviewDigest`` (pulumi/pulumi ``pkg/display/json.go``),
  printed once at the end by ``ShowPreviewDigest`` (``pkg/backend/display/json.go``) with
  ``json.MarshalIndent(digest, "", "    ")``. Its ``steps`` leave out unchanged resources but
  always hold the root stack; ``changeSummary`` counts every operation, "same" included.
- `pulumi up --json` / `pulumi destroy --json` (CLI v3.17.0+): one ``apitype.EngineEvent``
  per line (``sdk/go/common/apitype/events.go``), written by ``ShowJSONEvents`` with a
  ``json.Encoder``; the ``summaryEvent`` carries ``resourceChanges``.
- Flags: https://www.pulumi.com/docs/iac/cli/commands/pulumi_preview/ and
  https://www.pulumi.com/docs/iac/cli/commands/pulumi_up/ ("-j, --json  Serialize the ...
  diffs, operations, and overall output as JSON").

The tasks run pulumi on a pty, which merges its stderr lines into the same stream: the
fixtures interleave such lines and use the pty's CRLF line ends.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from invoke import Exit, MockContext, Result

import tasks
from shared import pulumi_cli
from shared.deploy import chain, policy_pack
from shared.deploy import report as report_module
from shared.deploy.pulumi_json import JsonEcho, read_events, read_preview
from shared.harness import RenderedStack
from shared.testing import Rendered
from tests.test_tasks import GRAPH, LAYERS, NO_STACK, P, commands, failed, ok, outputs_of

STDERR_NOISE = "warning: A new version of Pulumi is available."
START = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)

# -- what pulumi prints ---------------------------------------------------------------------

Changed = dict[str, tuple[str, list[str]]]  # resource logical name -> (operation, properties)


def root_urn(stack: RenderedStack) -> str:
    return (
        f"urn:pulumi:{stack.environment}::{stack.project}::pulumi:pulumi:Stack::"
        f"{stack.project}-{stack.environment}"
    )


def counts(stack: RenderedStack, changed: Changed) -> dict[str, int]:
    """Every resource of the stack plus the root stack, by operation."""
    ops = [changed[r.name][0] if r.name in changed else "same" for r in stack.resources]
    tally: dict[str, int] = {"same": 1}  # the root stack
    for op in ops:
        tally[op] = tally.get(op, 0) + 1
    return tally


def urn_of(stack: RenderedStack, name: str) -> str:
    return stack.named(name).urn


def preview_digest(stack: RenderedStack, changed: Changed, *, errors: tuple[str, ...] = ()) -> str:
    """What `pulumi preview --json` prints: PreviewStep {op, urn, diffReasons, detailedDiff
    {path: {kind, inputDiff}}}, PreviewDiagnostic {urn, message, severity}."""
    steps: list[dict[str, Any]] = [{"op": "same", "urn": root_urn(stack), "detailedDiff": None}]
    for name, (op, properties) in changed.items():
        step: dict[str, Any] = {"op": op, "urn": urn_of(stack, name)}
        if properties:
            step["diffReasons"] = properties
        step["detailedDiff"] = {
            prop: {"kind": "update", "inputDiff": False} for prop in properties
        } or None
        steps.append(step)
    digest: dict[str, Any] = {
        "config": {"aws:region": "us-east-1"},
        "steps": steps,
        "duration": 2_500_000_000,
        "changeSummary": counts(stack, changed),
    }
    if errors:
        digest["diagnostics"] = [
            {"urn": root_urn(stack), "message": message, "severity": "error"} for message in errors
        ]
    return json.dumps(digest, indent=4).replace("\n", "\r\n")


def event(sequence: int, **payload: Any) -> str:
    return json.dumps(
        {"sequence": sequence, "timestamp": 1741064767 + sequence, **payload},
        separators=(",", ":"),
    )


def step_metadata(stack: RenderedStack, name: str, op: str, properties: list[str]) -> dict:
    """apitype.StepEventMetadata."""
    resource = stack.named(name)
    return {
        "op": op,
        "urn": resource.urn,
        "type": resource.type,
        "old": None,
        "new": None,
        "diffs": properties,
        "detailedDiff": {p: {"diffKind": "update", "inputDiff": False} for p in properties},
        "provider": "",
    }


def engine_events(
    stack: RenderedStack, changed: Changed, *, error: str = "", summary: bool = True
) -> str:
    """What `pulumi up --json` (or `destroy --json`) streams, one event per line."""
    lines = [event(0, preludeEvent={"config": {"aws:region": "us-east-1"}}), STDERR_NOISE]
    sequence = 1
    for name, (op, properties) in changed.items():
        metadata = step_metadata(stack, name, op, properties)
        lines.append(event(sequence, resourcePreEvent={"metadata": metadata}))
        lines.append(event(sequence + 1, resOutputsEvent={"metadata": metadata}))
        sequence += 2
    if error:
        diagnostic = {"message": error, "color": "raw", "severity": "error"}
        lines.append(event(sequence, diagnosticEvent=diagnostic))
        sequence += 1
    if summary:
        lines.append(
            event(
                sequence,
                summaryEvent={
                    "maybeCorrupt": False,
                    "durationSeconds": 4,
                    "resourceChanges": counts(stack, changed),
                    "PolicyPacks": {},
                    "isPreview": False,
                },
            )
        )
    lines.append(event(sequence + 1, cancelEvent={}))
    return "\r\n".join(lines) + "\r\n"


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def pulumi_and_pack(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setattr(pulumi_cli.shutil, "which", lambda name: "/usr/local/bin/pulumi")
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / policy_pack.MANIFEST).write_text("# stand-in\n")
    monkeypatch.setattr(policy_pack, "POLICY_PACK_DIR", folder)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    return folder


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every reading of the monotonic clock is one second later; the wall clock starts at
    START and moves 30 s per reading: durations and timestamps are exact."""
    ticks = itertools.count(100.0, 1.0)
    monkeypatch.setattr(chain, "monotonic", lambda: next(ticks))
    moments = (START + timedelta(seconds=30 * i) for i in itertools.count())
    monkeypatch.setattr(chain, "utc_now", lambda: next(moments))


@pytest.fixture
def dev(rendered: Rendered) -> dict[str, RenderedStack]:
    return rendered["dev"]


@pytest.fixture
def report(tmp_path: Path) -> Path:
    return tmp_path / "out" / "report.json"


def pack() -> str:
    return str(policy_pack.POLICY_PACK_DIR)


def up_json(layer: str) -> str:
    return f"pulumi up --stack dev --cwd {P}/{layer} --policy-pack {pack()} --json --yes"


def preview_json(layer: str) -> str:
    return f"pulumi preview --json --stack dev --cwd {P}/{layer} --policy-pack {pack()}"


def select(layer: str, *, create: bool = False) -> str:
    return f"pulumi stack select {'--create ' if create else ''}dev --cwd {P}/{layer}"


def deployed_everywhere(dev: dict[str, RenderedStack]) -> dict[str, Result]:
    return {outputs_of(name): ok(json.dumps(stack.exports)) for name, stack in dev.items()}


def read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


# -- deploy ----------------------------------------------------------------------------------

BUCKET = "rawdata-bucket"


def test_deploy_report_has_every_layer_with_pulumis_change_counts(
    dev: dict[str, RenderedStack], report: Path, clock: None, pulumi_and_pack: Path
) -> None:
    report.parent.mkdir()
    changed: dict[str, Changed] = {layer.name: {} for layer in LAYERS}
    changed["storage"] = {BUCKET: ("update", ["tags"])}
    c = MockContext(
        run={
            **{select(layer.name, create=True): ok() for layer in LAYERS},
            **{
                up_json(layer.name): ok(engine_events(dev[layer.name], changed[layer.name]))
                for layer in LAYERS
            },
        }
    )
    tasks.deploy(c, env="dev", yes=True, report=str(report))
    assert commands(c) == [
        command
        for layer in LAYERS
        for command in (select(layer.name, create=True), up_json(layer.name))
    ]
    bucket_urn = urn_of(dev["storage"], BUCKET)
    assert read(report) == {
        "version": 1,
        "environment": "dev",
        "action": "deploy",
        "started": "2025-03-04T05:06:07Z",
        "finished": "2025-03-04T05:06:37Z",
        "exit_code": 0,
        "interrupted_by": None,
        "policy_pack": {"path": str(pulumi_and_pack), "skipped": False},
        "layers": [
            {
                "layer": layer.name,
                "status": "done",
                "duration_seconds": 1.0,
                "note": "",
                "changes": counts(dev[layer.name], changed[layer.name]),
                "resources": [
                    {
                        "urn": bucket_urn,
                        "type": "aws:s3/bucket:Bucket",
                        "name": BUCKET,
                        "op": "update",
                        "properties": ["tags"],
                    }
                ]
                if layer.name == "storage"
                else [],
            }
            for layer in LAYERS
        ],
    }
    assert counts(dev["storage"], changed["storage"]) == {
        "same": len(dev["storage"].resources),
        "update": 1,
    }


def test_a_report_asks_pulumi_for_json_and_shows_it_line_by_line(report: Path) -> None:
    report.parent.mkdir()
    c = MockContext(run=ok())
    tasks.deploy(c, env="dev", layer="storage", yes=True, report=str(report))
    up_call = c.run.call_args_list[1]
    assert up_call.args[0] == up_json("storage")
    assert isinstance(up_call.kwargs["out_stream"], JsonEcho)
    assert up_call.kwargs["pty"] is True  # an interrupt still reaches pulumi


def test_without_a_report_pulumis_own_display_is_untouched() -> None:
    c = MockContext(run=ok())
    tasks.preview(c, env="dev", layer="storage")
    preview_call = c.run.call_args_list[1]
    assert preview_call.args[0] == (
        f"pulumi preview --diff --stack dev --cwd {P}/storage --policy-pack {pack()}"
    )
    assert "out_stream" not in preview_call.kwargs
    assert preview_call.kwargs["pty"] is True


def test_a_failed_deploy_still_writes_the_report_with_the_layers_not_run(
    dev: dict[str, RenderedStack], report: Path, clock: None
) -> None:
    report.parent.mkdir()
    first, *after = LAYERS
    message = "aws:s3/bucket:Bucket (rawdata-bucket):\n    error: creating S3 Bucket: AccessDenied"
    c = MockContext(
        run={
            select(first.name, create=True): ok(),
            up_json(first.name): failed(
                engine_events(dev[first.name], {}, error=message, summary=False)
            ),
        }
    )
    with pytest.raises(Exit) as raised:
        tasks.deploy(c, env="dev", yes=True, report=str(report))
    assert raised.value.code == 1
    document = read(report)
    assert document["exit_code"] == 1
    assert document["layers"][0] == {
        "layer": first.name,
        "status": "failed",
        "duration_seconds": 1.0,
        "note": "aws:s3/bucket:Bucket (rawdata-bucket): error: creating S3 Bucket: AccessDenied",
        "changes": None,
        "resources": [],
    }
    assert [layer["status"] for layer in document["layers"][1:]] == ["not run"] * len(after)
    assert [layer["duration_seconds"] for layer in document["layers"][1:]] == [None] * len(after)


@pytest.mark.parametrize(
    "printed",
    [
        "error: could not load plugin aws: no such file\r\n",
        '{"sequence":0,"timestamp":1,"preludeEvent":{"config":{}}}\r\n{"sequence":1,"time',
        '[1, 2, 3]\r\n"text"\r\n',
        '{"sequence":9,"timestamp":1,"summaryEvent":{"resourceChanges":{"create":"two"}}}\r\n',
    ],
    ids=["no-json", "cut-off", "not-objects", "counts-not-numbers"],
)
def test_json_that_cannot_be_read_gives_changes_null_and_a_note_never_a_traceback(
    printed: str, report: Path
) -> None:
    report.parent.mkdir()
    c = MockContext(run={select("storage", create=True): ok(), up_json("storage"): ok(printed)})
    tasks.deploy(c, env="dev", layer="storage", yes=True, report=str(report))  # pulumi exited 0
    (layer,) = read(report)["layers"]
    assert layer["status"] == "done"
    assert layer["changes"] is None
    assert layer["note"].startswith("changes unknown: ")


def test_destroy_report_counts_the_deletes(dev: dict[str, RenderedStack], report: Path) -> None:
    report.parent.mkdir()
    last = LAYERS[-1].name
    every = {resource.name: ("delete", []) for resource in dev[last].resources}
    destroy_json = f"pulumi destroy --stack dev --cwd {P}/{last} --json --yes"
    c = MockContext(run={select(last): ok(), destroy_json: ok(engine_events(dev[last], every))})
    tasks.destroy(c, env="dev", layer=last, yes=True, report=str(report))
    assert commands(c) == [select(last), destroy_json]
    document = read(report)
    assert document["policy_pack"] is None  # pulumi destroy runs no policy pack
    (layer,) = document["layers"]
    assert layer["changes"] == {"same": 1, "delete": len(dev[last].resources)}


@pytest.mark.parametrize("task_name", ["deploy", "destroy"])
def test_a_report_of_a_change_needs_yes_before_anything_runs(task_name: str) -> None:
    c = MockContext(run=ok())
    with pytest.raises(Exit) as raised:
        getattr(tasks, task_name)(c, env="dev", report="report.json")
    assert raised.value.code == 2
    assert raised.value.message.startswith(f"error: --report needs --yes for {task_name}: ")
    assert commands(c) == []


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "--report is empty: give the file to write the JSON report to"),
        ("no/such/folder/report.json", "--report 'no/such/folder/report.json': folder "),
        (".", "--report '.' is a folder: give a file name inside it"),
    ],
    ids=["empty", "missing-folder", "a-folder"],
)
@pytest.mark.parametrize("task_name", ["deploy", "preview", "destroy", "drift"])
def test_a_report_file_that_cannot_be_written_is_refused_before_anything_runs(
    task_name: str, value: str, message: str
) -> None:
    c = MockContext(run=ok())
    options = {"yes": True} if task_name in ("deploy", "destroy") else {}
    with pytest.raises(Exit) as raised:
        getattr(tasks, task_name)(c, env="dev", report=value, **options)
    assert raised.value.code == 2
    assert raised.value.message.startswith(f"error: {message}")
    assert commands(c) == []


def test_a_report_that_cannot_be_written_at_the_end_fails_the_run(
    report: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report.parent.mkdir()

    def refuse(source: str, target: Path) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(report_module.os, "replace", refuse)
    c = MockContext(run=ok())
    with pytest.raises(Exit) as raised:
        tasks.deploy(c, env="dev", layer="storage", yes=True, report=str(report))
    assert raised.value.code == 1
    assert (
        raised.value.message
        == f"error: could not write the report {str(report)!r}: Permission denied"
    )
    assert list(report.parent.iterdir()) == []  # no half-written or temporary file left


# -- preview: "changes" or "no changes" ---------------------------------------------------------


def preview_answers(
    dev: dict[str, RenderedStack], changed: dict[str, Changed]
) -> dict[str, Result]:
    return {
        **deployed_everywhere(dev),
        **{select(layer.name): ok() for layer in LAYERS},
        **{
            preview_json(layer.name): ok(
                STDERR_NOISE + "\r\n" + preview_digest(dev[layer.name], changed.get(layer.name, {}))
            )
            for layer in LAYERS
        },
    }


def test_preview_report_tells_changes_from_no_changes(
    dev: dict[str, RenderedStack], report: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report.parent.mkdir()
    changed = {"storage": {BUCKET: ("update", ["tags", "versioning"])}}
    c = MockContext(run=preview_answers(dev, changed))
    tasks.preview(c, env="dev", report=str(report))  # changes alone do not fail a preview
    assert [command for command in commands(c) if " preview " in command] == [
        preview_json(layer.name) for layer in LAYERS
    ]
    layers = {layer["layer"]: layer for layer in read(report)["layers"]}
    assert layers["storage"]["status"] == "changes"
    assert layers["storage"]["changes"] == {"same": len(dev["storage"].resources), "update": 1}
    assert layers["storage"]["resources"] == [
        {
            "urn": urn_of(dev["storage"], BUCKET),
            "type": "aws:s3/bucket:Bucket",
            "name": BUCKET,
            "op": "update",
            "properties": ["tags", "versioning"],
        }
    ]
    for name in [layer.name for layer in LAYERS if layer.name != "storage"]:
        assert layers[name]["status"] == "no changes"
        assert layers[name]["changes"] == {"same": len(dev[name].resources) + 1}
    out = capsys.readouterr().out
    assert (
        f"storage: 1 resource would change:\n  update aws:s3/bucket:Bucket {BUCKET}: tags, " in out
    )
    assert re.search(r"storage\s+changes\s+\S+\s+same \d+, update 1", out)
    assert re.search(r"iam\s+no changes\s+\S+\s+same \d+", out)


def test_preview_expect_no_changes_exits_3_naming_the_layers_that_would_change(
    dev: dict[str, RenderedStack],
) -> None:
    changed = {"iam": {"validator-policy": ("update", ["policy"])}}
    c = MockContext(run=preview_answers(dev, changed))
    with pytest.raises(Exit) as raised:
        tasks.preview(c, env="dev", expect_no_changes=True)
    assert raised.value.code == 3
    assert raised.value.message == "error: preview dev: changes in iam (--expect-no-changes)"
    assert len([command for command in commands(c) if " preview " in command]) == len(LAYERS)


def test_preview_expect_no_changes_exits_0_when_nothing_would_change(
    dev: dict[str, RenderedStack],
) -> None:
    c = MockContext(run=preview_answers(dev, {}))
    tasks.preview(c, env="dev", expect_no_changes=True)
    assert [command for command in commands(c) if " preview " in command] == [
        preview_json(layer.name) for layer in LAYERS
    ]


def test_preview_expect_no_changes_counts_a_layer_not_deployed_yet_as_a_change() -> None:
    first = LAYERS[0].name
    c = MockContext(run={select(first): NO_STACK})
    with pytest.raises(Exit) as raised:
        tasks.preview(c, env="dev", expect_no_changes=True)
    assert raised.value.code == 3
    assert raised.value.message == (
        f"error: preview dev: changes in {', '.join(GRAPH.names)} (--expect-no-changes)"
    )


def test_preview_expect_no_changes_refuses_to_guess_when_the_json_is_unreadable() -> None:
    c = MockContext(run={select("storage"): ok(), preview_json("storage"): ok("not json\r\n")})
    with pytest.raises(Exit) as raised:
        tasks.preview(c, env="dev", layer="storage", expect_no_changes=True)
    assert raised.value.code == 1
    assert raised.value.message == (
        "error: preview dev: could not tell whether storage would change anything (see the "
        "note); --expect-no-changes cannot be confirmed"
    )


def test_a_failed_preview_notes_the_layer_to_deploy_first(
    dev: dict[str, RenderedStack], report: Path
) -> None:
    report.parent.mkdir()
    message = 'error: Preview failed: unknown stack "organization/rawdata-storage/dev"'
    digest = preview_digest(dev["iam"], {}, errors=(message,))
    c = MockContext(
        run={
            outputs_of("storage"): ok(json.dumps(dev["storage"].exports)),
            select("iam"): ok(),
            preview_json("iam"): failed(digest),
        }
    )
    with pytest.raises(Exit) as raised:
        tasks.preview(c, env="dev", layer="iam", report=str(report))
    assert raised.value.code == 1
    (layer,) = read(report)["layers"]
    assert (layer["status"], layer["note"]) == ("failed", "deploy storage first")


# -- the job summary ---------------------------------------------------------------------------


def test_the_job_summary_gets_a_table_even_without_a_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: None
) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    tasks.deploy(MockContext(run=ok()), env="dev", yes=True)
    assert summary.read_text() == (
        "earlier step\n"
        "### deploy dev: done\n"
        "\n"
        "| layer | result | duration | note |\n"
        "|---|---|---|---|\n"
        + "".join(f"| {layer.name} | done | 1.0s |   |\n" for layer in LAYERS)
        + "\n"
    )


def test_the_job_summary_shows_the_counts_and_resources_when_the_json_is_read(
    dev: dict[str, RenderedStack], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: None
) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    changed = {"storage": {BUCKET: ("update", ["tags"])}}
    c = MockContext(run=preview_answers(dev, changed))
    with pytest.raises(Exit):
        tasks.preview(c, env="dev", expect_no_changes=True)
    table = summary.read_text()
    same = {name: len(dev[name].resources) + 1 for name in dev}
    rows = [
        f"| storage | changes | 1.0s | same {same['storage'] - 1}, update 1 |   |\n"
        if layer.name == "storage"
        else f"| {layer.name} | no changes | 1.0s | same {same[layer.name]} |   |\n"
        for layer in LAYERS
    ]
    assert table == (
        "### preview dev: changes\n"
        "\n"
        "| layer | result | duration | changes | note |\n"
        "|---|---|---|---|---|\n" + "".join(rows) + "\n"
        "**storage**:\n"
        "\n"
        f"- `update aws:s3/bucket:Bucket {BUCKET}: tags`\n"
        "\n"
    )


# -- reading pulumi's JSON -------------------------------------------------------------------


def test_the_digest_is_found_among_other_lines_and_root_stack_and_sames_are_not_changes(
    dev: dict[str, RenderedStack],
) -> None:
    stack = dev["compute"]
    text = f"{STDERR_NOISE}\r\n" + preview_digest(stack, {}) + "\r\nerror: something after\r\n"
    found = read_preview(text)
    assert found.changes == {"same": len(stack.resources) + 1}
    assert found.resources == ()
    assert found.has_changes is False


def test_engine_events_give_the_last_summary_and_the_changed_resources(
    dev: dict[str, RenderedStack],
) -> None:
    stack = dev["storage"]
    changed: Changed = {BUCKET: ("update", ["tags"]), "validator-dlq": ("create", [])}
    found = read_events(engine_events(stack, changed))
    assert found.changes == counts(stack, changed)
    assert [(r.op, r.type, r.name, r.properties) for r in found.resources] == [
        ("update", "aws:s3/bucket:Bucket", BUCKET, ("tags",)),
        ("create", "aws:sqs/queue:Queue", "validator-dlq", ()),
    ]


def test_the_live_echo_prints_one_line_per_event_and_holds_the_digest_back(
    dev: dict[str, RenderedStack],
) -> None:
    stack = dev["storage"]
    shown: list[str] = []
    echo = JsonEcho(shown.append)
    stream = engine_events(stack, {BUCKET: ("update", ["tags"])}, error="boom <{%fg 1%}>here")
    for start in range(0, len(stream), 7):  # chunks cut mid-line, as a pty delivers them
        echo.write(stream[start : start + 7])
    for line in preview_digest(stack, {}).splitlines(keepends=True):
        echo.write(line)
    echo.write("\r\n")
    echo.close()
    same = len(stack.resources)
    assert shown == [
        STDERR_NOISE,
        f"  done: update aws:s3/bucket:Bucket {BUCKET}: tags",
        "  error: boom here",
        f"  resources: same {same}, update 1",
    ]


def _events(text: str) -> Iterator[dict[str, Any]]:
    for line in text.splitlines():
        if line.startswith("{"):
            yield json.loads(line)


def test_the_event_fixture_is_the_documented_engine_event_shape(
    dev: dict[str, RenderedStack],
) -> None:
    """Each line: sequence, timestamp and exactly one <kind>Event (apitype.EngineEvent)."""
    for value in _events(engine_events(dev["iam"], {"validator-role": ("update", ["tags"])})):
        kinds = [key for key in value if key.endswith("Event")]
        assert set(value) == {"sequence", "timestamp", *kinds} and len(kinds) == 1
