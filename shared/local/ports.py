"""The emulator's port: what a user may ask for, and whether 127.0.0.1 has it free.

moto's server is never left to choose: asked for port 0 it would pick one we do not know, and
asked for 99999 it listens on 99999 mod 65536. So every port is checked here and the emulator
is always started with the exact number that is then recorded.
"""

from __future__ import annotations

import errno
import re
import socket

from shared.local import EmulatorError

HOST = "127.0.0.1"  # loopback only, never a public interface
ANY_PORT = 0
MAX_PORT = 65535
ALLOWED_PORTS = f"a whole number from 1 to {MAX_PORT}, or {ANY_PORT} (or no flag) for any free port"
_DIGITS = re.compile(r"[0-9]{1,5}")


def parse_port(value: object, flag: str = "--port") -> int:
    """The port asked for with ``flag``: 1-65535, or 0 (also ``None`` or "") for any free one.

    Anything else is refused with a message naming the flag, the value and what is allowed.
    """
    if value is None or value == "":
        return ANY_PORT
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        number = int(value.strip())
    else:
        raise EmulatorError(f"{flag} {value!r} is not a port: give {ALLOWED_PORTS}")
    if not ANY_PORT <= number <= MAX_PORT:
        raise EmulatorError(f"{flag} {value!r} is out of range: give {ALLOWED_PORTS}")
    return number


def port_problem(port: int) -> str | None:
    """Why ``HOST:port`` cannot be given to the emulator now, or None when it is free.

    Something accepting connections there, or a bind that fails, both mean "taken". The probe
    binds with SO_REUSEADDR, as the emulator's own server does, so a connection of an emulator
    stopped a moment ago (TIME_WAIT) does not count as taken, and a listener does.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as client:
        client.settimeout(1.0)
        if client.connect_ex((HOST, port)) == 0:
            return f"{HOST}:{port} is already in use (something accepts connections there)"
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return f"{HOST}:{port} is already in use"
            return f"{HOST}:{port} cannot be bound ({error.strerror or error})"
    return None


def free_port() -> int:
    """A port the kernel says is free now; the caller still checks that the emulator got it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])
