"""The validator Lambda's handler (projects/compute/validator) against moto's S3 and DynamoDB.

Events are built in S3's documented notification format (eventVersion 2.1). Every test that
invokes the handler asserts the item stored in the metadata table, not just the absence of errors.
"""

import json
import logging
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from botocore.exceptions import ClientError

BUCKET = "dev-rawdata-bucket"
TABLE = "dev-metadata-table"
EVENT_TIME = "2025-11-26T09:15:02.417Z"

# Keys as people really name files: spaces, non-ASCII letters and a literal plus sign, which S3
# sends URL-encoded with "+" for spaces (so the literal "+" arrives as %2B).
CSV_KEY = "incoming/2025-11-26/Zoë's orders + returns.csv"
JSON_KEY = "incoming/2025-11-26/config café.json"
JSONL_KEY = "incoming/2025-11-26/events 1+1=2 ✓.jsonl"


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


# --- valid objects ------------------------------------------------------------------------------


def test_valid_csv_json_and_jsonl_in_one_event(lake: Any) -> None:
    csv_body = 'order_id,customer,city,amount\n1,Zoë,"São Paulo, BR",12.50\n2,Li,北京,7\n'
    json_body = json.dumps({"retries": 3, "targets": ["a", "b"], "ratio": 0.5}).encode()
    jsonl_body = b'{"id": 1, "ok": true}\n\n{"id": 2, "tags": []}\n   \n[1, 2, 3]\n'
    records = [
        lake.upload(CSV_KEY, csv_body.encode(), "text/csv"),
        lake.upload(JSON_KEY, json_body, "application/json"),
        lake.upload(JSONL_KEY, jsonl_body, "application/x-ndjson"),
    ]
    assert "+" in records[0]["s3"]["object"]["key"]  # the event really is URL-encoded
    assert "%2B" in records[2]["s3"]["object"]["key"]

    summary = lake.invoke(*records)

    assert summary == {"valid": 3, "invalid": 0, "unreadable": 0, "duplicates": 0, "skipped": 0}
    csv_item = lake.item(records[0])
    assert_common_fields(csv_item, records[0], size=len(csv_body.encode()))
    assert csv_item["status"] == "VALID"
    assert csv_item["file_type"] == "csv"
    assert csv_item["reasons"] == []
    assert csv_item["error_count"] == 0
    assert csv_item["record_count"] == 2
    assert csv_item["column_count"] == 4
    assert csv_item["columns"] == ["order_id", "customer", "city", "amount"]
    assert csv_item["content_type"] == "text/csv"

    json_item = lake.item(records[1])
    assert_common_fields(json_item, records[1], size=len(json_body))
    assert (json_item["status"], json_item["file_type"], json_item["record_count"]) == (
        "VALID",
        "json",
        1,
    )
    assert json_item["content_type"] == "application/json"
    assert "columns" not in json_item

    jsonl_item = lake.item(records[2])
    assert_common_fields(jsonl_item, records[2], size=len(jsonl_body))
    assert (jsonl_item["status"], jsonl_item["file_type"]) == ("VALID", "jsonl")
    assert jsonl_item["record_count"] == 3  # blank and whitespace-only lines are not records
    assert len(lake.all_items()) == 3


def test_csv_quoted_newlines_bom_and_crlf(lake: Any) -> None:
    body = (
        b"\xef\xbb\xbfid,comment\r\n"
        b'1,"first line\r\nsecond line"\r\n'
        b'2,"say ""hi"", then\nleave"\r\n'
        b"\r\n"
        b"3,plain\r\n"
    )
    record = lake.upload("notes/multi line.csv", body, "text/csv")

    lake.invoke(record)

    item = lake.item(record)
    assert item["status"] == "VALID", item["reasons"]
    assert item["columns"] == ["id", "comment"]  # the BOM is not part of the first name
    assert item["record_count"] == 3


def test_array_json_counts_elements(lake: Any) -> None:
    record = lake.upload("lists/people.json", b'[{"name": "Ana"}, {"name": "Bo"}, null]')

    lake.invoke(record)

    item = lake.item(record)
    assert (item["status"], item["record_count"]) == ("VALID", 3)


def test_object_in_unversioned_bucket_is_recorded_as_version_null(
    lake: Any, notification: Callable[..., dict[str, Any]]
) -> None:
    bucket = "dev-unversioned-bucket"
    lake.s3.create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    response = lake.s3.put_object(Bucket=bucket, Key="a.jsonl", Body=b'{"a": 1}\n')
    record = notification(
        "a.jsonl", size=9, etag=response["ETag"].strip('"'), version_id=None, bucket=bucket
    )
    assert "versionId" not in record["s3"]["object"]

    lake.invoke(record)

    item = lake.item(record)
    assert (item["version_id"], item["bucket"], item["status"]) == ("null", bucket, "VALID")


