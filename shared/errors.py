"""Errors raised for bad input: each message names the thing, the bad value and what is allowed.

Also the exit codes every task uses (see the docstring of ``tasks.py``), the one way a task
turns these errors into an exit (``task_errors()``, ``task_exit()``), and the error object a
``--json`` task prints instead of its document (``json_error()``). ``shared.cli`` applies all
of it around every task invoke runs; docs/troubleshooting.md lists the messages.

Import-light: standard library only (invoke is imported where an ``Exit`` is made).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

# The task ran and something failed: a layer's pulumi command, a check, lint, the tests.
EXIT_FAILURE = 1
# Bad input: the task refused to start (or to go on) because of what it was asked or how it
# is set up; nothing was changed, and the message says what to fix.
EXIT_USER_ERROR = 2
# Not ours to choose, but documented: stdout closed by its reader (`invoke check | head -1`)
# ends the task quietly with the status of a program stopped by SIGPIPE (128 + 13), as
# `seq 1 100000 | head -1` does; an interrupt (Ctrl-C) with that of SIGINT (128 + 2).
EXIT_BROKEN_PIPE = 141
EXIT_INTERRUPTED = 130
# Every message a task prints about an error starts with this.
ERROR_PREFIX = "error: "


class PipelineError(Exception):
    """Base class for every error this repository raises on purpose: bad input, unless a
    subclass sets ``exit_code`` to ``EXIT_FAILURE``."""

    exit_code: int = EXIT_USER_ERROR


class LayerError(PipelineError):
    """An unknown layer, a bad layer manifest, or a layer graph that cannot be ordered."""


class StackEnvironmentError(PipelineError):
    """An unknown environment, a bad environment name, or a missing stack file."""


class SettingsError(PipelineError):
    """A stack configuration value that is missing or not allowed."""


def error_message(message: str) -> str:
    """``message`` as every task prints it: the one error prefix, and any quoted value too
    long to read cut to its start (a 20,000-character ``--env`` is named, not echoed)."""
    from shared.text import shorten_long_values

    return ERROR_PREFIX + shorten_long_values(message.removeprefix(ERROR_PREFIX))


def task_exit(message: str, code: int = EXIT_FAILURE) -> Exception:
    """What stops a task: ``message`` on stderr with the one error prefix, and ``code``
    (``raise task_exit(...)``)."""
    from invoke import Exit

    return Exit(error_message(message), code=code)


def json_error(message: str, code: int) -> dict[str, object]:
    """What a ``--json`` task prints on stdout when it fails before printing its document, so
    that stdout is always one JSON document: ``{"ok": false, "error": {"message", "exit_code"}}``
    (the message without the ``error:`` prefix, which stays on stderr's copy)."""
    text = error_message(message).removeprefix(ERROR_PREFIX)
    return {"ok": False, "error": {"message": text, "exit_code": code}}


@contextmanager
def task_errors() -> Iterator[None]:
    """Turn the repository's own errors into a clean exit: their message with the one error
    prefix, and their exit code (``EXIT_USER_ERROR`` for bad input, the default)."""
    try:
        yield
    except PipelineError as error:
        raise task_exit(str(error), error.exit_code) from None
