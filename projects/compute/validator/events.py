"""The event shapes the handler accepts, reduced to what the validator keeps.

- An S3 event notification (``Records``, each with ``eventSource`` ``aws:s3``), what the
  bucket's notification configuration sends. Keys arrive URL-encoded, with "+" for a space.
- S3's ``s3:TestEvent``, sent once when a notification configuration is saved: ignored.
- An EventBridge event from S3 (``source`` ``aws.s3``), for a bucket that sends its events to
  EventBridge instead. Keys arrive as they are, not URL-encoded.

Anything else raises UnknownEventError: Lambda's on-failure destination then keeps the event
in the dead-letter queue, where someone will look, instead of it vanishing in a log line.
"""

import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# What S3 itself calls the version of an object written while versioning was off.
NULL_VERSION_ID = "null"

S3_TEST_EVENT = "s3:TestEvent"
EVENTBRIDGE_SOURCE = "aws.s3"
EVENTBRIDGE_OBJECT_CREATED = "Object Created"


class UnknownEventError(ValueError):
    """The handler was invoked with an event it does not know how to read."""


@dataclass(frozen=True)
class ObjectEvent:
    """One object version an event reports, with what the validator records about the event."""

    event_name: str
    event_time: str
    bucket: str
    key: str
    version_id: str | None
    etag: str | None
    sequencer: str | None
    is_creation: bool

    @classmethod
    def from_notification_record(cls, record: Mapping[str, Any]) -> "ObjectEvent":
        """One entry of an S3 event notification's ``Records``."""
        if not isinstance(record, Mapping) or record.get("eventSource") != "aws:s3":
            source = record.get("eventSource") if isinstance(record, Mapping) else record
            raise UnknownEventError(
                f"not an S3 event notification record: eventSource is {source!r}, expected 'aws:s3'"
            )
        try:
            s3 = record["s3"]
            obj = s3["object"]
            event_name = record.get("eventName", "")
            return cls(
                event_name=event_name,
                event_time=record.get("eventTime", ""),
                bucket=s3["bucket"]["name"],
                key=urllib.parse.unquote_plus(obj["key"]),
                version_id=obj.get("versionId") or None,
                etag=obj.get("eTag"),
                sequencer=obj.get("sequencer"),
                is_creation=event_name.startswith("ObjectCreated:"),
            )
        except (KeyError, TypeError) as exc:
            raise UnknownEventError(f"not an S3 event notification record: missing {exc}") from exc

    @classmethod
    def from_eventbridge(cls, event: Mapping[str, Any]) -> "ObjectEvent":
        """An EventBridge event from S3: ``detail-type``, ``time`` and ``detail``."""
        try:
            detail = event["detail"]
            obj = detail["object"]
            detail_type = event["detail-type"]
            reason = detail.get("reason")
            return cls(
                # "Object Created:PutObject", the counterpart of "ObjectCreated:Put".
                event_name=f"{detail_type}:{reason}" if reason else detail_type,
                event_time=event.get("time", ""),
                bucket=detail["bucket"]["name"],
                key=obj["key"],
                version_id=obj.get("version-id") or None,
                etag=obj.get("etag"),
                sequencer=obj.get("sequencer"),
                is_creation=detail_type == EVENTBRIDGE_OBJECT_CREATED,
            )
        except (KeyError, TypeError) as exc:
            raise UnknownEventError(f"not an S3 EventBridge event: missing {exc}") from exc

    @property
    def version_label(self) -> str:
        return self.version_id or NULL_VERSION_ID

    def locator(self) -> dict[str, str]:
        """Arguments addressing exactly this object version in head_object / get_object."""
        params = {"Bucket": self.bucket, "Key": self.key}
        if self.version_id:
            params["VersionId"] = self.version_id
        return params


def is_s3_test_event(event: Mapping[str, Any]) -> bool:
    return "Records" not in event and event.get("Event") == S3_TEST_EVENT


def object_events(event: Mapping[str, Any]) -> list[ObjectEvent]:
    """The object versions an event reports, in order. Raises UnknownEventError otherwise."""
    if not isinstance(event, Mapping):
        raise UnknownEventError(f"event is a {type(event).__name__}, not a JSON object")
    if "Records" in event:
        records = event["Records"]
        if not isinstance(records, list) or not records:
            raise UnknownEventError(f"event has Records = {records!r}: expected a non-empty list")
        return [ObjectEvent.from_notification_record(record) for record in records]
    if event.get("source") == EVENTBRIDGE_SOURCE and "detail-type" in event:
        return [ObjectEvent.from_eventbridge(event)]
    raise UnknownEventError(
        "not an S3 event: expected Records (an S3 event notification), an s3:TestEvent, or an "
        f"EventBridge event with source aws.s3; got the keys {sorted(event)[:10]}"
    )