# --- invalid content ----------------------------------------------------------------------------


def test_ragged_csv_reports_each_bad_row_with_its_line(lake: Any) -> None:
    body = (
        b"id,name,amount\n"
        b"1,Ana,10\n"
        b"2,Bo\n"  # line 3: one field short
        b'3,"Cy\nDee",30\n'  # lines 4-5: a quoted newline, still three fields
        b"4,Eve,40,extra\n"  # line 6: one field too many
        b"5,Fay,50\n"
    )
    record = lake.upload(CSV_KEY, body, "text/csv")

    summary = lake.invoke(record)

    assert summary["invalid"] == 1
    item = lake.item(record)
    assert item["status"] == "INVALID"
    assert item["reasons"] == [
        "line 3: expected 3 fields as in the header, found 2",
        "line 6: expected 3 fields as in the header, found 4",
    ]
    assert item["error_count"] == 2
    assert item["record_count"] == 5
    assert item["columns"] == ["id", "name", "amount"]


def test_malformed_csv_quote_and_bad_header_are_reported_and_scanning_continues(lake: Any) -> None:
    body = b'id,,id\n1,"a"b,2\n3,4,5\n6,7\n'
    record = lake.upload("bad header.csv", body)

    lake.invoke(record)

    item = lake.item(record)
    assert item["status"] == "INVALID"
    assert item["reasons"] == [
        "line 1: header column 2 has an empty name",
        "line 1: header column 3 repeats the name 'id'",
        "line 2: malformed CSV: ',' expected after '\"'",
        "line 4: expected 3 fields as in the header, found 2",
    ]


def test_non_utf8_bytes_are_reported_with_line_and_byte(lake: Any) -> None:
    body = "id,city\n1,Zürich\n".encode() + b"2,Z\xfcrich\n" + "3,Köln\n".encode()
    record = lake.upload("latin1 export.csv", body)

    lake.invoke(record)

    item = lake.item(record)
    assert item["status"] == "INVALID"
    assert item["reasons"] == ["line 3: not valid UTF-8 (byte 0xfc at byte 4)"]
    assert item["record_count"] == 3  # the rest of the file was still checked


def test_non_utf8_json_document(lake: Any) -> None:
    record = lake.upload("doc.json", b'{\n  "name": "Andr\xe9"\n}\n')

    lake.invoke(record)

    item = lake.item(record)
    assert item["status"] == "INVALID"
    assert item["reasons"] == ["line 2: not valid UTF-8 (byte 0xe9 at byte 16)"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{\n  "a": 1,\n  "b": \n}', "line 4: invalid JSON: Expecting value (column 1)"),
        (b'{"a": 1} {"b": 2}', "line 1: invalid JSON: Extra data (column 10)"),
        (b'{"a": NaN}', "line 1: invalid JSON: NaN is not valid JSON (column 7)"),
        (b"   \n", "line 2: invalid JSON: Expecting value (column 1)"),
        (
            b"[" * 100_000,
            "line 1: invalid JSON: nested deeper than MAX_JSON_DEPTH (512 levels) (column 513)",
        ),
    ],
    ids=["missing-value", "two-documents", "nan", "blank", "deep-nesting"],
)
def test_malformed_json(lake: Any, body: bytes, reason: str) -> None:
    record = lake.upload(JSON_KEY, body, "application/json")

    lake.invoke(record)

    item = lake.item(record)
    assert (item["status"], item["reasons"], item["error_count"]) == ("INVALID", [reason], 1)
    assert "record_count" not in item


def test_one_bad_line_deep_in_a_large_jsonl_file(lake: Any) -> None:
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
    record = lake.upload(JSONL_KEY, body)

    lake.invoke(record)

    item = lake.item(record)
    assert item["status"] == "INVALID"
    end_of_bad_line = len(lines[bad_line - 1]) + 1
    assert item["reasons"] == [
        f"line {bad_line}: invalid JSON: Expecting ',' delimiter (column {end_of_bad_line})"
    ]
    assert item["error_count"] == 1
    assert item["record_count"] == 60_000
    assert item["size_bytes"] == len(body)


