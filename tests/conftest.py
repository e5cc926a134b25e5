"""Test configuration: shared fixtures live in tests/support/fixtures.py."""

pytest_plugins = ["support.fixtures"]
