"""The validator's settings module on its own: defaults, overrides and clear errors."""

import importlib
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

COMPUTE_DIR = Path(__file__).resolve().parents[1]


@pytest.fixture
def settings(import_validator: Callable[[str], ModuleType]) -> ModuleType:
    return import_validator("settings")


@pytest.mark.parametrize("name", ["METADATA_TABLE_NAME", "ENVIRONMENT"])
def test_missing_required_setting(settings: ModuleType, name: str) -> None:
    environ = {"METADATA_TABLE_NAME": "t", "ENVIRONMENT": "dev"}
    del environ[name]

    with pytest.raises(settings.ConfigurationError, match=f"{name} is required.*not set"):
        settings.load_settings(environ)


def test_settings_defaults_and_overrides(settings: ModuleType) -> None:
    environ = {"METADATA_TABLE_NAME": "t", "ENVIRONMENT": "prod"}

    assert settings.load_settings(environ) == settings.Settings(
        table_name="t",
        environment="prod",
        max_object_bytes=1073741824,
        max_json_document_bytes=16777216,
    )
    overridden = settings.load_settings({**environ, "MAX_OBJECT_BYTES": " 2048 "})
    assert overridden.max_object_bytes == 2048


def test_settings_module_needs_only_the_standard_library() -> None:
    # The compute layer's Pulumi program imports it for its defaults, without boto3.
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); import validator.settings; "
        "print(sorted(name for name in sys.modules if name.split('.')[0] in "
        "('boto3', 'botocore', 'pulumi', 'pydantic')))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script, str(COMPUTE_DIR)], check=True, capture_output=True, text=True
    )
    assert completed.stdout.strip() == "[]"


def test_compute_layer_defaults_are_the_settings_module_s(settings: ModuleType) -> None:
    previous = sys.modules.pop("compute_layer", None)
    try:
        compute_layer = importlib.import_module("compute_layer")
    finally:
        sys.modules.pop("compute_layer", None)
        if previous is not None:
            sys.modules["compute_layer"] = previous
    fields = compute_layer.ComputeSettings.model_fields

    assert fields["max_object_bytes"].default == settings.DEFAULT_MAX_OBJECT_BYTES
    assert fields["max_json_document_bytes"].default == settings.DEFAULT_MAX_JSON_DOCUMENT_BYTES
    assert compute_layer.HANDLER_MODULE == "validator.handler"
