"""Fixtures for the validator package's tests: fresh imports of its modules, moto's S3 and
DynamoDB, and a ``Lake`` that uploads objects, invokes the handler and reads the stored items.

The modules are imported from ``projects/compute/validator`` afresh for every test, as the
Lambda runtime would import them, so module state (the cached boto3 clients) never leaks from
one test's ``mock_aws`` into the next.
"""

import importlib
import itertools
import sys
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeDeserializer
from moto import mock_aws

COMPUTE_DIR = Path(__file__).resolve().parents[1]

REGION = "eu-west-1"
BUCKET = "dev-rawdata-bucket"
TABLE = "dev-metadata-table"
EVENT_TIME = "2025-11-26T09:15:02.417Z"

_sequencers = itertools.count(0x0067A1B2C3D4E5F600)


def _package_modules() -> list[str]:
    return [name for name in sys.modules if name == "validator" or name.startswith("validator.")]


@pytest.fixture
def import_validator(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], ModuleType]]:
    """``import_validator("formats")`` imports ``validator.formats`` from its file, afresh."""
    monkeypatch.syspath_prepend(str(COMPUTE_DIR))
    saved = {name: sys.modules.pop(name) for name in _package_modules()}
    yield lambda name: importlib.import_module(f"validator.{name}")
    for name in _package_modules():
        del sys.modules[name]
    sys.modules.update(saved)


@pytest.fixture
def formats(import_validator: Callable[[str], ModuleType]) -> ModuleType:
    return import_validator("formats")


def notification_record(
    key: str,
    *,
    size: int,
    etag: str,
    version_id: str | None,
    bucket: str = BUCKET,
    event_name: str = "ObjectCreated:Put",
) -> dict[str, Any]:
    """One entry of an S3 event notification's Records, as S3 sends it (eventVersion 2.1)."""
    s3_object: dict[str, Any] = {
        "key": urllib.parse.quote_plus(key, safe="/"),
        "size": size,
        "eTag": etag,
        "sequencer": f"{next(_sequencers):018X}",
    }
    if version_id is not None:
        s3_object["versionId"] = version_id
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": REGION,
        "eventTime": EVENT_TIME,
        "eventName": event_name,
        "userIdentity": {"principalId": "AWS:AIDAJDPLRKLG7UEXAMPLE"},
        "requestParameters": {"sourceIPAddress": "203.0.113.15"},
        "responseElements": {
            "x-amz-request-id": "C3D13FE58DE4C810",
            "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD",
        },
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "validate-new-objects",
            "bucket": {
                "name": bucket,
                "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                "arn": f"arn:aws:s3:::{bucket}",
            },
            "object": s3_object,
        },
    }


def s3_event(*records: dict[str, Any]) -> dict[str, Any]:
    return {"Records": list(records)}


class Lake:
    """The bucket and table of one test, and the handler under test."""

    def __init__(self, handler: ModuleType, s3: Any, dynamodb: Any) -> None:
        self.handler = handler
        self.s3 = s3
        self.dynamodb = dynamodb

    def upload(
        self, key: str, body: bytes, content_type: str = "binary/octet-stream", **extra: Any
    ) -> dict[str, Any]:
        """Put an object and return the notification record S3 would send for it."""
        response = self.s3.put_object(
            Bucket=BUCKET, Key=key, Body=body, ContentType=content_type, **extra
        )
        return notification_record(
            key,
            size=len(body),
            etag=response["ETag"].strip('"'),
            version_id=response.get("VersionId"),
        )

    def invoke(self, *records: dict[str, Any]) -> dict[str, int]:
        return self.handler.handler(s3_event(*records), None)

    def item(self, record: dict[str, Any]) -> dict[str, Any] | None:
        """The stored item for the object a notification record names, as plain values."""
        s3_object = record["s3"]["object"]
        return self.item_for(
            urllib.parse.unquote_plus(s3_object["key"]), s3_object.get("versionId", "null")
        )

    def item_for(self, key: str, version_id: str) -> dict[str, Any] | None:
        response = self.dynamodb.get_item(
            TableName=TABLE,
            Key={"object_key": {"S": key}, "version_id": {"S": version_id}},
            ConsistentRead=True,
        )
        if "Item" not in response:
            return None
        deserializer = TypeDeserializer()
        return {name: deserializer.deserialize(value) for name, value in response["Item"].items()}

    def all_items(self) -> list[dict[str, Any]]:
        return self.dynamodb.scan(TableName=TABLE, ConsistentRead=True)["Items"]


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        yield


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("METADATA_TABLE_NAME", TABLE)
    monkeypatch.setenv("ENVIRONMENT", "dev")
    monkeypatch.delenv("MAX_OBJECT_BYTES", raising=False)
    monkeypatch.delenv("MAX_JSON_DOCUMENT_BYTES", raising=False)


@pytest.fixture
def s3(aws: None) -> Any:
    client = boto3.client("s3", region_name=REGION)
    client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    return client


@pytest.fixture
def dynamodb(aws: None) -> Any:
    client = boto3.client("dynamodb", region_name=REGION)
    client.create_table(
        TableName=TABLE,
        AttributeDefinitions=[
            {"AttributeName": "object_key", "AttributeType": "S"},
            {"AttributeName": "version_id", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "object_key", "KeyType": "HASH"},
            {"AttributeName": "version_id", "KeyType": "RANGE"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    return client


@pytest.fixture
def handler(
    aws: None, settings_env: None, import_validator: Callable[[str], ModuleType]
) -> ModuleType:
    return import_validator("handler")


@pytest.fixture
def lake(handler: ModuleType, s3: Any, dynamodb: Any) -> Lake:
    return Lake(handler, s3, dynamodb)


@pytest.fixture
def s3_calls(handler: ModuleType, import_validator: Callable[[str], ModuleType]) -> list[str]:
    """Names of the S3 operations the handler's own client makes, in order."""
    calls: list[str] = []

    def record_call(model: Any, **_: Any) -> None:
        calls.append(model.name)

    import_validator("aws").s3_client().meta.events.register("before-call.s3", record_call)
    return calls


@pytest.fixture
def notification() -> Callable[..., dict[str, Any]]:
    """``notification(key, size=..., etag=..., version_id=...)``: one S3 notification record."""
    return notification_record


@pytest.fixture
def clients(handler: ModuleType, import_validator: Callable[[str], ModuleType]) -> ModuleType:
    """The ``validator.aws`` module the handler under test gets its boto3 clients from."""
    return import_validator("aws")
