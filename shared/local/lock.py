"""One emulator per local folder: starting, stopping and inspecting it happen under a lock.

``fcntl.flock`` on a file in the local folder. The lock is advisory (only programs that take
it are held back: every local task does) and POSIX-only (Linux, macOS). The kernel releases
it when its holder exits, however it exits, so a crashed task never leaves the folder locked.
flock locks belong to an open file, so two threads of one process exclude each other too.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from shared.local import EmulatorError, EmulatorFailed

_POLL_SECONDS = 0.1


class FolderBusy(EmulatorFailed):
    """Another local task kept the folder locked for longer than the wait allows."""


def _holder(lock_file: Path) -> str:
    try:
        text = lock_file.read_text(errors="replace").strip()
    except OSError:
        return "another local task"
    return text or "another local task"


@contextmanager
def folder_lock(lock_file: Path, *, shared: bool, timeout: float) -> Iterator[None]:
    """Hold ``lock_file`` exclusively (start, stop) or shared (inspect), waiting at most
    ``timeout`` seconds for the current holder; raise ``FolderBusy`` naming it when it does
    not let go in time."""
    try:
        import fcntl
    except ImportError:  # Windows
        raise EmulatorError(
            f"local mode needs a POSIX system (fcntl.flock); this is {sys.platform!r}"
        ) from None
    mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
    try:
        handle = lock_file.open("a+")
    except OSError as error:
        raise EmulatorError(
            f"lock file {lock_file} cannot be opened ({error.strerror or error}); the local "
            "folder must be a folder you can write"
        ) from None
    with handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, mode | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise FolderBusy(
                        f"{lock_file} is still locked by {_holder(lock_file)} after "
                        f"{timeout:.0f}s (starting or stopping the local emulator); try again "
                        "when it is done, `invoke local.status` says what runs"
                    ) from None
                time.sleep(_POLL_SECONDS)
        try:
            if not shared:  # name the holder for whoever waits
                handle.seek(0)
                handle.truncate()
                handle.write(f"pid {os.getpid()} ({' '.join(sys.argv)[:200]})\n")
                handle.flush()
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
