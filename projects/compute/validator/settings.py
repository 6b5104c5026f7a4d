"""The validator's limits, their defaults, and reading them from the environment.

This module is the one place the defaults live: the handler reads the environment through
``load_settings``, and the compute layer's Pulumi program imports the same defaults for its
stack settings. It must therefore import only the standard library (the program runs without
boto3 on its path being a requirement of the Lambda package).
"""

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_MAX_OBJECT_BYTES = 1024**3
DEFAULT_MAX_JSON_DOCUMENT_BYTES = 16 * 1024**2

# csv.reader holds a whole record (all its fields) while it parses it, at up to ~25 bytes of
# memory per byte of input (a list entry and a str object per short field). Bounding the
# record, whether one line or many (a quoted field may span lines), bounds that memory.
MAX_CSV_RECORD_BYTES = 1024**2
# CSV lines reach csv.reader in pieces of about this many bytes; between pieces a record that
# has grown past MAX_CSV_RECORD_BYTES is stopped, so it is caught within one piece of the limit.
CSV_PIECE_BYTES = 64 * 1024

# JSON nesting the validator follows. json.loads's own limit is the interpreter's recursion
# limit (about 1000 levels, version-dependent); a fixed one keeps the verdict reproducible.
MAX_JSON_DEPTH = 512

# Bytes requested from S3 per read; large enough that HTTP overhead is negligible, small enough
# to keep memory flat.
READ_CHUNK_BYTES = 1024**2

# The metadata item must stay far below DynamoDB's 400 KB item limit whatever the input.
MAX_REASONS = 10
MAX_REASON_CHARS = 300
MAX_RECORDED_COLUMNS = 200
MAX_COLUMN_NAME_CHARS = 128


class ConfigurationError(ValueError):
    """An environment variable is missing or has a value the validator cannot use."""


@dataclass(frozen=True)
class Settings:
    table_name: str
    environment: str
    max_object_bytes: int = DEFAULT_MAX_OBJECT_BYTES
    max_json_document_bytes: int = DEFAULT_MAX_JSON_DOCUMENT_BYTES


def _required(environ: Mapping[str, str], name: str, meaning: str) -> str:
    value = environ.get(name)
    if value is None or not value.strip():
        found = "it is not set" if value is None else f"got {value!r}"
        raise ConfigurationError(f"{name} is required: set it to {meaning} ({found})")
    return value.strip()


def _positive_int(environ: Mapping[str, str], name: str, default: int) -> int:
    if name not in environ:
        return default
    value = environ[name]
    # fullmatch on ASCII digits: int() would also accept "1_000", "+5" or non-ASCII digits.
    if re.fullmatch(r"[0-9]+", value.strip()) is None or int(value) <= 0:
        raise ConfigurationError(
            f"{name} must be a positive integer number of bytes (default {default}), got {value!r}"
        )
    return int(value)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read the validator's settings from the environment, failing loudly on bad values."""
    env = os.environ if environ is None else environ
    return Settings(
        table_name=_required(env, "METADATA_TABLE_NAME", "the metadata DynamoDB table's name"),
        environment=_required(env, "ENVIRONMENT", "the deployment environment, e.g. dev"),
        max_object_bytes=_positive_int(env, "MAX_OBJECT_BYTES", DEFAULT_MAX_OBJECT_BYTES),
        max_json_document_bytes=_positive_int(
            env, "MAX_JSON_DOCUMENT_BYTES", DEFAULT_MAX_JSON_DOCUMENT_BYTES
        ),
    )
