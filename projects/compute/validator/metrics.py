"""CloudWatch metrics as Embedded Metric Format (EMF): one JSON line per recorded object.

EMF needs no client and no permission: the line goes to stdout, Lambda sends stdout to the
function's log group, and CloudWatch Logs extracts the metrics from any log event that follows
the specification (a JSON object whose ``_aws.CloudWatchMetrics`` names the namespace, the
dimension sets and the metrics, each of those names being a top-level member).

The names are a contract: dashboards and alarms read them.
"""

import json
from collections.abc import Mapping
from typing import Any

NAMESPACE = "RawDataPipeline"
DIMENSIONS = ["Environment", "Status"]
METRICS = (
    ("ObjectsValidated", "Count"),
    ("BytesValidated", "Bytes"),
    ("ValidationDuration", "Milliseconds"),
)


def emf_document(item: Mapping[str, Any], timestamp_ms: int) -> dict[str, Any]:
    """The EMF document for one recorded metadata item."""
    return {
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [DIMENSIONS],
                    "Metrics": [{"Name": name, "Unit": unit} for name, unit in METRICS],
                }
            ],
        },
        "Environment": item["environment"],
        "Status": item["status"],
        "ObjectsValidated": 1,
        "BytesValidated": item["size_bytes"],
        "ValidationDuration": item["validation_ms"],
        # Not metrics: searchable with CloudWatch Logs Insights next to them.
        "bucket": item["bucket"],
        "object_key": item["object_key"],
        "version_id": item["version_id"],
        "file_type": item["file_type"],
        "error_count": item["error_count"],
    }


def emit(item: Mapping[str, Any], timestamp_ms: int) -> None:
    """Print the EMF line for one recorded item to stdout, as one line."""
    print(json.dumps(emf_document(item, timestamp_ms), ensure_ascii=False), flush=True)
