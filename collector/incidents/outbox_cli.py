"""``upkeep outbox list [--failed]`` and ``upkeep outbox retry ID…|--all``: the ticket outbox's
deliveries, its dead letters, and sending them again.

A retry makes dead rows pending again (fresh attempts, fresh age); a running collector's
workers pick them up within a few seconds, oldest first, and the rows that waited behind them
(same incident and connector) follow in order.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

outbox_app = typer.Typer(
    help="The ticket outbox: deliveries, dead letters, retries.", no_args_is_help=True
)

Config = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="Settings YAML file (default: $UPKEEP_CONFIG).", show_default=False
    ),
]


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


@outbox_app.command("list")
def outbox_list(
    config: Config = None,
    failed: Annotated[
        bool, typer.Option("--failed", help="Only dead letters and rows failing now.")
    ] = False,
    state: Annotated[
        str | None, typer.Option(help="Only rows in this state (pending, in_flight, done, dead).")
    ] = None,
    connector: Annotated[str | None, typer.Option(help="Only this connector.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10000, help="At most this many rows.")] = 200,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines.")] = False,
) -> None:
    """List outbox rows, newest first (local time)."""
    from rich.table import Table

    from collector import cli_support
    from collector.errors import InvalidArgument
    from collector.incidents.outbox import STATES, list_rows

    @cli_support.reported
    def go() -> None:
        if state is not None and state not in STATES:
            raise InvalidArgument(f"--state: must be one of {', '.join(STATES)}")
        store = cli_support.store_of(config)
        try:
            with store.read() as conn:
                rows = list_rows(conn, state=state, failed=failed, connector=connector, limit=limit)
        finally:
            store.dispose()
        if as_json:
            for row in rows:
                cli_support.out.print(json.dumps(row), markup=False, soft_wrap=True)
            return
        table = Table(
            "id",
            "incident",
            "connector",
            "action",
            "state",
            "attempts",
            "failing since",
            "next attempt",
            "last error",
        )
        for r in rows:
            waits = f" (waits for #{r['waiting_for']})" if r["waiting_for"] else ""
            table.add_row(
                str(r["id"]),
                r["incident"],
                r["connector"],
                r["action"],
                r["state"] + waits,
                str(r["attempts"]),
                _when(r["first_failed_at"]),
                _when(r["next_attempt_at"]),
                (r["last_error"] or "")[:200],
            )
        cli_support.out.print(table)

    go()


@outbox_app.command("retry")
def outbox_retry(
    ids: Annotated[
        list[int] | None,
        typer.Argument(help="Outbox row ids (see `outbox list`).", show_default=False),
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every dead letter.")] = False,
    config: Config = None,
) -> None:
    """Send dead letters again (their later rows follow in order)."""
    from collector import cli_support, timeutil
    from collector.errors import InvalidArgument, NotFound
    from collector.incidents.outbox import retry

    @cli_support.reported
    def go() -> None:
        if bool(ids) == all_:
            raise InvalidArgument("give outbox row ids or --all (not both)")
        store = cli_support.store_of(config)
        try:
            with store.write() as conn:
                revived = retry(conn, None if all_ else list(ids or []), timeutil.now())
        finally:
            store.dispose()
        if ids and not revived:
            raise NotFound(f"no dead outbox row among {', '.join(map(str, ids))}")
        skipped = sorted(set(ids or []) - set(revived))
        cli_support.out.print(
            f"{len(revived)} dead letter(s) queued again: {', '.join(map(str, revived)) or '-'}"
        )
        if skipped:
            cli_support.err.print(f"not dead (left alone): {', '.join(map(str, skipped))}")

    go()
