"""Ctrl-C, SIGINT and SIGTERM stop the chain cleanly (issue #9): the command that was running
finishes or cancels, no later command or layer starts, the summary shows the interrupted layer
and "not run" for the rest, and the task exits 130 (SIGINT) or 143 (SIGTERM).

MockContext answers every pulumi command; an interrupt is injected at a chosen command with a
side effect on ``c.run``: raising ``KeyboardInterrupt`` (what a Ctrl-C during a command looks
like to the caller), or sending a real signal to this process with ``signal.raise_signal``, to
the handler the task installs for the duration of a run.
"""

from __future__ import annotations

import contextlib
import json
import re
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest.mock import DEFAULT

import pytest
from invoke import Exit, MockContext

import tasks
from shared import pulumi_cli
from shared.deploy import policy_pack
from shared.deploy.interrupts import Interrupted, Interrupts
from shared.testing import Rendered
from tests.test_tasks import (
    GRAPH,
    LAYERS,
    NO_STACK,
    P,
    commands,
    deploy_commands,
    ok,
    outputs_of,
    preview_command,
    up_command,
)

Outputs = dict[str, dict[str, Any]]


@pytest.fixture(autouse=True)
def pulumi_and_pack(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(pulumi_cli.shutil, "which", lambda name: "/usr/local/bin/pulumi")
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / policy_pack.MANIFEST).write_text("# stand-in\n")
    monkeypatch.setattr(policy_pack, "POLICY_PACK_DIR", tmp_path / "policies")


@pytest.fixture
def handlers_restored() -> Iterator[None]:
    """The task installs its own SIGINT/SIGTERM handlers only for the duration of a run."""
    before = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    yield
    assert {signum: signal.getsignal(signum) for signum in before} == before


@pytest.fixture
def outputs(rendered: Rendered) -> Outputs:
    return {layer: stack.exports for layer, stack in rendered["dev"].items()}


def interrupt_at(c: MockContext, command: str, effect: Callable[[], None]) -> None:
    """Run ``effect`` when ``command`` runs; other commands answer as MockContext says."""

    def side_effect(run_command: str, *args: Any, **kwargs: Any) -> Any:
        if run_command == command:
            effect()
        return DEFAULT

    c.run.side_effect = side_effect


def keyboard_interrupt() -> None:
    raise KeyboardInterrupt


def send(signum: int) -> Callable[[], None]:
    return lambda: signal.raise_signal(signum)


def send_and_let_invoke_swallow_it(signum: int) -> Callable[[], None]:
    """What invoke's runner does with an interrupt while it waits for a command: catches the
    KeyboardInterrupt, forwards it to the command, and returns normally once that exits."""

    def effect() -> None:
        with contextlib.suppress(KeyboardInterrupt):
            signal.raise_signal(signum)

    return effect


def summary_rows(out: str) -> dict[str, str]:
    """layer -> the rest of its row in the summary table."""
    table = out[out.rindex("summary for ") :]
    rows = {}
    for line in table.splitlines()[2:]:
        name, _, rest = line.strip().partition(" ")
        rows[name] = " ".join(rest.split())
    return rows


