"""Text for people: aligned tables, colour only on a terminal (never in files or under
NO_COLOR), and plurals. Every task prints through these, so they all look alike.

Import-light: standard library only.
"""

from __future__ import annotations

import os
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


def use_colour(stream: TextIO = sys.stdout) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    return stream.isatty() and not os.environ.get("NO_COLOR")


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
    """Columns padded to their widest cell; widths counted before any colour is added."""
    widths = [len(header) for header in headers]
    for row in rows:
        widths = [max(width, len(cell)) for width, cell in zip(widths, row, strict=True)]

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
        out.append(line(row, styles))
    return "\n".join(out)


def say(line: str = "") -> None:
    """A line of progress on stdout, at once (the tasks interleave with pulumi's output)."""
    print(line, flush=True)
