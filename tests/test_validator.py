"""The validator Lambda (projects/compute/validator.py) against moto's S3 and DynamoDB.

Events are built in S3's documented notification format (eventVersion 2.1). Every test that
invokes the handler asserts the item stored in the metadata table, not just the absence of errors.
"""

import importlib.util
import io
import itertools
import json
import logging
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError
from moto import mock_aws

VALIDATOR_PATH = Path(__file__).resolve().parents[1] / "projects" / "compute" / "validator.py"

REGION = "eu-west-1"
BUCKET = "dev-rawdata-bucket"
TABLE = "dev-metadata-table"
EVENT_TIME = "2025-11-26T09:15:02.417Z"

# Keys as people really name files: spaces, non-ASCII letters and a literal plus sign, which S3
# sends URL-encoded with "+" for spaces (so the literal "+" arrives as %2B).
CSV_KEY = "incoming/2025-11-26/Zoë's orders + returns.csv"
JSON_KEY = "incoming/2025-11-26/config café.json"
JSONL_KEY = "incoming/2025-11-26/events 1+1=2 ✓.jsonl"

_sequencers = itertools.count(0x0067A1B2C3D4E5F600)


def load_validator() -> ModuleType:
    """A fresh copy of the handler module, loaded from its file as the Lambda runtime would."""
    spec = importlib.util.spec_from_file_location("validator_under_test", VALIDATOR_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def notification_record(
    key: str,
    *,
    size: int,
    etag: str,
    version_id: str | None,
    bucket: str = BUCKET,
    event_name: str = "ObjectCreated:Put",
) -> dict[str, Any]:
    """One entry of an S3 event notification's Records, as S3 sends it."""
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


# --- fixtures -----------------------------------------------------------------------------------


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
def validator(aws: None, settings_env: None) -> ModuleType:
    return load_validator()


@pytest.fixture
def s3_calls(validator: ModuleType) -> list[str]:
    """Names of the S3 operations the handler's own client makes, in order."""
    calls: list[str] = []

    def record_call(model: Any, **_: Any) -> None:
        calls.append(model.name)

    validator.s3_client().meta.events.register("before-call.s3", record_call)
    return calls


def upload(
    s3: Any, key: str, body: bytes, content_type: str = "binary/octet-stream"
) -> dict[str, Any]:
    """Put an object and return the notification record S3 would send for it."""
    response = s3.put_object(Bucket=BUCKET, Key=key, Body=body, ContentType=content_type)
    return notification_record(
        key,
        size=len(body),
        etag=response["ETag"].strip('"'),
        version_id=response.get("VersionId"),
    )


def stored_item(dynamodb: Any, record: dict[str, Any]) -> dict[str, Any] | None:
    s3_object = record["s3"]["object"]
    response = dynamodb.get_item(
        TableName=TABLE,
        Key={
            "object_key": {"S": urllib.parse.unquote_plus(s3_object["key"])},
            "version_id": {"S": s3_object.get("versionId", "null")},
        },
        ConsistentRead=True,
    )
    if "Item" not in response:
        return None
    deserializer = TypeDeserializer()
    return {name: deserializer.deserialize(value) for name, value in response["Item"].items()}


def all_items(dynamodb: Any) -> list[dict[str, Any]]:
    return dynamodb.scan(TableName=TABLE, ConsistentRead=True)["Items"]


def assert_common_fields(item: dict[str, Any], record: dict[str, Any], *, size: int) -> None:
    s3_object = record["s3"]["object"]
    assert item["object_key"] == urllib.parse.unquote_plus(s3_object["key"])
    assert item["version_id"] == s3_object.get("versionId", "null")
    assert item["bucket"] == BUCKET
    assert item["size_bytes"] == size
    assert item["etag"] == s3_object["eTag"]
    assert item["sequencer"] == s3_object["sequencer"]
    assert item["environment"] == "dev"
    assert item["event_name"] == "ObjectCreated:Put"
    assert item["event_time"] == EVENT_TIME
    assert item["validated_at"].endswith("Z") and len(item["validated_at"]) == 24
    assert item["validation_ms"] >= 0


def invoke(validator: ModuleType, *records: dict[str, Any]) -> dict[str, int]:
    return validator.handler(s3_event(*records), None)


# --- valid objects ------------------------------------------------------------------------------


def test_valid_csv_json_and_jsonl_in_one_event(
    validator: ModuleType, s3: Any, dynamodb: Any
) -> None:
    csv_body = 'order_id,customer,city,amount\n1,Zoë,"São Paulo, BR",12.50\n2,Li,北京,7\n'
    json_body = json.dumps({"retries": 3, "targets": ["a", "b"], "ratio": 0.5}).encode()
    jsonl_body = b'{"id": 1, "ok": true}\n\n{"id": 2, "tags": []}\n   \n[1, 2, 3]\n'
    records = [
        upload(s3, CSV_KEY, csv_body.encode(), "text/csv"),
        upload(s3, JSON_KEY, json_body, "application/json"),
        upload(s3, JSONL_KEY, jsonl_body, "application/x-ndjson"),
    ]
    assert "+" in records[0]["s3"]["object"]["key"]  # the event really is URL-encoded
    assert "%2B" in records[2]["s3"]["object"]["key"]

    summary = invoke(validator, *records)

    assert summary == {"valid": 3, "invalid": 0, "duplicates": 0, "skipped": 0}
    csv_item = stored_item(dynamodb, records[0])
    assert_common_fields(csv_item, records[0], size=len(csv_body.encode()))
    assert csv_item["status"] == "VALID"
    assert csv_item["file_type"] == "csv"
    assert csv_item["reasons"] == []
    assert csv_item["error_count"] == 0
    assert csv_item["record_count"] == 2
    assert csv_item["column_count"] == 4
    assert csv_item["columns"] == ["order_id", "customer", "city", "amount"]
    assert csv_item["content_type"] == "text/csv"

    json_item = stored_item(dynamodb, records[1])
    assert_common_fields(json_item, records[1], size=len(json_body))
    assert (json_item["status"], json_item["file_type"], json_item["record_count"]) == (
        "VALID",
        "json",
        1,
    )
    assert json_item["content_type"] == "application/json"
    assert "columns" not in json_item

    jsonl_item = stored_item(dynamodb, records[2])
    assert_common_fields(jsonl_item, records[2], size=len(jsonl_body))
    assert (jsonl_item["status"], jsonl_item["file_type"]) == ("VALID", "jsonl")
    assert jsonl_item["record_count"] == 3  # blank and whitespace-only lines are not records
    assert len(all_items(dynamodb)) == 3


def test_csv_quoted_newlines_bom_and_crlf(validator: ModuleType, s3: Any, dynamodb: Any) -> None:
    body = (
        b"\xef\xbb\xbfid,comment\r\n"
        b'1,"first line\r\nsecond line"\r\n'
        b'2,"say ""hi"", then\nleave"\r\n'
        b"\r\n"
        b"3,plain\r\n"
    )
    record = upload(s3, "notes/multi line.csv", body, "text/csv")

    invoke(validator, record)

    item = stored_item(dynamodb, record)
    assert item["status"] == "VALID", item["reasons"]
    assert item["columns"] == ["id", "comment"]  # the BOM is not part of the first name
    assert item["record_count"] == 3


def test_array_json_counts_elements(validator: ModuleType, s3: Any, dynamodb: Any) -> None:
    record = upload(s3, "lists/people.json", b'[{"name": "Ana"}, {"name": "Bo"}, null]')

    invoke(validator, record)

    item = stored_item(dynamodb, record)
    assert (item["status"], item["record_count"]) == ("VALID", 3)


def test_object_in_unversioned_bucket_is_recorded_as_version_null(
    validator: ModuleType, s3: Any, dynamodb: Any
) -> None:
    bucket = "dev-unversioned-bucket"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    response = s3.put_object(Bucket=bucket, Key="a.jsonl", Body=b'{"a": 1}\n')
    record = notification_record(
        "a.jsonl", size=9, etag=response["ETag"].strip('"'), version_id=None, bucket=bucket
    )
    assert "versionId" not in record["s3"]["object"]

    invoke(validator, record)

    item = stored_item(dynamodb, record)
    assert (item["version_id"], item["bucket"], item["status"]) == ("null", bucket, "VALID")


# --- invalid content ----------------------------------------------------------------------------


def test_ragged_csv_reports_each_bad_row_with_its_line(
    validator: ModuleType, s3: Any, dynamodb: Any
) -> None:
    body = (
        b"id,name,amount\n"
        b"1,Ana,10\n"
        b"2,Bo\n"  # line 3: one field short
        b'3,"Cy\nDee",30\n'  # lines 4-5: a quoted newline, still three fields
        b"4,Eve,40,extra\n"  # line 6: one field too many
        b"5,Fay,50\n"
    )
    record = upload(s3, CSV_KEY, body, "text/csv")

    summary = invoke(validator, record)

    assert summary["invalid"] == 1
    item = stored_item(dynamodb, record)
    assert item["status"] == "INVALID"
    assert item["reasons"] == [
        "line 3: expected 3 fields as in the header, found 2",
        "line 6: expected 3 fields as in the header, found 4",
    ]
    assert item["error_count"] == 2
    assert item["record_count"] == 5
    assert item["columns"] == ["id", "name", "amount"]


def test_malformed_csv_quote_and_bad_header_are_reported_and_scanning_continues(
    validator: ModuleType, s3: Any, dynamodb: Any
) -> None:
    body = b'id,,id\n1,"a"b,2\n3,4,5\n6,7\n'
    record = upload(s3, "bad header.csv", body)

    invoke(validator, record)

    item = stored_item(dynamodb, record)
    assert item["status"] == "INVALID"
    assert item["reasons"] == [
        "line 1: header column 2 has an empty name",
        "line 1: header column 3 repeats the name 'id'",
        "line 2: malformed CSV: ',' expected after '\"'",
        "line 4: expected 3 fields as in the header, found 2",
    ]


def test_non_utf8_bytes_are_reported_with_line_and_byte(
    validator: ModuleType, s3: Any, dynamodb: Any
) -> None:
    body = "id,city\n1,Zürich\n".encode() + b"2,Z\xfcrich\n" + "3,Köln\n".encode()
    record = upload(s3, "latin1 export.csv", body)

    invoke(validator, record)

    item = stored_item(dynamodb, record)
    assert item["status"] == "INVALID"
    assert item["reasons"] == ["line 3: not valid UTF-8 (byte 0xfc at byte 4)"]
    assert item["record_count"] == 3  # the rest of the file was still checked


def test_non_utf8_json_document(validator: ModuleType, s3: Any, dynamodb: Any) -> None:
    record = upload(s3, "doc.json", b'{\n  "name": "Andr\xe9"\n}\n')

    invoke(validator, record)

    item = stored_item(dynamodb, record)
    assert item["status"] == "INVALID"
    assert item["reasons"] == ["line 2: not valid UTF-8 (byte 0xe9 at byte 16)"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{\n  "a": 1,\n  "b": \n}', "line 4: invalid JSON: Expecting value (column 1)"),
        (b'{"a": 1} {"b": 2}', "line 1: invalid JSON: Extra data (column 10)"),
        (b'{"a": NaN}', "invalid JSON: NaN is not valid JSON"),
        (b"   \n", "line 2: invalid JSON: Expecting value (column 1)"),
        (b"[" * 100_000, "invalid JSON: nested too deeply to parse"),
    ],
    ids=["missing-value", "two-documents", "nan", "blank", "deep-nesting"],
)
def test_malformed_json(
    validator: ModuleType, s3: Any, dynamodb: Any, body: bytes, reason: str
) -> None:
    record = upload(s3, JSON_KEY, body, "application/json")

    invoke(validator, record)

    item = stored_item(dynamodb, record)
    assert (item["status"], item["reasons"], item["error_count"]) == ("INVALID", [reason], 1)
    assert "record_count" not in item