def test_jsonl_line_above_document_limit_is_reported_and_later_lines_still_checked(
    lake: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAX_JSON_DOCUMENT_BYTES", "64")
    body = b'{"ok": 1}\n' + b'{"big": "' + b"x" * 500 + b'"}\n' + b'{"ok": 3}\n{"ok": \n'
    record = lake.upload("events.ndjson", body)

    lake.invoke(record)

    item = lake.item(record)
    assert item["reasons"] == [
        "line 2: line is longer than MAX_JSON_DOCUMENT_BYTES (64 bytes)",
        "line 4: invalid JSON: Expecting value (column 8)",
    ]
    assert item["record_count"] == 4  # the overlong line is a (malformed) record too


# --- decided before downloading -----------------------------------------------------------------


def test_empty_object_is_invalid_and_not_downloaded(lake: Any, s3_calls: list[str]) -> None:
    record = lake.upload("empty.csv", b"")

    lake.invoke(record)

    item = lake.item(record)
    assert_common_fields(item, record, size=0)
    assert (item["status"], item["reasons"]) == ("INVALID", ["object is empty (0 bytes)"])
    assert "record_count" not in item
    assert s3_calls == ["HeadObject"]


def test_oversized_object_is_unreadable_and_not_downloaded(
    lake: Any,
    s3_calls: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MAX_OBJECT_BYTES", "4096")
    body = b"id,value\n" + b"1,2\n" * 2000
    record = lake.upload("big export.csv", body, "text/csv")

    summary = lake.invoke(record)

    assert summary["unreadable"] == 1
    item = lake.item(record)
    assert_common_fields(item, record, size=len(body))
    assert (item["status"], item["error_count"]) == ("UNREADABLE", 0)
    assert item["reasons"] == [
        f"object is {len(body)} bytes, above MAX_OBJECT_BYTES (4096); not downloaded"
    ]
    assert "record_count" not in item and "columns" not in item
    assert s3_calls == ["HeadObject"]


def test_json_above_document_limit_is_not_downloaded(
    lake: Any,
    s3_calls: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MAX_JSON_DOCUMENT_BYTES", "100")
    body = json.dumps({"values": list(range(100))}).encode()
    record = lake.upload(JSON_KEY, body)

    lake.invoke(record)

    item = lake.item(record)
    assert item["status"] == "UNREADABLE"
    assert item["reasons"] == [
        f"JSON document is {len(body)} bytes, above MAX_JSON_DOCUMENT_BYTES (100); not downloaded"
    ]
    assert s3_calls == ["HeadObject"]


@pytest.mark.parametrize("key", ["report.xlsx", "data.csv.gz", "README"])
def test_unknown_extension_is_invalid_and_not_downloaded(
    lake: Any, s3_calls: list[str], key: str
) -> None:
    record = lake.upload(key, b"PK\x03\x04 not validated")

    lake.invoke(record)

    item = lake.item(record)
    extension = Path(key).suffix or "(none)"
    assert item["status"] == "INVALID"
    assert item["file_type"] == "unsupported"
    assert item["reasons"] == [
        f"unsupported file extension {extension}; expected one of .csv, .json, .jsonl, .ndjson"
    ]
    assert s3_calls == ["HeadObject"]


def test_extension_is_case_insensitive(lake: Any) -> None:
    record = lake.upload("UPPER/CASE.CSV", b"A,B\n1,2\n")

    lake.invoke(record)

    assert lake.item(record)["status"] == "VALID"


# --- delivery semantics -------------------------------------------------------------------------


def test_object_deleted_before_processing_is_skipped(
    lake: Any, caplog: pytest.LogCaptureFixture
) -> None:
    gone = lake.upload("gone soon.csv", b"a,b\n1,2\n")
    kept = lake.upload("kept.csv", b"a,b\n1,2\n")
    lake.s3.delete_object(
        Bucket=BUCKET, Key="gone soon.csv", VersionId=gone["s3"]["object"]["versionId"]
    )
    caplog.set_level(logging.INFO, logger="validator")

    summary = lake.invoke(gone, kept)

    assert summary == {"valid": 1, "invalid": 0, "unreadable": 0, "duplicates": 0, "skipped": 1}
    assert lake.item(gone) is None
    assert lake.item(kept)["status"] == "VALID"
    skipped = [r for r in caplog.records if getattr(r, "status", None) == "SKIPPED"]
    assert [(r.object_key, r.reason, r.levelname) for r in skipped] == [
        ("gone soon.csv", "object no longer exists", "WARNING")
    ]


def test_duplicate_delivery_leaves_the_first_item_unchanged(
    lake: Any, caplog: pytest.LogCaptureFixture
) -> None:
    record = lake.upload(CSV_KEY, b"a,b\n1,2\n3\n")
    first = lake.invoke(record)
    item_before = lake.item(record)
    time.sleep(0.005)  # a rewrite would carry a later validated_at
    caplog.set_level(logging.INFO, logger="validator")

    again = lake.invoke(record, record)

    assert first == {"valid": 0, "invalid": 1, "unreadable": 0, "duplicates": 0, "skipped": 0}
    assert again == {"valid": 0, "invalid": 0, "unreadable": 0, "duplicates": 2, "skipped": 0}
    assert lake.item(record) == item_before
    assert item_before["reasons"] == ["line 3: expected 2 fields as in the header, found 1"]
    assert len(lake.all_items()) == 1
    assert [r.already_recorded for r in caplog.records] == [True, True]


def test_two_versions_of_one_key_give_two_items(lake: Any) -> None:
    first = lake.upload(CSV_KEY, b"a,b\n1,2\n")
    second = lake.upload(CSV_KEY, b"a,b\n1,2\n3,4,5\n")
    assert first["s3"]["object"]["versionId"] != second["s3"]["object"]["versionId"]

    # The older event may arrive last; each version is still validated as it was written.
    lake.invoke(second)
    lake.invoke(first)

    old, new = lake.item(first), lake.item(second)
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
    assert len(lake.all_items()) == 2


def test_s3_test_event_is_ignored(lake: Any) -> None:
    test_event = {
        "Service": "Amazon S3",
        "Event": "s3:TestEvent",
        "Time": "2025-11-26T09:00:00.000Z",
        "Bucket": BUCKET,
        "RequestId": "5582815E1AEA5ADF",
        "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE",
    }

    assert lake.handler.handler(test_event, None) == {
        "valid": 0,
        "invalid": 0,
        "unreadable": 0,
        "duplicates": 0,
        "skipped": 0,
    }
    assert lake.all_items() == []


def test_object_removed_records_are_skipped(
    lake: Any, notification: Callable[..., dict[str, Any]]
) -> None:
    record = notification(
        "x.csv", size=0, etag="", version_id="v1", event_name="ObjectRemoved:Delete"
    )

    assert lake.invoke(record)["skipped"] == 1
    assert lake.all_items() == []


def test_missing_table_raises_so_lambda_retries(lake: Any) -> None:
    record = lake.upload(CSV_KEY, b"a\n1\n")
    lake.dynamodb.delete_table(TableName=TABLE)

    with pytest.raises(ClientError) as raised:
        lake.invoke(record)

    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_throttled_put_raises_and_writes_nothing(
    lake: Any, clients: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = lake.upload(CSV_KEY, b"a\n1\n")

    def throttled_put_item(**_: Any) -> None:
        raise ClientError(
            {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}},
            "PutItem",
        )

    monkeypatch.setattr(clients.dynamodb_client(), "put_item", throttled_put_item)

    with pytest.raises(ClientError, match="ProvisionedThroughputExceeded"):
        lake.invoke(record)
    assert lake.all_items() == []


def test_failure_mid_event_raises_and_the_retry_completes_it(
    lake: Any, clients: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = lake.upload("first.csv", b"a\n1\n")
    second = lake.upload("second.csv", b"a\n2\n")
    client = clients.dynamodb_client()
    real_put_item = client.put_item

    def fail_for_second(**kwargs: Any) -> Any:
        if kwargs["Item"]["object_key"]["S"] == "second.csv":
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "x"}}, "PutItem")
        return real_put_item(**kwargs)

    monkeypatch.setattr(client, "put_item", fail_for_second)
    with pytest.raises(ClientError, match="InternalServerError"):
        lake.invoke(first, second)
    first_item = lake.item(first)
    assert lake.item(second) is None

    monkeypatch.setattr(client, "put_item", real_put_item)
    # Lambda's retry redelivers the whole event: the recorded object is a no-op duplicate.
    assert lake.invoke(first, second) == {
        "valid": 1,
        "invalid": 0,
        "unreadable": 0,
        "duplicates": 1,
        "skipped": 0,
    }
    assert lake.item(first) == first_item
    assert lake.item(second)["status"] == "VALID"


def test_one_structured_log_line_per_object(lake: Any, caplog: pytest.LogCaptureFixture) -> None:
    record = lake.upload(JSONL_KEY, b'{"a": 1}\n{"a": \n')
    caplog.set_level(logging.INFO, logger="validator")

    lake.invoke(record)

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
    assert lake.item(record)["status"] == "INVALID"


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
    lake: Any,
    import_validator: Callable[[str], ModuleType],
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    value: str,
    expected: str,
) -> None:
    monkeypatch.setenv(name, value)

    with pytest.raises(import_validator("settings").ConfigurationError) as raised:
        lake.handler.handler({"Records": []}, None)

    assert expected in str(raised.value)
    assert repr(value) in str(raised.value)
    assert isinstance(raised.value, ValueError)
    assert lake.all_items() == []


