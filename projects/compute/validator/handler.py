"""Lambda entry point: validate each object S3 reports and record one metadata item per version.

The handler calls only head_object/get_object (s3:GetObject, s3:GetObjectVersion; the role's
s3:ListBucket makes a missing object a 404) and dynamodb:PutItem: the role cannot read the table.
Hence duplicate deliveries are absorbed by a conditional put rather than by reading the table
first.

Nothing lost, nothing looping: an object the function cannot read by design (archived, or above
the size limits) is recorded UNREADABLE rather than failing on every retry; an event of an
unknown shape raises, so that it lands in the dead-letter queue rather than being dropped.
"""

import logging
import posixpath
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from . import metrics
from .aws import s3_client
from .events import ObjectEvent, is_s3_test_event, object_events
from .formats import FILE_TYPES_BY_EXTENSION, file_type_of, validate_body
from .record import build_item, put_item_once
from .result import INVALID, SKIPPED, UNREADABLE, VALID, ValidationResult
from .settings import Settings, load_settings

logger = logging.getLogger("validator")

_MISSING_OBJECT_ERROR_CODES = frozenset({"NoSuchKey", "NoSuchVersion", "404", "NotFound"})

# Storage classes whose objects get_object refuses (InvalidObjectState) until restored.
ARCHIVED_STORAGE_CLASSES = frozenset({"GLACIER", "DEEP_ARCHIVE"})
# Intelligent-Tiering's opt-in archive tiers, reported by head_object as ArchiveStatus.
ARCHIVED_TIERS = frozenset({"ARCHIVE_ACCESS", "DEEP_ARCHIVE_ACCESS"})

SUMMARY_OUTCOMES = ("valid", "invalid", "unreadable", "duplicates", "skipped")


def _error_code(exc: ClientError) -> str | None:
    return exc.response.get("Error", {}).get("Code")


def _invalid_before_download(key: str, size: int, file_type: str | None) -> list[str]:
    """Reasons to call the object INVALID that are known from its metadata alone."""
    reasons = []
    if file_type is None:
        extension = posixpath.splitext(key)[1] or "(none)"
        supported = ", ".join(sorted(FILE_TYPES_BY_EXTENSION))
        reasons.append(f"unsupported file extension {extension}; expected one of {supported}")
    if size == 0:
        reasons.append("object is empty (0 bytes)")
    return reasons


def _unreadable_reason(head: Mapping[str, Any], file_type: str, settings: Settings) -> str | None:
    """Why the function will not read this object by design, if it will not."""
    # A restored copy of an archived object is readable until it expires.
    restored = 'ongoing-request="false"' in head.get("Restore", "")
    storage_class = head.get("StorageClass", "STANDARD")
    if storage_class in ARCHIVED_STORAGE_CLASSES and not restored:
        return (
            f"object is in the archive storage class {storage_class} and not restored; "
            "restore it to validate it"
        )
    archive_status = head.get("ArchiveStatus")
    if archive_status in ARCHIVED_TIERS and not restored:
        return (
            f"object is in the Intelligent-Tiering archive tier {archive_status} and not "
            "restored; restore it to validate it"
        )
    size = head["ContentLength"]
    if size > settings.max_object_bytes:
        return (
            f"object is {size} bytes, above MAX_OBJECT_BYTES ({settings.max_object_bytes}); "
            "not downloaded"
        )
    if file_type == "json" and size > settings.max_json_document_bytes:
        return (
            f"JSON document is {size} bytes, above MAX_JSON_DOCUMENT_BYTES "
            f"({settings.max_json_document_bytes}); not downloaded"
        )
    return None


def _validate_object(
    event: ObjectEvent, head: Mapping[str, Any], settings: Settings
) -> ValidationResult:
    file_type = file_type_of(event.key)
    invalid = _invalid_before_download(event.key, head["ContentLength"], file_type)
    if file_type is None or invalid:
        result = ValidationResult(file_type or "unsupported")
        for reason in invalid:
            result.add_error(None, reason)
        return result
    unreadable = _unreadable_reason(head, file_type, settings)
    if unreadable is not None:
        return ValidationResult.not_read(file_type, unreadable)
    try:
        body = s3_client().get_object(**event.locator())["Body"]
    except ClientError as exc:
        # Archived between head_object and get_object: the same verdict, found one call later.
        if _error_code(exc) != "InvalidObjectState":
            raise
        return ValidationResult.not_read(
            file_type, "S3 refused to read the object (InvalidObjectState): it is archived"
        )
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


def process_object(event: ObjectEvent, settings: Settings) -> str:
    """Validate and record one object version. Returns the outcome for the summary."""
    started = time.perf_counter()
    if not event.is_creation:
        _log_outcome(event, SKIPPED, started, reason=f"not an object creation: {event.event_name}")
        return "skipped"
    try:
        head = s3_client().head_object(**event.locator())
        result = _validate_object(event, head, settings)
    except ClientError as exc:
        # Deleted between the event and the read (head or get): nothing left to validate, and
        # raising would only make Lambda retry into the same 404.
        if _error_code(exc) not in _MISSING_OBJECT_ERROR_CODES:
            raise
        _log_outcome(event, SKIPPED, started, reason="object no longer exists")
        return "skipped"

    duration_ms = round((time.perf_counter() - started) * 1000)
    validated_at = datetime.now(UTC)
    item = build_item(event, head, result, settings, validated_at, duration_ms)
    recorded = put_item_once(settings.table_name, item)
    if recorded:
        # After the put: a duplicate delivery adds no second count (S3 and Lambda deliver at
        # least once, so a metric emitted before would count some objects twice).
        metrics.emit(item, round(validated_at.timestamp() * 1000))
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
    return {VALID: "valid", INVALID: "invalid", UNREADABLE: "unreadable"}[result.status]


def handler(event: Mapping[str, Any], context: Any) -> dict[str, int]:
    """Lambda entry point for S3 events (see ``events``). Returns counts per outcome."""
    settings = load_settings()
    summary = dict.fromkeys(SUMMARY_OUTCOMES, 0)
    if is_s3_test_event(event):
        # S3 sends it once when the notification configuration is saved.
        logger.info("s3:TestEvent ignored", extra={"bucket": event.get("Bucket")})
        return summary
    for object_event in object_events(event):
        summary[process_object(object_event, settings)] += 1
    return summary
