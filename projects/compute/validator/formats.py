"""The CSV, JSON and JSON Lines validators, each reading an object body as a stream."""

import codecs
import csv
import io
import itertools
import json
import posixpath
from collections.abc import Iterator
from typing import Protocol

from .result import ValidationResult
from .settings import MAX_CSV_LINE_BYTES, READ_CHUNK_BYTES, Settings

FILE_TYPES_BY_EXTENSION = {
    ".csv": "csv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}


class BinaryReadable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


def file_type_of(key: str) -> str | None:
    return FILE_TYPES_BY_EXTENSION.get(posixpath.splitext(key)[1].lower())


def _describe_decode_error(exc: UnicodeDecodeError, line_start: int = 0) -> str:
    bad_byte = exc.object[exc.start]
    return f"not valid UTF-8 (byte 0x{bad_byte:02x} at byte {exc.start - line_start + 1})"


def _decode_block(block: bytes, first_line: int, result: ValidationResult) -> str:
    try:
        return block.decode("utf-8")
    except UnicodeDecodeError:
        pass
    # Rare path: decode line by line to report every bad line exactly, substituting U+FFFD so the
    # rest of the object is still checked.
    texts = []
    for offset, raw_line in enumerate(io.BytesIO(block)):
        try:
            texts.append(raw_line.decode("utf-8"))
        except UnicodeDecodeError as exc:
            result.add_error(first_line + offset, _describe_decode_error(exc))
            texts.append(raw_line.decode("utf-8", "replace"))
    return "".join(texts)


def _text_blocks(
    body: BinaryReadable, result: ValidationResult, max_line_bytes: int
) -> Iterator[str]:
    """Yield the body as text in blocks of whole lines, reading a bounded chunk at a time.

    Cutting the bytes after a newline byte before decoding is safe for UTF-8 (0x0A never occurs
    inside a multi-byte sequence), so a character split by a read boundary is never mis-decoded,
    and a bad byte is reported with its exact line number. Only an unfinished line is carried
    between reads; a line longer than ``max_line_bytes`` (newline included) is reported and
    replaced by an empty line, so memory stays bounded and later line numbers stay exact.
    """
    # Reading at most max_line_bytes at once means a line inside one read is never too long;
    # only the carried-over line needs checking.
    read_size = min(READ_CHUNK_BYTES, max_line_bytes)
    carried: list[bytes] = []
    carried_bytes = 0
    next_line = 1
    skipping_long_line = False
    at_start = True
    while chunk := body.read(read_size):
        if at_start:
            chunk = chunk.removeprefix(codecs.BOM_UTF8)
            at_start = False
        if skipping_long_line:
            newline = chunk.find(b"\n")
            if newline < 0:
                continue
            chunk = b"\n" + chunk[newline + 1 :]
            skipping_long_line = False
        first_newline = chunk.find(b"\n")
        open_line_bytes = carried_bytes + (len(chunk) if first_newline < 0 else first_newline + 1)
        if open_line_bytes > max_line_bytes:
            result.add_error(next_line, f"line is longer than {max_line_bytes} bytes")
            carried.clear()
            carried_bytes = 0
            if first_newline < 0:
                skipping_long_line = True
                continue
            chunk = b"\n" + chunk[first_newline + 1 :]
        cut = chunk.rfind(b"\n") + 1
        if cut == 0:
            carried.append(chunk)
            carried_bytes += len(chunk)
            continue
        block = b"".join([*carried, chunk[:cut]])
        carried = [chunk[cut:]]
        carried_bytes = len(chunk) - cut
        yield _decode_block(block, next_line, result)
        next_line += block.count(b"\n")
    if carried_bytes:
        yield _decode_block(b"".join(carried), next_line, result)


def _text_lines(
    body: BinaryReadable, result: ValidationResult, max_line_bytes: int
) -> Iterator[str]:
    """The body's lines, one item per physical line, each with its line ending."""
    # Line splitting and iteration stay in C (StringIO, chain); a Python generator per line
    # would cost about a third of the CSV throughput.
    return itertools.chain.from_iterable(
        io.StringIO(block, newline="\n") for block in _text_blocks(body, result, max_line_bytes)
    )


def validate_csv(body: BinaryReadable) -> ValidationResult:
    """Validate a UTF-8 CSV read from any binary file-like object, in flat memory.

    Valid: a header row (the first non-blank row; names non-empty and unique), and every data row
    with exactly the header's number of fields. Blank lines are ignored. Quoted fields may span
    lines; errors carry the physical line the row starts on.
    """
    result = ValidationResult("csv")
    reader = csv.reader(_text_lines(body, result, MAX_CSV_LINE_BYTES), strict=True)
    header: list[str] | None = None
    width = 0
    data_rows = 0
    lines_before_row = 0
    while True:
        # The for loop is restarted after a csv.Error: the reader drops the malformed line and
        # carries on with the next one, so one bad quote does not hide later problems.
        try:
            for row in reader:
                row_line = lines_before_row + 1
                lines_before_row = reader.line_num
                if not row:
                    continue
                if header is None:
                    header = row
                    width = len(row)
                    _check_header(header, row_line, result)
                    continue
                data_rows += 1
                if len(row) != width:
                    result.add_error(
                        row_line, f"expected {width} fields as in the header, found {len(row)}"
                    )
            break
        except csv.Error as exc:
            result.add_error(lines_before_row + 1, f"malformed CSV: {exc}")
            lines_before_row = reader.line_num
    if header is None:
        result.add_error(None, "no header row: the file has no non-blank line")
    result.record_count = data_rows
    result.columns = header
    return result


def _check_header(header: list[str], line: int, result: ValidationResult) -> None:
    seen: set[str] = set()
    for position, name in enumerate(header, start=1):
        if not name.strip():
            result.add_error(line, f"header column {position} has an empty name")
        elif name in seen:
            result.add_error(line, f"header column {position} repeats the name {name!r}")
        seen.add(name)


def _reject_constant(name: str) -> None:
    # Python's json accepts NaN and Infinity; they are not JSON (RFC 8259).
    raise ValueError(f"{name} is not valid JSON")


# Nothing keeps the parsed values, so each object is replaced by None as soon as it is parsed:
# memory then stays near the size of the text rather than the (much larger) object tree.
_JSON_VALIDATOR = json.JSONDecoder(
    object_pairs_hook=lambda pairs: None, parse_constant=_reject_constant
)


def _json_error_message(exc: ValueError | RecursionError, column: int | None = None) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"invalid JSON: {exc.msg} (column {column or exc.colno})"
    if isinstance(exc, RecursionError):
        return "invalid JSON: nested too deeply to parse"
    # e.g. NaN, or an integer longer than Python's int/str conversion limit
    return f"invalid JSON: {exc}"


def validate_json_lines(body: BinaryReadable, max_line_bytes: int) -> ValidationResult:
    """Validate JSON Lines: every non-blank line is one well-formed JSON document."""
    result = ValidationResult("jsonl")
    records = 0
    for line_number, text in enumerate(_text_lines(body, result, max_line_bytes), start=1):
        if text.isspace():
            continue
        records += 1
        try:
            _JSON_VALIDATOR.decode(text)
        except (ValueError, RecursionError) as exc:
            # The parser counts the line's own newline as a line break; report the column
            # within the line, at most just past its last character.
            column = min(getattr(exc, "pos", 0), len(text.rstrip("\r\n"))) + 1
            result.add_error(line_number, _json_error_message(exc, column))
    result.record_count = records
    return result


def _read_at_most(body: BinaryReadable, limit: int) -> bytes:
    chunks: list[bytes] = []
    remaining = limit
    while remaining > 0:
        chunk = body.read(min(remaining, READ_CHUNK_BYTES))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def validate_json(body: BinaryReadable, max_document_bytes: int) -> ValidationResult:
    """Validate one UTF-8 JSON document of at most ``max_document_bytes``.

    The standard library parses whole documents, so this one is read whole, within the limit.
    record_count is the number of elements for a top-level array, otherwise 1.
    """
    result = ValidationResult("json")
    data = _read_at_most(body, max_document_bytes + 1)
    if len(data) > max_document_bytes:
        result.add_error(
            None, f"document is larger than MAX_JSON_DOCUMENT_BYTES ({max_document_bytes})"
        )
        return result
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        line = data.count(b"\n", 0, exc.start) + 1
        result.add_error(line, _describe_decode_error(exc, line_start))
        return result
    try:
        document = _JSON_VALIDATOR.decode(text.removeprefix("\ufeff"))
    except (ValueError, RecursionError) as exc:
        line = exc.lineno if isinstance(exc, json.JSONDecodeError) else None
        result.add_error(line, _json_error_message(exc))
        return result
    result.record_count = len(document) if isinstance(document, list) else 1
    return result


def validate_body(file_type: str, body: BinaryReadable, settings: Settings) -> ValidationResult:
    """Validate an object body of a supported type, reading it as a stream."""
    if file_type == "csv":
        return validate_csv(body)
    if file_type == "json":
        return validate_json(body, settings.max_json_document_bytes)
    if file_type == "jsonl":
        # Each JSON Lines record is a JSON document, so the document limit bounds a line.
        return validate_json_lines(body, settings.max_json_document_bytes)
    raise ValueError(f"no validator for file type {file_type!r}")