# --- event shapes -------------------------------------------------------------------------------


def eventbridge_event(record: dict[str, Any]) -> dict[str, Any]:
    """The EventBridge "Object Created" event S3 sends for the object a notification names."""
    s3_object = record["s3"]["object"]
    detail_object = {
        "key": urllib.parse.unquote_plus(s3_object["key"]),  # not URL-encoded here
        "size": s3_object["size"],
        "etag": s3_object["eTag"],
        "sequencer": s3_object["sequencer"],
    }
    if "versionId" in s3_object:
        detail_object["version-id"] = s3_object["versionId"]
    return {
        "version": "0",
        "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "111122223333",
        "time": "2025-11-26T09:15:02Z",
        "region": "eu-west-1",
        "resources": [f"arn:aws:s3:::{BUCKET}"],
        "detail": {
            "version": "0",
            "bucket": {"name": BUCKET},
            "object": detail_object,
            "request-id": "N4N7GDK58NMKJ12R",
            "requester": "123456789012",
            "source-ip-address": "203.0.113.15",
            "reason": "PutObject",
        },
    }


def test_eventbridge_object_created_gives_the_same_item_as_the_notification(
    lake: Any, import_validator: Callable[[str], ModuleType]
) -> None:
    record = lake.upload(CSV_KEY, b"id,city\n1,S\xc3\xa3o Paulo\n2,Zurich\n", "text/csv")
    event = eventbridge_event(record)

    assert lake.handler.handler(event, None)["valid"] == 1
    via_eventbridge = lake.item(record)
    import_validator("aws").dynamodb_client().delete_item(
        TableName=TABLE,
        Key={"object_key": {"S": CSV_KEY}, "version_id": {"S": via_eventbridge["version_id"]}},
    )
    assert lake.invoke(record)["valid"] == 1
    via_notification = lake.item(record)

    differing = {"event_name", "event_time", "validated_at", "validation_ms"}
    assert {k: v for k, v in via_eventbridge.items() if k not in differing} == {
        k: v for k, v in via_notification.items() if k not in differing
    }
    assert via_eventbridge["object_key"] == CSV_KEY
    assert (via_eventbridge["event_name"], via_eventbridge["event_time"]) == (
        "Object Created:PutObject",
        "2025-11-26T09:15:02Z",
    )
    assert (via_notification["event_name"], via_notification["status"]) == (
        "ObjectCreated:Put",
        "VALID",
    )


