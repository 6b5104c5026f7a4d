"""The docs are executed: every shell block of README.md and docs/*.md runs, offline, in a
scratch copy of the repository set up as the README says, and the output shown after it is
what it prints; or the block says why it cannot run here.

Conventions (docs/tasks-and-ci.md and every page follow them):

- every fenced block names its language (bash, text, json, yaml, python, mermaid);
- a ``bash`` block runs, command by command, from the repository root; a ``text`` block right
  after it is what it prints (standard output, then standard error), where a line ``[...]``
  stands for any lines and ``[...]`` inside a line for any text;
- ``bash ci`` blocks are the set-up and test commands ``.ci/run`` runs (checked against it);
- ``bash needs-pulumi``, ``needs-aws`` and ``needs-network`` blocks need what they say and
  do not run; their ``invoke`` lines must still name real tasks and flags;
- ``bash exit=N``: the block's last command is expected to exit N;
- commands run through the virtualenv's executables (``.venv/bin/invoke``): never a bare
  ``invoke``, ``pytest`` or ``python``.
"""

from __future__ import annotations

import copy
import os
import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

import tasks
from shared.layers import REPO_ROOT
from shared.testing import copy_repository

PAGES = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
LANGUAGES = {"bash", "text", "json", "yaml", "python", "mermaid"}
MARKERS = {"ci", "needs-pulumi", "needs-aws", "needs-network"}
FENCE = re.compile(r"^(?P<indent> *)```(?P<info>.*)$")
BARE = re.compile(r"^(invoke|pytest|pip|python)\b")
WILDCARD = "[...]"


@dataclass(frozen=True)
class Block:
    path: Path
    line: int
    language: str
    markers: frozenset[str]
    exit_code: int
    text: str
    expected: str | None  # the text block shown right after a shell block

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(REPO_ROOT)}:{self.line}"

    def commands(self) -> list[str]:
        """One command per line; a line ending in a backslash goes on; comments dropped."""
        commands, pending = [], ""
        for raw in self.text.splitlines():
            line = raw.rstrip()
            if not pending and (not line.strip() or line.lstrip().startswith("#")):
                continue
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            commands.append((pending + line).strip())
            pending = ""
        return commands


def blocks(path: Path) -> list[Block]:
    lines = path.read_text().splitlines()
    found: list[tuple[int, str, str]] = []
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        indent = len(opening["indent"])
        body = []
        index += 1
        while index < len(lines) and lines[index].strip() != "```":
            body.append(lines[index][indent:])
            index += 1
        found.append((index - len(body), opening["info"].strip(), "\n".join(body) + "\n"))
        index += 1
    result = []
    for position, (line, info, text) in enumerate(found):
        words = info.split()
        language = words[0] if words else ""
        exit_codes = [int(word.split("=", 1)[1]) for word in words if word.startswith("exit=")]
        expected = None
        if language == "bash" and position + 1 < len(found):
            next_line, next_info, next_text = found[position + 1]
            between = lines[line + text.count("\n") + 1 : next_line - 1]
            if next_info == "text" and not any(part.strip() for part in between):
                expected = next_text
        result.append(
            Block(
                path,
                line,
                language,
                frozenset(word for word in words[1:] if not word.startswith("exit=")),
                exit_codes[0] if exit_codes else 0,
                text,
                expected,
            )
        )
    return result


ALL = [block for page in PAGES for block in blocks(page)]
SHELL = [block for block in ALL if block.language == "bash"]


def matches(expected: str, actual: str) -> bool:
    """Line by line; a line ``[...]`` matches any lines, ``[...]`` in a line any text."""
    pattern = []
    for line in expected.rstrip("\n").splitlines():
        if line.strip() == WILDCARD:
            pattern.append(r"(?:.*\n)*?")
        else:
            parts = [re.escape(part) for part in line.rstrip().split(WILDCARD)]
            pattern.append(".*".join(parts) + r"[ \t]*\n")
    return re.fullmatch("".join(pattern), actual.rstrip("\n") + "\n") is not None


def test_every_block_names_its_language_and_markers() -> None:
    problems = [
        f"{block.where}: ```{block.language} (use one of {', '.join(sorted(LANGUAGES))})"
        for block in ALL
        if block.language not in LANGUAGES
    ] + [
        f"{block.where}: unknown markers {sorted(block.markers - MARKERS)}"
        for block in SHELL
        if block.markers - MARKERS
    ]
    assert problems == []
    assert len(SHELL) >= 10


def test_commands_run_through_the_virtualenv_never_bare() -> None:
    bare = [
        f"{block.where}: {command}"
        for block in SHELL
        for command in block.commands()
        for part in re.split(r"&&|\|\||;|\|", command)
        if BARE.match(part.strip()) and not part.strip().startswith("python3 -m venv")
    ]
    assert bare == [], "use .venv/bin/invoke, .venv/bin/pytest, .venv/bin/python:\n" + "\n".join(
        bare
    )


