"""Local mode's process handling: which process is the emulator, which port it listens on,
and one emulator per local folder (see ``docs/local-mode.md``).

``shared.local_emulator`` is the public face (``LocalEmulator``); these modules are its
guards. Standard library only, so ``invoke --list`` stays cheap.
"""

from __future__ import annotations

from shared.errors import EXIT_FAILURE, PipelineError


class EmulatorError(PipelineError):
    """The local emulator cannot be used as asked (a bad --port, a port in use, already
    running on another port, a process it cannot identify): bad input, nothing changed."""


class EmulatorFailed(EmulatorError):
    """The local emulator was started but never answered, or the folder stayed locked: a
    failure, not bad input."""

    exit_code = EXIT_FAILURE
