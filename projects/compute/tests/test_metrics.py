"""The EMF line the handler prints per recorded object, checked against the EMF specification
(CloudWatch "Specification: Embedded metric format") and for its values."""

import json
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

# The units CloudWatch accepts (MetricDatum.Unit), which the EMF specification refers to.
CLOUDWATCH_UNITS = {
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes",
    "Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count",
    "Bytes/Second", "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second",
    "Terabytes/Second", "Bits/Second", "Kilobits/Second", "Megabits/Second", "Gigabits/Second",
    "Terabits/Second", "Count/Second", "None",
}  # fmt: skip


def assert_valid_emf(line: str) -> dict[str, Any]:
    """Parse one log line and check the specification's rules; return the document."""
    document = json.loads(line)
    assert isinstance(document, dict), "the log event must be one JSON object"
    metadata = document["_aws"]
    assert isinstance(metadata["Timestamp"], int) and metadata["Timestamp"] > 0
    directives = metadata["CloudWatchMetrics"]
    assert isinstance(directives, list) and directives
    for directive in directives:
        assert set(directive) <= {"Namespace", "Dimensions", "Metrics"}
        assert isinstance(directive["Namespace"], str) and directive["Namespace"]
        for dimension_set in directive["Dimensions"]:
            assert isinstance(dimension_set, list) and 1 <= len(dimension_set) <= 30
            for name in dimension_set:
                assert isinstance(document[name], str), f"dimension {name} must be a string member"
        assert 1 <= len(directive["Metrics"]) <= 100
        for metric in directive["Metrics"]:
            assert set(metric) <= {"Name", "Unit", "StorageResolution"}
            assert isinstance(document[metric["Name"]], int | float), metric["Name"]
            assert metric.get("Unit", "None") in CLOUDWATCH_UNITS
    return document


def emf_lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return [line for line in capsys.readouterr().out.splitlines() if line.strip()]


def test_one_emf_line_per_recorded_object_with_its_values(
    lake: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    valid = lake.upload("orders.csv", b"id,amount\n1,2\n", "text/csv")
    invalid = lake.upload("events.jsonl", b'{"a": 1}\n{"a": \n')
    capsys.readouterr()
    before_ms = time.time() * 1000

    lake.invoke(valid, invalid)

    after_ms = time.time() * 1000
    lines = emf_lines(capsys)
    assert len(lines) == 2
    documents = [assert_valid_emf(line) for line in lines]
    for document, record in zip(documents, (valid, invalid), strict=True):
        item = lake.item(record)
        assert document["_aws"]["CloudWatchMetrics"] == [
            {
                "Namespace": "RawDataPipeline",
                "Dimensions": [["Environment", "Status"]],
                "Metrics": [
                    {"Name": "ObjectsValidated", "Unit": "Count"},
                    {"Name": "BytesValidated", "Unit": "Bytes"},
                    {"Name": "ValidationDuration", "Unit": "Milliseconds"},
                ],
            }
        ]
        assert before_ms - 1 <= document["_aws"]["Timestamp"] <= after_ms + 1
        assert {key: value for key, value in document.items() if key != "_aws"} == {
            "Environment": "dev",
            "Status": item["status"],
            "ObjectsValidated": 1,
            "BytesValidated": item["size_bytes"],
            "ValidationDuration": item["validation_ms"],
            "bucket": item["bucket"],
            "object_key": item["object_key"],
            "version_id": item["version_id"],
            "file_type": item["file_type"],
            "error_count": item["error_count"],
        }
    assert [(d["Status"], d["BytesValidated"]) for d in documents] == [
        ("VALID", 14),
        ("INVALID", 16),
    ]


def test_unreadable_objects_are_counted_with_their_status(
    lake: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    record = lake.upload("cold.csv", b"a\n1\n", StorageClass="DEEP_ARCHIVE")
    capsys.readouterr()

    lake.invoke(record)

    [line] = emf_lines(capsys)
    assert (assert_valid_emf(line)["Status"], lake.item(record)["status"]) == (
        "UNREADABLE",
        "UNREADABLE",
    )


def test_duplicates_and_skipped_records_emit_no_metric(
    lake: Any, capsys: pytest.CaptureFixture[str], notification: Callable[..., dict[str, Any]]
) -> None:
    record = lake.upload("once.csv", b"a\n1\n")
    lake.invoke(record)
    assert len(emf_lines(capsys)) == 1
    removed = notification(
        "gone.csv", size=0, etag="", version_id="v", event_name="ObjectRemoved:Delete"
    )

    summary = lake.invoke(record, removed)

    assert (summary["duplicates"], summary["skipped"]) == (1, 1)
    assert emf_lines(capsys) == []


def test_emf_document_names_are_the_dashboard_contract(
    import_validator: Callable[[str], ModuleType],
) -> None:
    metrics = import_validator("metrics")
    item = {
        "environment": "prod", "status": "INVALID", "size_bytes": 2048, "validation_ms": 31,
        "bucket": "b", "object_key": "k ✓.csv", "version_id": "v1", "file_type": "csv",
        "error_count": 3,
    }  # fmt: skip

    line = json.dumps(metrics.emf_document(item, 1764148503012), ensure_ascii=False)

    document = assert_valid_emf(line)
    assert "\n" not in line
    assert (document["Environment"], document["Status"], document["BytesValidated"]) == (
        "prod",
        "INVALID",
        2048,
    )
    assert document["_aws"]["Timestamp"] == 1764148503012
