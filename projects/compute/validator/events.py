"""The S3 event shapes the handler accepts, reduced to what the validator keeps."""

import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# What S3 itself calls the version of an object written while versioning was off.
NULL_VERSION_ID = "null"


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
