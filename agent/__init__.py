"""Upkeep agent: collects health samples on a client machine and pushes them to the collector."""

__version__ = "0.1.0"
