"""Fixtures for the end-to-end tests."""

from tests.servers.redmine import redmine  # noqa: F401 - session fixture (real Redmine)
