"""The exact ``pulumi`` command lines the tasks run, and how to read what they print.

Every command names its stack with ``--stack`` and its project with ``--cwd`` rather than
relying on the currently selected stack or the caller's working directory, so the same line
means the same thing in a terminal, in CI and in a test. Import-light: standard library only.
"""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

from shared.errors import PipelineError

INSTALL_URL = "https://www.pulumi.com/docs/install/"
EXECUTABLE = "pulumi"

# What pulumi prints when a stack does not exist (`stack select`, `stack output`, ...).
_NO_SUCH_STACK = re.compile(r"no stack named '([^']+)' found", re.IGNORECASE)
# What the engine prints when a StackReference names a stack that does not exist.
_UNKNOWN_STACK_REFERENCE = re.compile(r'unknown stack "([^"]+)"', re.IGNORECASE)
# What `--expect-no-changes` makes pulumi say when something would change: not an error of
# the run itself (drift reads the changes from the JSON).
_CHANGES_NOT_EXPECTED = re.compile(r"no changes were expected", re.IGNORECASE)
_PROTECTED = re.compile(r"marked for protection|is protected|protected resource", re.IGNORECASE)


class PulumiNotInstalled(PipelineError):
    """The ``pulumi`` executable is not on PATH."""


def require_pulumi() -> str:
    """The path of the ``pulumi`` executable, or one clear line saying how to install it."""
    path = shutil.which(EXECUTABLE)
    if path is None:
        raise PulumiNotInstalled(
            f"the Pulumi CLI ('{EXECUTABLE}') is not on PATH; install it from {INSTALL_URL} "
            "(e.g. `curl -fsSL https://get.pulumi.com | sh`) and run the task again. Without "
            "it, `invoke render` and `invoke check` show and check every stack offline"
        )
    return path


def _join(*parts: str | Path) -> str:
    return " ".join(shlex.quote(str(part)) for part in parts)


def _config_file_flag(config_file: Path | None) -> list[str | Path]:
    return ["--config-file", config_file] if config_file is not None else []


def _policy_pack_flag(policy_pack: Path | None) -> list[str | Path]:
    """``--policy-pack <folder>``: run the CrossGuard pack in that folder as part of the
    operation (documented for ``pulumi up`` and ``pulumi preview``)."""
    return ["--policy-pack", policy_pack] if policy_pack is not None else []


def stack_select(stack: str, cwd: Path, *, create: bool) -> str:
    """Select ``stack`` in the project at ``cwd``; with ``create``, create it when missing."""
    create_flag = ["--create"] if create else []
    return _join(EXECUTABLE, "stack", "select", *create_flag, stack, "--cwd", cwd)


def up(
    stack: str,
    cwd: Path,
    *,
    yes: bool,
    config_file: Path | None = None,
    policy_pack: Path | None = None,
    json: bool = False,
) -> str:
    """``pulumi up``; with ``json``, pulumi streams its engine events as JSON lines instead of
    its display (the run report reads the change counts from them)."""
    argv = [EXECUTABLE, "up", "--stack", stack, "--cwd", cwd, *_config_file_flag(config_file)]
    argv += [*_policy_pack_flag(policy_pack), *(["--json"] if json else [])]
    return _join(*argv, *(["--yes"] if yes else []))


def preview(
    stack: str,
    cwd: Path,
    *,
    config_file: Path | None = None,
    policy_pack: Path | None = None,
    json: bool = False,
    refresh: bool = False,
    expect_no_changes: bool = False,
) -> str:
    """``pulumi preview``: the rich ``--diff`` display for a person, or with ``json`` one JSON
    document at the end (``--diff`` only chooses between displays, which ``--json`` replaces,
    so the two are never combined). ``refresh`` reads every resource's real state first (in
    memory only: a preview never writes state), ``expect_no_changes`` makes pulumi exit
    non-zero when anything would change: together, a drift check."""
    argv: list[str | Path] = [EXECUTABLE, "preview"]
    argv += ["--refresh"] if refresh else []
    argv += ["--expect-no-changes"] if expect_no_changes else []
    argv += ["--json"] if json else ["--diff"]
    argv += ["--stack", stack, "--cwd", cwd, *_config_file_flag(config_file)]
    return _join(*argv, *_policy_pack_flag(policy_pack))


def destroy(
    stack: str, cwd: Path, *, yes: bool, config_file: Path | None = None, json: bool = False
) -> str:
    """``pulumi destroy``. Deliberately never passes anything that unprotects resources."""
    argv = [EXECUTABLE, "destroy", "--stack", stack, "--cwd", cwd, *_config_file_flag(config_file)]
    return _join(*argv, *(["--json"] if json else []), *(["--yes"] if yes else []))


def stack_output(stack: str, cwd: Path) -> str:
    return _join(EXECUTABLE, "stack", "output", "--json", "--stack", stack, "--cwd", cwd)


def stack_export(stack: str, cwd: Path) -> str:
    """``pulumi stack export``: the stack's state (the documented deployment schema, version 3),
    secrets left encrypted."""
    return _join(EXECUTABLE, "stack", "export", "--stack", stack, "--cwd", cwd)


def says_no_such_stack(output: str) -> bool:
    """True when pulumi's output says the stack it was asked about does not exist."""
    return bool(_NO_SUCH_STACK.search(output))


def unresolved_stack_references(output: str) -> list[str]:
    """Fully qualified names of stacks a StackReference could not find, in order seen."""
    seen: list[str] = []
    for name in _UNKNOWN_STACK_REFERENCE.findall(output):
        if name not in seen:
            seen.append(name)
    return seen


def says_changes_not_expected(output: str) -> bool:
    return bool(_CHANGES_NOT_EXPECTED.search(output))


def mentions_protected_resources(output: str) -> bool:
    return bool(_PROTECTED.search(output))


def first_error_line(output: str) -> str:
    """The line of pulumi's output that says what went wrong (its first ``error:`` line), or
    the first non-empty line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in lines:
        if line.lower().startswith("error:"):
            return line
    return lines[0] if lines else "(no output)"
