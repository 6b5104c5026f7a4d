"""Validator Lambda: validate each object S3 reports and record one metadata item per version.

Entry point: ``validator.handler(event, context)`` for S3 ``ObjectCreated`` notifications.

This file is uploaded inline as the whole Lambda package, so it must stay one self-contained
module that needs only the standard library and boto3 (what the Lambda Python runtime ships).

The handler calls only head_object/get_object (s3:GetObject, s3:GetObjectVersion; the role's
s3:ListBucket makes a missing object a 404) and dynamodb:PutItem: the role cannot read the table.
Hence duplicate deliveries are absorbed by a conditional put rather than by reading the table
first.
"""

import codecs
import csv
import io
import itertools
import json
import logging
import os
import posixpath
import re
import time
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import boto3
from boto3.dynamodb.types import TypeSerializer
from botocore.exceptions import ClientError

logger = logging.getLogger("validator")

VALID = "VALID"
INVALID = "INVALID"
SKIPPED = "SKIPPED"

# What S3 itself calls the version of an object written while versioning was off.
NULL_VERSION_ID = "null"

DEFAULT_MAX_OBJECT_BYTES = 1024**3
DEFAULT_MAX_JSON_DOCUMENT_BYTES = 16 * 1024**2

# A CSV row is parsed from whole physical lines, so one line is the unit held in memory; bound it
# so a file without newlines cannot exhaust the function's memory.
MAX_CSV_LINE_BYTES = 4 * 1024**2

# Bytes requested from S3 per read; large enough that HTTP overhead is negligible, small enough
# to keep memory flat.
READ_CHUNK_BYTES = 1024**2

# The metadata item must stay far below DynamoDB's 400 KB item limit whatever the input.
MAX_REASONS = 10
MAX_REASON_CHARS = 300
MAX_RECORDED_COLUMNS = 200
MAX_COLUMN_NAME_CHARS = 128