def test_ctrl_c_during_a_layer_stops_the_chain_and_exits_130(
    handlers_restored: None, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second, *after = LAYERS
    c = MockContext(run=ok())
    interrupt_at(c, up_command(second), keyboard_interrupt)
    with pytest.raises(Exit) as raised:
        tasks.deploy(c, env="dev", yes=True)
    assert raised.value.code == 130
    assert raised.value.message == (
        f"error: deploy dev: interrupted by SIGINT during layer {second.name!r}; not run: "
        + ", ".join(layer.name for layer in after)
    )
    assert commands(c) == deploy_commands("dev")[:4]
    rows = summary_rows(capsys.readouterr().out)
    assert re.fullmatch(r"done \d+\.\ds", rows[first.name])
    assert re.fullmatch(r"interrupted \d+\.\ds SIGINT received", rows[second.name])
    for layer in after:
        assert rows[layer.name] == "not run -"


def test_sigint_that_invoke_swallows_during_stack_select_still_stops_the_chain(
    handlers_restored: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """The bug in #9: the interrupt reached `pulumi stack select`, invoke forwarded it and
    returned normally, and the chain went on to `pulumi up` and exited 0."""
    first = LAYERS[0]
    select = f"pulumi stack select --create dev --cwd {P}/{first.name}"
    c = MockContext(run=ok())
    interrupt_at(c, select, send_and_let_invoke_swallow_it(signal.SIGINT))
    with pytest.raises(Exit) as raised:
        tasks.deploy(c, env="dev", yes=True)
    assert raised.value.code == 130
    assert commands(c) == [select]
    rows = summary_rows(capsys.readouterr().out)
    assert rows[first.name].startswith("interrupted ")
    assert [rows[layer.name] for layer in LAYERS[1:]] == ["not run -"] * (len(LAYERS) - 1)


def test_sigterm_during_pulumi_up_is_the_same_clean_stop_and_exits_143(
    handlers_restored: None, capsys: pytest.CaptureFixture[str]
) -> None:
    first, *after = LAYERS
    c = MockContext(run=ok())
    interrupt_at(c, up_command(first), send(signal.SIGTERM))
    with pytest.raises(Exit) as raised:
        tasks.deploy(c, env="dev", yes=True)
    assert raised.value.code == 143
    assert raised.value.message.startswith(
        f"error: deploy dev: interrupted by SIGTERM during layer {first.name!r}; not run: "
    )
    assert commands(c) == deploy_commands("dev")[:2]
    out = capsys.readouterr().out
    rows = summary_rows(out)
    assert re.fullmatch(r"interrupted \d+\.\ds SIGTERM received", rows[first.name])
    assert all(rows[layer.name] == "not run -" for layer in after)
    assert f"{first.name}: SIGTERM received; pulumi has finished or cancelled" in out


def test_sigterm_that_invoke_swallows_ends_the_step_after_the_command(
    handlers_restored: None, outputs: Outputs
) -> None:
    """A preview interrupted while it checks an upstream never selects or previews."""
    last = LAYERS[-1]
    upstreams = GRAPH.upstreams(last)
    c = MockContext(run={outputs_of(u): ok(json.dumps(outputs[u.name])) for u in upstreams})
    interrupt_at(c, outputs_of(upstreams[0]), send_and_let_invoke_swallow_it(signal.SIGTERM))
    with pytest.raises(Exit) as raised:
        tasks.preview(c, env="dev", layer=last.name)
    assert raised.value.code == 143
    assert commands(c) == [outputs_of(upstreams[0])]


def test_no_layer_starts_after_an_interrupt_even_when_pulumi_finished_the_layer(
    handlers_restored: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """pulumi may finish the operation it was in (here: exit 0); the chain stops anyway."""
    first = LAYERS[0]
    c = MockContext(run=ok())
    interrupt_at(c, preview_command(first), send_and_let_invoke_swallow_it(signal.SIGINT))
    with pytest.raises(Exit) as raised:
        tasks.preview(c, env="dev")
    assert raised.value.code == 130
    assert commands(c) == [
        f"pulumi stack select dev --cwd {P}/{first.name}",
        preview_command(first),
    ]
    rows = summary_rows(capsys.readouterr().out)
    assert rows[first.name].startswith("interrupted ")


def test_an_interrupt_during_the_destroy_guards_destroys_nothing(
    handlers_restored: None, outputs: Outputs
) -> None:
    storage = GRAPH.get("storage")
    reader = GRAPH.downstreams(storage)[0]
    c = MockContext(run={outputs_of(reader): NO_STACK})
    interrupt_at(c, outputs_of(reader), keyboard_interrupt)
    with pytest.raises(Exit) as raised:
        tasks.destroy(c, env="dev", layer="storage", yes=True)
    assert raised.value.code == 130
    assert raised.value.message == (
        "error: destroy dev: interrupted by SIGINT before any layer ran; nothing was changed"
    )
    assert commands(c) == [outputs_of(reader)]


def test_the_handlers_are_restored_after_a_run_that_was_not_interrupted(
    handlers_restored: None,
) -> None:
    c = MockContext(run=ok())
    tasks.deploy(c, env="dev", yes=True)
    assert commands(c) == deploy_commands("dev")


def test_a_signal_between_commands_is_recorded_not_raised() -> None:
    """Outside a command the handler only records the signal; the next command refuses to
    start (raising there could abort the summary or the report half-written)."""
    interrupts = Interrupts()
    interrupts._handle(signal.SIGTERM, None)
    assert (interrupts.received, interrupts.name, interrupts.exit_code) == (True, "SIGTERM", 143)
    interrupts._handle(signal.SIGINT, None)
    assert interrupts.name == "SIGTERM"  # the first signal decides the exit code
    with pytest.raises(Interrupted, match="SIGTERM"), interrupts.command():
        pytest.fail("no command may start after a signal")


def test_an_interrupted_run_still_writes_its_report(
    handlers_restored: None, tmp_path: Path
) -> None:
    first, second, *after = LAYERS
    c = MockContext(run=ok())
    interrupt_at(c, f"pulumi stack select --create dev --cwd {P}/{second.name}", keyboard_interrupt)
    report = tmp_path / "report.json"
    with pytest.raises(Exit) as raised:
        tasks.deploy(c, env="dev", yes=True, report=str(report))
    assert raised.value.code == 130
    document = json.loads(report.read_text())
    assert document["exit_code"] == 130
    assert document["interrupted_by"] == "SIGINT"
    assert [(layer["layer"], layer["status"]) for layer in document["layers"]] == [
        (first.name, "done"),
        (second.name, "interrupted"),
        *((layer.name, "not run") for layer in after),
    ]
    assert document["layers"][1]["note"] == "SIGINT received"
    assert commands(c)[-1] == f"pulumi stack select --create dev --cwd {P}/{second.name}"