def test_one_bad_line_deep_in_a_large_jsonl_file(
    validator: ModuleType, s3: Any, dynamodb: Any
) -> None:
    bad_line = 41_234
    lines = [
        json.dumps(
            {"id": n, "name": f"user-{n}", "tags": ["ä", "ö"], "score": n / 7}, ensure_ascii=False
        )
        for n in range(1, 60_001)
    ]
    lines[bad_line - 1] = '{"id": 41234, "name": "user-41234", "tags": ["ä", "ö"'
    body = ("\n".join(lines) + "\n").encode()
    assert len(body) > 3 * 1024**2  # several of the handler's 1 MiB reads
    record = upload(s3, JSONL_KEY, body)

    invoke(validator, record)

    item = stored_item(dynamodb, record)
    assert item["status"] == "INVALID"
    end_of_bad_line = len(lines[bad_line - 1]) + 1
    assert item["reasons"] == [
        f"line {bad_line}: invalid JSON: Expecting ',' delimiter (column {end_of_bad_line})"
    ]
    assert item["error_count"] == 1
    assert item["record_count"] == 60_000
    assert item["size_bytes"] == len(body)


def test_jsonl_line_above_document_limit_is_reported_and_later_lines_still_checked(
    validator: ModuleType, s3: Any, dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAX_JSON_DOCUMENT_BYTES", "64")
    body = b'{"ok": 1}\n' + b'{"big": "' + b"x" * 500 + b'"}\n' + b'{"ok": 3}\n{"ok": \n'
    record = upload(s3, "events.ndjson", body)

    invoke(validator, record)

    item = stored_item(dynamodb, record)
    assert item["reasons"] == [
        "line 2: line is longer than 64 bytes",
        "line 4: invalid JSON: Expecting value (column 8)",
    ]
    assert item["record_count"] == 3  # the overlong line is reported, not counted


# --- decided before downloading -----------------------------------------------------------------


def test_empty_object_is_invalid_and_not_downloaded(
    validator: ModuleType, s3: Any, dynamodb: Any, s3_calls: list[str]
) -> None:
    record = upload(s3, "empty.csv", b"")

    invoke(validator, record)

    item = stored_item(dynamodb, record)
    assert_common_fields(item, record, size=0)
    assert (item["status"], item["reasons"]) == ("INVALID", ["object is empty (0 bytes)"])
    assert "record_count" not in item
    assert s3_calls == ["HeadObject"]


def test_oversized_object_is_invalid_and_not_downloaded(
    validator: ModuleType,
    s3: Any,
    dynamodb: Any,
    s3_calls: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MAX_OBJECT_BYTES", "4096")
    body = b"id,value\n" + b"1,2\n" * 2000
    record = upload(s3, "big export.csv", body, "text/csv")

    summary = invoke(validator, record)

    assert summary["invalid"] == 1
    item = stored_item(dynamodb, record)
    assert_common_fields(item, record, size=len(body))
    assert item["status"] == "INVALID"
    assert item["reasons"] == [
        f"object is {len(body)} bytes, above MAX_OBJECT_BYTES (4096); not downloaded"
    ]
    assert "record_count" not in item and "columns" not in item
    assert s3_calls == ["HeadObject"]


def test_json_above_document_limit_is_not_downloaded(
    validator: ModuleType,
    s3: Any,
    dynamodb: Any,
    s3_calls: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MAX_JSON_DOCUMENT_BYTES", "100")
    body = json.dumps({"values": list(range(100))}).encode()
    record = upload(s3, JSON_KEY, body)

    invoke(validator, record)

    item = stored_item(dynamodb, record)
    assert item["reasons"] == [
        f"JSON document is {len(body)} bytes, above MAX_JSON_DOCUMENT_BYTES (100); not downloaded"
    ]
    assert s3_calls == ["HeadObject"]


@pytest.mark.parametrize("key", ["report.xlsx", "data.csv.gz", "README"])
def test_unknown_extension_is_invalid_and_not_downloaded(
    validator: ModuleType, s3: Any, dynamodb: Any, s3_calls: list[str], key: str
) -> None:
    record = upload(s3, key, b"PK\x03\x04 not validated")

    invoke(validator, record)

    item = stored_item(dynamodb, record)
    extension = Path(key).suffix or "(none)"
    assert item["status"] == "INVALID"
    assert item["file_type"] == "unsupported"
    assert item["reasons"] == [
        f"unsupported file extension {extension}; expected one of .csv, .json, .jsonl, .ndjson"
    ]
    assert s3_calls == ["HeadObject"]


def test_extension_is_case_insensitive(validator: ModuleType, s3: Any, dynamodb: Any) -> None:
    record = upload(s3, "UPPER/CASE.CSV", b"A,B\n1,2\n")

    invoke(validator, record)

    assert stored_item(dynamodb, record)["status"] == "VALID"


# --- delivery semantics -------------------------------------------------------------------------


def test_object_deleted_before_processing_is_skipped(
    validator: ModuleType, s3: Any, dynamodb: Any, caplog: pytest.LogCaptureFixture
) -> None:
    gone = upload(s3, "gone soon.csv", b"a,b\n1,2\n")
    kept = upload(s3, "kept.csv", b"a,b\n1,2\n")
    s3.delete_object(
        Bucket=BUCKET, Key="gone soon.csv", VersionId=gone["s3"]["object"]["versionId"]
    )
    caplog.set_level(logging.INFO, logger="validator")

    summary = invoke(validator, gone, kept)

    assert summary == {"valid": 1, "invalid": 0, "duplicates": 0, "skipped": 1}
    assert stored_item(dynamodb, gone) is None
    assert stored_item(dynamodb, kept)["status"] == "VALID"
    skipped = [r for r in caplog.records if getattr(r, "status", None) == "SKIPPED"]
    assert [(r.object_key, r.reason, r.levelname) for r in skipped] == [
        ("gone soon.csv", "object no longer exists", "WARNING")
    ]


def test_duplicate_delivery_leaves_the_first_item_unchanged(
    validator: ModuleType, s3: Any, dynamodb: Any, caplog: pytest.LogCaptureFixture
) -> None:
    record = upload(s3, CSV_KEY, b"a,b\n1,2\n3\n")
    first = invoke(validator, record)
    item_before = stored_item(dynamodb, record)
    time.sleep(0.005)  # a rewrite would carry a later validated_at
    caplog.set_level(logging.INFO, logger="validator")

    again = invoke(validator, record, record)

    assert first == {"valid": 0, "invalid": 1, "duplicates": 0, "skipped": 0}
    assert again == {"valid": 0, "invalid": 0, "duplicates": 2, "skipped": 0}
    assert stored_item(dynamodb, record) == item_before
    assert item_before["reasons"] == ["line 3: expected 2 fields as in the header, found 1"]
    assert len(all_items(dynamodb)) == 1
    assert [r.already_recorded for r in caplog.records] == [True, True]


def test_two_versions_of_one_key_give_two_items(
    validator: ModuleType, s3: Any, dynamodb: Any
) -> None:
    first = upload(s3, CSV_KEY, b"a,b\n1,2\n")
    second = upload(s3, CSV_KEY, b"a,b\n1,2\n3,4,5\n")
    assert first["s3"]["object"]["versionId"] != second["s3"]["object"]["versionId"]

    # The older event may arrive last; each version is still validated as it was written.
    invoke(validator, second)
    invoke(validator, first)

    old, new = stored_item(dynamodb, first), stored_item(dynamodb, second)
    assert (old["status"], old["record_count"], old["etag"]) == (
        "VALID",
        1,
        first["s3"]["object"]["eTag"],
    )
    assert (new["status"], new["record_count"], new["etag"]) == (
        "INVALID",
        2,
        second["s3"]["object"]["eTag"],
    )
    assert len(all_items(dynamodb)) == 2


def test_s3_test_event_is_ignored(validator: ModuleType, dynamodb: Any) -> None:
    test_event = {
        "Service": "Amazon S3",
        "Event": "s3:TestEvent",
        "Time": "2025-11-26T09:00:00.000Z",
        "Bucket": BUCKET,
        "RequestId": "5582815E1AEA5ADF",
        "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE",
    }

    assert validator.handler(test_event, None) == {
        "valid": 0,
        "invalid": 0,
        "duplicates": 0,
        "skipped": 0,
    }
    assert all_items(dynamodb) == []


def test_object_removed_records_are_skipped(validator: ModuleType, dynamodb: Any) -> None:
    record = notification_record(
        "x.csv", size=0, etag="", version_id="v1", event_name="ObjectRemoved:Delete"
    )

    assert invoke(validator, record)["skipped"] == 1
    assert all_items(dynamodb) == []


def test_missing_table_raises_so_lambda_retries(
    validator: ModuleType, s3: Any, dynamodb: Any
) -> None:
    record = upload(s3, CSV_KEY, b"a\n1\n")
    dynamodb.delete_table(TableName=TABLE)

    with pytest.raises(ClientError) as raised:
        invoke(validator, record)

    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_throttled_put_raises_and_writes_nothing(
    validator: ModuleType, s3: Any, dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = upload(s3, CSV_KEY, b"a\n1\n")

    def throttled_put_item(**_: Any) -> None:
        raise ClientError(
            {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}},
            "PutItem",
        )

    monkeypatch.setattr(validator.dynamodb_client(), "put_item", throttled_put_item)

    with pytest.raises(ClientError, match="ProvisionedThroughputExceeded"):
        invoke(validator, record)
    assert all_items(dynamodb) == []


def test_failure_mid_event_raises_and_the_retry_completes_it(
    validator: ModuleType, s3: Any, dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = upload(s3, "first.csv", b"a\n1\n")
    second = upload(s3, "second.csv", b"a\n2\n")
    client = validator.dynamodb_client()
    real_put_item = client.put_item

    def fail_for_second(**kwargs: Any) -> Any:
        if kwargs["Item"]["object_key"]["S"] == "second.csv":
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "x"}}, "PutItem")
        return real_put_item(**kwargs)

    monkeypatch.setattr(client, "put_item", fail_for_second)
    with pytest.raises(ClientError, match="InternalServerError"):
        invoke(validator, first, second)
    first_item = stored_item(dynamodb, first)
    assert stored_item(dynamodb, second) is None

    monkeypatch.setattr(client, "put_item", real_put_item)
    # Lambda's retry redelivers the whole event: the recorded object is a no-op duplicate.
    assert invoke(validator, first, second) == {
        "valid": 1,
        "invalid": 0,
        "duplicates": 1,
        "skipped": 0,
    }
    assert stored_item(dynamodb, first) == first_item
    assert stored_item(dynamodb, second)["status"] == "VALID"


def test_one_structured_log_line_per_object(
    validator: ModuleType, s3: Any, dynamodb: Any, caplog: pytest.LogCaptureFixture
) -> None:
    record = upload(s3, JSONL_KEY, b'{"a": 1}\n{"a": \n')
    caplog.set_level(logging.INFO, logger="validator")

    invoke(validator, record)

    [line] = [r for r in caplog.records if r.name == "validator"]
    assert line.levelname == "INFO"
    assert line.object_key == JSONL_KEY
    assert line.version_id == record["s3"]["object"]["versionId"]
    assert line.bucket == BUCKET
    assert line.status == "INVALID"
    assert isinstance(line.duration_ms, int) and line.duration_ms >= 0
    assert (line.record_count, line.error_count, line.already_recorded) == (2, 1, False)
    assert line.reasons == ["line 2: invalid JSON: Expecting value (column 7)"]
    assert JSONL_KEY in line.getMessage()
    assert stored_item(dynamodb, record)["status"] == "INVALID"


# --- settings -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("MAX_OBJECT_BYTES", "abc", "MAX_OBJECT_BYTES must be a positive integer"),
        ("MAX_OBJECT_BYTES", "0", "MAX_OBJECT_BYTES must be a positive integer"),
        ("MAX_OBJECT_BYTES", "-5", "MAX_OBJECT_BYTES must be a positive integer"),
        ("MAX_OBJECT_BYTES", "1.5e9", "MAX_OBJECT_BYTES must be a positive integer"),
        ("MAX_OBJECT_BYTES", "", "MAX_OBJECT_BYTES must be a positive integer"),
        ("MAX_JSON_DOCUMENT_BYTES", "16MB", "MAX_JSON_DOCUMENT_BYTES must be a positive integer"),
        ("METADATA_TABLE_NAME", "  ", "METADATA_TABLE_NAME is required"),
        ("ENVIRONMENT", "", "ENVIRONMENT is required"),
    ],
)
def test_bad_setting_values_are_rejected_with_name_and_value(
    validator: ModuleType,
    dynamodb: Any,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    value: str,
    expected: str,
) -> None:
    monkeypatch.setenv(name, value)

    with pytest.raises(validator.ConfigurationError) as raised:
        validator.handler(s3_event(), None)

    assert expected in str(raised.value)
    assert repr(value) in str(raised.value)
    assert isinstance(raised.value, ValueError)
    assert all_items(dynamodb) == []