def test_eventbridge_event_other_than_object_created_is_skipped(lake: Any) -> None:
    event = eventbridge_event(lake.upload("x.csv", b"a\n1\n"))
    event["detail-type"] = "Object Deleted"

    assert lake.handler.handler(event, None)["skipped"] == 1
    assert lake.all_items() == []


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"Records": []}, "event has Records = []: expected a non-empty list"),
        (
            {"Records": [{"eventSource": "aws:sqs", "body": "{}"}]},
            "not an S3 event notification record: eventSource is 'aws:sqs', expected 'aws:s3'",
        ),
        (
            {"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put"}]},
            "not an S3 event notification record: missing 's3'",
        ),
        ({"source": "aws.s3", "detail-type": "Object Created"}, "missing 'detail'"),
        (
            {"detail-type": "Scheduled Event", "source": "aws.events"},
            "not an S3 event: expected Records (an S3 event notification), an s3:TestEvent, "
            "or an EventBridge event with source aws.s3; got the keys ['detail-type', 'source']",
        ),
        ({}, "got the keys []"),
    ],
    ids=["empty-records", "sqs-record", "record-without-s3", "eventbridge-without-detail",
         "scheduled-event", "empty-event"],
)  # fmt: skip
def test_event_of_unknown_shape_raises_so_it_reaches_the_dead_letter_queue(
    lake: Any,
    import_validator: Callable[[str], ModuleType],
    event: dict[str, Any],
    message: str,
) -> None:
    with pytest.raises(import_validator("events").UnknownEventError) as raised:
        lake.handler.handler(event, None)

    assert message in str(raised.value)
    assert lake.all_items() == []


