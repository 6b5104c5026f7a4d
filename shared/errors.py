"""Errors raised for bad input: each message names the thing, the bad value and what is allowed.

Also the two exit codes every task uses (see the docstring of ``tasks.py``).
"""

# The task ran and something failed: a layer's pulumi command, a check, lint, the tests.
EXIT_FAILURE = 1
# Bad input: the task refused to start (or to go on) because of what it was asked or how it
# is set up; nothing was changed, and the message says what to fix.
EXIT_USER_ERROR = 2


class PipelineError(Exception):
    """Base class for every error this repository raises on purpose: bad input, unless a
    subclass sets ``exit_code`` to ``EXIT_FAILURE``."""

    exit_code: int = EXIT_USER_ERROR


class LayerError(PipelineError):
    """An unknown layer, or a layer graph that cannot be ordered."""


class StackEnvironmentError(PipelineError):
    """An unknown environment, a bad environment name, or a missing stack file."""


class SettingsError(PipelineError):
    """A stack configuration value that is missing or not allowed."""
