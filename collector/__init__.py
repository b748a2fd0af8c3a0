"""The Upkeep collector: ingest API, store, admin CLI (``pip install upkeep[collector]``)."""
