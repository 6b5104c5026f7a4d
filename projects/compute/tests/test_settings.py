"""The validator's settings module on its own: defaults, overrides and clear errors."""

from collections.abc import Callable
from types import ModuleType

import pytest


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