FILE_TYPES_BY_EXTENSION = {
    ".csv": "csv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}

_MISSING_OBJECT_ERROR_CODES = frozenset({"NoSuchKey", "NoSuchVersion", "404", "NotFound"})


class ConfigurationError(ValueError):
    """An environment variable is missing or has a value the validator cannot use."""


class BinaryReadable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


# --- settings -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    table_name: str
    environment: str
    max_object_bytes: int = DEFAULT_MAX_OBJECT_BYTES
    max_json_document_bytes: int = DEFAULT_MAX_JSON_DOCUMENT_BYTES


def _required(environ: Mapping[str, str], name: str, meaning: str) -> str:
    value = environ.get(name)
    if value is None or not value.strip():
        found = "it is not set" if value is None else f"got {value!r}"
        raise ConfigurationError(f"{name} is required: set it to {meaning} ({found})")
    return value.strip()


def _positive_int(environ: Mapping[str, str], name: str, default: int) -> int:
    if name not in environ:
        return default
    value = environ[name]
    # fullmatch on ASCII digits: int() would also accept "1_000", "+5" or non-ASCII digits.
    if re.fullmatch(r"[0-9]+", value.strip()) is None or int(value) <= 0:
        raise ConfigurationError(
            f"{name} must be a positive integer number of bytes (default {default}), got {value!r}"
        )
    return int(value)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read the validator's settings from the environment, failing loudly on bad values."""
    env = os.environ if environ is None else environ
    return Settings(
        table_name=_required(env, "METADATA_TABLE_NAME", "the metadata DynamoDB table's name"),
        environment=_required(env, "ENVIRONMENT", "the deployment environment, e.g. dev"),
        max_object_bytes=_positive_int(env, "MAX_OBJECT_BYTES", DEFAULT_MAX_OBJECT_BYTES),
        max_json_document_bytes=_positive_int(
            env, "MAX_JSON_DOCUMENT_BYTES", DEFAULT_MAX_JSON_DOCUMENT_BYTES
        ),
    )


# --- AWS clients --------------------------------------------------------------------------------

_clients: dict[str, Any] = {}


def _client(service: str) -> Any:
    # Created on first use rather than at import: tests import this module inside moto's
    # mock_aws, and warm invocations reuse the client (and its connection pool).
    if service not in _clients:
        _clients[service] = boto3.client(service)
    return _clients[service]


def s3_client() -> Any:
    return _client("s3")


def dynamodb_client() -> Any:
    return _client("dynamodb")


# --- validation ---------------------------------------------------------------------------------


@dataclass
class ValidationResult:
    """What validating one object found. ``record_count`` is None when the body was not read."""

    file_type: str
    record_count: int | None = None
    columns: list[str] | None = None
    reasons: list[str] = field(default_factory=list)
    error_count: int = 0

    @property
    def status(self) -> str:
        return INVALID if self.error_count else VALID

    def add_error(self, line: int | None, message: str) -> None:
        self.error_count += 1
        if len(self.reasons) < MAX_REASONS:
            reason = message if line is None else f"line {line}: {message}"
            self.reasons.append(_truncate(reason, MAX_REASON_CHARS))


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


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


# --- S3 events ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ObjectEvent:
    """The parts of one S3 notification record the validator keeps."""

    event_name: str
    event_time: str
    bucket: str
    key: str
    version_id: str | None
    etag: str | None
    sequencer: str | None

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> "ObjectEvent":
        try:
            s3 = record["s3"]
            obj = s3["object"]
            return cls(
                event_name=record.get("eventName", ""),
                event_time=record.get("eventTime", ""),
                bucket=s3["bucket"]["name"],
                # S3 URL-encodes keys in notifications, with "+" for spaces.
                key=urllib.parse.unquote_plus(obj["key"]),
                version_id=obj.get("versionId") or None,
                etag=obj.get("eTag"),
                sequencer=obj.get("sequencer"),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not an S3 event notification record: missing {exc}") from exc

    @property
    def version_label(self) -> str:
        return self.version_id or NULL_VERSION_ID

    def locator(self) -> dict[str, str]:
        """Arguments addressing exactly this object version in head_object / get_object."""
        params = {"Bucket": self.bucket, "Key": self.key}
        if self.version_id:
            params["VersionId"] = self.version_id
        return params


def _file_type(key: str) -> str | None:
    return FILE_TYPES_BY_EXTENSION.get(posixpath.splitext(key)[1].lower())


def _is_missing(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") in _MISSING_OBJECT_ERROR_CODES


def _reasons_before_download(
    key: str, size: int, file_type: str | None, settings: Settings
) -> list[str]:
    """Reasons to call the object INVALID that are known from its metadata alone."""
    reasons = []
    if file_type is None:
        extension = posixpath.splitext(key)[1] or "(none)"
        supported = ", ".join(sorted(FILE_TYPES_BY_EXTENSION))
        reasons.append(f"unsupported file extension {extension}; expected one of {supported}")
    if size == 0:
        reasons.append("object is empty (0 bytes)")
    elif size > settings.max_object_bytes:
        reasons.append(
            f"object is {size} bytes, above MAX_OBJECT_BYTES ({settings.max_object_bytes}); "
            "not downloaded"
        )
    elif file_type == "json" and size > settings.max_json_document_bytes:
        reasons.append(
            f"JSON document is {size} bytes, above MAX_JSON_DOCUMENT_BYTES "
            f"({settings.max_json_document_bytes}); not downloaded"
        )
    return reasons


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


def _validate_object(
    event: ObjectEvent, head: Mapping[str, Any], settings: Settings
) -> ValidationResult:
    file_type = _file_type(event.key)
    reasons = _reasons_before_download(event.key, head["ContentLength"], file_type, settings)
    if file_type is None or reasons:
        result = ValidationResult(file_type or "unsupported")
        for reason in reasons:
            result.add_error(None, reason)
        return result
    body = s3_client().get_object(**event.locator())["Body"]
    try:
        return validate_body(file_type, body, settings)
    finally:
        body.close()


# --- metadata item ------------------------------------------------------------------------------

_serializer = TypeSerializer()


def build_item(
    event: ObjectEvent,
    head: Mapping[str, Any],
    result: ValidationResult,
    settings: Settings,
    validated_at: datetime,
    duration_ms: int,
) -> dict[str, Any]:
    """The metadata item for one object version, as plain Python values."""
    item: dict[str, Any] = {
        "object_key": event.key,
        "version_id": event.version_label,
        "bucket": event.bucket,
        "status": result.status,
        "file_type": result.file_type,
        "reasons": result.reasons,
        "error_count": result.error_count,
        "size_bytes": head["ContentLength"],
        # head_object quotes the ETag, the event does not; store the bare value.
        "etag": (head.get("ETag") or event.etag or "").strip('"'),
        "content_type": head.get("ContentType", ""),
        "environment": settings.environment,
        "event_name": event.event_name,
        "event_time": event.event_time,
        "validated_at": validated_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "validation_ms": duration_ms,
    }
    if event.sequencer:
        item["sequencer"] = event.sequencer
    if result.record_count is not None:
        item["record_count"] = result.record_count
    if result.columns is not None:
        item["column_count"] = len(result.columns)
        item["columns"] = [
            _truncate(name, MAX_COLUMN_NAME_CHARS) for name in result.columns[:MAX_RECORDED_COLUMNS]
        ]
    return item


def put_item_once(table_name: str, item: Mapping[str, Any]) -> bool:
    """Write the item unless this object version is already recorded. Returns False if it was.

    S3 and Lambda both deliver at least once; the conditional put keeps the first item unchanged
    (the role may not read the table, so this is the only way to be idempotent). Any other
    DynamoDB error propagates so Lambda retries the event.
    """
    try:
        dynamodb_client().put_item(
            TableName=table_name,
            Item={name: _serializer.serialize(value) for name, value in item.items()},
            ConditionExpression="attribute_not_exists(object_key)",
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False
        raise
    return True


# --- handler ------------------------------------------------------------------------------------


def _log_outcome(event: ObjectEvent, status: str, started: float, **fields: Any) -> None:
    duration_ms = round((time.perf_counter() - started) * 1000)
    level = logging.WARNING if status == SKIPPED else logging.INFO
    # Fields go in `extra`: Lambda's JSON log format emits them as top-level keys, and the
    # message keeps the essentials readable in the plain-text format too.
    logger.log(
        level,
        "%s s3://%s/%s version %s in %d ms",
        status,
        event.bucket,
        event.key,
        event.version_label,
        duration_ms,
        extra={
            "bucket": event.bucket,
            "object_key": event.key,
            "version_id": event.version_label,
            "status": status,
            "duration_ms": duration_ms,
            **fields,
        },
    )


def process_record(record: Mapping[str, Any], settings: Settings) -> str:
    """Validate and record one notification record. Returns the outcome for the summary."""
    started = time.perf_counter()
    event = ObjectEvent.from_record(record)
    if not event.event_name.startswith("ObjectCreated:"):
        _log_outcome(event, SKIPPED, started, reason=f"not an object creation: {event.event_name}")
        return "skipped"
    try:
        head = s3_client().head_object(**event.locator())
        result = _validate_object(event, head, settings)
    except ClientError as exc:
        # Deleted between the event and the read (head or get): nothing left to validate, and
        # raising would only make Lambda retry into the same 404.
        if not _is_missing(exc):
            raise
        _log_outcome(event, SKIPPED, started, reason="object no longer exists")
        return "skipped"

    duration_ms = round((time.perf_counter() - started) * 1000)
    item = build_item(event, head, result, settings, datetime.now(UTC), duration_ms)
    recorded = put_item_once(settings.table_name, item)
    _log_outcome(
        event,
        result.status,
        started,
        size_bytes=item["size_bytes"],
        record_count=result.record_count,
        error_count=result.error_count,
        reasons=result.reasons,
        already_recorded=not recorded,
    )
    if not recorded:
        return "duplicates"
    return "valid" if result.status == VALID else "invalid"


def handler(event: Mapping[str, Any], context: Any) -> dict[str, int]:
    """Lambda entry point for S3 event notifications. Returns counts per outcome."""
    settings = load_settings()
    summary = {"valid": 0, "invalid": 0, "duplicates": 0, "skipped": 0}
    records = event.get("Records") or []
    if not records:
        # S3 sends a records-less "s3:TestEvent" when the notification is configured.
        logger.info("event without Records ignored", extra={"event_type": event.get("Event")})
        return summary
    for record in records:
        summary[process_record(record, settings)] += 1
    return summary
