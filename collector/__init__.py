"""The Upkeep collector: ingest API, store, admin CLI (``pip install upkeep[collector]``)."""

from __future__ import annotations

import sys

#: What the ``[collector]`` extra brings; a plain (agent-only) install lacks them.
_COLLECTOR_DEPENDENCIES = {
    "fastapi",
    "uvicorn",
    "sqlalchemy",
    "alembic",
    "jinja2",
    "typer",
    "rich",
    "starlette",
}


def main() -> None:
    """Console entry point ``upkeep``: say how to install the collector if it is missing."""
    try:
        from collector.cli import main as cli_main
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in _COLLECTOR_DEPENDENCIES:
            raise
        print(
            f"upkeep: the collector is not installed here ({exc.name} is missing).\n"
            "This is an agent-only install; for the collector: pip install 'upkeep[collector]'",
            file=sys.stderr,
        )
        sys.exit(3)
    cli_main()
