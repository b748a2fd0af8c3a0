"""Fixtures for the end-to-end tests (real servers come from tests/conftest.py)."""
