"""The naming rule ``{environment}-{service}-{resource}`` and the export-key rule.

The parts of each name (``("rawdata", "bucket")``) belong to the layer that creates the
resource and live in its folder; these functions only put them together.
"""

from __future__ import annotations

NamePart = tuple[str, str]  # (service, resource): the middle and last parts of a name


def resource_name(environment: str, part: NamePart, suffix: str = "") -> str:
    service, resource = part
    name = f"{environment}-{service}-{resource}"
    return f"{name}-{suffix}" if suffix else name


def export_key(environment: str, key: str) -> str:
    """Every stack output starts with the environment name, e.g. ``dev_bucket_name``."""
    return f"{environment}_{key}"
