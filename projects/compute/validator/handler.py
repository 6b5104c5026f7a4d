"""Lambda entry point: validate each object S3 reports and record one metadata item per version.

The handler calls only head_object/get_object (s3:GetObject, s3:GetObjectVersion; the role's
s3:ListBucket makes a missing object a 404) and dynamodb:PutItem: the role cannot read the table.
Hence duplicate deliveries are absorbed by a conditional put rather than by reading the table
first.
"""

import logging
import posixpath
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from .aws import s3_client
from .events import ObjectEvent
from .formats import FILE_TYPES_BY_EXTENSION, file_type_of, validate_body
from .record import build_item, put_item_once
from .result import SKIPPED, VALID, ValidationResult
from .settings import Settings, load_settings

logger = logging.getLogger("validator")

_MISSING_OBJECT_ERROR_CODES = frozenset({"NoSuchKey", "NoSuchVersion", "404", "NotFound"})


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


def _validate_object(
    event: ObjectEvent, head: Mapping[str, Any], settings: Settings
) -> ValidationResult:
    file_type = file_type_of(event.key)
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
