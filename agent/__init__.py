"""Upkeep agent: collects health samples on a client machine and pushes them to the collector."""

__version__ = "0.1.0"

#: Where agents POST batches (the collector's route; ``agent.wire`` holds the rest of the
#: contract, pydantic models the agent itself does not need to import).
BATCH_PATH = "/api/v1/batches"
