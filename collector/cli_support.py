"""What every ``upkeep`` subcommand shares: the consoles, the ``--config`` option, loading
settings and the store the way the server does, and domain errors as exit codes
(:data:`EXIT_CODES`, the one table).

``collector.cli`` (the ``upkeep`` app) and every package's subcommands (``upkeep incident``,
``upkeep sla``, …) import from here, never from each other, so no subcommand reaches into
``collector.cli`` and nothing imports in a circle.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import sqlalchemy as sa
import typer
from rich.console import Console

from agent.yamlsource import ConfigError
from collector.errors import (
    AlreadyExists,
    Forbidden,
    IncidentConflict,
    InvalidArgument,
    NotFound,
    StoreUnavailable,
    Unauthenticated,
    UpkeepError,
)
from collector.settings import Settings, load_settings
from collector.store import Store

#: The one place errors become exit codes (2 is also typer's usage error).
EXIT_CODES: dict[type[Exception], int] = {
    InvalidArgument: 2,
    NotFound: 3,
    AlreadyExists: 4,
    IncidentConflict: 75,  # EX_TEMPFAIL: try again
    Unauthenticated: 5,
    Forbidden: 5,
    StoreUnavailable: 69,  # EX_UNAVAILABLE
    sa.exc.OperationalError: 69,
    ConfigError: 78,  # EX_CONFIG
    UpkeepError: 1,
}

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="Settings YAML file (default: $UPKEEP_CONFIG).", show_default=False
    ),
]

F = TypeVar("F", bound=Callable[..., Any])


def exit_code_for(exc: BaseException) -> int | None:
    for cls in type(exc).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return None


def reported(func: F) -> F:
    """Turn domain errors into a message on stderr and their exit code."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except tuple(EXIT_CODES) as exc:
            if isinstance(exc, ConfigError):
                for problem in exc.problems:
                    err.print(f"[red]error:[/] {problem}", markup=True, soft_wrap=True)
            elif isinstance(exc, sa.exc.OperationalError):
                # The driver's message may contain the URL; show only the kind of failure.
                err.print(
                    f"[red]error:[/] database not usable: {type(exc.orig).__name__}: "
                    f"{str(exc.orig).splitlines()[0] if exc.orig else ''}",
                    markup=True,
                    soft_wrap=True,
                )
            else:
                err.print(f"[red]error:[/] {exc}", markup=True, soft_wrap=True)
            raise typer.Exit(exit_code_for(exc) or 1) from None

    return wrapper  # type: ignore[return-value]


#: Where ``upkeep demo`` keeps its store by default (relative to the working directory).
DEMO_DIR = ".upkeep-demo"
#: Settings that choose a store: with none of them given, the CLI looks for the demo's.
_STORE_KEYS = (
    "UPKEEP_CONFIG",
    "UPKEEP_DATA_DIR",
    "UPKEEP_DATABASE_URL",
    "UPKEEP_DATABASE_URL_FILE",
)
_said: set[str] = set()  # notes already printed by this process (commands load settings twice)


def _note(text: str) -> None:
    """A note on stderr, once per process (stdout stays clean for JSON and tokens)."""
    if text not in _said:
        _said.add(text)
        err.print(f"note: {text}", markup=False, soft_wrap=True)


def demo_environ(environ: dict[str, str] | None = None, cwd: Path | None = None) -> dict[str, str]:
    """The environment to load settings from: as given, or, when it configures no store and
    ``./.upkeep-demo/upkeep.db`` exists, pointed at that store (what a running ``make demo``
    uses in this folder), with a note on stderr."""
    import os

    env = dict(os.environ if environ is None else environ)
    if any(env.get(key) for key in _STORE_KEYS):
        return env
    demo_dir = (cwd or Path.cwd()) / DEMO_DIR
    if (demo_dir / "upkeep.db").is_file():
        env["UPKEEP_DATA_DIR"] = str(demo_dir.resolve())
        _note(f"no store configured; using the demo's store in {demo_dir.resolve()}")
    return env


def settings_of(config: Path | None, **overrides: Any) -> Settings:
    """Settings from ``--config`` (else the environment, or the demo's store when none is set)."""
    environ = None if config is not None else demo_environ()
    return load_settings(config, environ=environ, overrides=overrides)


def store_of(config: Path | None) -> Store:
    """The store of the settings, migrated (admin commands work on a fresh database too).

    An empty store (no client at all) is named on stderr: a command that finds nothing says
    where it looked, so a wrong store is never mistaken for an empty result.
    """
    settings = settings_of(config)
    store = Store.from_settings(settings)
    store.upgrade()
    from collector.schema import clients

    with store.read() as conn:
        empty = conn.execute(sa.select(clients.c.id).limit(1)).first() is None
    if empty:
        _note(
            f"the store {settings.database_display} is empty (no clients); choose another with "
            "--config, UPKEEP_DATA_DIR or UPKEEP_DATABASE_URL"
        )
    return store


def when(value: datetime | None) -> str:
    """A moment as the CLI's tables show it (UTC minutes), ``-`` for none."""
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"