def test_the_ci_blocks_are_what_ci_runs() -> None:
    ci_run = (REPO_ROOT / ".ci" / "run").read_text()
    run_lines = {" ".join(line.replace("--quiet ", "").split()) for line in ci_run.splitlines()}
    ci_blocks = [block for block in SHELL if "ci" in block.markers]
    assert {block.path.name for block in ci_blocks} == {"README.md"}
    checked = []
    for block in ci_blocks:
        for command in block.commands():
            for part in command.split("&&"):
                normalised = " ".join(part.split())
                if normalised.startswith((".venv/bin/invoke",)):
                    continue  # the main job: run below, in a scratch copy
                assert normalised in run_lines, (
                    f"{block.where}: .ci/run does not run {normalised!r}"
                )
                checked.append(normalised)
    assert ".venv/bin/pytest" in checked
    assert any("pip install -c requirements.lock -e '.[dev]'" in part for part in checked)


def invoke_flags() -> dict[str, set[str]]:
    """Every task of the namespace, with its flags."""
    found = {}
    for name in tasks.ns.task_names:
        # A copy: invoke's get_arguments pops each flag's help off the task as it reads it.
        task = copy.deepcopy(tasks.ns[name])
        flags = set()
        for argument in task.get_arguments():
            for each in argument.names:
                flags.add(f"--{each.replace('_', '-')}" if len(each) > 1 else f"-{each}")
        found[name] = flags | {"--help", "-h"}
    return found


def invoke_calls(command: str) -> list[list[str]]:
    """The argv of every `.venv/bin/invoke ...` in a shell command, up to the next `|`, `&&`,
    `;` or parenthesis (quotes respected)."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.commenters = "#"
    lexer.wordchars += "$-./=[]:,{}@*~"
    calls: list[list[str]] = []
    current: list[str] | None = None
    for token in lexer:
        if token == ".venv/bin/invoke":
            current = [token]
            calls.append(current)
        elif current is not None and set(token) <= set("|&;()<>"):
            current = None
        elif current is not None:
            current.append(token)
    return calls


def test_commands_that_cannot_run_here_still_name_real_tasks_and_flags() -> None:
    known = invoke_flags()
    problems = []
    for block in SHELL:
        for command in block.commands():
            for argv in invoke_calls(command):
                if len(argv) < 2 or argv[1].startswith("-"):
                    continue  # invoke's own flags: --list, --help
                task, flags = argv[1], [a.split("=")[0] for a in argv[2:] if a.startswith("-")]
                if task not in known:
                    problems.append(f"{block.where}: no task {task!r}")
                    continue
                problems += [
                    f"{block.where}: {task} has no flag {flag}"
                    for flag in flags
                    if flag not in known[task]
                ]
    assert problems == []


RUNNABLE_PAGES = sorted(
    {block.path for block in SHELL if not block.markers & (MARKERS - {"ci"})},
    key=lambda path: path.name,
)


@pytest.mark.parametrize("page", RUNNABLE_PAGES, ids=lambda path: path.name)
def test_every_runnable_block_runs_and_prints_what_is_shown(
    page: Path, checkout: Path, tmp_path: Path
) -> None:
    """The page's shell blocks, in order, in one scratch copy of a fresh clone after the
    set-up (as a reader follows the page)."""
    root = copy_repository(tmp_path / "repository", checkout, with_virtualenv=True)
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PULUMI_", "AWS_"))},
        "NO_COLOR": "1",
        "COLUMNS": "80",
        "RAWDATA_LOCAL_DIR": str(tmp_path / "local"),
    }
    ran = 0
    for block in blocks(page):
        if block.language != "bash" or block.markers & (MARKERS - {"ci"}):
            continue
        outputs, errors = [], []
        commands = [
            part.strip()
            for command in block.commands()
            for part in command.split("&&")
            if not ("ci" in block.markers and not part.strip().startswith(".venv/bin/invoke"))
        ]
        for index, command in enumerate(commands):
            done = subprocess.run(
                command,
                shell=True,
                cwd=root,
                env=environment,
                capture_output=True,
                text=True,
                timeout=300,
            )
            wanted = block.exit_code if index == len(commands) - 1 else 0
            assert done.returncode == wanted, (
                f"{block.where}: `{command}` exited {done.returncode}, not {wanted}:\n"
                f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
            )
            outputs.append(done.stdout)
            errors.append(done.stderr)
            ran += 1
        if block.expected is not None:
            # What a reader sees: standard output, and for an error its standard error too.
            actual = "".join(outputs)
            if not matches(block.expected, actual):
                actual += "".join(errors)
            assert matches(block.expected, actual), (
                f"{block.where}: the output shown is not what `{'; '.join(commands)}` prints "
                f"now. Shown:\n{block.expected}\nPrinted:\n{actual}"
            )
    assert ran


def test_the_wildcards_match_what_they_should() -> None:
    assert matches("a\n[...]\nd\n", "a\nb\nc\nd\n")
    assert matches("a\n[...]\nd\n", "a\nd\n")
    assert matches("x [...] z\n", "x yyy z\n")
    assert not matches("a\nd\n", "a\nb\nd\n")
    assert not matches("x [...] z\n", "x yyy\n")


def test_a_shell_block_is_paired_with_the_output_shown_right_after_it(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "```bash\n.venv/bin/invoke ci-matrix\n```\n```text\nenvironments [...]\n```\n\n"
        "```bash\n.venv/bin/invoke check\n```\n\nprose\n```text\nnot its output\n```\n"
    )
    first, _, second, _ = blocks(page)
    assert (first.line, first.expected) == (1, "environments [...]\n")
    assert second.expected is None
    assert first.commands() == [".venv/bin/invoke ci-matrix"]
