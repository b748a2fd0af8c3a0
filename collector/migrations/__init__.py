"""Alembic migrations of the collector's store, run programmatically by ``collector.store``."""
