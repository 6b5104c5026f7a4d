"""Errors raised for bad input: each message names the thing, the bad value and what is allowed."""


class PipelineError(Exception):
    """Base class for every error this repository raises on purpose."""


class LayerError(PipelineError):
    """An unknown layer, or a layer graph that cannot be ordered."""


class StackEnvironmentError(PipelineError):
    """An unknown environment, a bad environment name, or a missing stack file."""


class SettingsError(PipelineError):
    """A stack configuration value that is missing or not allowed."""
