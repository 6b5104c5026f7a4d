"""Fixtures for every test, the layers' own (projects/<layer>/tests/) and the repository's
(tests/): see shared/testing.py."""

pytest_plugins = ("shared.testing",)
