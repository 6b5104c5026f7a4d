"""The naming rule ``{environment}-{service}-{resource}`` and the export-key rule.

Both the layer that creates a resource and the layers that must predict its name (the IAM
policy names the log group before compute creates it) call these functions.
"""

from __future__ import annotations

import re

ENVIRONMENT_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9]{1,15}$")
ENVIRONMENT_NAME_RULE = "2-16 characters, lowercase letters and digits, starting with a letter"

# (service, resource) pairs: the middle and last parts of every physical name.
BUCKET = ("rawdata", "bucket")
TABLE = ("metadata", "table")
DEAD_LETTER_QUEUE = ("validator", "dlq")
ROLE = ("validator", "role")
POLICY = ("validator", "policy")
FUNCTION = ("validator", "function")
FAILURE_ALARM = ("validator", "dlq-alarm")


def resource_name(environment: str, part: tuple[str, str], suffix: str = "") -> str:
    service, resource = part
    name = f"{environment}-{service}-{resource}"
    return f"{name}-{suffix}" if suffix else name


def log_group_name(function_name: str) -> str:
    return f"/aws/lambda/{function_name}"


def export_key(environment: str, name: str) -> str:
    """Every stack output starts with the environment name, e.g. ``dev_bucket_name``."""
    return f"{environment}_{name}"
