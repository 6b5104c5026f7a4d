"""Text for people: aligned tables, colour only on a terminal (never in files or under
NO_COLOR), and plurals. Every task prints through these, so they all look alike.

Import-light: standard library only.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Sequence
from typing import TextIO

RED = "31"
GREEN = "32"
YELLOW = "33"
BOLD = "1"
DIM = "2"


def plural(count: int, noun: str, plural_noun: str | None = None) -> str:
    """``1 violation``, ``2 violations``."""
    return f"{count} {noun if count == 1 else (plural_noun or noun + 's')}"


def use_colour(stream: TextIO | None = None) -> bool:
    """Colour only on a terminal that shows it (not ``TERM=dumb``, e.g. an editor's shell),
    and never when NO_COLOR is set (https://no-color.org). ``stream`` defaults to the stdout
    of the moment (a test's captured one included)."""
    stream = sys.stdout if stream is None else stream
    try:
        on_terminal = stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or already closed
        on_terminal = False
    return on_terminal and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


# invoke's own default for the commands it echoes (`c.run(..., echo=True)`): bold white,
# whatever stdout is. ``echo_format()`` keeps it for a terminal only.
INVOKE_ECHO_FORMAT = "\x1b[1;37m{command}\x1b[0m"


def echo_format(stream: TextIO | None = None) -> str:
    """The ``run.echo_format`` for invoke: its bold default on a terminal, the bare command
    in a file, a pipe or under NO_COLOR."""
    return INVOKE_ECHO_FORMAT if use_colour(stream) else "{command}"


# A quoted value longer than this is cut in a message: what was given is named, not echoed.
LONG_VALUE = 200
# Every quoted value, short ones included, so that a scan from left to right pairs each
# opening quote with its own closing one (matching only long values would pair the closing
# quote of one value with the opening quote of the next, around the text between them). A
# quote opens a value only where it does not follow a letter or digit, and closes it only
# where none follows: an apostrophe (``staging's``) is neither. A backslash escapes a quote
# (``'it\'s'``), as in Python's repr.
_QUOTED = re.compile(r"(?<![\w'\"])(?:'((?:[^'\\\n]|\\.)*)'|\"((?:[^\"\\\n]|\\.)*)\")(?!\w)")


def shorten_long_values(message: str, keep: int = 40) -> str:
    """Every quoted value in ``message`` longer than ``LONG_VALUE`` characters cut to its
    first ``keep``, with its length: ``'xxxx...' (20000 characters)``."""

    def cut(match: re.Match[str]) -> str:
        quote = match.group(0)[0]
        value = match.group(1) if match.group(1) is not None else match.group(2)
        if len(value) <= LONG_VALUE:
            return match.group(0)
        return f"{quote}{value[:keep]}...{quote} ({len(value)} characters)"

    return _QUOTED.sub(cut, message)


def shorten(value: object, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters with "..." when longer."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def closest_hint(name: str, known: Sequence[str], several: str) -> str:
    """What to add to "unknown NAME": ``several`` when the value holds several known names
    (``dev,staging``), else "; did you mean X?" for the closest known name, else ""."""
    import difflib

    parts = [part for part in re.split(r"[,\s]+", str(name)) if part]
    if len(parts) > 1 and all(part in known for part in parts):
        return several
    close = difflib.get_close_matches(str(name).strip().lower(), list(known), n=1)
    return f"; did you mean {close[0]}?" if close else ""


class Painter:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, text: str, *codes: str) -> str:
        if not self.enabled or not codes:
            return text
        return f"\x1b[{';'.join(codes)}m{text}\x1b[0m"


# A cell style chooser: (row index, column index, text) -> ANSI codes.
CellStyle = Callable[[int, int, str], tuple[str, ...]]


def format_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    paint: Painter,
    style: CellStyle | None = None,
    indent: str = "  ",
) -> str:
    """Columns padded to their widest cell; widths counted before any colour is added. A cell
    of several lines continues on the next lines of its own column."""
    widths = [len(header) for header in headers]
    for row in rows:
        widths = [
            max(width, *(len(part) for part in cell.split("\n")))
            for width, cell in zip(widths, row, strict=True)
        ]

    def line(cells: Sequence[str], styles: Sequence[tuple[str, ...]]) -> str:
        padded = [
            paint(cell.ljust(width), *codes)
            for cell, width, codes in zip(cells, widths, styles, strict=True)
        ]
        return (indent + "  ".join(padded)).rstrip()

    out = [line(headers, [(BOLD,)] * len(headers))]
    for row_index, row in enumerate(rows):
        styles = [
            style(row_index, column, cell) if style else () for column, cell in enumerate(row)
        ]
        parts = [cell.split("\n") for cell in row]
        for depth in range(max(len(cell_parts) for cell_parts in parts)):
            cells = [cell_parts[depth] if depth < len(cell_parts) else "" for cell_parts in parts]
            out.append(line(cells, styles))
    return "\n".join(out)


def say(line: str = "") -> None:
    """A line of progress on stdout, at once (the tasks interleave with pulumi's output)."""
    print(line, flush=True)
