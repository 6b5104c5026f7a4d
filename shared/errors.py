"""Errors raised for bad input: each message names the thing, the bad value and what is allowed.

Also the exit codes every task uses (see the docstring of ``tasks.py``), and the one way a
task turns these errors into an exit: ``task_errors()``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

# The task ran and something failed: a layer's pulumi command, a check, lint, the tests.
EXIT_FAILURE = 1
# Bad input: the task refused to start (or to go on) because of what it was asked or how it
# is set up; nothing was changed, and the message says what to fix.
EXIT_USER_ERROR = 2
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


def task_exit(message: str, code: int = EXIT_FAILURE) -> Exception:
    """What stops a task: ``message`` on stderr with the one error prefix, and ``code``
    (``raise task_exit(...)``)."""
    from invoke import Exit

    return Exit(f"{ERROR_PREFIX}{message.removeprefix(ERROR_PREFIX)}", code=code)


@contextmanager
def task_errors() -> Iterator[None]:
    """Turn the repository's own errors into a clean exit: their message with the one error
    prefix, and their exit code (``EXIT_USER_ERROR`` for bad input, the default)."""
    try:
        yield
    except PipelineError as error:
        raise task_exit(str(error), error.exit_code) from None