@pytest.mark.parametrize("name", ["METADATA_TABLE_NAME", "ENVIRONMENT"])
def test_missing_required_setting(
    validator: ModuleType, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.delenv(name)

    with pytest.raises(validator.ConfigurationError, match=f"{name} is required.*not set"):
        validator.load_settings()


def test_settings_defaults_and_overrides(validator: ModuleType) -> None:
    environ = {"METADATA_TABLE_NAME": "t", "ENVIRONMENT": "prod"}

    assert validator.load_settings(environ) == validator.Settings(
        table_name="t",
        environment="prod",
        max_object_bytes=1073741824,
        max_json_document_bytes=16777216,
    )
    overridden = validator.load_settings({**environ, "MAX_OBJECT_BYTES": " 2048 "})
    assert overridden.max_object_bytes == 2048


# --- the streaming validators on their own ------------------------------------------------------


class TrickleReader:
    """A binary stream that returns at most ``step`` bytes per read, like a slow socket."""

    def __init__(self, data: bytes, step: int) -> None:
        self._stream = io.BytesIO(data)
        self._step = step

    def read(self, size: int = -1) -> bytes:
        return self._stream.read(self._step if size < 0 else min(size, self._step))


@pytest.mark.parametrize("read_size", [1, 2, 3, 5, 64, 1024**2])
def test_csv_result_does_not_depend_on_read_boundaries(
    validator: ModuleType, monkeypatch: pytest.MonkeyPatch, read_size: int
) -> None:
    # Multi-byte characters and quoted newlines land on every possible read boundary.
    monkeypatch.setattr(validator, "READ_CHUNK_BYTES", read_size)
    rows = ["名前,città,note"]
    rows += [f'行{n},Zürich {n},"a ""quoted""\nvalue ✓"' for n in range(200)]
    rows.insert(120, "short,row")
    data = ("\n".join(rows) + "\n").encode()

    for body in (io.BytesIO(data), TrickleReader(data, step=7)):
        result = validator.validate_csv(body)
        assert result.columns == ["名前", "città", "note"]
        assert result.record_count == 201
        assert result.reasons == ["line 240: expected 3 fields as in the header, found 2"]


def test_csv_line_above_limit_is_reported_without_holding_it(
    validator: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(validator, "MAX_CSV_LINE_BYTES", 100)
    monkeypatch.setattr(validator, "READ_CHUNK_BYTES", 16)
    data = b"a,b\n" + b"1," + b"x" * 1000 + b"\n2,3\n4\n"

    result = validator.validate_csv(io.BytesIO(data))

    assert result.reasons == [
        "line 2: line is longer than 100 bytes",
        "line 4: expected 2 fields as in the header, found 1",
    ]
    assert result.record_count == 2


def test_reasons_are_bounded(validator: ModuleType) -> None:
    data = b"a,b\n" + b"1\n" * 5000

    result = validator.validate_csv(io.BytesIO(data))

    assert result.error_count == 5000
    assert len(result.reasons) == validator.MAX_REASONS
    assert result.reasons[-1] == "line 11: expected 2 fields as in the header, found 1"


def test_csv_without_header(validator: ModuleType) -> None:
    result = validator.validate_csv(io.BytesIO(b"\n\r\n\n"))

    assert (result.status, result.record_count, result.columns) == ("INVALID", 0, None)
    assert result.reasons == ["no header row: the file has no non-blank line"]
