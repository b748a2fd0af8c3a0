"""Helpers that run real servers for tests (see ``tests/servers/collector.py``)."""
