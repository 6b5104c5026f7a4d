"""The metadata item for one object version, and writing it once."""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from boto3.dynamodb.types import TypeSerializer
from botocore.exceptions import ClientError

from .aws import dynamodb_client
from .events import ObjectEvent
from .result import ValidationResult, truncate
from .settings import MAX_COLUMN_NAME_CHARS, MAX_RECORDED_COLUMNS, Settings

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
        # head_object leaves StorageClass out for STANDARD.
        "storage_class": head.get("StorageClass", "STANDARD"),
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
            truncate(name, MAX_COLUMN_NAME_CHARS) for name in result.columns[:MAX_RECORDED_COLUMNS]
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
