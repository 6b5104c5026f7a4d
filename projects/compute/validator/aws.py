"""The boto3 clients the handler uses, created on first use.

Not at import: tests import the package inside moto's ``mock_aws``, and warm invocations reuse
the client (and its connection pool).
"""

from typing import Any

import boto3

_clients: dict[str, Any] = {}


def _client(service: str) -> Any:
    if service not in _clients:
        _clients[service] = boto3.client(service)
    return _clients[service]


def s3_client() -> Any:
    return _client("s3")


def dynamodb_client() -> Any:
    return _client("dynamodb")
