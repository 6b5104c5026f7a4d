"""Ctrl-C, SIGINT and SIGTERM during a run: the running ``pulumi`` finishes or cancels cleanly,
no later command starts, and the run ends with the summary and exit 128 + the signal number
(130 for SIGINT, 143 for SIGTERM).

How an interrupt reaches pulumi: while ``c.run`` waits for a command, invoke's runner catches
``KeyboardInterrupt`` and forwards it (``Runner.send_interrupt`` writes ``\\x03`` to the
command's stdin: with a pty that is the terminal's interrupt character, so pulumi receives one
SIGINT and cancels gracefully, as it does on a first Ctrl-C). invoke then goes on waiting, and
``c.run`` returns normally once pulumi has exited: it swallows the interrupt. So the run
records every signal itself (``Interrupts``), and ``GuardedContext`` refuses to start a
command after one and ends the step once the command during which it arrived has finished.

SIGTERM is turned into the same path: the handler raises ``KeyboardInterrupt`` while a command
runs, which invoke forwards to pulumi as an interrupt. Nothing here kills pulumi; a second
Ctrl-C is forwarded too, and pulumi then stops at once (its own behaviour).

Import-light: standard library only.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

HANDLED = (signal.SIGINT, signal.SIGTERM)


class Interrupted(Exception):
    """A signal arrived: the step stops here, after the command that was running finished."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class Interrupts:
    """The first signal received while a run is under way, and whether a command is running
    (only then is a signal turned into ``KeyboardInterrupt``, for invoke to forward)."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._command_running = False

    @property
    def received(self) -> bool:
        return self.signum is not None

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum is not None else ""

    @property
    def exit_code(self) -> int:
        """The shell's convention for a process ended by a signal: 128 + its number."""
        return 128 + (self.signum or 0)

    def note(self, signum: int = signal.SIGINT) -> None:
        """Record a signal (the first one wins): a ``KeyboardInterrupt`` that reached us
        without passing through the handler is a SIGINT."""
        if self.signum is None:
            self.signum = signum

    def check(self) -> None:
        if self.signum is not None:
            raise Interrupted(self.signum)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.note(signum)
        if self._command_running:
            raise KeyboardInterrupt  # invoke catches it while waiting and forwards it to pulumi

    @contextmanager
    def installed(self) -> Iterator[Interrupts]:
        """Handle SIGINT and SIGTERM for the duration of a run; restore the previous handlers
        afterwards. Outside the main thread signals cannot be handled, and only a
        ``KeyboardInterrupt`` raised by the command stops the run."""
        previous: dict[int, Any] = {}
        try:
            for signum in HANDLED:
                previous[signum] = signal.signal(signum, self._handle)
        except ValueError:  # not the main thread
            pass
        try:
            yield self
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    @contextmanager
    def command(self) -> Iterator[None]:
        self.check()
        self._command_running = True
        try:
            yield
        except KeyboardInterrupt:
            self.note()
        finally:
            self._command_running = False
        self.check()


class GuardedContext:
    """An invoke ``Context`` whose ``run`` starts nothing after a signal and raises
    ``Interrupted`` when one arrived while its command ran (after the command finished, or
    right away when the command itself raised ``KeyboardInterrupt``). Everything else is the
    wrapped context's."""

    def __init__(self, context: Any, interrupts: Interrupts) -> None:
        self._context = context
        self._interrupts = interrupts

    def run(self, command: str, **kwargs: Any) -> Any:
        result = None
        with self._interrupts.command():
            result = self._context.run(command, **kwargs)
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)