# --- objects the function cannot read by design -------------------------------------------------


@pytest.mark.parametrize("storage_class", ["GLACIER", "DEEP_ARCHIVE"])
def test_archived_object_is_recorded_unreadable_instead_of_failing_every_retry(
    lake: Any, s3_calls: list[str], storage_class: str
) -> None:
    record = lake.upload("cold/export.csv", b"a,b\n1,2\n", "text/csv", StorageClass=storage_class)
    with pytest.raises(ClientError, match="InvalidObjectState"):
        lake.s3.get_object(Bucket=BUCKET, Key="cold/export.csv")  # what used to loop

    summary = lake.invoke(record)

    assert summary["unreadable"] == 1
    item = lake.item(record)
    assert_common_fields(item, record, size=8)
    assert (item["status"], item["error_count"], item["storage_class"]) == (
        "UNREADABLE",
        0,
        storage_class,
    )
    assert item["reasons"] == [
        f"object is in the archive storage class {storage_class} and not restored; "
        "restore it to validate it"
    ]
    assert "record_count" not in item
    assert s3_calls == ["HeadObject"]


@pytest.mark.parametrize("tier", ["ARCHIVE_ACCESS", "DEEP_ARCHIVE_ACCESS"])
def test_intelligent_tiering_archive_tier_is_unreadable(
    lake: Any, import_validator: Callable[[str], ModuleType], tier: str
) -> None:
    record = lake.upload("tiered.jsonl", b'{"a": 1}\n', StorageClass="INTELLIGENT_TIERING")

    def archived_head(parsed: dict[str, Any], **_: Any) -> None:
        parsed["ArchiveStatus"] = tier  # moto does not model the archive tiers

    import_validator("aws").s3_client().meta.events.register(
        "after-call.s3.HeadObject", archived_head
    )

    assert lake.invoke(record)["unreadable"] == 1
    item = lake.item(record)
    assert (item["status"], item["storage_class"]) == ("UNREADABLE", "INTELLIGENT_TIERING")
    assert item["reasons"] == [
        f"object is in the Intelligent-Tiering archive tier {tier} and not restored; "
        "restore it to validate it"
    ]


@pytest.mark.parametrize("storage_class", ["GLACIER_IR", "INTELLIGENT_TIERING", "STANDARD_IA"])
def test_instantly_readable_storage_classes_are_validated(lake: Any, storage_class: str) -> None:
    record = lake.upload("warm.csv", b"a,b\n1,2\n", StorageClass=storage_class)

    lake.invoke(record)

    item = lake.item(record)
    assert (item["status"], item["record_count"], item["storage_class"]) == (
        "VALID",
        1,
        storage_class,
    )


def test_restored_archived_object_is_validated(
    lake: Any, import_validator: Callable[[str], ModuleType]
) -> None:
    record = lake.upload("restored.csv", b"a,b\n1,2\n3\n", StorageClass="GLACIER")

    def restored_head(parsed: dict[str, Any], **_: Any) -> None:
        parsed["Restore"] = 'ongoing-request="false", expiry-date="Fri, 28 Nov 2025 00:00:00 GMT"'

    client = import_validator("aws").s3_client()
    client.meta.events.register("after-call.s3.HeadObject", restored_head)
    lake.s3.restore_object(
        Bucket=BUCKET,
        Key="restored.csv",
        VersionId=record["s3"]["object"]["versionId"],
        RestoreRequest={"Days": 1},
    )

    lake.invoke(record)

    item = lake.item(record)
    assert (item["status"], item["record_count"]) == ("INVALID", 2)
    assert item["reasons"] == ["line 3: expected 2 fields as in the header, found 1"]


def test_object_archived_between_head_and_get_is_unreadable(
    lake: Any, monkeypatch: pytest.MonkeyPatch, import_validator: Callable[[str], ModuleType]
) -> None:
    record = lake.upload("racing.csv", b"a\n1\n")
    client = import_validator("aws").s3_client()

    def archived_get_object(**_: Any) -> None:
        raise ClientError(
            {"Error": {"Code": "InvalidObjectState", "Message": "archived"}}, "GetObject"
        )

    monkeypatch.setattr(client, "get_object", archived_get_object)

    assert lake.invoke(record)["unreadable"] == 1
    assert lake.item(record)["reasons"] == [
        "S3 refused to read the object (InvalidObjectState): it is archived"
    ]
