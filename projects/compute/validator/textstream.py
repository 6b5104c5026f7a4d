"""Turning an object body, read a bounded chunk at a time, into text for the format validators.

Both readers strip one leading UTF-8 byte-order mark, report every byte that is not valid UTF-8
as ``line N: not valid UTF-8 (byte 0xXX at byte M)`` and replace it by U+FFFD, so the rest of
the object is still checked, and never hold more than a few chunks of the body.
"""

import codecs
import re
from collections.abc import Iterator
from typing import Protocol

from .result import ValidationResult


class BinaryReadable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class RecordTooLong(Exception):
    """A CSV record (one line or several) is longer than its limit; ``line`` is where it starts."""

    def __init__(self, line: int) -> None:
        super().__init__(line)
        self.line = line


# A decode error handler that notes where each invalid byte is: one C-speed decode per chunk
# even for a file with an invalid byte on every line.
_invalid_positions: list[int] = []


def _note_invalid_byte(exc: UnicodeError) -> tuple[str, int]:
    assert isinstance(exc, UnicodeDecodeError)
    _invalid_positions.append(exc.start)
    return "\ufffd", exc.end


codecs.register_error("validator.note-invalid-bytes", _note_invalid_byte)

_CSV_LINE_END = re.compile(rb"\r\n|\r|\n")


def _line_ends(data: bytes, start: int, end: int, universal: bool) -> int:
    newlines = data.count(b"\n", start, end)
    if not universal:
        return newlines
    return newlines + data.count(b"\r", start, end) - data.count(b"\r\n", start, end)


def _line_start(data: bytes, pos: int, universal: bool) -> int:
    """Where the line holding ``pos`` starts in ``data``; -1 if it started before ``data``."""
    last = data.rfind(b"\n", 0, pos)
    if universal:
        last = max(last, data.rfind(b"\r", 0, pos))
    return last + 1 if last >= 0 else -1


def decode(
    data: bytes, result: ValidationResult, line: int, column_offset: int, universal: bool
) -> str:
    """Decode UTF-8, reporting each invalid byte with its line and byte-in-line.

    ``line`` is the number of the line ``data`` starts in, ``column_offset`` how many bytes of
    that line came before ``data``. ``universal``: lines end with CR, LF or CRLF (CSV), else LF.
    """
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    _invalid_positions.clear()
    text = data.decode("utf-8", "validator.note-invalid-bytes")
    for pos in _invalid_positions:
        start = _line_start(data, pos, universal)
        column = pos - start + 1 if start >= 0 else column_offset + pos + 1
        result.add_error(
            line + _line_ends(data, 0, pos, universal),
            f"not valid UTF-8 (byte 0x{data[pos]:02x} at byte {column})",
        )
    return text


def _chunks(body: BinaryReadable, read_size: int) -> Iterator[bytes]:
    """The body's bytes, one read at a time, without a leading byte-order mark."""
    head = b""
    while len(head) < len(codecs.BOM_UTF8):
        chunk = body.read(read_size)
        if not chunk:
            break
        head += chunk
    if head:
        yield head.removeprefix(codecs.BOM_UTF8)
    while chunk := body.read(read_size):
        yield chunk


def _complete_utf8_length(data: bytes) -> int:
    """Length of ``data`` without a UTF-8 sequence cut off at its end."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte < 0x80:
            return len(data)
        if byte >= 0xC0:  # a lead byte: is its sequence complete?
            needed = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return len(data) - back if needed > back else len(data)
    return len(data)


def text_pieces(body: BinaryReadable, result: ValidationResult, read_size: int) -> Iterator[str]:
    """The body as text, in pieces cut anywhere but inside a character (lines end with LF)."""
    line = 1
    column_offset = 0
    pending = b""
    for chunk in _chunks(body, read_size):
        data = pending + chunk if pending else chunk
        cut = _complete_utf8_length(data)
        data, pending = data[:cut], data[cut:]
        if not data:
            continue
        yield decode(data, result, line, column_offset, universal=False)
        newlines = data.count(b"\n")
        if newlines:
            line += newlines
            column_offset = len(data) - data.rfind(b"\n") - 1
        else:
            column_offset += len(data)
    if pending:
        yield decode(pending, result, line, column_offset, universal=False)


def csv_line_pieces(
    body: BinaryReadable,
    result: ValidationResult,
    *,
    read_size: int,
    piece_bytes: int,
    max_line_bytes: int,
) -> Iterator[tuple[str, int, int]]:
    """The body as ``(text, bytes, lines)`` pieces of whole physical lines, about
    ``piece_bytes`` each; lines end with CR, LF or CRLF, as the csv module reads them.

    Cutting after a line-end byte is safe for UTF-8 (CR and LF never occur inside a multi-byte
    sequence). A line longer than ``max_line_bytes`` (line end included) raises RecordTooLong
    before it is held whole: reads are at most ``max_line_bytes``, so only the line carried
    over from the previous read can be too long.
    """
    read_size = min(read_size, max_line_bytes)
    line = 1
    tail = b""
    for chunk in _chunks(body, read_size):
        data = tail + chunk if tail else chunk
        # A CR at the very end may be the first half of a CRLF: keep it for the next read.
        searchable = len(data) - 1 if data.endswith(b"\r") else len(data)
        last_end = max(data.rfind(b"\n", 0, searchable), data.rfind(b"\r", 0, searchable))
        if tail:
            first_end = _CSV_LINE_END.search(data, len(tail) - 1 if tail.endswith(b"\r") else 0)
            if (
                first_end is not None
                and first_end.end() <= searchable
                and first_end.end() > max_line_bytes
            ):
                raise RecordTooLong(line)
        complete, tail = data[: last_end + 1], data[last_end + 1 :]
        if len(tail) > max_line_bytes:
            raise RecordTooLong(line + _line_ends(complete, 0, len(complete), universal=True))
        start = 0
        while start < len(complete):
            stop = len(complete)
            if stop - start > piece_bytes:
                match = _CSV_LINE_END.search(complete, start + piece_bytes)
                stop = match.end() if match is not None else stop
            piece = complete[start:stop]
            lines = _line_ends(piece, 0, len(piece), universal=True)
            yield _decode_csv_piece(piece, result, line), len(piece), lines
            line += lines
            start = stop
    if tail:
        yield _decode_csv_piece(tail, result, line), len(tail), 1


def _decode_csv_piece(piece: bytes, result: ValidationResult, line: int) -> str:
    text = decode(piece, result, line, 0, universal=True)
    if "\x00" in text:
        # A NUL is not text: most often a UTF-16 file, whose every other byte is NUL.
        for offset, raw_line in enumerate(piece.splitlines()):
            if b"\x00" in raw_line:
                result.add_error(
                    line + offset,
                    f"contains a NUL byte (at byte {raw_line.index(0) + 1}); "
                    "is the file UTF-16 rather than UTF-8?",
                )
    return text
